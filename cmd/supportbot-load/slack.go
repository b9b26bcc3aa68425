package main

// The slack mode: the fake Slack (bot/slack/slacktest) runs in this
// process, the bot binary as a child. In HTTP mode the driver posts signed
// events and button presses to the bot's endpoints, as Slack would; in
// Socket Mode the fake pushes them as envelopes over the websocket the bot
// opened. Every conversation is a DM that repeats whole conversations,
// pressing the buttons the bot sent and waiting for each action's replies.
// With -baseline a plain client (no verification, store or engine: read,
// answer 200 or ack, send the same messages the bot would) is measured
// against the same fake and driver first: the loopback limit.
//
//	supportbot-load slack -mode both -convs 200 -duration 20s -baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/supportbot/supportbot/bot"
	slackbot "github.com/supportbot/supportbot/bot/slack"
	"github.com/supportbot/supportbot/bot/slack/slacktest"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/content"
)

func init() { modes["slack"] = runSlack }

type slackOptions struct {
	convs      int
	duration   time.Duration
	mode       string
	bin        string
	store      string
	baseline   bool
	timeout    time.Duration
	inProcess  bool
	cpuProfile string
	keep       bool
	breakdown  bool
}

func runSlack(args []string) error {
	fs := flag.NewFlagSet("supportbot-load slack", flag.ContinueOnError)
	var o slackOptions
	fs.IntVar(&o.convs, "convs", 200, "DM conversations running at once")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to start new actions, per mode")
	fs.StringVar(&o.mode, "mode", "both", "http (Events API), socket (Socket Mode) or both")
	fs.StringVar(&o.bin, "bin", "", "the supportbot binary (default: go build ./cmd/supportbot into a temp dir)")
	fs.StringVar(&o.store, "store", "", "STORE for the bot (default bolt:<temp file>, a new one per mode)")
	fs.BoolVar(&o.baseline, "baseline", false, "also measure a plain client against the same fake and driver, and compare")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long one action waits for its replies before they count as lost")
	fs.BoolVar(&o.inProcess, "inprocess", false, "run the adapter, dispatcher and store in this process instead of the binary (for -cpuprofile; no RSS/CPU figures)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile here (with -inprocess it covers the bot)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (bot logs, stores)")
	fs.BoolVar(&o.breakdown, "breakdown", false, "with -inprocess: time every stage (HTTP handler, Accept, each store call, each Slack send) and print where an action's time goes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.convs < 1 || o.duration <= 0 {
		return errors.New("-convs and -duration must be positive")
	}
	var ms []string
	switch o.mode {
	case "both":
		ms = []string{"http", "socket"}
	case "http", "socket":
		ms = []string{o.mode}
	default:
		return fmt.Errorf("-mode %q: want http, socket or both", o.mode)
	}
	plan, tmp, done, err := prepare("slack", o.keep, o.cpuProfile)
	if err != nil {
		return err
	}
	defer done()
	if !o.inProcess && o.bin == "" {
		fmt.Println("building ./cmd/supportbot ...")
		if o.bin, err = BuildBot(tmp); err != nil {
			return err
		}
	}
	for _, mode := range ms {
		fmt.Printf("\nsupportbot-load slack -mode %s -convs %d -duration %v (pacing off: SLACK_CHANNEL_RATE=0 USER_RATE=0)\n",
			mode, o.convs, o.duration)
		var base *Result
		if o.baseline {
			base, err = slackBaseline(o, mode, plan)
			if err != nil {
				return err
			}
			base.Print(os.Stdout)
		}
		res, err := slackRunBot(o, mode, plan, tmp)
		if err != nil {
			return err
		}
		res.Print(os.Stdout)
		if base != nil {
			Compare(os.Stdout, res, base)
		}
	}
	return nil
}

// ---- the plan: what each press must produce ----

// The plan (what each action must produce) is shared with the Telegram
// mode: see plan in common.go.
type (
	slackPlan = plan
	slackStep = planStep
)

// ---- the driver ----

const slackUserBase = 1_000_000

func slackUser(i int) string { return "U" + strconv.Itoa(slackUserBase+i) }

