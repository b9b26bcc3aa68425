package slack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	slackbot "github.com/supportbot/supportbot/bot/slack"
	"github.com/supportbot/supportbot/bot/slack/slacktest"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

const team = slacktest.Team

var (
	packOnce sync.Once
	packVal  *content.Pack
	packErr  error
)

// shippedPack loads the real pack once.
func shippedPack(t testing.TB) *content.Pack {
	t.Helper()
	packOnce.Do(func() { packVal, packErr = content.Shipped() })
	if packErr != nil {
		t.Fatalf("content pack: %v", packErr)
	}
	return packVal
}

// obs counts what the adapter reports.
type obs struct {
	mu       sync.Mutex
	received map[string]int
	calls    map[string]int // method/class
	waited   []time.Duration
}

func newObs() *obs { return &obs{received: map[string]int{}, calls: map[string]int{}} }

func (o *obs) Received(_, kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.received[kind]++
}

func (o *obs) Call(_, method string, class bot.CallClass, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[method+"/"+string(class)]++
}

func (o *obs) Waited(_ string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waited = append(o.waited, d)
}

func (o *obs) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[key]
}

// acceptor counts Accept calls on the way to the dispatcher.
type acceptor struct {
	d  *bot.Dispatcher
	mu sync.Mutex
	n  int
	u  []bot.Update
}

func (a *acceptor) Accept(ctx context.Context, u bot.Update) error {
	a.mu.Lock()
	a.n++
	a.u = append(a.u, u)
	a.mu.Unlock()
	return a.d.Accept(ctx, u)
}

func (a *acceptor) accepted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// world is a fake Slack, the real adapter and a real dispatcher on the
// memory store, in one of the two modes.
type world struct {
	t      testing.TB
	mode   string // "http" or "socket"
	fake   *slacktest.Server
	store  *memory.Store
	bot    *slackbot.Bot
	disp   *bot.Dispatcher
	in     *acceptor
	obs    *obs
	pack   *content.Pack
	client *slacktest.Client // HTTP mode
	srv    *httptest.Server  // HTTP mode: the bot's endpoints
	stop   func()            // ends the bot and the dispatcher (a process exit)
}

type worldOpts struct {
	fake slacktest.Options
	// server and store, when set, are a running fake Slack and a store to
	// use (a restart); otherwise new ones.
	server *slacktest.Server
	store  *memory.Store
	cfg    func(*slackbot.Config)
	// now is the dispatcher's (and a new store's) time; remindEvery how
	// often it looks for due reminders.
	now         func() time.Time
	remindEvery time.Duration
	noRun       bool
}

