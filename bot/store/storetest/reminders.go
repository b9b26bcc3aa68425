package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/supportbot/supportbot/bot"
)

// never is a lease that does not end during a case.
const never = 1000 * LongTTL

// rem is a reminder as the Dispatcher schedules it: one per user and case.
func rem(user string, caseID int, at time.Time, key string) bot.Reminder {
	return bot.Reminder{ID: fmt.Sprintf("%s|%d", user, caseID), User: user, At: at, Key: key, Data: []byte("update " + key)}
}

// schedule commits reminders and cancellations on their own, as a turn
// that keeps no session does.
func (f *fixture) schedule(cancel []string, rs ...bot.Reminder) {
	f.Helper()
	c := bot.Commit{Conv: "reminders-conv", User: "reminders-user", Cancel: cancel, Reminders: rs,
		SessionTTL: LongTTL, DeliveryTTL: LongTTL}
	f.commit(c)
}

func (f *fixture) claim(now time.Time, lease time.Duration, limit int) []bot.Reminder {
	f.Helper()
	rs, err := f.s.ClaimReminders(f.ctx, now, lease, limit)
	if err != nil {
		f.Fatalf("ClaimReminders(%v, %v, %d): %v", now.Sub(base), lease, limit, err)
	}
	return rs
}

func (f *fixture) deleteReminder(id, key string) {
	f.Helper()
	if err := f.s.DeleteReminder(f.ctx, id, key); err != nil {
		f.Fatalf("DeleteReminder(%s, %s): %v", id, key, err)
	}
}

func showReminders(rs []bot.Reminder) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "[%s user %s at %+v key %s data %q]", r.ID, r.User, r.At.Sub(base), r.Key, r.Data)
	}
	return b.String()
}

// wantClaimed checks what a claim returned, in order; At is the time each
// one was due at.
func (f *fixture) wantClaimed(what string, got []bot.Reminder, want ...bot.Reminder) {
	f.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.ID == w.ID && g.User == w.User && g.At.Equal(w.At) && g.Key == w.Key && sameBytes(g.Data, w.Data)
	}
	if !ok {
		f.Fatalf("%s: claimed %s\nwant %s", what, showReminders(got), showReminders(want))
	}
}

func at(r bot.Reminder, t time.Time) bot.Reminder {
	r.At = t
	return r
}

// testRemindSchedule: Commit.Reminders upserts by ID, Commit.Cancel
// deletes by ID (before the commit's own reminders are scheduled), and a
// conflicting commit schedules nothing.
func testRemindSchedule(f *fixture) {
	a1 := rem("remuser-a", 1, base.Add(time.Hour), "a-first")
	b := rem("remuser-a", 2, base.Add(2*time.Hour), "b")
	c1 := rem("remuser-c", 1, base.Add(time.Hour), "c-first")
	f.schedule(nil, a1, b, c1)
	if got := f.keysWith("remuser-a|1"); len(got) == 0 {
		f.Fatalf("Keys shows no reminder: %q", f.h.Keys(f.T))
	}
	// The user asks again: the new one replaces the pending one.
	a2 := rem("remuser-a", 1, base.Add(3*time.Hour), "a-second")
	a2.Data = []byte("the newer update")
	f.schedule(nil, a2)
	// Cancelled; cancelled and scheduled again in one commit; unknown.
	c := rem("remuser-c", 1, base.Add(4*time.Hour), "c-second")
	f.schedule([]string{b.ID, c.ID, "nobody|9"}, c)
	err := f.s.Commit(f.ctx, bot.Commit{Conv: "reminders-conv", User: "reminders-user", Version: 5,
		Reminders: []bot.Reminder{rem("remuser-x", 1, base, "x")}, Cancel: []string{a2.ID},
		SessionTTL: LongTTL, DeliveryTTL: LongTTL})
	if !errors.Is(err, bot.ErrConflict) {
		f.Fatalf("a commit from the wrong version: %v, want ErrConflict", err)
	}
	f.wantClaimed("before the replaced time", f.claim(base.Add(150*time.Minute), LongTTL, 0))
	f.wantClaimed("all due", f.claim(base.Add(5*time.Hour), LongTTL, 0), a2, c)
	if keys := f.keysWith("remuser-x"); len(keys) != 0 {
		f.Fatalf("a conflicting commit scheduled a reminder: %q", keys)
	}
	f.deleteReminder(a2.ID, a2.Key)
	f.deleteReminder(c.ID, c.Key)
	for _, user := range []string{"remuser-a", "remuser-c"} {
		if keys := f.keysWith(user); len(keys) != 0 {
			f.Fatalf("delivered reminders leave keys: %q", keys)
		}
	}
}

// testRemindDue: only reminders due at now (At <= now) are claimed, the
// oldest first, at most limit.
func testRemindDue(f *fixture) {
	rs := []bot.Reminder{
		rem("remuser-due", 3, base, "now"),
		rem("remuser-due", 5, base.Add(time.Hour), "later"),
		rem("remuser-due", 1, base.Add(-2*time.Hour), "oldest"),
		rem("remuser-due", 4, base.Add(time.Nanosecond), "a nanosecond late"),
		rem("remuser-due", 2, base.Add(-time.Hour+time.Nanosecond), "older"),
	}
	f.schedule(nil, rs...)
	f.wantClaimed("limit 2", f.claim(base, never, 2), rs[2], rs[4])
	f.wantClaimed("the rest due", f.claim(base, never, 0), rs[0])
	f.wantClaimed("a nanosecond on", f.claim(base.Add(time.Nanosecond), never, 100), rs[3])
	f.wantClaimed("nothing due", f.claim(base.Add(time.Minute), never, 0))
	f.wantClaimed("last", f.claim(base.Add(time.Hour), never, 1), rs[1])
	// The store keeps its own copy of the data.
	r := rem("remuser-due", 9, base, "copied")
	f.schedule(nil, r)
	copy(r.Data, "XXXXXX")
	got := f.claim(base, never, 0)
	if len(got) != 1 || string(got[0].Data) != "update copied" {
		f.Fatalf("claimed %s", showReminders(got))
	}
}