// slackDriver plays the users against the fake and counts what comes back.
type slackDriver struct {
	fake    *slacktest.Server
	res     *Result
	timeout time.Duration
	mode    string
	client  *slacktest.Client // HTTP mode: posts to the bot

	chans                  []chan slacktest.Post
	posts, updates         []atomic.Int64 // seen per conversation
	wantPosts, wantUpdates []atomic.Int64 // due per conversation
	overflow, rejected     atomic.Int64
}

func newSlackDriver(convs int, res *Result, timeout time.Duration, mode string) *slackDriver {
	d := &slackDriver{res: res, timeout: timeout, mode: mode,
		chans: make([]chan slacktest.Post, convs),
		posts: make([]atomic.Int64, convs), updates: make([]atomic.Int64, convs),
		wantPosts: make([]atomic.Int64, convs), wantUpdates: make([]atomic.Int64, convs)}
	for i := range d.chans {
		d.chans[i] = make(chan slacktest.Post, 64)
	}
	d.fake = slacktest.NewServer(slacktest.Options{NoCallLog: true, KeepPerChannel: 16, NoResponseURLs: true,
		PingInterval: 5 * time.Second})
	d.fake.OnPost(d.onPost)
	for i := range convs {
		if i%2 == 1 {
			d.fake.SetLocale(slackUser(i), "lv-LV")
		}
	}
	return d
}

func (d *slackDriver) onPost(p slacktest.Post) {
	n, err := strconv.Atoi(strings.TrimPrefix(p.Message.Channel, "D"))
	i := n - slackUserBase
	if err != nil || i < 0 || i >= len(d.chans) {
		return
	}
	if p.Method == "chat.update" {
		d.updates[i].Add(1)
		return
	}
	d.posts[i].Add(1)
	select {
	case d.chans[i] <- p:
	default:
		d.overflow.Add(1)
	}
}

// act pushes one user action and waits for its posts; it returns the last.
func (d *slackDriver) act(i, posts, updates int, push func() error) (slacktest.Message, bool) {
	d.wantPosts[i].Add(int64(posts))
	d.wantUpdates[i].Add(int64(updates))
	t0 := time.Now()
	if err := push(); err != nil {
		d.rejected.Add(1)
		d.res.TimedOut.Add(1)
		return slacktest.Message{}, false
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	var last slacktest.Message
	for got := 0; got < posts; got++ {
		select {
		case p := <-d.chans[i]:
			if got == 0 {
				d.res.Lat.Add(p.At.Sub(t0))
			}
			last = p.Message
		case <-timer.C:
			d.res.TimedOut.Add(1)
			return last, false
		}
	}
	d.res.Answered.Add(1)
	return last, true
}

// say sends a DM from conversation i's user.
func (d *slackDriver) say(i int, text string) func() error {
	u := slackUser(i)
	return func() error {
		ev := slacktest.EventCallback(slacktest.Team, slacktest.NewEventID(),
			slacktest.IMMessage(slacktest.Team, u, slacktest.DMChannel(u), text, slacktest.NewTS()))
		return d.deliver(slacktest.EventsAPI, ev)
	}
}

// press presses bt on m as conversation i's user.
func (d *slackDriver) press(i int, m slacktest.Message, bt slacktest.Button) func() error {
	return func() error {
		return d.deliver(slacktest.Interactive, d.fake.PressButton(m, bt, slackUser(i), slacktest.Team))
	}
}

func (d *slackDriver) deliver(typ string, payload []byte) error {
	if d.mode == "socket" {
		d.fake.Deliver(typ, payload)
		return nil
	}
	var res *slacktest.Response
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	if typ == slacktest.EventsAPI {
		res, err = d.client.Event(ctx, payload, 0)
	} else {
		res, err = d.client.Interaction(ctx, payload)
	}
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return fmt.Errorf("status %d", res.Status)
	}
	return nil
}

