package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/storetest"
	"github.com/supportbot/supportbot/content"
)

// harness runs the suite on real files with a fake clock.
type harness struct {
	clock *storetest.Clock
	path  string
	s     *Store
}

func (h *harness) open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(h.path, Options{Now: h.clock.Now, SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return s
}

func (h *harness) Open(t *testing.T) bot.Store {
	h.clock = storetest.NewClock()
	h.path = filepath.Join(t.TempDir(), "supportbot.db")
	return h.open(t)
}

func (h *harness) Reopen(t *testing.T) bot.Store { return h.open(t) }

func (h *harness) Keys(t *testing.T) []string {
	keys, err := h.s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (h *harness) Advance(d time.Duration) { h.clock.Advance(d) }

func TestStore(t *testing.T) {
	storetest.Run(t, &harness{})
}

func openTemp(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supportbot.db")
	if opts.SweepEvery == 0 {
		opts.SweepEvery = -1
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

var ctx = context.Background()

func TestOpenInUse(t *testing.T) {
	s, path := openTemp(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{})
	took := time.Since(start)
	want := fmt.Sprintf("bolt: %s is in use by another supportbot process (lock not acquired in 1s)", path)
	if err == nil || err.Error() != want || !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v\nwant: %s", err, want)
	}
	if took > 3*time.Second {
		t.Fatalf("second Open took %v", took)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{SweepEvery: -1})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s2.Close()
}

func TestOpenNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "bolt: open "+path+": ") {
		t.Fatalf("Open of a text file: %v", err)
	}
}

// rawPut writes a value straight into the closed store's file.
func rawPut(t *testing.T, path string, bucket, key, val []byte) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(key, val) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestCorruptRecords: Begin hands an unreadable session over as version 0
// (the Dispatcher restarts the conversation) and the next commit replaces
// it; an unreadable user record is handed over too.
func TestCorruptRecords(t *testing.T) {
	s, path := openTemp(t, Options{})
	c := bot.Commit{Conv: "c1", User: "u1", Delivery: "d1", Session: []byte("good"), UserData: []byte("{}"),
		SessionTTL: time.Hour, DeliveryTTL: time.Hour}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	garbage := []byte("\xff\x00garbage")
	rawPut(t, path, bSessions, idKey("c1"), garbage)
	rawPut(t, path, bUsers, idKey("u1"), []byte("\x07?"))
	s, err := Open(path, Options{SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.Begin(ctx, bot.Lease{Conv: "c1", User: "u1", Owner: "w", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Session, garbage) || rec.Version != 0 || string(rec.User) != "\x07?" {
		t.Fatalf("corrupt records loaded as %+v", rec)
	}
	c = bot.Commit{Conv: "c1", User: "u1", Delivery: "d2", Version: 0, Session: []byte("fresh"),
		SessionTTL: time.Hour, DeliveryTTL: time.Hour}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatalf("commit over a corrupt session: %v", err)
	}
	rec, err = s.Begin(ctx, bot.Lease{Conv: "c1", User: "u1", Owner: "w", TTL: time.Minute})
	if err != nil || string(rec.Session) != "fresh" || rec.Version != 1 || rec.User != nil {
		t.Fatalf("after the repair: %+v, %v", rec, err)
	}
}

// TestCorruptReminders: a reminder record that cannot be read is dropped,
// with its index entries, by the claim that comes to it; the others are
// claimed as usual.
func TestCorruptReminders(t *testing.T) {
	clock := storetest.NewClock()
	s, path := openTemp(t, Options{Now: clock.Now})
	now := clock.Now()
	rem := func(id string, at time.Time) bot.Reminder {
		return bot.Reminder{ID: id, User: "u1", At: at, Key: "k-" + id, Data: []byte("update " + id)}
	}
	c := bot.Commit{Conv: "c1", User: "u1", SessionTTL: time.Hour, DeliveryTTL: time.Hour,
		Reminders: []bot.Reminder{rem("u1|1", now.Add(-time.Minute)), rem("u1|2", now), rem("u1|3", now.Add(-time.Hour))}}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rawPut(t, path, bReminders, idKey("u1|1"), []byte("\x09?"))
	rawPut(t, path, bReminders, idKey("u1|3"), []byte{})
	s, err := Open(path, Options{Now: clock.Now, SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A damaged one is deleted whatever the key.
	if err := s.DeleteReminder(ctx, "u1|3", "not its key"); err != nil {
		t.Fatal(err)
	}
	rs, err := s.ClaimReminders(ctx, now, time.Minute, 0)
	if err != nil || len(rs) != 1 || rs[0].ID != "u1|2" || string(rs[0].Data) != "update u1|2" {
		t.Fatalf("claimed %+v, %v", rs, err)
	}
	keys, _ := s.Keys()
	for _, k := range keys {
		if strings.Contains(k, "u1|1") || strings.Contains(k, "u1|3") {
			t.Errorf("a damaged reminder left %q", k)
		}
	}
}

// TestGroupCommit: a thousand concurrent commits share far fewer
// transactions, and one commit's conflict fails no other.
func TestGroupCommit(t *testing.T) {
	s, _ := openTemp(t, Options{})
	const n = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := bot.Commit{Conv: fmt.Sprintf("c%d", i), User: "u", Delivery: fmt.Sprintf("d%d", i),
				Session: []byte("s"), SessionTTL: time.Hour, DeliveryTTL: time.Hour,
				Outbox: []bot.Outgoing{{Seq: 256, Data: []byte("reply")}}}
			if i%10 == 0 {
				c.Version = 7 // conflicts
			}
			<-start
			errs[i] = s.Commit(ctx, c)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if wantConflict := i%10 == 0; wantConflict != errors.Is(err, bot.ErrConflict) || (!wantConflict && err != nil) {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	st := s.Stats()
	t.Logf("%d commits in %d transactions", st.Ops, st.Batches)
	if st.Ops != n || st.Batches > n/10 {
		t.Fatalf("%d ops in %d batches: not batched", st.Ops, st.Batches)
	}
	for i := range n {
		rec, err := s.Begin(ctx, bot.Lease{Conv: fmt.Sprintf("c%d", i), Owner: "w", TTL: time.Minute})
		want := uint64(1)
		if i%10 == 0 {
			want = 0
		}
		if err != nil || rec.Version != want || len(rec.Outbox) != int(want) {
			t.Fatalf("c%d: %+v, %v", i, rec, err)
		}
	}
}

// TestFailedOpRerunsBatch: an op that fails while writing (a key bbolt
// refuses) is rolled back alone; the others of its batch are written once.
func TestFailedOpRerunsBatch(t *testing.T) {
	s, _ := openTemp(t, Options{})
	huge := strings.Repeat("x", bbolt.MaxKeySize+1)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conv := fmt.Sprintf("c%d", i)
			if i == 25 {
				conv = huge
			}
			c := bot.Commit{Conv: conv, User: "u", Delivery: fmt.Sprintf("d%d", i), Session: []byte("s"),
				SessionTTL: time.Hour, DeliveryTTL: time.Hour, Outbox: []bot.Outgoing{{Seq: 1, Data: []byte("r")}}}
			<-start
			errs[i] = s.Commit(ctx, c)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if i == 25 {
			if err == nil || errors.Is(err, bot.ErrConflict) || !strings.HasPrefix(err.Error(), "bolt: commit: ") {
				t.Fatalf("huge key: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("commit %d failed with the huge one: %v", i, err)
		}
		rec, err := s.Begin(ctx, bot.Lease{Conv: fmt.Sprintf("c%d", i), Owner: "w", TTL: time.Minute})
		if err != nil || rec.Version != 1 || len(rec.Outbox) != 1 {
			t.Fatalf("c%d written wrong: %+v, %v", i, rec, err)
		}
	}
	keys, _ := s.Keys()
	for _, k := range keys {
		if strings.Contains(k, "xxxxxxxx") || strings.Contains(k, "d25") {
			t.Fatalf("the failed commit left %.40q", k)
		}
	}
}

func TestSweep(t *testing.T) {
	clock := storetest.NewClock()
	s, _ := openTemp(t, Options{Now: clock.Now})
	for i := range 2500 { // more than one sweep chunk
		c := bot.Commit{Conv: fmt.Sprintf("c%d", i), User: fmt.Sprintf("u%d", i%3), Delivery: fmt.Sprintf("d%d", i),
			Session: []byte("s"), SessionTTL: time.Hour, DeliveryTTL: 2 * time.Hour}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	keep := bot.Commit{Conv: "keep", User: "keeper", Delivery: "dk", Session: []byte("s"),
		SessionTTL: 3 * time.Hour, DeliveryTTL: 3 * time.Hour}
	if err := s.Commit(ctx, keep); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Minute)
	n, err := s.Sweep(ctx)
	if err != nil || n != 2500+3 {
		t.Fatalf("first sweep deleted %d, %v; want the sessions and users", n, err)
	}
	clock.Advance(time.Hour)
	if n, err := s.Sweep(ctx); err != nil || n != 2500 {
		t.Fatalf("second sweep deleted %d, %v; want the done ids", n, err)
	}
	keys, _ := s.Keys()
	want := []string{`done/\x02dk`, "meta/format", `sessions/\x04keep`, `userconvs/\x06keeper\x04keep`, `users/\x06keeper`}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("after sweeping: %q", keys)
	}
}

// TestSweeper: the background sweeper runs, and Close stops it.
func TestSweeper(t *testing.T) {
	clock := storetest.NewClock()
	s, _ := openTemp(t, Options{Now: clock.Now, SweepEvery: time.Millisecond})
	c := bot.Commit{Conv: "c", User: "u", Delivery: "d", Session: []byte("s"), SessionTTL: time.Hour, DeliveryTTL: time.Hour}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys, _ := s.Keys()
		if len(keys) == 1 { // meta/format
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not swept: %q", keys)
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// recorder is a platform that accepts every reply.
type recorder struct {
	mu    sync.Mutex
	texts []string
}

func (r *recorder) Send(_ context.Context, rep bot.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, rep.Text)
	return nil
}

// TestDispatcherSessionSize runs whole conversations through the
// Dispatcher and checks what one costs on disk.
func TestDispatcherSessionSize(t *testing.T) {
	pack, err := content.Load(os.DirFS("../../../content/testdata"), "northwind")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := openTemp(t, Options{})
	rec := &recorder{}
	d, err := bot.New(bot.Config{Store: s, Pack: pack, Senders: map[string]bot.Sender{"test": rec}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	conv := "test:1234567890:1234567890"
	n := 0
	say := func(text string) {
		n++
		u := bot.Update{ID: fmt.Sprintf("test:%d", n), Platform: "test", Conv: conv, User: "test:1234567890",
			Kind: bot.KindText, Text: text}
		if err := d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		for _, text := range []string{"bill", "1234-5678", "email", "start_over", "outage", "skip", "phone"} {
			say(text)
		}
	}
	rec.mu.Lock()
	replies := len(rec.texts)
	rec.mu.Unlock()
	if replies < n {
		t.Fatalf("%d replies to %d messages", replies, n)
	}
	var sess, session []byte
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		sess = clone(tx.Bucket(bSessions).Get(idKey(conv)))
		r, _ := decodeSession(sess)
		session = clone(r.data)
		if k, _ := tx.Bucket(bOutbox).Cursor().First(); k != nil {
			t.Errorf("outbox not empty after the replies were sent: %q", k)
		}
		if k, _ := tx.Bucket(bInbox).Cursor().First(); k != nil {
			t.Errorf("inbox not empty after the turns: %q", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("session record %d bytes (session %d bytes), %d turns in %d transactions", len(sess), len(session), n, s.Stats().Batches)
	if len(sess) == 0 || len(sess) > 1024 {
		t.Fatalf("session record is %d bytes", len(sess))
	}
}

// BenchmarkTurn runs full turns as the Dispatcher does (PutInbox, Begin,
// Commit with a 200-byte session and two replies, MarkSent twice, Finish)
// on about 1000 conversations at once, with fsync.
//
//	go test -run '^$' -bench BenchmarkTurn -benchtime 200000x ./bot/store/bolt/
func BenchmarkTurn(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchTurns(b, s, 1000)
	st := s.Stats()
	b.ReportMetric(float64(st.Ops)/float64(max(1, st.Batches)), "ops/txn")
}

// BenchmarkDispatch runs whole turns through the Dispatcher and the
// shipped pack on a bbolt file, 1000 conversations at once.
//
//	go test -run '^$' -bench BenchmarkDispatch -benchtime 100000x ./bot/store/bolt/
func BenchmarkDispatch(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{SweepEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchDispatch(b, s, 1000)
}
