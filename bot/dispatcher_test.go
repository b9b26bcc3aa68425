package bot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/content"
)

func testPack(t testing.TB) *content.Pack {
	t.Helper()
	p, err := content.Load(os.DirFS("../content/testdata"), "northwind")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder is a fake platform: it records every reply and can fail sends.
type recorder struct {
	mu      sync.Mutex
	replies map[string][]bot.Reply
	fail    func(bot.Reply) error
	count   int
}

func newRecorder() *recorder { return &recorder{replies: map[string][]bot.Reply{}} }

func (r *recorder) Send(_ context.Context, rep bot.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(rep); err != nil {
			return err
		}
	}
	r.replies[rep.Conv] = append(r.replies[rep.Conv], rep)
	r.count++
	return nil
}

func (r *recorder) texts(conv string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rep := range r.replies[conv] {
		if rep.Kind == bot.Message {
			out = append(out, rep.Text)
		}
	}
	return out
}

type harness struct {
	d     *bot.Dispatcher
	store bot.Store
	rec   *recorder
	stop  func()
}

func start(t *testing.T, store bot.Store, cfg bot.Config) *harness {
	t.Helper()
	rec := newRecorder()
	cfg.Store = store
	cfg.Pack = testPack(t)
	cfg.Senders = map[string]bot.Sender{"test": rec}
	d, err := bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	h := &harness{d: d, store: store, rec: rec}
	h.stop = func() { cancel(); <-done }
	t.Cleanup(h.stop)
	return h
}

var seq int

