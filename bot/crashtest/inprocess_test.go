package crashtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
)

// convRecorder is a platform in the test process: replies by conversation.
// A gate, when set, holds a send until it is closed.
type convRecorder struct {
	mu     sync.Mutex
	byConv map[string][]string
	gate   chan struct{}
	held   chan struct{} // closed when a send waits at the gate
}

func newConvRecorder() *convRecorder { return &convRecorder{byConv: map[string][]string{}} }

func (r *convRecorder) Send(ctx context.Context, rep bot.Reply) error {
	r.mu.Lock()
	gate, held := r.gate, r.held
	r.gate, r.held = nil, nil
	r.mu.Unlock()
	if gate != nil {
		close(held)
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rep.Kind == bot.Message {
		r.byConv[rep.Conv] = append(r.byConv[rep.Conv], rep.Text)
	}
	return nil
}

// hold makes the next send wait until the returned release is called; held
// is closed once it waits.
func (r *convRecorder) hold() (held <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gate, r.held = make(chan struct{}), make(chan struct{})
	gate := r.gate
	return r.held, func() { close(gate) }
}

func (r *convRecorder) texts(conv string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.byConv[conv]...)
}

// running is a Dispatcher running in the test process.
type running struct {
	d    *bot.Dispatcher
	rec  *convRecorder
	stop func()
}

func startDispatcher(t *testing.T, store bot.Store, cfg bot.Config) *running {
	t.Helper()
	rec := newConvRecorder()
	cfg.Store = store
	cfg.Pack = loadPack(t)
	cfg.Senders = map[string]bot.Sender{"test": rec}
	d, err := bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	var once sync.Once
	r := &running{d: d, rec: rec, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(r.stop)
	return r
}

var updates int

// say sends one message of a user in their conversation "<conv>" and
// waits until its replies are sent.
func (r *running) say(t *testing.T, conv, text string) {
	t.Helper()
	if err := r.d.Handle(ctx, userUpdate(conv, text)); err != nil {
		t.Fatal(err)
	}
}

func userUpdate(conv, text string) bot.Update {
	updates++
	u := textUpdate(conv, updates, text)
	if strings.HasPrefix(text, "/") {
		u.Kind, u.Text = bot.KindCommand, ""
		u.Command, u.Args, _ = strings.Cut(text[1:], " ")
	}
	return u
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// clock is a settable time for dispatchers and stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
