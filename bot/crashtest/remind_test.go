package crashtest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/redis"
	"github.com/supportbot/supportbot/bot/store/redis/redistest"
)

// askReminder walks a conversation to "remind me tomorrow" (in UTC).
func askReminder(t *testing.T, r *running, conv string) {
	t.Helper()
	for _, text := range []string{"bill", "1111 2222", "phone", "4", "1", "2"} {
		r.say(t, conv, text)
	}
	if got := r.rec.texts(conv); got[len(got)-1] != "I'll remind you tomorrow." {
		t.Fatalf("%s: no reminder scheduled: %q", conv, got)
	}
}

// reminderKeys lists what a store still holds of reminders: in Redis the
// keys reminder:<id>, reminders:<user> and reminder-order, in bolt the
// entries of the buckets reminders, reminderat and userrems.
func reminderKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.Contains(k, ":reminder") || strings.HasPrefix(k, "reminder") || strings.HasPrefix(k, "userrems/") {
			out = append(out, k)
		}
	}
	return out
}

// TestReminderOnceTwoDispatchersRedis: two dispatchers, each with its own
// connection to one Redis, look for due reminders every 2 ms; each of 20
// reminders, due a minute apart, is delivered once.
func TestReminderOnceTwoDispatchersRedis(t *testing.T) {
	url := redistest.URL(t)
	prefix := uniquePrefix(t, url)
	clk := newClock()
	open := func() *redis.Store {
		s, err := redis.Open(ctx, url, redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s1, s2 := open(), open()
	cfg := bot.Config{Now: clk.Now, RemindEvery: 2 * time.Millisecond}
	a, b := startDispatcher(t, s1, cfg), startDispatcher(t, s2, cfg)
	const users = 20
	type counts struct{ a, b int }
	before := map[string]counts{}
	for i := range users {
		conv := fmt.Sprintf("nudge:%d", i)
		askReminder(t, []*running{a, b}[i%2], conv)
		before[conv] = counts{len(a.rec.texts(conv)), len(b.rec.texts(conv))}
		clk.Add(time.Minute)
	}
	// Due a minute apart, so both dispatchers get some.
	clk.Add(24*time.Hour - users*time.Minute)
	for range users {
		time.Sleep(10 * time.Millisecond)
		clk.Add(time.Minute)
	}
	delivered := func(conv string) counts {
		return counts{len(a.rec.texts(conv)) - before[conv].a, len(b.rec.texts(conv)) - before[conv].b}
	}
	waitFor(t, "the reminders", func() bool {
		for conv := range before {
			if n := delivered(conv); n.a+n.b < 2 {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // any second delivery would be in by now
	var total counts
	for conv := range before {
		n := delivered(conv)
		if n.a+n.b != 2 {
			t.Errorf("%s: the reminder sent %d messages, want 2 (once)", conv, n.a+n.b)
		}
		total.a += n.a
		total.b += n.b
	}
	t.Logf("%d reminders: %d messages sent by one dispatcher, %d by the other", users, total.a, total.b)
	keys, err := s1.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left := reminderKeys(keys); len(left) != 0 {
		t.Errorf("delivered reminders still stored: %q", left)
	}
}

// TestReminderAfterRestartBolt: a reminder scheduled before a restart
// fires once after it; one claimed by a process that died before
// delivering it fires once the claim's lease is over; one delivered by a
// process that died before deleting it is not delivered again.
func TestReminderAfterRestartBolt(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "supportbot.db")
	var s *bolt.Store
	reopen := func() {
		if s != nil {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		s, err = bolt.Open(path, bolt.Options{Now: clk.Now, SweepEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
	}
	reopen()
	t.Cleanup(func() { _ = s.Close() })
	const conv = "nudge:bolt"
	lease := 2 * time.Minute
	watching := bot.Config{Now: clk.Now, RemindEvery: 2 * time.Millisecond, Lease: lease}
	quiet := bot.Config{Now: clk.Now, RemindEvery: time.Hour, Lease: lease}
	sent := 0 // messages to the user so far
	count := func(r *running) int { return sent + len(r.rec.texts(conv)) }
	stop := func(r *running) {
		r.stop()
		sent += len(r.rec.texts(conv))
		reopen()
	}
	settle := func(r *running, want int, what string) {
		t.Helper()
		waitFor(t, what, func() bool { return count(r) >= want })
		time.Sleep(50 * time.Millisecond)
		if got := count(r); got != want {
			t.Fatalf("%s: %d messages, want %d: %q", what, got, want, r.rec.texts(conv))
		}
	}

	// Scheduled, then a restart before it is due.
	r := startDispatcher(t, s, watching)
	askReminder(t, r, conv)
	stop(r)
	clk.Add(25 * time.Hour)
	r = startDispatcher(t, s, watching)
	settle(r, sent+2, "the reminder after a restart")
	if got := r.rec.texts(conv); !strings.Contains(got[0], "You asked about your bill") {
		t.Fatalf("reminder: %q", got)
	}

	// Claimed by a process that died before delivering it.
	r.say(t, conv, "3") // remind me again
	r.say(t, conv, "1") // tomorrow
	stop(r)
	clk.Add(25 * time.Hour)
	claimed, err := s.ClaimReminders(ctx, clk.Now(), lease, 0)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	reopen() // the process that claimed it is gone
	r = startDispatcher(t, s, watching)
	time.Sleep(50 * time.Millisecond)
	if n := len(r.rec.texts(conv)); n != 0 {
		t.Fatalf("a claimed reminder fired before its lease ended: %q", r.rec.texts(conv))
	}
	clk.Add(lease)
	settle(r, sent+2, "the reminder after the claim's lease")

	// Delivered by a process that died before deleting it.
	r.say(t, conv, "3")
	r.say(t, conv, "1")
	stop(r)
	clk.Add(25 * time.Hour)
	claimed, err = s.ClaimReminders(ctx, clk.Now(), lease, 0)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	r = startDispatcher(t, s, quiet)
	var u bot.Update
	if err := json.Unmarshal(claimed[0].Data, &u); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Handle(ctx, u); err != nil {
		t.Fatal(err)
	}
	settle(r, sent+2, "the reminder delivered by hand")
	stop(r)
	clk.Add(lease)
	r = startDispatcher(t, s, watching)
	waitFor(t, "the reminder to go", func() bool {
		keys, err := s.Keys()
		return err == nil && len(reminderKeys(keys)) == 0
	})
	settle(r, sent, "after the restart")
}
