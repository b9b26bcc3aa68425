package telegram_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/telegram"
	"github.com/supportbot/supportbot/bot/telegram/internal/tghtml"
	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	packOnce sync.Once
	pack     *content.Pack
	packErr  error
)

// shipped loads the shipped pack once. Should its texts be unfinished (some
// one is still writing them), the tests cannot run.
func shipped(t *testing.T) *content.Pack {
	t.Helper()
	packOnce.Do(func() { pack, packErr = content.Shipped() })
	if packErr != nil {
		t.Fatalf("the shipped content pack does not load (is someone still writing it? see go test ./content/): %v", packErr)
	}
	return pack
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// acceptor sits between the adapter and the dispatcher: it counts, and
// can fail or hold Accept.
type acceptor struct {
	next  bot.Acceptor
	calls atomic.Int64
	mu    sync.Mutex
	fail  func(bot.Update) error
	// held, release: the next Accept signals held, waits for release,
	// then records the update even though the adapter is stopping.
	held, release chan struct{}
}

func (a *acceptor) Accept(ctx context.Context, u bot.Update) error {
	a.calls.Add(1)
	a.mu.Lock()
	f := a.fail
	held, release := a.held, a.release
	a.held, a.release = nil, nil
	a.mu.Unlock()
	if f != nil {
		if err := f(u); err != nil {
			return err
		}
	}
	if held != nil {
		close(held)
		<-release
		ctx = context.WithoutCancel(ctx)
	}
	return a.next.Accept(ctx, u)
}

func (a *acceptor) hold(held, release chan struct{}) {
	a.mu.Lock()
	a.held, a.release = held, release
	a.mu.Unlock()
}

func (a *acceptor) setFail(f func(bot.Update) error) {
	a.mu.Lock()
	a.fail = f
	a.mu.Unlock()
}

// env is one running bot: the real adapter and a real dispatcher, against
// the fake Bot API.
type env struct {
	t     *testing.T
	fake  *telegramtest.Server
	store *memory.Store
	pack  *content.Pack
	disp  *bot.Dispatcher
	tg    *telegram.Bot
	in    *acceptor
	log   *syncBuffer
	hook  string // the webhook URL in webhook mode

	srv *httptest.Server
	run *runner
}

// runner is the running part of an env, shared by its copies.
type runner struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	runErr   chan error
	dispStop context.CancelFunc
	dispDone chan error
}

// with is the env for a subtest.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

type envOpts struct {
	fake     *telegramtest.Server
	store    *memory.Store
	webhook  bool
	rate     float64
	chatRate float64
	noStart  bool // build, but do not Run
	// clock, when set, is the dispatcher's time (and a new store's):
	// nonces are then the same every run, and reminders come due when the
	// test moves it.
	clock       *clock
	remindEvery time.Duration
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const webhookSecret = "s3cret_T0ken-for-tests"

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, fake: o.fake, store: o.store, pack: shipped(t), log: &syncBuffer{}, run: &runner{}}
	if e.fake == nil {
		e.fake = telegramtest.New(telegramtest.Options{})
		t.Cleanup(e.fake.Close)
	}
	var now func() time.Time
	if o.clock != nil {
		now = o.clock.Now
	}
	if e.store == nil {
		e.store = memory.New(now)
	}
	log := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := bot.New(bot.Config{Store: e.store, Pack: e.pack, Log: log, UserRate: 0, DrainTimeout: 5 * time.Second,
		Now: now, RemindEvery: o.remindEvery})
	if err != nil {
		t.Fatal(err)
	}
	e.disp = d
	e.in = &acceptor{next: d}
	cfg := telegram.Config{
		Token: e.fake.Token, APIURL: e.fake.URL, Rate: o.rate, ChatRate: o.chatRate,
		Pack: e.pack, In: e.in, Log: log,
	}
	mux := http.NewServeMux()
	if o.webhook {
		e.srv = httptest.NewServer(mux)
		t.Cleanup(e.srv.Close)
		e.hook = e.srv.URL + telegram.WebhookPath
		cfg.WebhookURL, cfg.WebhookSecret = e.hook, webhookSecret
	}
	e.tg, err = telegram.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.tg.Routes(mux)
	telegram.SetRetry(e.tg, 5*time.Millisecond, 100*time.Millisecond)
	d.AddSender(telegram.Platform, e.tg)
	t.Cleanup(e.stop)
	t.Cleanup(e.checkLogs)
	if !o.noStart {
		e.start()
	}
	return e
}