func upd(conv string, kind bot.Kind, text string) bot.Update {
	seq++
	u := bot.Update{ID: fmt.Sprintf("test:%d", seq), Platform: "test", Conv: conv, User: "user-" + conv, Kind: kind}
	switch kind {
	case bot.KindCommand:
		u.Command, u.Args, _ = strings.Cut(text, " ")
	case bot.KindButton:
		u.Data = text
	default:
		u.Text = text
	}
	return u
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOrderPerConversation(t *testing.T) {
	h := start(t, memory.New(nil), bot.Config{})
	ctx := context.Background()
	// 50 conversations, each the same walk, all accepted at once.
	walk := []string{"bill", "skip", "email"}
	for c := 0; c < 50; c++ {
		conv := fmt.Sprintf("c%d", c)
		for _, w := range walk {
			if err := h.d.Accept(ctx, upd(conv, bot.KindText, w)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "all turns", h.d.Idle)
	for c := 0; c < 50; c++ {
		texts := h.rec.texts(fmt.Sprintf("c%d", c))
		// greeting+account, via, answer+next
		if len(texts) != 5 || !strings.Contains(texts[4], "Anything else?") || !strings.Contains(texts[3], "billing team") {
			t.Fatalf("conversation c%d out of order: %q", c, texts)
		}
	}
}

func TestDuplicateAnsweredOnce(t *testing.T) {
	obs := newCounts()
	h := start(t, memory.New(nil), bot.Config{Obs: obs})
	ctx := context.Background()
	u := upd("dup", bot.KindText, "bill")
	for i := 0; i < 5; i++ {
		if err := h.d.Accept(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "turn", h.d.Idle)
	if err := h.d.Accept(ctx, u); err != nil { // after it is done
		t.Fatal(err)
	}
	waitFor(t, "idle", h.d.Idle)
	if got := len(h.rec.texts("dup")); got != 2 { // greeting, account question
		t.Fatalf("%d replies, want 2: %q", got, h.rec.texts("dup"))
	}
	// Every redelivery was dropped: queued, running or done.
	if n := obs.get(func(c *counts) int { return c.duplicates }); n != 5 {
		t.Fatalf("%d duplicates counted, want 5", n)
	}
}

// TestPendingRedeliveryRuns: a redelivery still in the inbox that nobody
// here is working on (its process died) is run, so it is no duplicate.
func TestPendingRedeliveryRuns(t *testing.T) {
	store := memory.New(nil)
	obs := newCounts()
	rec := newRecorder()
	// Not started: no recovery takes the inbox entry first.
	d, err := bot.New(bot.Config{Store: store, Pack: testPack(t), Obs: obs, Senders: map[string]bot.Sender{"test": rec}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := upd("pend", bot.KindText, "bill")
	if _, err := store.PutInbox(ctx, bot.Delivery{ID: u.ID, Conv: u.Conv, At: time.Now(), Data: mustJSON(t, u)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Handle(ctx, u); err != nil {
		t.Fatal(err)
	}
	dups := func() int { return obs.get(func(c *counts) int { return c.duplicates }) }
	if got := len(rec.texts("pend")); got != 2 || dups() != 0 {
		t.Fatalf("pending redelivery: %d replies (want 2), %d duplicates (want 0)", got, dups())
	}
	if err := d.Handle(ctx, u); err != nil { // now done
		t.Fatal(err)
	}
	if got := len(rec.texts("pend")); got != 2 || dups() != 1 {
		t.Fatalf("done redelivery: %d replies (want 2), %d duplicates (want 1)", got, dups())
	}
}

// logBuf collects log output from several goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestPanicKeepsSession(t *testing.T) {
	var logs logBuf
	obs := newCounts()
	h := start(t, memory.New(nil), bot.Config{Obs: obs, Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()
	if err := h.d.Handle(ctx, upd("p", bot.KindText, "bill")); err != nil {
		t.Fatal(err)
	}
	const text = "boom my order 4711"
	h.d.SetTestHook(func(u *bot.Update) {
		if u.Text == text {
			// A panic value carrying the message, as a formatted error would.
			panic(fmt.Errorf("cannot handle %q", u.Text))
		}
	})
	if err := h.d.Handle(ctx, upd("p", bot.KindText, text)); err != nil {
		t.Fatal(err)
	}
	texts := h.rec.texts("p")
	if last := texts[len(texts)-1]; last != "Something went wrong. Please try again." {
		t.Fatalf("after a panic: %q", last)
	}
	if n := obs.get(func(c *counts) int { return c.panics }); n != 1 {
		t.Fatalf("%d panics counted", n)
	}
	out := logs.String()
	if strings.Contains(out, "4711") || strings.Contains(out, "boom") {
		t.Fatalf("the log carries the message text:\n%s", out)
	}
	// Its type and where it happened instead.
	if !strings.Contains(out, `"panic":"*errors.errorString"`) || !strings.Contains(out, "dispatcher_test.go:") {
		t.Fatalf("the panic log line lacks the type or the place:\n%s", out)
	}
	// The conversation is where it was: the account question accepts skip.
	if err := h.d.Handle(ctx, upd("p", bot.KindText, "skip")); err != nil {
		t.Fatal(err)
	}
	texts = h.rec.texts("p")
	if last := texts[len(texts)-1]; last != "Phone or e-mail?" {
		t.Fatalf("session did not survive the panic: %q", texts)
	}
}

func TestUserRate(t *testing.T) {
	clock := time.Unix(1790000000, 0)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	obs := newCounts()
	h := start(t, memory.New(now), bot.Config{UserRate: 3, Now: now, Obs: obs})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := h.d.Handle(ctx, upd("r", bot.KindText, "help")); err != nil {
			t.Fatal(err)
		}
	}
	texts := h.rec.texts("r")
	slow := 0
	for _, tx := range texts {
		if tx == "Please slow down." {
			slow++
		}
	}
	// 3 turns (greeting+question, then help+question twice) and one warning.
	if len(texts) != 7 || slow != 1 {
		t.Fatalf("rate limit: %d replies, %d warnings: %q", len(texts), slow, texts)
	}
	// The excess is counted: the one answered with the warning and the
	// six dropped.
	if n := obs.get(func(c *counts) int { return c.throttled }); n != 7 {
		t.Fatalf("%d throttled counted, want 7", n)
	}
	mu.Lock()
	clock = clock.Add(11 * time.Second)
	mu.Unlock()
	if err := h.d.Handle(ctx, upd("r", bot.KindText, "help")); err != nil {
		t.Fatal(err)
	}
	if got := len(h.rec.texts("r")); got != 9 {
		t.Fatalf("after the window: %d replies", got)
	}
}

func TestFailedSendIsRetriedFromOutbox(t *testing.T) {
	store := memory.New(nil)
	obs := newCounts()
	h := start(t, store, bot.Config{RecoverEvery: 10 * time.Millisecond, Lease: time.Millisecond, Obs: obs})
	ctx := context.Background()
	var failing sync.Mutex
	down := true
	h.rec.fail = func(bot.Reply) error {
		failing.Lock()
		defer failing.Unlock()
		if down {
			return errors.New("platform unreachable")
		}
		return nil
	}
	if err := h.d.Accept(ctx, upd("f", bot.KindText, "bill")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "turn", h.d.Idle)
	if n := len(h.rec.texts("f")); n != 0 {
		t.Fatalf("%d replies while down", n)
	}
	failing.Lock()
	down = false
	failing.Unlock()
	waitFor(t, "recovered replies", func() bool { return len(h.rec.texts("f")) == 2 })
	waitFor(t, "empty inbox", func() bool { // session + user, and done ids
		return len(slices.DeleteFunc(store.Keys(), func(k string) bool { return strings.HasPrefix(k, "done:") })) == 2
	})
	time.Sleep(50 * time.Millisecond)
	if n := len(h.rec.texts("f")); n != 2 {
		t.Fatalf("replies after recovery: %d", n)
	}
	// Both went out from the outbox, after failed attempts.
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.sent["resent ok"] != 2 || obs.sent["ok"] != 0 || obs.sent["client_error"] != 1 {
		t.Fatalf("sends observed: %v", obs.sent)
	}
}

func TestRecoversInboxAtStart(t *testing.T) {
	store := memory.New(nil)
	ctx := context.Background()
	// A delivery recorded by a process that died before running it.
	first := start(t, store, bot.Config{})
	first.stop()
	if err := first.d.Accept(ctx, upd("x", bot.KindText, "bill")); !errors.Is(err, bot.ErrClosed) {
		t.Fatalf("accept after shutdown: %v", err)
	}
	u := upd("x", bot.KindText, "outage")
	if _, err := store.PutInbox(ctx, bot.Delivery{ID: u.ID, Conv: u.Conv, At: time.Now(), Data: mustJSON(t, u)}); err != nil {
		t.Fatal(err)
	}
	second := start(t, store, bot.Config{})
	waitFor(t, "recovered turn", func() bool { return len(second.rec.texts("x")) == 2 })
}

func TestForgetDeletesEverything(t *testing.T) {
	store := memory.New(nil)
	h := start(t, store, bot.Config{})
	ctx := context.Background()
	// One user, two conversations (a private chat and a group).
	a, b := upd("a", bot.KindText, "bill"), upd("b", bot.KindText, "outage")
	a.User, b.User = "same-user", "same-user"
	other := upd("o", bot.KindText, "bill")
	for _, u := range []bot.Update{a, b, other} {
		if err := h.d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	lang := upd("a", bot.KindCommand, "language de")
	lang.User = "same-user"
	if err := h.d.Handle(ctx, lang); err != nil {
		t.Fatal(err)
	}
	f := upd("a", bot.KindCommand, "forget")
	f.User = "same-user"
	if err := h.d.Handle(ctx, f); err != nil {
		t.Fatal(err)
	}
	texts := h.rec.texts("a")
	if texts[len(texts)-1] != "Alles über Sie ist gelöscht." {
		t.Fatalf("forget reply: %q", texts[len(texts)-1])
	}
	got := strings.Join(store.Keys(), " ")
	if strings.Contains(got, "same-user") || strings.Contains(got, "session:a") || strings.Contains(got, "session:b") {
		t.Fatalf("left behind after /forget: %s", got)
	}
	if !strings.Contains(got, "session:o") {
		t.Fatalf("another user's data went too: %s", got)
	}
}

func TestUnreadableSessionStartsAgain(t *testing.T) {
	store := memory.New(nil)
	h := start(t, store, bot.Config{})
	ctx := context.Background()
	if err := store.Commit(ctx, bot.Commit{Conv: "bad", User: "u", Session: []byte("garbage"), SessionTTL: time.Hour, DeliveryTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	u := upd("bad", bot.KindText, "bill")
	if err := h.d.Handle(ctx, u); err != nil {
		t.Fatal(err)
	}
	texts := h.rec.texts("bad")
	if len(texts) != 2 || texts[0] != "The helper changed; let's start again." {
		t.Fatalf("unreadable session: %q", texts)
	}
}

// recoveredFirst holds the PutInbox of one delivery until a worker began
// it: the recovery takes the delivery between Handle's PutInbox and the
// queueing of Handle's own turn.
type recoveredFirst struct {
	*memory.Store
	id       string
	begun    chan struct{}
	returned chan struct{}
	once     sync.Once
}

func (s *recoveredFirst) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	st, err := s.Store.PutInbox(ctx, d)
	if d.ID == s.id {
		<-s.begun
		close(s.returned)
	}
	return st, err
}

func (s *recoveredFirst) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	if l.Delivery == s.id {
		s.once.Do(func() { close(s.begun) })
	}
	return s.Store.Begin(ctx, l)
}

// TestHandleOfRecoveredDelivery: a Handle whose delivery the recovery
// queued first waits for that turn (it used to wait forever).
func TestHandleOfRecoveredDelivery(t *testing.T) {
	u := upd("rec", bot.KindText, "bill")
	store := &recoveredFirst{Store: memory.New(nil), id: u.ID, begun: make(chan struct{}), returned: make(chan struct{})}
	h := start(t, store, bot.Config{RecoverEvery: 5 * time.Millisecond, Lease: time.Nanosecond})
	release := make(chan struct{})
	h.rec.fail = func(bot.Reply) error { <-release; return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	handled := make(chan error, 1)
	go func() { handled <- h.d.Handle(ctx, u) }()
	<-store.returned
	time.Sleep(20 * time.Millisecond) // Handle finds its delivery running
	close(release)
	if err := <-handled; err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := h.rec.texts("rec"); len(got) != 2 {
		t.Fatalf("replies %q, want the turn's two", got)
	}
}

// markLog records the seqs of MarkSent and of the last Finish.
type markLog struct {
	bot.Store
	mu     sync.Mutex
	marks  [][]uint64
	finish []uint64
}

func (m *markLog) MarkSent(ctx context.Context, conv string, seqs ...uint64) error {
	m.mu.Lock()
	m.marks = append(m.marks, slices.Clone(seqs))
	m.mu.Unlock()
	return m.Store.MarkSent(ctx, conv, seqs...)
}

func (m *markLog) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	m.mu.Lock()
	m.finish = slices.Clone(sent)
	m.mu.Unlock()
	return m.Store.Finish(ctx, conv, delivery, owner, sent...)
}

func (m *markLog) marked() [][]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.marks)
}

// A reply is marked sent while the next one is still on its way, so a
// crash then does not send it again; the turn's Finish carries every
// reply, so a mark left out (the last one, or one queued behind a write)
// is not lost.
func TestRepliesMarkedEarly(t *testing.T) {
	store := &markLog{Store: memory.New(nil)}
	h := start(t, store, bot.Config{})
	ctx := context.Background()
	for _, text := range []string{"bill", "1234 5678"} {
		if err := h.d.Handle(ctx, upd("m", bot.KindText, text)); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the dispatcher stops, even when the test fails
	sends := 0
	h.rec.mu.Lock()
	h.rec.fail = func(bot.Reply) error {
		if sends++; sends == 2 {
			<-release // the second reply of the answer takes its time
		}
		return nil
	}
	h.rec.mu.Unlock()
	before := len(store.marked())
	done := make(chan error, 1)
	go func() { done <- h.d.Handle(ctx, upd("m", bot.KindText, "email")) }()
	waitFor(t, "the first reply's mark while the second is being sent", func() bool { return len(store.marked()) > before })
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	if sends < 2 || len(store.finish) != sends {
		t.Errorf("%d replies sent, the turn's Finish carries %v", sends, store.finish)
	}
	store.mu.Unlock()
	if rec, err := store.Store.Begin(ctx, bot.Lease{Conv: "m", User: "user-m", Delivery: "check", Owner: "t", TTL: time.Second}); err != nil || len(rec.Outbox) != 0 {
		t.Errorf("outbox after the turn: %v %v", rec.Outbox, err)
	}
}