// drain forgets what is waiting for conversation i (after a timeout).
func (d *slackDriver) drain(i int) {
	for {
		select {
		case <-d.chans[i]:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// account settles lost and duplicated messages once everything is in.
func (d *slackDriver) account() {
	for i := range d.posts {
		for _, p := range [][2]int64{{d.posts[i].Load(), d.wantPosts[i].Load()}, {d.updates[i].Load(), d.wantUpdates[i].Load()}} {
			if p[0] < p[1] {
				d.res.Lost.Add(p[1] - p[0])
			} else {
				d.res.Dup.Add(p[0] - p[1])
			}
		}
	}
	if n := d.overflow.Load(); n > 0 {
		d.res.Notes = append(d.res.Notes, fmt.Sprintf("%d posts overflowed the driver's buffers", n))
	}
	if n := d.rejected.Load(); n > 0 {
		d.res.Notes = append(d.res.Notes, fmt.Sprintf("%d deliveries refused by the bot", n))
	}
	if d.mode == "socket" {
		if n := d.fake.Unacked(); n > 0 {
			d.res.Notes = append(d.res.Notes, fmt.Sprintf("%d envelopes never acknowledged", n))
		}
	}
}

func slackButton(m slacktest.Message, choice string) (slacktest.Button, bool) {
	for _, b := range m.Buttons() {
		if strings.HasSuffix(b.Value, "."+choice) {
			return b, true
		}
	}
	return slacktest.Button{}, false
}

// slackPicker finds the button to press for a step on the last message.
type slackPicker func(m slacktest.Message, st slackStep) (slacktest.Button, bool)

// slackBotButton is the button of the step's choice.
func slackBotButton(m slacktest.Message, st slackStep) (slacktest.Button, bool) {
	return slackButton(m, st.choice)
}

// conversation repeats whole conversations in DM i until ctx ends.
func (d *slackDriver) conversation(plan *slackPlan, pick slackPicker) func(ctx context.Context, i int) {
	return func(ctx context.Context, i int) {
		var kb slacktest.Message
		fresh := true
		for n := i; ctx.Err() == nil; n++ {
			if fresh {
				// The greeting (or "didn't catch that") and the question.
				var ok bool
				kb, ok = d.act(i, 2, 0, d.say(i, "hi"))
				if !ok {
					d.drain(i)
					continue
				}
				fresh = false
			}
			for _, st := range plan.steps(n) {
				if ctx.Err() != nil {
					return
				}
				bt, found := pick(kb, st)
				if !found {
					d.res.Notes = append(d.res.Notes, fmt.Sprintf("conversation %d: no %q button", i, st.choice))
					fresh = true
					break
				}
				var ok bool
				kb, ok = d.act(i, st.replies, 1, d.press(i, kb, bt))
				if !ok {
					d.drain(i)
					fresh = true
					break
				}
			}
		}
	}
}

// ---- the bot ----

func slackRunBot(o slackOptions, mode string, plan *slackPlan, tmp string) (*Result, error) {
	res := &Result{Name: "bot (" + mode + ")", Chats: o.convs}
	d := newSlackDriver(o.convs, res, o.timeout, mode)
	defer d.fake.Close()
	store := o.store
	if store == "" {
		store = "bolt:" + filepath.Join(tmp, "load-"+mode+".db")
	}
	var child *Child
	var addr string
	var tm *slackTimings
	if o.breakdown {
		tm = &slackTimings{m: map[string]*slackTiming{}}
	}
	if o.inProcess {
		a, stop, err := slackInProcess(d.fake, mode, store, tm)
		if err != nil {
			return nil, err
		}
		defer stop()
		addr = a
		res.Notes = append(res.Notes, "in process: the bot shares this process; no RSS or CPU figures")
	} else {
		start := func(store string) (*Child, error) {
			env := []string{"SLACK_BOT_TOKEN=" + slacktest.BotToken, "SLACK_API_URL=" + d.fake.APIURL,
				"SLACK_CHANNEL_RATE=0", "USER_RATE=0", "STORE=" + store,
				"LOG_LEVEL=warn", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=15s"}
			if mode == "socket" {
				env = append(env, "SLACK_APP_TOKEN="+slacktest.AppToken)
			} else {
				env = append(env, "SLACK_SIGNING_SECRET="+slacktest.SigningSecret)
			}
			c, err := StartBot(o.bin, env, filepath.Join(tmp, "bot-"+mode+".log"))
			if err != nil {
				return nil, err
			}
			if err := c.WaitReady(20 * time.Second); err != nil {
				c.Stop(5 * time.Second)
				return nil, err
			}
			return c, nil
		}
		var err error
		child, err = start(store)
		if err != nil && strings.HasPrefix(store, "bolt:") && strings.Contains(err.Error(), "not available in this build") {
			res.Notes = append(res.Notes, "the bolt store is not wired into cmd/supportbot/store.go yet: measured with STORE=memory")
			store = "memory"
			child, err = start(store)
		}
		if err != nil {
			return nil, err
		}
		addr = child.Addr
		res.Notes = append(res.Notes, "STORE="+strings.Replace(store, tmp, "$TMP", 1))
	}
	d.client = &slacktest.Client{URL: "http://" + addr, HTTP: slackHTTPClient()}
	var before ProcStat
	var stages Stages
	if child != nil {
		before, _ = child.Stat()
		stages, _ = ReadStages(child.Addr)
	}
	self := SelfCPU()
	res.Duration = Runner{Chats: o.convs, Loop: d.conversation(plan, slackBotButton)}.Run(o.duration)
	res.SelfCPU = SelfCPU() - self
	if child != nil {
		after, _ := child.Stat()
		res.CPU = after.CPU - before.CPU
		if now, err := ReadStages(child.Addr); err == nil {
			res.Stages = now.Since(stages).Notes(res.Answered.Load())
		}
	}
	time.Sleep(time.Second) // late duplicates
	d.account()
	if tm != nil {
		tm.print(os.Stdout, res.Answered.Load())
	}
	if child != nil {
		res.PeakRSS = child.PeakRSS()
		if err := child.Stop(30 * time.Second); err != nil {
			res.Notes = append(res.Notes, "stopping the bot: "+err.Error())
		}
		if tail := child.LogTail(600); strings.Contains(tail, `"level":"ERROR"`) {
			res.Notes = append(res.Notes, "errors in the bot log: "+tail)
		}
	}
	return res, nil
}

func slackHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// slackInProcess runs the adapter, a dispatcher and the store here, as
// serve does, so a CPU profile of this process shows the bot's own costs.
// It returns the address of the HTTP endpoints.
func slackInProcess(fake *slacktest.Server, mode, store string, tm *slackTimings) (string, func(), error) {
	pack, err := content.Shipped()
	if err != nil {
		return "", nil, err
	}
	var st bot.Store
	switch {
	case store == "memory":
		st = memory.New(nil)
	case strings.HasPrefix(store, "bolt:"):
		s, err := bolt.Open(strings.TrimPrefix(store, "bolt:"), bolt.Options{})
		if err != nil {
			return "", nil, err
		}
		st = s
	default:
		return "", nil, fmt.Errorf("-inprocess knows memory and bolt:PATH, not %q", store)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if tm != nil {
		st = slackTimedStore{st, tm}
	}
	d, err := bot.New(bot.Config{Store: st, Pack: pack, Log: log})
	if err != nil {
		return "", nil, err
	}
	var in bot.Acceptor = d
	if tm != nil {
		in = slackTimedAcceptor{d, tm}
	}
	cfg := slackbot.Config{BotToken: slacktest.BotToken, APIURL: fake.APIURL, Pack: pack, In: in, Log: log}
	if mode == "socket" {
		cfg.AppToken = slacktest.AppToken
	} else {
		cfg.SigningSecret = slacktest.SigningSecret
	}
	sb, err := slackbot.New(cfg)
	if err != nil {
		return "", nil, err
	}
	var sender bot.Sender = sb
	if tm != nil {
		sender = slackTimedSender{sb, tm}
	}
	d.AddSender(slackbot.Platform, sender)
	mux := http.NewServeMux()
	sb.Routes(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var h http.Handler = mux
	if tm != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer tm.since("http handler "+r.URL.Path+" (verify, parse, lookups, Accept)", time.Now())
			mux.ServeHTTP(w, r)
		})
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	dctx, dstop := context.WithCancel(context.Background())
	sctx, sstop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(dctx) })
	sdone := make(chan struct{})
	go func() { sb.Run(sctx); close(sdone) }()
	for !sb.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	return ln.Addr().String(), func() {
		sstop()
		<-sdone
		srv.Close()
		dstop()
		wg.Wait()
		st.Close()
	}, nil
}

// ---- where the time goes (-breakdown) ----

// slackTimings sums the wall time spent in each stage, over all conversations.
type slackTimings struct {
	mu sync.Mutex
	m  map[string]*slackTiming
}

type slackTiming struct {
	n     int64
	total time.Duration
}

func (t *slackTimings) since(stage string, start time.Time) {
	d := time.Since(start)
	t.mu.Lock()
	x := t.m[stage]
	if x == nil {
		x = &slackTiming{}
		t.m[stage] = x
	}
	x.n++
	x.total += d
	t.mu.Unlock()
}

// print shows, per answered action, how often each stage ran and how long
// it took: the stages of one action run one after another, so their sum
// is about the action's latency.
func (t *slackTimings) print(w io.Writer, actions int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if actions == 0 {
		return
	}
	names := make([]string, 0, len(t.m))
	for k := range t.m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return t.m[names[i]].total > t.m[names[j]].total })
	fmt.Fprintf(w, "  where an action's time goes (wall time per answered action, summed over its calls):\n")
	for _, k := range names {
		x := t.m[k]
		fmt.Fprintf(w, "    %-70s %5.2f calls × %6.2fms = %6.2fms\n", k, float64(x.n)/float64(actions),
			float64(x.total)/float64(x.n)/1e6, float64(x.total)/float64(actions)/1e6)
	}
}