func newWorld(t testing.TB, mode string, o worldOpts) *world {
	t.Helper()
	pack := shippedPack(t)
	fake := o.server
	if fake == nil {
		fake = slacktest.NewServer(o.fake)
		t.Cleanup(fake.Close)
	}
	store := o.store
	if store == nil {
		store = memory.New(o.now)
	}
	w := &world{t: t, mode: mode, fake: fake, store: store, obs: newObs(), pack: pack, stop: func() {}}
	logLevel := slog.LevelWarn
	if os.Getenv("SLACK_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: logLevel}))
	d, err := bot.New(bot.Config{Store: store, Pack: pack, Log: log, Now: o.now, RemindEvery: o.remindEvery,
		RecoverEvery: time.Hour, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.disp = d
	w.in = &acceptor{d: d}
	cfg := slackbot.Config{
		BotToken: fake.Options().BotToken, APIURL: fake.APIURL, Pack: pack, In: w.in,
		Log: log, Obs: w.obs, PingInterval: 10 * time.Second,
	}
	if mode == "socket" {
		cfg.AppToken = fake.Options().AppToken
	} else {
		cfg.SigningSecret = slacktest.SigningSecret
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	b, err := slackbot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.bot = b
	d.AddSender(slackbot.Platform, b)
	if mode == "http" {
		mux := http.NewServeMux()
		b.Routes(mux)
		w.srv = httptest.NewServer(mux)
		t.Cleanup(w.srv.Close)
		w.client = &slacktest.Client{URL: w.srv.URL}
	}
	if o.noRun {
		return w
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	wg.Go(func() { b.Run(ctx) })
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if w.srv != nil {
				w.srv.Close()
			}
		})
	}
	t.Cleanup(w.stop)
	if !w.waitFor("the bot to be ready", 10*time.Second, b.Ready) {
		t.FailNow()
	}
	return w
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds. It may run in any goroutine: on a
// timeout it marks the test failed and returns false.
func (w *world) waitFor(what string, limit time.Duration, cond func() bool) bool {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Errorf("timed out waiting for %s", what)
			return false
		}
		select {
		case <-w.fake.Changed():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// settle waits until every accepted update has been handled.
func (w *world) settle() {
	w.t.Helper()
	if !w.waitFor("the dispatcher to be idle", 20*time.Second, w.disp.Idle) {
		w.t.FailNow()
	}
}

// event delivers an Events API event and returns once Slack would count
// it as acknowledged.
func (w *world) event(inner map[string]any) string {
	w.t.Helper()
	id := slacktest.NewEventID()
	w.eventWithID(id, inner, 0)
	return id
}

func (w *world) eventWithID(id string, inner map[string]any, retry int) {
	w.t.Helper()
	body := slacktest.EventCallback(team, id, inner)
	if w.mode == "http" {
		res, err := w.client.Event(context.Background(), body, retry)
		if err != nil || res.Status != 200 {
			w.t.Errorf("event: %v %+v", err, res)
		}
		return
	}
	w.deliver(slacktest.EventsAPI, body)
}

// deliver sends an envelope and waits for its ack.
func (w *world) deliver(typ string, payload []byte) json.RawMessage {
	w.t.Helper()
	env := w.fake.Deliver(typ, payload)
	var ack json.RawMessage
	w.waitFor("the envelope to be acknowledged", 10*time.Second, func() bool {
		p, ok := w.fake.Acked(env)
		ack = p
		return ok
	})
	return ack
}

// command runs a slash command and returns the text the user sees at once.
func (w *world) command(c slacktest.Command) string {
	w.t.Helper()
	var body []byte
	if w.mode == "http" {
		res, err := w.client.Command(context.Background(), c)
		if err != nil || res.Status != 200 {
			w.t.Errorf("command: %v %+v", err, res)
			return ""
		}
		body = res.Body
	} else {
		body = w.deliver(slacktest.SlashCommands, c.JSON())
	}
	if len(body) == 0 || string(body) == "null" {
		return ""
	}
	var a struct {
		Text         string `json:"text"`
		ResponseType string `json:"response_type"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		w.t.Errorf("command answer %q: %v", body, err)
	}
	if a.ResponseType != "" && a.ResponseType != "ephemeral" {
		w.t.Errorf("command answer is %q, want ephemeral", a.ResponseType)
	}
	return a.Text
}

// press presses the button labelled label on m as user.
func (w *world) press(m slacktest.Message, label, user string) {
	w.t.Helper()
	p, err := w.fake.Press(m, label, user, team)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.pressPayload(p)
}

func (w *world) pressPayload(p []byte) {
	w.t.Helper()
	if w.mode == "http" {
		res, err := w.client.Interaction(context.Background(), p)
		if err != nil || res.Status != 200 {
			w.t.Errorf("interaction: %v %+v", err, res)
		}
		return
	}
	w.deliver(slacktest.Interactive, p)
}

// text renders a pack text as the adapter would post it.
func (w *world) text(lang, key string, slots ...flows.Slot) string {
	w.t.Helper()
	data := w.pack.Data(&flows.Session{Slots: slots})
	s, err := w.pack.Render(lang, key, data)
	if err != nil {
		w.t.Error(err)
	}
	// Slack reaches the commands through its one slash command.
	s = markup.Commands(s, w.pack.Def.Commands(), slackbot.SlashCommand)
	return strings.Join(markup.Split(markup.SlackMrkdwn{}, s, slackbot.MaxSectionText), "\n\n")
}

func (w *world) label(lang, key string) string {
	w.t.Helper()
	s, err := w.pack.Text(lang, key)
	if err != nil {
		w.t.Error(err)
	}
	return s
}

// lastWithButtons is the newest message in place with buttons.
func lastWithButtons(ms []slacktest.Message) (slacktest.Message, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if len(ms[i].Buttons()) > 0 {
			return ms[i], true
		}
	}
	return slacktest.Message{}, false
}

func texts(ms []slacktest.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

func contextWithCleanup(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}
