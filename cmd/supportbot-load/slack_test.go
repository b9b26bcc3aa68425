package main

import (
	"os"
	"testing"
	"time"

	"github.com/supportbot/supportbot/content"
)

// TestSlackModeInProcess runs the Slack driver against the adapter in this
// process for a moment, in both modes: the scripted conversations (to the
// answer and its eight buttons, then Start over) complete, every action
// answered, nothing lost or doubled; the plain client's too.
func TestSlackModeInProcess(t *testing.T) {
	pack, err := content.Shipped()
	if err != nil {
		t.Skipf("the shipped pack does not load (being edited?): %v", err)
	}
	plan, err := newPlan(pack.Def)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(plan.problems) * len(plan.channels) {
		answer := false
		for _, st := range plan.steps(n) {
			answer = answer || st.replies > 1
		}
		if !answer {
			t.Fatalf("conversation %d never reaches an answer: %+v", n, plan.steps(n))
		}
	}
	for _, mode := range []string{"http", "socket"} {
		o := slackOptions{convs: 4, duration: 700 * time.Millisecond, timeout: 10 * time.Second, inProcess: true, store: "memory"}
		res, err := slackRunBot(o, mode, plan, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if res.Answered.Load() < 8 || res.Lost.Load() != 0 || res.Dup.Load() != 0 || res.TimedOut.Load() != 0 || len(res.Notes) > 1 {
			res.Print(os.Stderr)
			t.Fatalf("%s: the bot did not answer every action exactly once", mode)
		}
		base, err := slackBaseline(o, mode, plan)
		if err != nil {
			t.Fatal(err)
		}
		if base.Answered.Load() < 8 || base.Lost.Load() != 0 || base.Dup.Load() != 0 {
			base.Print(os.Stderr)
			t.Fatalf("%s: the plain client did not answer every action once", mode)
		}
	}
}