type slackTimedStore struct {
	bot.Store
	t *slackTimings
}

func (s slackTimedStore) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	defer s.t.since("store PutInbox (in Accept, before the ack)", time.Now())
	return s.Store.PutInbox(ctx, d)
}

func (s slackTimedStore) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	defer s.t.since("store Begin (lease, load)", time.Now())
	return s.Store.Begin(ctx, l)
}

func (s slackTimedStore) Commit(ctx context.Context, c bot.Commit) error {
	defer s.t.since("store Commit (session, done id, outbox)", time.Now())
	return s.Store.Commit(ctx, c)
}

func (s slackTimedStore) MarkSent(ctx context.Context, conv string, seq ...uint64) error {
	defer s.t.since("store MarkSent (after each reply)", time.Now())
	return s.Store.MarkSent(ctx, conv, seq...)
}

func (s slackTimedStore) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	defer s.t.since("store Finish (inbox entry, lease)", time.Now())
	return s.Store.Finish(ctx, conv, delivery, owner, sent...)
}

type slackTimedSender struct {
	s bot.Sender
	t *slackTimings
}

func (s slackTimedSender) Send(ctx context.Context, r bot.Reply) error {
	stage := "slack Send: chat.postMessage"
	if r.Kind == bot.Collapse {
		stage = "slack Send: chat.update (collapse)"
	}
	defer s.t.since(stage, time.Now())
	return s.s.Send(ctx, r)
}