// testRemindLease: a claim moves the reminder's time to now+lease: a second
// claim right after gets nothing; after the lease it is due again.
func testRemindLease(f *fixture) {
	r := rem("remuser-lease", 1, base, "k")
	f.schedule(nil, r)
	f.wantClaimed("first claim", f.claim(base, ShortTTL, 0), r)
	f.wantClaimed("second claim", f.claim(base, ShortTTL, 0))
	f.wantClaimed("just before the lease ends", f.claim(base.Add(ShortTTL-time.Nanosecond), ShortTTL, 0))
	f.wantClaimed("after the lease", f.claim(base.Add(ShortTTL), LongTTL, 0), at(r, base.Add(ShortTTL)))
	f.wantClaimed("claimed again", f.claim(base.Add(ShortTTL), LongTTL, 0))
	f.deleteReminder(r.ID, r.Key)
	f.wantClaimed("after delivery", f.claim(base.Add(100*LongTTL), LongTTL, 0))
}

// testRemindConcurrent: claimers racing on one store get each reminder
// exactly once.
func testRemindConcurrent(f *fixture) {
	const n, claimers = 200, 20
	var rs []bot.Reminder
	for i := range n {
		rs = append(rs, rem(fmt.Sprintf("remuser-conc-%d", i%7), i, base.Add(-time.Duration(i)*time.Second), fmt.Sprint(i)))
	}
	for i := 0; i < n; i += 50 {
		f.schedule(nil, rs[i:i+50]...)
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	start := make(chan struct{})
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range n { // bounded, so a store that never moves them fails instead of hanging
				batch, err := f.s.ClaimReminders(f.ctx, base, LongTTL, 3)
				if err != nil {
					errs <- err
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, r := range batch {
					got[r.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		f.Fatal(err)
	}
	for _, r := range rs {
		if got[r.ID] != 1 {
			f.Errorf("%s claimed %d times", r.ID, got[r.ID])
		}
	}
	if len(got) != n {
		f.Errorf("%d reminders claimed, want %d", len(got), n)
	}
}

// testRemindDeleteByKey: deleting a delivered reminder leaves a newer one
// with the same ID (the user asked again meanwhile).
func testRemindDeleteByKey(f *fixture) {
	old := rem("remuser-del", 1, base, "old")
	f.schedule(nil, old)
	f.wantClaimed("claim", f.claim(base, ShortTTL, 0), old)
	newer := rem("remuser-del", 1, base.Add(time.Hour), "newer")
	f.schedule(nil, newer)
	f.deleteReminder(old.ID, old.Key)
	f.deleteReminder("remuser-nobody|1", "k")
	f.wantClaimed("the old one's lease over", f.claim(base.Add(ShortTTL), LongTTL, 0))
	f.wantClaimed("the newer one", f.claim(base.Add(time.Hour), LongTTL, 0), newer)
	f.deleteReminder(newer.ID, "old")
	f.deleteReminder(newer.ID, newer.Key)
	f.wantClaimed("deleted", f.claim(base.Add(100*LongTTL), LongTTL, 0))
	if keys := f.keysWith("remuser-del"); len(keys) != 0 {
		f.Fatalf("a deleted reminder leaves keys: %q", keys)
	}
}

// testRemindReopen: reminders, and the time a claim moved them to, survive
// a reopen.
func testRemindReopen(f *fixture) {
	r1 := rem("remuser-reopen", 1, base, "one")
	r2 := rem("remuser-reopen", 2, base.Add(2*time.Hour), "two")
	f.schedule(nil, r1, r2)
	f.wantClaimed("before reopening", f.claim(base, time.Hour, 0), r1)
	if err := f.s.Close(); err != nil {
		f.Fatal(err)
	}
	f.s = f.h.Reopen(f.T)
	f.wantClaimed("claimed before reopening", f.claim(base.Add(time.Minute), time.Hour, 0))
	f.wantClaimed("after reopening", f.claim(base.Add(3*time.Hour), time.Hour, 0), at(r1, base.Add(time.Hour)), r2)
	f.deleteReminder(r1.ID, r1.Key)
	f.deleteReminder(r2.ID, r2.Key)
	if keys := f.keysWith("remuser-reopen"); len(keys) != 0 {
		f.Fatalf("left after delivery: %q", keys)
	}
}

// forgetReminders is the reminder half of testForget: reminders of the
// user to forget and of one who stays.
func forgetReminders(user, keeper string) []bot.Reminder {
	return []bot.Reminder{
		rem(user, 1, base, "forget-1"),
		rem(user, 2, base.Add(time.Hour), "forget-2"),
		rem(keeper, 1, base.Add(30*time.Minute), "keep-1"),
	}
}

// checkForgotten claims everything: only the keeper's reminder is left.
func (f *fixture) checkForgotten(keeper bot.Reminder) {
	f.Helper()
	got := f.claim(base.Add(100*LongTTL), LongTTL, 0)
	f.wantClaimed("after /forget", got, keeper)
	if !slices.ContainsFunc(f.h.Keys(f.T), func(k string) bool { return strings.Contains(k, keeper.ID) }) {
		f.Fatal("the keeper's reminder is not in Keys")
	}
}
