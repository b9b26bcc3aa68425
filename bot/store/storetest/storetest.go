// Package storetest is the conformance suite of bot.Store. The memory store
// is the reference; every other store runs the same cases, so the Dispatcher
// can rely on one set of rules (versions, done ids, leases, Forget, TTLs,
// reminders) whatever keeps its data.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
)

// ShortTTL is the TTL the expiry cases use. A harness on a real clock
// sleeps through a few of them (about 8 s in all), so it is short; a fake
// clock advances at once.
const ShortTTL = time.Second

// LongTTL is the TTL of everything that must not expire during a case.
const LongTTL = time.Hour

// Harness opens the store under test and looks into its backing data.
// Cases run one after the other, never in parallel.
type Harness interface {
	// Open returns a store on fresh, empty backing data. The suite closes
	// it (Close may be called twice).
	Open(t *testing.T) bot.Store
	// Reopen opens the backing data of the store Open returned last, after
	// the suite closed it. A store that cannot (memory) calls t.Skip.
	Reopen(t *testing.T) bot.Store
	// Keys lists every key or record the backing data of the open store
	// holds, found by walking the backend itself (SCAN, every bucket), not
	// by asking the store what it thinks it wrote. A key of a record about
	// a conversation, user, delivery or reminder must contain its kind
	// ("session", "user", "outbox", "inbox", "done", "lease", "reminder")
	// and that id, verbatim, and the key of an index entry the ids it
	// links: the Forget and reminder cases look for ids in them.
	Keys(t *testing.T) []string
	// Advance moves the clock of the stores forward: a fake clock moves at
	// once, a real one (Redis TTLs) sleeps.
	Advance(d time.Duration)
}

// Run runs every case against h, each as a subtest.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"PutInbox", testPutInbox},
		{"InboxOrder", testInboxOrder},
		{"Begin", testBegin},
		{"EmptyValues", testEmptyValues},
		{"Conflict", testConflict},
		{"CommitDone", testCommitDone},
		{"Lease", testLease},
		{"MarkSent", testMarkSent},
		{"FinishWithSent", testFinishWithSent},
		{"Finish", testFinish},
		{"DeliveryTTL", testDeliveryTTL},
		{"SessionTTL", testSessionTTL},
		{"Forget", testForget},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"RemindSchedule", testRemindSchedule},
		{"RemindDue", testRemindDue},
		{"RemindLease", testRemindLease},
		{"RemindConcurrent", testRemindConcurrent},
		{"RemindDeleteByKey", testRemindDeleteByKey},
		{"RemindReopen", testRemindReopen},
		{"Closed", testClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fixture{T: t, h: h, ctx: context.Background()}
			f.s = h.Open(t)
			t.Cleanup(func() { _ = f.s.Close() })
			c.run(f)
		})
	}
}

// fixture is one case's store with helpers that fail the test on errors.
type fixture struct {
	*testing.T
	h   Harness
	s   bot.Store
	ctx context.Context
}

var base = time.Unix(1_800_000_000, 0)

func (f *fixture) put(conv, id string, at time.Time) bot.InboxState {
	f.Helper()
	st, err := f.s.PutInbox(f.ctx, bot.Delivery{ID: id, Conv: conv, At: at, Data: []byte("update " + id)})
	if err != nil {
		f.Fatalf("PutInbox(%s): %v", id, err)
	}
	return st
}