type slackTimedAcceptor struct {
	d *bot.Dispatcher
	t *slackTimings
}

func (a slackTimedAcceptor) Accept(ctx context.Context, u bot.Update) error {
	defer a.t.since("dispatcher Accept (PutInbox, queue)", time.Now())
	return a.d.Accept(ctx, u)
}

// ---- the loopback limit ----

// slackBaseline measures the same fake and driver with a plain client
// that sends, for each action, exactly the messages the bot would (the
// same number of posts, and the collapse of a pressed message), with no
// verification, store or engine: what the loopback itself allows for
// these conversations. The driver tells it how many posts to send: the
// button it presses says so.
func slackBaseline(o slackOptions, mode string, plan *slackPlan) (*Result, error) {
	res := &Result{Name: "plain client (" + mode + ")", Chats: o.convs}
	d := newSlackDriver(o.convs, res, o.timeout, mode)
	defer d.fake.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &slackPlain{fake: d.fake, client: slackHTTPClient(), sem: make(chan struct{}, 256)}
	if mode == "socket" {
		done, err := p.runSocket(ctx)
		if err != nil {
			return nil, err
		}
		defer func() { cancel(); <-done }()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(p.serveHTTP)}
		go srv.Serve(ln)
		defer srv.Close()
		d.client = &slacktest.Client{URL: "http://" + ln.Addr().String(), HTTP: slackHTTPClient()}
	}
	pick := func(m slacktest.Message, st slackStep) (slacktest.Button, bool) {
		for _, b := range m.Buttons() {
			if b.Value == "x."+strconv.Itoa(st.replies) {
				return b, true
			}
		}
		return slacktest.Button{}, false
	}
	self := SelfCPU()
	res.Duration = Runner{Chats: o.convs, Loop: d.conversation(plan, pick)}.Run(o.duration)
	res.SelfCPU = SelfCPU() - self
	time.Sleep(time.Second)
	d.account()
	return res, nil
}

