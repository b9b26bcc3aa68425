package main

import (
	"os"
	"testing"
	"time"

	"github.com/supportbot/supportbot/content"
)

func TestTelegramPlan(t *testing.T) {
	pack, err := content.Shipped()
	if err != nil {
		t.Skipf("the shipped pack does not load (being edited?): %v", err)
	}
	plan, err := newPlan(pack.Def)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(plan.problems) * len(plan.channels) {
		steps := plan.steps(n)
		if len(steps) < 3 || steps[0].choice != plan.problems[n%len(plan.problems)] {
			t.Fatalf("conversation %d: %+v", n, steps)
		}
		answer := false
		for _, st := range steps {
			answer = answer || st.replies > 1
		}
		if !answer {
			t.Errorf("conversation %d never reaches an answer: %+v", n, steps)
		}
	}
}

// TestTelegramModeInProcess runs the driver against the adapter in this
// process for a moment: every action answered, nothing lost or doubled.
func TestTelegramModeInProcess(t *testing.T) {
	pack, err := content.Shipped()
	if err != nil {
		t.Skipf("the shipped pack does not load (being edited?): %v", err)
	}
	plan, _ := newPlan(pack.Def)
	o := tgOptions{chats: 5, duration: 700 * time.Millisecond, timeout: 10 * time.Second, inProcess: true, store: "memory"}
	res, err := tgRunBot(o, plan, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered.Load() < 5 || res.Lost.Load() != 0 || res.Dup.Load() != 0 || res.TimedOut.Load() != 0 {
		res.Print(os.Stderr)
		t.Fatal("the bot did not answer every action exactly once")
	}
	texts, err := tgTexts(pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []*Result{tgBaseline(o), tgBaselineSameCalls(o, plan, texts)} {
		if base.Answered.Load() < 5 || base.Lost.Load() != 0 || base.Dup.Load() != 0 {
			base.Print(os.Stderr)
			t.Fatalf("%s: not every action answered once", base.Name)
		}
	}
}

func TestCommonStats(t *testing.T) {
	var l Latencies
	for i := 1; i <= 100; i++ {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	if l.Percentile(50) != 50*time.Millisecond || l.Percentile(99) != 99*time.Millisecond || l.Percentile(100) != 100*time.Millisecond {
		t.Errorf("percentiles %v %v %v", l.Percentile(50), l.Percentile(99), l.Percentile(100))
	}
	st, err := ReadProcStat(os.Getpid())
	if err != nil || st.RSS <= 0 {
		t.Fatalf("ReadProcStat: %+v %v", st, err)
	}
	if peak, err := ReadPeakRSS(os.Getpid()); err != nil || peak < st.RSS/2 {
		t.Fatalf("ReadPeakRSS: %d %v", peak, err)
	}
}