func (f *fixture) inbox(limit int) []string {
	f.Helper()
	ds, err := f.s.Inbox(f.ctx, limit)
	if err != nil {
		f.Fatalf("Inbox: %v", err)
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func lease(conv, user, delivery, owner string, ttl time.Duration) bot.Lease {
	return bot.Lease{Conv: conv, User: user, Delivery: delivery, Owner: owner, TTL: ttl}
}

func (f *fixture) begin(l bot.Lease) bot.Record {
	f.Helper()
	rec, err := f.s.Begin(f.ctx, l)
	if err != nil {
		f.Fatalf("Begin(%s by %s): %v", l.Conv, l.Owner, err)
	}
	return rec
}

// look loads a conversation and lets go of it again.
func (f *fixture) look(conv, user, delivery string) bot.Record {
	f.Helper()
	rec := f.begin(lease(conv, user, delivery, "looker", LongTTL))
	f.finish(conv, "", "looker")
	return rec
}

func (f *fixture) commit(c bot.Commit) {
	f.Helper()
	if err := f.s.Commit(f.ctx, c); err != nil {
		f.Fatalf("Commit(%s v%d %s): %v", c.Conv, c.Version, c.Delivery, err)
	}
}

func (f *fixture) markSent(conv string, seq uint64) {
	f.Helper()
	if err := f.s.MarkSent(f.ctx, conv, seq); err != nil {
		f.Fatalf("MarkSent(%s, %d): %v", conv, seq, err)
	}
}

func (f *fixture) finish(conv, delivery, owner string) {
	f.Helper()
	if err := f.s.Finish(f.ctx, conv, delivery, owner); err != nil {
		f.Fatalf("Finish(%s, %s, %s): %v", conv, delivery, owner, err)
	}
}

// commitOf is the commit the Dispatcher writes: outbox seqs follow the
// version, one reply per text.
func commitOf(conv, user, delivery string, version uint64, session, userData []byte, replies ...string) bot.Commit {
	c := bot.Commit{
		Conv: conv, User: user, Delivery: delivery, Version: version,
		Session: session, UserData: userData,
		SessionTTL: LongTTL, DeliveryTTL: LongTTL,
	}
	for i, r := range replies {
		c.Outbox = append(c.Outbox, bot.Outgoing{Seq: (version+1)<<8 | uint64(i), Data: []byte(r)})
	}
	return c
}

// turn runs one full turn as the Dispatcher does: PutInbox, Begin, Commit,
// then marks the first sent replies sent and finishes. It returns the
// commit.
func (f *fixture) turn(conv, user, id string, session, userData []byte, sent int, replies ...string) bot.Commit {
	f.Helper()
	if st := f.put(conv, id, base); st != bot.InboxNew {
		f.Fatalf("PutInbox(%s) = %v, want new", id, st)
	}
	rec := f.begin(lease(conv, user, id, "worker", LongTTL))
	c := commitOf(conv, user, id, rec.Version, session, userData, replies...)
	f.commit(c)
	for _, o := range c.Outbox[:sent] {
		f.markSent(conv, o.Seq)
	}
	f.finish(conv, id, "worker")
	return c
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func showOutbox(out []bot.Outgoing) string {
	var b strings.Builder
	for _, o := range out {
		fmt.Fprintf(&b, "[%d %q]", o.Seq, o.Data)
	}
	return b.String()
}

func (f *fixture) wantRecord(what string, got bot.Record, session []byte, version uint64, user []byte, done bool, outbox ...bot.Outgoing) {
	f.Helper()
	if !sameBytes(got.Session, session) || got.Version != version || !sameBytes(got.User, user) || got.Done != done ||
		showOutbox(got.Outbox) != showOutbox(outbox) {
		f.Fatalf("%s: got session %q (nil %v) v%d user %q (nil %v) done %v outbox %s\nwant session %q (nil %v) v%d user %q (nil %v) done %v outbox %s",
			what, got.Session, got.Session == nil, got.Version, got.User, got.User == nil, got.Done, showOutbox(got.Outbox),
			session, session == nil, version, user, user == nil, done, showOutbox(outbox))
	}
}

func (f *fixture) keysWith(sub string) []string {
	f.Helper()
	var out []string
	for _, k := range f.h.Keys(f.T) {
		if strings.Contains(k, sub) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func testPutInbox(f *fixture) {
	if st := f.put("c1", "d1", base); st != bot.InboxNew {
		f.Fatalf("first PutInbox = %v, want new", st)
	}
	if st := f.put("c1", "d1", base); st != bot.InboxPending {
		f.Fatalf("second PutInbox = %v, want pending", st)
	}
	if got := f.inbox(0); !slices.Equal(got, []string{"d1"}) {
		f.Fatalf("inbox %q", got)
	}
	rec := f.begin(lease("c1", "u1", "d1", "w", LongTTL))
	f.commit(commitOf("c1", "u1", "d1", rec.Version, []byte("s"), nil, "hi"))
	// Done wins over pending: the turn is committed, only Finish is left.
	if st := f.put("c1", "d1", base); st != bot.InboxDone {
		f.Fatalf("PutInbox after commit = %v, want done", st)
	}
	f.finish("c1", "d1", "w")
	if st := f.put("c1", "d1", base); st != bot.InboxDone {
		f.Fatalf("PutInbox after finish = %v, want done", st)
	}
	if got := f.inbox(0); len(got) != 0 {
		f.Fatalf("inbox after finish %q", got)
	}
	// The store keeps its own copy of the data.
	data := []byte("original")
	if _, err := f.s.PutInbox(f.ctx, bot.Delivery{ID: "d2", Conv: "c2", At: base, Data: data}); err != nil {
		f.Fatal(err)
	}
	copy(data, "XXXXXXXX")
	ds, err := f.s.Inbox(f.ctx, 0)
	if err != nil || len(ds) != 1 || string(ds[0].Data) != "original" {
		f.Fatalf("inbox %+v, %v", ds, err)
	}
}

func testInboxOrder(f *fixture) {
	puts := []struct {
		id string
		at time.Time
	}{
		{"b", base.Add(2 * time.Second)},
		{"a", base.Add(2 * time.Second)},
		{"c", base.Add(time.Second)},
		{"z", base},
		{"m", base.Add(time.Second + time.Nanosecond)},
		{"y", base.Add(-time.Hour)},
	}
	for _, p := range puts {
		if _, err := f.s.PutInbox(f.ctx, bot.Delivery{ID: p.id, Conv: "conv-" + p.id, At: p.at, Data: []byte("data-" + p.id)}); err != nil {
			f.Fatal(err)
		}
	}
	want := []string{"y", "z", "c", "m", "a", "b"}
	if got := f.inbox(0); !slices.Equal(got, want) {
		f.Fatalf("inbox %q, want %q (by At, then ID)", got, want)
	}
	if got := f.inbox(2); !slices.Equal(got, want[:2]) {
		f.Fatalf("inbox(2) %q, want %q", got, want[:2])
	}
	if got := f.inbox(100); !slices.Equal(got, want) {
		f.Fatalf("inbox(100) %q", got)
	}
	ds, err := f.s.Inbox(f.ctx, 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range ds {
		var at time.Time
		for _, p := range puts {
			if p.id == d.ID {
				at = p.at
			}
		}
		if d.Conv != "conv-"+d.ID || string(d.Data) != "data-"+d.ID || !d.At.Equal(at) {
			f.Fatalf("delivery %s: conv %q data %q at %v, want at %v", d.ID, d.Conv, d.Data, d.At, at)
		}
	}
}

func testBegin(f *fixture) {
	rec := f.begin(lease("c1", "u1", "d1", "w", LongTTL))
	f.wantRecord("new conversation", rec, nil, 0, nil, false)

	c := commitOf("c1", "u1", "d1", 0, []byte("session one"), []byte("user one"), "reply a", "reply b")
	f.commit(c)
	rec = f.begin(lease("c1", "u1", "d1", "w", LongTTL)) // same owner: re-enters
	f.wantRecord("after commit, same delivery", rec, []byte("session one"), 1, []byte("user one"), true, c.Outbox...)
	rec = f.begin(lease("c1", "u1", "d2", "w", LongTTL))
	f.wantRecord("after commit, next delivery", rec, []byte("session one"), 1, []byte("user one"), false, c.Outbox...)
	rec = f.begin(lease("c1", "u1", "", "w", LongTTL))
	if rec.Done {
		f.Fatal("a lease without a delivery is never done")
	}
	// The user record belongs to the user, whatever the conversation.
	rec = f.look("c2", "u1", "")
	f.wantRecord("other conversation of the user", rec, nil, 0, []byte("user one"), false)
	rec = f.look("c3", "u2", "")
	f.wantRecord("other user", rec, nil, 0, nil, false)

	for _, o := range c.Outbox {
		f.markSent("c1", o.Seq)
	}
	// Records returned are copies, and so are the commit's slices.
	rec.Session = nil
	c2 := commitOf("c1", "u1", "d2", 1, []byte("session two"), nil)
	f.commit(c2)
	copy(c2.Session, "XXXXXXX")
	rec = f.begin(lease("c1", "u1", "d2", "w", LongTTL))
	f.wantRecord("second commit, user data kept", rec, []byte("session two"), 2, []byte("user one"), true)
	copy(rec.Session, "YYYYYYY")
	rec = f.begin(lease("c1", "u1", "d2", "w", LongTTL))
	f.wantRecord("after changing the loaded record", rec, []byte("session two"), 2, []byte("user one"), true)

	// A nil session deletes it: the version starts again at 0.
	f.commit(commitOf("c1", "u1", "d3", 2, nil, []byte("user two")))
	rec = f.begin(lease("c1", "u1", "d4", "w", LongTTL))
	f.wantRecord("session deleted", rec, nil, 0, []byte("user two"), false)
	if keys := f.keysWith("session"); len(keys) != 0 {
		f.Fatalf("a deleted session leaves keys: %q", keys)
	}
	f.commit(commitOf("c1", "u1", "d4", 0, []byte("session three"), nil))
	rec = f.begin(lease("c1", "u1", "d4", "w", LongTTL))
	f.wantRecord("new session", rec, []byte("session three"), 1, []byte("user two"), true)
	f.finish("c1", "", "w")
}

// testEmptyValues: an empty session or user record is a value, not nothing
// (the Dispatcher tells them apart with != nil).
func testEmptyValues(f *fixture) {
	f.commit(commitOf("c1", "u1", "d1", 0, []byte{}, []byte{}))
	rec := f.look("c1", "u1", "d1")
	f.wantRecord("empty values", rec, []byte{}, 1, []byte{}, true)
	f.commit(commitOf("c1", "u1", "d2", 1, []byte{}, nil, ""))
	rec = f.look("c1", "u1", "d2")
	f.wantRecord("empty reply", rec, []byte{}, 2, []byte{}, true, bot.Outgoing{Seq: 2 << 8, Data: []byte{}})
}

func testConflict(f *fixture) {
	for round := uint64(0); round < 20; round++ {
		rec := f.begin(lease("c1", "u1", "", "w", LongTTL))
		if rec.Version != round {
			f.Fatalf("round %d: version %d", round, rec.Version)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		commits := make([]bot.Commit, 2)
		for i := range commits {
			commits[i] = commitOf("c1", "u1", fmt.Sprintf("d%d-%d", round, i), round,
				fmt.Appendf(nil, "session %d-%d", round, i), nil, fmt.Sprintf("reply %d-%d", round, i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = f.s.Commit(f.ctx, commits[i])
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case errors.Is(err, bot.ErrConflict):
			default:
				f.Fatalf("round %d: commits returned %v", round, errs)
			}
		}
		if won < 0 {
			f.Fatalf("round %d: both commits lost: %v", round, errs)
		}
		rec = f.begin(lease("c1", "u1", commits[1-won].Delivery, "w", LongTTL))
		f.wantRecord(fmt.Sprintf("round %d", round), rec, commits[won].Session, round+1, nil, false, commits[won].Outbox...)
		f.markSent("c1", commits[won].Outbox[0].Seq)
	}
	f.finish("c1", "", "w")
	for _, v := range []uint64{0, 19, 21, 1 << 40} {
		err := f.s.Commit(f.ctx, commitOf("c1", "u1", "late", v, []byte("late"), []byte("late"), "late"))
		if !errors.Is(err, bot.ErrConflict) {
			f.Fatalf("commit from version %d at 20: %v, want ErrConflict", v, err)
		}
	}
	rec := f.look("c1", "u1", "late")
	if rec.Version != 20 || rec.Done || rec.User != nil || len(rec.Outbox) != 0 {
		f.Fatalf("a conflicting commit wrote: %+v", rec)
	}
}

func testCommitDone(f *fixture) {
	first := commitOf("c1", "u1", "d1", 0, []byte("one"), nil, "first")
	f.commit(first)
	// The same delivery again, even from the current version: it is done.
	err := f.s.Commit(f.ctx, commitOf("c1", "u1", "d1", 1, []byte("again"), []byte("x"), "again"))
	if !errors.Is(err, bot.ErrConflict) {
		f.Fatalf("commit of a done delivery: %v, want ErrConflict", err)
	}
	rec := f.look("c1", "u1", "d1")
	f.wantRecord("after the refused commit", rec, []byte("one"), 1, nil, true, first.Outbox...)
	// A done id is done for every conversation.
	err = f.s.Commit(f.ctx, commitOf("c2", "u1", "d1", 0, []byte("two"), nil))
	if !errors.Is(err, bot.ErrConflict) {
		f.Fatalf("commit of a done delivery on another conversation: %v, want ErrConflict", err)
	}
	// Without a delivery id only the version counts.
	f.commit(commitOf("c1", "u1", "", 1, []byte("three"), nil))
	f.commit(commitOf("c1", "u1", "", 2, []byte("four"), nil))
	rec = f.look("c1", "u1", "")
	f.wantRecord("commits without a delivery", rec, []byte("four"), 3, nil, false, first.Outbox...)
}

func (f *fixture) locked(l bot.Lease) {
	f.Helper()
	if _, err := f.s.Begin(f.ctx, l); !errors.Is(err, bot.ErrLocked) {
		f.Fatalf("Begin(%s by %s): %v, want ErrLocked", l.Conv, l.Owner, err)
	}
}

func testLease(f *fixture) {
	f.begin(lease("c1", "u1", "", "A", LongTTL))
	f.locked(lease("c1", "u1", "", "B", LongTTL))
	f.begin(lease("c1", "u1", "", "A", LongTTL)) // the owner re-enters
	f.begin(lease("c2", "u1", "", "B", LongTTL)) // leases are per conversation
	f.finish("c1", "", "B")                      // not B's lease: kept
	f.locked(lease("c1", "u1", "", "B", LongTTL))
	f.finish("c1", "", "A")
	f.begin(lease("c1", "u1", "", "B", ShortTTL))
	f.locked(lease("c1", "u1", "", "A", LongTTL))

	// An owner that went away loses the lease when it expires.
	f.h.Advance(ShortTTL / 2)
	f.locked(lease("c1", "u1", "", "A", LongTTL))
	f.h.Advance(ShortTTL)
	f.begin(lease("c1", "u1", "", "A", ShortTTL))

	// Re-entering renews the lease.
	f.h.Advance(ShortTTL * 6 / 10)
	f.begin(lease("c1", "u1", "", "A", ShortTTL))
	f.h.Advance(ShortTTL * 6 / 10)
	f.locked(lease("c1", "u1", "", "B", LongTTL))
	f.h.Advance(ShortTTL * 6 / 10)
	f.begin(lease("c1", "u1", "", "B", LongTTL))
	f.finish("c1", "", "B")
	f.finish("c2", "", "B")
}

func testMarkSent(f *fixture) {
	c1 := commitOf("c1", "u1", "d1", 0, []byte("s"), nil, "a", "b", "c")
	f.commit(c1)
	o := c1.Outbox
	f.markSent("c1", o[1].Seq)
	f.wantRecord("after one mark", f.look("c1", "u1", ""), []byte("s"), 1, nil, false, o[0], o[2])
	f.markSent("c1", 999) // unknown: nothing happens
	f.markSent("nowhere", o[0].Seq)
	f.wantRecord("after unknown marks", f.look("c1", "u1", ""), []byte("s"), 1, nil, false, o[0], o[2])

	c2 := commitOf("c1", "u1", "d2", 1, []byte("s"), nil, "d", "e")
	f.commit(c2)
	f.wantRecord("appended", f.look("c1", "u1", ""), []byte("s"), 2, nil, false, o[0], o[2], c2.Outbox[0], c2.Outbox[1])
	f.markSent("c1", o[0].Seq)
	f.markSent("c1", c2.Outbox[0].Seq)
	f.wantRecord("order kept", f.look("c1", "u1", ""), []byte("s"), 2, nil, false, o[2], c2.Outbox[1])

	// Two entries with one seq: a mark removes exactly one, the first.
	dup := commitOf("c1", "u1", "d3", 2, []byte("s"), nil)
	dup.Outbox = []bot.Outgoing{{Seq: 7, Data: []byte("x")}, {Seq: 7, Data: []byte("y")}}
	f.commit(dup)
	f.markSent("c1", 7)
	f.wantRecord("one of two", f.look("c1", "u1", ""), []byte("s"), 3, nil, false, o[2], c2.Outbox[1], dup.Outbox[1])

	for _, seq := range []uint64{o[2].Seq, c2.Outbox[1].Seq, 7} {
		f.markSent("c1", seq)
	}
	f.wantRecord("all sent", f.look("c1", "u1", ""), []byte("s"), 3, nil, false)
	if keys := f.keysWith("outbox"); len(keys) != 0 {
		f.Fatalf("an empty outbox leaves keys: %q", keys)
	}
}

// testFinishWithSent: one Finish marks the turn's sent replies, clears the
// inbox entry and releases the lease; with no delivery it only marks and
// releases (a send that failed half-way).
func testFinishWithSent(f *fixture) {
	f.put("c1", "d1", base)
	rec := f.begin(lease("c1", "u1", "d1", "A", LongTTL))
	c := commitOf("c1", "u1", "d1", rec.Version, []byte("s"), nil, "a", "b", "c")
	f.commit(c)
	o := c.Outbox
	if err := f.s.Finish(f.ctx, "c1", "", "A", o[0].Seq); err != nil {
		f.Fatal(err)
	}
	f.wantRecord("after a partial finish", f.look("c1", "u1", ""), []byte("s"), 1, nil, false, o[1], o[2])
	if got := f.inbox(0); !slices.Equal(got, []string{"d1"}) {
		f.Fatalf("a partial finish cleared the inbox: %q", got)
	}
	f.begin(lease("c1", "u1", "d1", "B", LongTTL)) // the lease was released
	if err := f.s.Finish(f.ctx, "c1", "d1", "B", o[1].Seq, o[2].Seq, 999); err != nil {
		f.Fatal(err)
	}
	f.wantRecord("after finish", f.look("c1", "u1", ""), []byte("s"), 1, nil, false)
	if got := f.inbox(0); len(got) != 0 {
		f.Fatalf("inbox %q after finish", got)
	}
	f.begin(lease("c1", "u1", "", "C", LongTTL))
}

func testFinish(f *fixture) {
	f.put("c1", "d1", base)
	f.put("c2", "d2", base.Add(time.Second))
	f.begin(lease("c1", "u1", "d1", "A", LongTTL))
	f.finish("c1", "d1", "A")
	if got := f.inbox(0); !slices.Equal(got, []string{"d2"}) {
		f.Fatalf("inbox %q after finishing d1", got)
	}
	if keys := f.keysWith("d1"); len(keys) != 0 {
		f.Fatalf("a finished delivery leaves keys: %q", keys)
	}
	f.begin(lease("c1", "u1", "", "B", LongTTL)) // released
	// Finishing without a commit does not make the delivery done.
	if st := f.put("c1", "d1", base); st != bot.InboxNew {
		f.Fatalf("PutInbox after finish without commit = %v, want new", st)
	}
	// Another owner's Finish removes the entry but not the lease.
	f.finish("c1", "d1", "A")
	if got := f.inbox(0); !slices.Equal(got, []string{"d2"}) {
		f.Fatalf("inbox %q", got)
	}
	f.locked(lease("c1", "u1", "", "A", LongTTL))
	// An empty delivery leaves the inbox alone; unknown ones are no error.
	f.finish("c2", "", "A")
	f.finish("c2", "unknown", "A")
	if got := f.inbox(0); !slices.Equal(got, []string{"d2"}) {
		f.Fatalf("inbox %q", got)
	}
	f.finish("c1", "", "B")
}

func testDeliveryTTL(f *fixture) {
	c := commitOf("c1", "u1", "d1", 0, []byte("s"), nil)
	c.DeliveryTTL = ShortTTL
	f.commit(c)
	if st := f.put("c1", "d1", base); st != bot.InboxDone {
		f.Fatalf("PutInbox = %v, want done", st)
	}
	f.h.Advance(ShortTTL / 2)
	if !f.look("c1", "u1", "d1").Done {
		f.Fatal("done id forgotten before its TTL")
	}
	f.h.Advance(ShortTTL)
	if f.look("c1", "u1", "d1").Done {
		f.Fatal("done id kept after its TTL")
	}
	if st := f.put("c1", "d1", base); st != bot.InboxNew {
		f.Fatalf("PutInbox after the TTL = %v, want new", st)
	}
	f.commit(commitOf("c1", "u1", "d1", 1, []byte("s"), nil))
	f.finish("c1", "d1", "worker")
}

func testSessionTTL(f *fixture) {
	c := commitOf("c1", "u1", "d1", 0, []byte("one"), []byte("user"))
	c.SessionTTL = ShortTTL
	f.commit(c)
	f.h.Advance(ShortTTL * 6 / 10)
	f.wantRecord("before the TTL", f.look("c1", "u1", ""), []byte("one"), 1, []byte("user"), false)
	// A commit renews the session and the user record.
	c = commitOf("c1", "u1", "d2", 1, []byte("two"), nil)
	c.SessionTTL = ShortTTL
	f.commit(c)
	f.h.Advance(ShortTTL * 6 / 10)
	f.wantRecord("renewed", f.look("c1", "u1", ""), []byte("two"), 2, []byte("user"), false)
	f.h.Advance(ShortTTL * 6 / 10)
	f.wantRecord("idle past the TTL", f.look("c1", "u1", ""), nil, 0, nil, false)
	f.commit(commitOf("c1", "u1", "d3", 0, []byte("three"), nil))
	f.wantRecord("started again", f.look("c1", "u1", ""), []byte("three"), 1, nil, false)

	// Any commit of the user renews their record, even one that deletes
	// its session and leaves the user data alone.
	c = commitOf("c2", "u2", "d4", 0, []byte("s"), []byte("user two"))
	c.SessionTTL = ShortTTL
	f.commit(c)
	f.h.Advance(ShortTTL * 6 / 10)
	c = commitOf("c2", "u2", "d5", 1, nil, nil)
	c.SessionTTL = ShortTTL
	f.commit(c)
	f.h.Advance(ShortTTL * 6 / 10)
	f.wantRecord("user renewed", f.look("c3", "u2", ""), nil, 0, []byte("user two"), false)
	f.h.Advance(ShortTTL * 6 / 10)
	f.wantRecord("user idle past the TTL", f.look("c3", "u2", ""), nil, 0, nil, false)
}

// testForget: a Forget commit deletes, through the per-user indexes, every
// session, outbox and reminder and the user record of the user. What is
// left is the forgetting commit's own outbox (its replies, sent after it)
// and done delivery ids, which are the platforms' update ids and hold no
// user data.
func testForget(f *fixture) {
	const (
		user = "user-forgetme"
		cA   = "tg:forgetme-a"    // a reply never sent
		cB   = "slack:forgetme-b" // everything sent
		cD   = "tg:forgetme-del"  // session deleted, a reply left
		cF   = "tg:forgetme-f"    // where the user says /forget
	)
	keeperConv, keeper := "tg:keeper-1", "user-keeper"
	f.turn(cA, user, "forgetme-d1", []byte("session a"), []byte("lang=de"), 1, "a1", "a2")
	f.turn(cB, user, "forgetme-d2", []byte("session b"), nil, 2, "b1", "b2")
	f.turn(cD, user, "forgetme-d3", []byte("session d"), nil, 1, "d1")
	f.turn(cD, user, "forgetme-d4", nil, nil, 0, "d2")
	f.turn(cF, user, "forgetme-d5", []byte("session f"), nil, 1, "f1")
	kc := f.turn(keeperConv, keeper, "keeper-d1", []byte("keeper session"), []byte("keeper data"), 0, "k1")
	rems := forgetReminders(user, keeper)
	f.schedule(nil, rems...)
	keeperKeys := f.keysWith("keeper")
	if len(f.keysWith("forgetme")) == 0 || len(keeperKeys) == 0 {
		f.Fatalf("Keys shows nothing of the users: %q", f.h.Keys(f.T))
	}

	f.put(cF, "forgetme-d9", base)
	rec := f.begin(lease(cF, user, "forgetme-d9", "worker", LongTTL))
	c := commitOf(cF, user, "forgetme-d9", rec.Version, nil, nil, "all forgotten")
	c.Forget = true
	f.commit(c)
	f.finish(cF, "forgetme-d9", "worker")

	dones := []string{"forgetme-d1", "forgetme-d2", "forgetme-d3", "forgetme-d4", "forgetme-d5", "forgetme-d9"}
	isDone := func(k string) bool {
		return strings.Contains(k, "done") && slices.ContainsFunc(dones, func(id string) bool { return strings.Contains(k, id) })
	}
	var outbox []string
	for _, k := range f.keysWith("forgetme") {
		switch {
		case isDone(k):
		case strings.Contains(k, cF) && strings.Contains(k, "outbox"):
			outbox = append(outbox, k)
		default:
			f.Errorf("after /forget the store still holds %q", k)
		}
	}
	if len(outbox) == 0 {
		f.Error("the forgetting commit's reply is not in the outbox")
	}
	if got := f.keysWith("keeper"); !slices.Equal(got, keeperKeys) {
		f.Errorf("another user's keys changed: %q, was %q", got, keeperKeys)
	}
	if f.Failed() {
		f.FailNow()
	}
	for _, conv := range []string{cA, cB, cD} {
		f.wantRecord("forgotten "+conv, f.look(conv, user, ""), nil, 0, nil, false)
	}
	f.wantRecord("forgetting conversation", f.look(cF, user, "forgetme-d9"), nil, 0, nil, true, c.Outbox...)
	f.markSent(cF, c.Outbox[0].Seq)
	for _, k := range f.keysWith("forgetme") {
		if !isDone(k) {
			f.Errorf("after its reply was sent the store still holds %q", k)
		}
	}
	f.wantRecord("other user", f.look(keeperConv, keeper, ""), []byte("keeper session"), 1, []byte("keeper data"), false, kc.Outbox...)
	f.checkForgotten(rems[2])
}

func testReopen(f *fixture) {
	c := commitOf("c1", "u1", "d1", 0, []byte("session"), []byte("user"), "r1", "r2")
	f.put("c1", "d1", base)
	f.begin(lease("c1", "u1", "d1", "w", LongTTL))
	f.commit(c)
	f.put("c2", "d2", base.Add(time.Second))
	if err := f.s.Close(); err != nil {
		f.Fatal(err)
	}
	f.s = f.h.Reopen(f.T)
	f.wantRecord("reopened", f.begin(lease("c1", "u1", "d1", "w", LongTTL)), []byte("session"), 1, []byte("user"), true, c.Outbox...)
	if got := f.inbox(0); !slices.Equal(got, []string{"d1", "d2"}) {
		f.Fatalf("inbox after reopen %q", got)
	}
	if st := f.put("c1", "d1", base); st != bot.InboxDone {
		f.Fatalf("PutInbox(d1) = %v, want done", st)
	}
	if st := f.put("c2", "d2", base); st != bot.InboxPending {
		f.Fatalf("PutInbox(d2) = %v, want pending", st)
	}
	f.markSent("c1", c.Outbox[0].Seq)
	f.finish("c1", "d1", "w")
	f.commit(commitOf("c1", "u1", "d2", 1, []byte("next"), nil))
}

func testConcurrent(f *fixture) {
	const convs, turns = 64, 8
	var wg sync.WaitGroup
	errs := make(chan error, convs)
	for i := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conv, user := fmt.Sprintf("conc-%d", i), fmt.Sprintf("user-%d", i%4)
			for n := range turns {
				id := fmt.Sprintf("%s-%d", conv, n)
				if _, err := f.s.PutInbox(f.ctx, bot.Delivery{ID: id, Conv: conv, At: base, Data: []byte(id)}); err != nil {
					errs <- err
					return
				}
				rec, err := f.s.Begin(f.ctx, lease(conv, user, id, conv, LongTTL))
				if err != nil {
					errs <- err
					return
				}
				c := commitOf(conv, user, id, rec.Version, fmt.Appendf(nil, "session %d", n), nil, "r1", "r2")
				if err := f.s.Commit(f.ctx, c); err != nil {
					errs <- fmt.Errorf("commit %s: %w", id, err)
					return
				}
				for _, o := range c.Outbox {
					if err := f.s.MarkSent(f.ctx, conv, o.Seq); err != nil {
						errs <- err
						return
					}
				}
				if err := f.s.Finish(f.ctx, conv, id, conv); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.Error(err)
	}
	if f.Failed() {
		return
	}
	for i := range convs {
		conv := fmt.Sprintf("conc-%d", i)
		rec := f.look(conv, fmt.Sprintf("user-%d", i%4), "")
		f.wantRecord(conv, rec, fmt.Appendf(nil, "session %d", turns-1), turns, nil, false)
	}
	if got := f.inbox(0); len(got) != 0 {
		f.Fatalf("inbox %q", got)
	}
}

func testClosed(f *fixture) {
	if err := f.s.Ping(f.ctx); err != nil {
		f.Fatalf("Ping: %v", err)
	}
	if err := f.s.Close(); err != nil {
		f.Fatalf("Close: %v", err)
	}
	check := func(op string, err error) {
		f.Helper()
		if !errors.Is(err, bot.ErrStoreClosed) {
			f.Errorf("%s after Close: %v, want bot.ErrStoreClosed", op, err)
		}
	}
	_, err := f.s.PutInbox(f.ctx, bot.Delivery{ID: "d1", Conv: "c1", At: base})
	check("PutInbox", err)
	_, err = f.s.Inbox(f.ctx, 0)
	check("Inbox", err)
	_, err = f.s.Begin(f.ctx, lease("c1", "u1", "d1", "w", LongTTL))
	check("Begin", err)
	check("Commit", f.s.Commit(f.ctx, commitOf("c1", "u1", "d1", 0, []byte("s"), nil)))
	check("MarkSent", f.s.MarkSent(f.ctx, "c1", 1))
	check("Finish", f.s.Finish(f.ctx, "c1", "d1", "w"))
	_, err = f.s.ClaimReminders(f.ctx, base, time.Minute, 0)
	check("ClaimReminders", err)
	check("DeleteReminder", f.s.DeleteReminder(f.ctx, "u1|1", "k"))
	check("Ping", f.s.Ping(f.ctx))
	if err := f.s.Close(); err != nil {
		f.Errorf("second Close: %v", err)
	}
}