// slackPlain is the plain client.
type slackPlain struct {
	fake   *slacktest.Server
	client *http.Client
	sem    chan struct{}
}

// slackPlainText is about as long as the bot's average message.
var slackPlainText = strings.Repeat("A plain answer of about the size the bot sends. ", 16)

// slackPlainBlocks has a button for each number of posts an action may need.
var slackPlainBlocks = func() string {
	var els []string
	for n := 1; n <= 8; n++ {
		els = append(els, fmt.Sprintf(`{"type":"button","action_id":"b%d","value":"x.%d","text":{"type":"plain_text","text":"%d"}}`, n, n, n))
	}
	return `[{"type":"section","block_id":"s0","text":{"type":"mrkdwn","text":"` + slackPlainText + `"}},` +
		`{"type":"actions","block_id":"a","elements":[` + strings.Join(els, ",") + `]}]`
}()

const slackPlainCollapsed = `[{"type":"section","block_id":"s0","text":{"type":"mrkdwn","text":"ok"}},` +
	`{"type":"context","block_id":"c","elements":[{"type":"mrkdwn","text":"✓ *chosen*"}]}]`

// slackPlainAction is what the plain client reads from a delivery.
type slackPlainAction struct {
	Event struct {
		Channel string `json:"channel"`
	} `json:"event"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	Actions []struct {
		Value string `json:"value"`
	} `json:"actions"`
}

// answer sends the messages one delivery asks for, in order: a DM gets
// two posts; a press updates the pressed message, then posts as many
// messages as its button says.
func (p *slackPlain) answer(payload []byte) {
	var a slackPlainAction
	if json.Unmarshal(payload, &a) != nil {
		return
	}
	p.sem <- struct{}{}
	go func() {
		defer func() { <-p.sem }()
		if a.Event.Channel != "" {
			p.call("chat.postMessage", url.Values{"channel": {a.Event.Channel}, "text": {slackPlainText}, "blocks": {slackPlainBlocks}})
			p.call("chat.postMessage", url.Values{"channel": {a.Event.Channel}, "text": {slackPlainText}, "blocks": {slackPlainBlocks}})
			return
		}
		if a.Channel.ID == "" || len(a.Actions) == 0 {
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(a.Actions[0].Value, "x."))
		p.call("chat.update", url.Values{"channel": {a.Channel.ID}, "ts": {a.Container.MessageTS}, "text": {"ok"}, "blocks": {slackPlainCollapsed}})
		for range n {
			p.call("chat.postMessage", url.Values{"channel": {a.Channel.ID}, "text": {slackPlainText}, "blocks": {slackPlainBlocks}})
		}
	}()
}

func (p *slackPlain) call(method string, form url.Values) {
	form.Set("token", slacktest.BotToken)
	resp, err := p.client.PostForm(p.fake.APIURL+method, form)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func (p *slackPlain) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/slack/interactivity" {
		form, _ := url.ParseQuery(string(body))
		body = []byte(form.Get("payload"))
	}
	w.WriteHeader(http.StatusOK)
	p.answer(body)
}

// runSocket connects like a Socket Mode client, acknowledges every
// envelope and answers it.
func (p *slackPlain) runSocket(ctx context.Context) (<-chan struct{}, error) {
	req, _ := http.NewRequest(http.MethodPost, p.fake.APIURL+"apps.connections.open", nil)
	req.Header.Set("Authorization", "Bearer "+slacktest.AppToken)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	json.NewDecoder(resp.Body).Decode(&open)
	resp.Body.Close()
	if !open.OK {
		return nil, errors.New("apps.connections.open refused the plain client")
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, open.URL, nil)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	go func() {
		defer close(done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var env struct {
				EnvelopeID string          `json:"envelope_id"`
				Payload    json.RawMessage `json:"payload"`
			}
			if json.Unmarshal(data, &env) != nil || env.EnvelopeID == "" {
				continue
			}
			ack, _ := json.Marshal(map[string]string{"envelope_id": env.EnvelopeID})
			conn.WriteMessage(websocket.TextMessage, ack)
			p.answer(bytes.TrimSpace(env.Payload))
		}
	}()
	return done, nil
}