func (e *env) start() {
	r := e.run
	dctx, dstop := context.WithCancel(context.Background())
	r.dispStop, r.dispDone = dstop, make(chan error, 1)
	go func() { r.dispDone <- e.disp.Run(dctx) }()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.runErr = cancel, make(chan error, 1)
	go func() { r.runErr <- e.tg.Run(ctx) }()
}

// stop ends Run as SIGTERM would, then lets the dispatcher drain, and
// checks both return nil promptly.
func (e *env) stop() {
	r := e.run
	r.stopOnce.Do(func() {
		if r.cancel == nil {
			return
		}
		r.cancel()
		select {
		case err := <-r.runErr:
			if err != nil {
				e.t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return within 10 s of the cancel")
		}
		r.dispStop()
		<-r.dispDone
		// The fake notices the dropped long poll a moment later.
		e.fake.WaitFor(2*time.Second, func() bool { return !e.fake.Polling() })
	})
}

// checkLogs: no token, no names, no user text in the logs.
func (e *env) checkLogs() {
	logs := e.log.String()
	for _, secret := range []string{e.fake.Token, webhookSecret, "Alice", "Bērziņa", "alice_w", "123-1234567-1234567", "parcel arrived"} {
		if strings.Contains(logs, secret) {
			e.t.Errorf("the logs contain %q:\n%s", secret, logs)
		}
	}
}

// waitReady waits until the adapter reports ready.
func (e *env) waitReady() {
	e.t.Helper()
	if !e.fake.WaitFor(5*time.Second, e.tg.Ready) {
		e.t.Fatal("the adapter never became ready")
	}
}

// settle waits until update id is confirmed and every turn is over with
// its replies sent and its callbacks answered.
func (e *env) settle(id int) {
	e.t.Helper()
	ok := e.fake.WaitFor(10*time.Second, func() bool {
		return e.fake.Confirmed(id) && e.quiet() && len(e.fake.Unanswered()) == 0
	})
	if !ok {
		e.t.Fatalf("update %d not settled: confirmed=%v store=%v unanswered=%v", id, e.fake.Confirmed(id), e.store.Keys(), e.fake.Unanswered())
	}
}

// quiet reports that every recorded update was handled and its replies
// sent: the inbox and the outboxes are empty. (Dispatcher.Idle can stay
// false after the last turn: a worker may wait on an empty queue.)
func (e *env) quiet() bool {
	for _, k := range e.store.Keys() {
		if strings.HasPrefix(k, "inbox:") || strings.HasPrefix(k, "outbox:") {
			return false
		}
	}
	return true
}

// say sends a user's message and waits for the bot to finish with it. It
// returns the bot messages sent meanwhile.
func (e *env) say(chat telegramtest.Chat, from telegramtest.User, text string, opts ...telegramtest.MsgOption) []telegramtest.Message {
	e.t.Helper()
	before := len(e.fake.BotMessages(chat.ID))
	id, _ := e.fake.UserMessage(chat, from, text, opts...)
	e.settle(id)
	return e.fake.BotMessages(chat.ID)[before:]
}

// press presses the button for choice (its data ends in "."+choice) on the
// newest bot message that shows it, and waits for the bot.
func (e *env) press(chat telegramtest.Chat, from telegramtest.User, choice string) []telegramtest.Message {
	e.t.Helper()
	msgs := e.fake.BotMessages(chat.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, b := range msgs[i].Buttons() {
			if strings.HasSuffix(b.Data, "."+choice) {
				return e.pressOn(chat, from, msgs[i].ID, b.Data)
			}
		}
	}
	e.t.Fatalf("no button for %q in chat %d", choice, chat.ID)
	return nil
}

func (e *env) pressOn(chat telegramtest.Chat, from telegramtest.User, msg int, data string) []telegramtest.Message {
	e.t.Helper()
	before := len(e.fake.BotMessages(chat.ID))
	id, _, err := e.fake.Press(chat, from, msg, data)
	if err != nil {
		e.t.Fatal(err)
	}
	e.settle(id)
	return e.fake.BotMessages(chat.ID)[before:]
}

// visible is what a user sees of a content text: rendered for Telegram,
// then read as Telegram reads HTML.
func (e *env) visible(lang, key string, data content.Data) string {
	e.t.Helper()
	if data == nil {
		data = e.pack.Data(&flows.Session{})
	}
	src, err := e.pack.Render(lang, key, data)
	if err != nil {
		e.t.Fatal(err)
	}
	vis, err := tghtml.Parse(markup.Render(markup.TelegramHTML{}, src))
	if err != nil {
		e.t.Fatalf("%s/%s: %v", lang, key, err)
	}
	return vis
}

func (e *env) label(lang, choice string) string {
	e.t.Helper()
	s, err := e.pack.Text(lang, flows.ChoiceLabel(choice))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// wantTexts checks the messages' visible texts against content keys. A
// key "ask.problem✓refund" is a question whose button was pressed: its
// text with the chosen label under it.
func (e *env) wantTexts(got []telegramtest.Message, lang string, data content.Data, keys ...string) {
	e.t.Helper()
	if len(got) != len(keys) {
		var texts []string
		for _, m := range got {
			texts = append(texts, short(m.Text))
		}
		e.t.Fatalf("got %d messages %q, want %d (%v)", len(got), texts, len(keys), keys)
	}
	for i, k := range keys {
		if want := e.want(lang, k, data); got[i].Text != want {
			e.t.Fatalf("message %d: got %q, want %s/%s %q", i, short(got[i].Text), lang, k, short(want))
		}
	}
}

// want is what a user sees of key (see wantTexts).
func (e *env) want(lang, key string, data content.Data) string {
	e.t.Helper()
	key, choice, pressed := strings.Cut(key, "✓")
	want := e.visible(lang, key, data)
	if pressed {
		want += "\n\n✓ " + e.label(lang, choice)
	}
	return want
}

// wantButtons checks a message's button labels against choices.
func (e *env) wantButtons(m telegramtest.Message, lang string, choices ...string) {
	e.t.Helper()
	bs := m.Buttons()
	if len(bs) != len(choices) {
		e.t.Fatalf("message %d has %d buttons, want %v", m.ID, len(bs), choices)
	}
	for i, c := range choices {
		if bs[i].Text != e.label(lang, c) || !strings.HasSuffix(bs[i].Data, "."+c) {
			e.t.Fatalf("button %d is %+v, want %q", i, bs[i], c)
		}
	}
	for _, row := range m.Keyboard {
		if len(row) != 1 {
			e.t.Fatalf("a keyboard row with %d buttons; want one per row", len(row))
		}
	}
}

// liveKeyboards lists the bot messages in chat that still show buttons.
func (e *env) liveKeyboards(chat int64) []int {
	var ids []int
	for _, m := range e.fake.BotMessages(chat) {
		if len(m.Keyboard) > 0 {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// noRefusals: the bot never broke a Bot API rule.
func (e *env) noRefusals(except ...string) {
	e.t.Helper()
next:
	for _, c := range e.fake.Refused() {
		for _, x := range except {
			if strings.Contains(c.Desc, x) {
				continue next
			}
		}
		e.t.Errorf("the fake refused %s: %d %s", c.Method, c.Status, c.Desc)
	}
}

func short(s string) string {
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update if the change is right):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func httpMux(b *telegram.Bot) *http.ServeMux {
	mux := http.NewServeMux()
	b.Routes(mux)
	return mux
}

func postTo(h http.Handler, path, secret, body string) int {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func logTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
