package main

// The telegram mode: the fake Bot API (bot/telegram/telegramtest) runs in
// this process, the bot binary as a child polling it. Every chat repeats
// whole conversations, pressing the buttons the bot sent and waiting for
// each action's replies; with -baseline a plain HTTP echo client is
// measured against the same fake first: the loopback limit.

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/telegram"
	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

func init() { modes["telegram"] = runTelegram }

type tgOptions struct {
	chats        int
	duration     time.Duration
	bin          string
	store        string
	baseline     bool
	timeout      time.Duration
	inProcess    bool
	cpuProfile   string
	keep         bool
	webhook      bool
	webhookConns int
}

func runTelegram(args []string) error {
	fs := flag.NewFlagSet("supportbot-load telegram", flag.ContinueOnError)
	var o tgOptions
	fs.IntVar(&o.chats, "chats", 1000, "chats running conversations at once")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to start new actions")
	fs.StringVar(&o.bin, "bin", "", "the supportbot binary (default: go build ./cmd/supportbot into a temp dir)")
	fs.StringVar(&o.store, "store", "", "STORE for the bot (default bolt:<temp file>)")
	fs.BoolVar(&o.baseline, "baseline", false, "also measure a plain HTTP echo client against the same fake, and compare")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long one action waits for its replies before they count as lost")
	fs.BoolVar(&o.inProcess, "inprocess", false, "run the adapter, dispatcher and store in this process instead of the binary (for -cpuprofile; no RSS/CPU figures)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's CPU profile here (with -inprocess it covers the bot)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (bot log, store)")
	fs.BoolVar(&o.webhook, "webhook", false, "run the bot in webhook mode: the fake posts updates to it concurrently, as Telegram does")
	fs.IntVar(&o.webhookConns, "webhook-conns", 40, "with -webhook: requests in flight at once (Telegram's max_connections: default 40, at most 100)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.chats < 1 || o.duration <= 0 {
		return errors.New("-chats and -duration must be positive")
	}
	plan, tmp, done, err := prepare("telegram", o.keep, o.cpuProfile)
	if err != nil {
		return err
	}
	defer done()
	mode := "long polling"
	if o.webhook {
		mode = "webhook"
	}
	fmt.Printf("supportbot-load telegram -chats %d -duration %v, bot by %s (pacing off: TELEGRAM_RATE=0 TELEGRAM_CHAT_RATE=0 USER_RATE=0)\n",
		o.chats, o.duration, mode)

	var base, same *Result
	if o.baseline {
		base = tgBaseline(o)
		base.Print(os.Stdout)
		texts, err := tgTexts(plan.pack)
		if err != nil {
			return err
		}
		same = tgBaselineSameCalls(o, plan, texts)
		same.Print(os.Stdout)
	}
	res, err := tgRunBot(o, plan, tmp)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	if base != nil {
		fmt.Print("against one sendMessage per update (the loopback limit): ")
		Compare(os.Stdout, res, base)
		fmt.Print("against a client making the bot's calls:                  ")
		Compare(os.Stdout, res, same)
	}
	return nil
}

// The plan (what each action must produce) is shared with the Slack mode:
// see plan in common.go.
type (
	tgPlan = plan
	tgStep = planStep
)

// ---- the driver ----

const tgChatBase = 7_000_000

// tgLoadSecret is the webhook secret in -webhook runs.
const tgLoadSecret = "load-test-webhook-secret"

// tgDriver plays the users against the fake and counts what comes back.
type tgDriver struct {
	fake     *telegramtest.Server
	res      *Result
	timeout  time.Duration
	chans    []chan telegramtest.Event
	sent     []atomic.Int64 // sendMessage calls seen per chat
	expected []atomic.Int64 // sendMessage calls due per chat
	overflow atomic.Int64
	mu       sync.Mutex
}

func newTGDriver(chats int, res *Result, timeout time.Duration, webhookConns int) *tgDriver {
	d := &tgDriver{res: res, timeout: timeout, chans: make([]chan telegramtest.Event, chats),
		sent: make([]atomic.Int64, chats), expected: make([]atomic.Int64, chats)}
	for i := range d.chans {
		d.chans[i] = make(chan telegramtest.Event, 64)
	}
	d.fake = telegramtest.New(telegramtest.Options{KeepMessages: 8, NoCallLog: true, OnEvent: d.onEvent, WebhookConns: webhookConns})
	return d
}

func (d *tgDriver) onEvent(e telegramtest.Event) {
	if e.Method != "sendMessage" {
		return
	}
	i := int(e.Chat - tgChatBase)
	if i < 0 || i >= len(d.chans) {
		return
	}
	d.sent[i].Add(1)
	select {
	case d.chans[i] <- e:
	default:
		d.overflow.Add(1)
	}
}

// act pushes one user action and waits for n messages; it returns the
// last one.
func (d *tgDriver) act(i, n int, push func() error) (telegramtest.Message, bool) {
	d.expected[i].Add(int64(n))
	t0 := time.Now()
	if err := push(); err != nil {
		d.res.TimedOut.Add(1)
		return telegramtest.Message{}, false
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	var last telegramtest.Message
	for got := 0; got < n; got++ {
		select {
		case e := <-d.chans[i]:
			if got == 0 {
				d.res.Lat.Add(e.At.Sub(t0))
			}
			last = e.Message
		case <-timer.C:
			d.res.TimedOut.Add(1)
			return last, false
		}
	}
	d.res.Answered.Add(1)
	return last, true
}

// drain forgets what is waiting for chat i (after a timeout).
func (d *tgDriver) drain(i int) {
	for {
		select {
		case <-d.chans[i]:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// account settles lost and duplicated replies once everything is in.
func (d *tgDriver) account() {
	for i := range d.sent {
		s, e := d.sent[i].Load(), d.expected[i].Load()
		if s < e {
			d.res.Lost.Add(e - s)
		} else {
			d.res.Dup.Add(s - e)
		}
	}
	if n := d.overflow.Load(); n > 0 {
		d.res.Notes = append(d.res.Notes, fmt.Sprintf("%d events overflowed the driver's buffers", n))
	}
}

func tgUser(i int) telegramtest.User {
	lang := "en"
	if i%2 == 1 {
		lang = "lv"
	}
	return telegramtest.User{ID: int64(tgChatBase + i), FirstName: "Load", LanguageCode: lang}
}

// conversation repeats whole conversations in chat i until ctx ends; pick
// names the button to press for a step on the last message.
func (d *tgDriver) conversation(plan *tgPlan, pick func(kb telegramtest.Message, st tgStep) string) func(ctx context.Context, i int) {
	return func(ctx context.Context, i int) {
		u := tgUser(i)
		chat := telegramtest.Private(u)
		var kb telegramtest.Message
		fresh := true
		for n := i; ctx.Err() == nil; n++ {
			if fresh {
				var ok bool
				kb, ok = d.act(i, 2, func() error { d.fake.UserMessage(chat, u, "/start"); return nil })
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
				data := pick(kb, st)
				if data == "" {
					d.note(fmt.Sprintf("no %q button", st.choice))
					fresh = true
					break
				}
				var ok bool
				kb, ok = d.act(i, st.replies, func() error {
					_, _, err := d.fake.Press(chat, u, kb.ID, data)
					return err
				})
				if !ok {
					d.drain(i)
					fresh = true
					break
				}
			}
		}
	}
}

// note adds a note once.
func (d *tgDriver) note(n string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.res.Notes {
		if x == n {
			return
		}
	}
	d.res.Notes = append(d.res.Notes, n)
}

// tgBotButton is the button a user presses for a step: the bot's, for the
// step's choice.
func tgBotButton(kb telegramtest.Message, st tgStep) string {
	for _, b := range kb.Buttons() {
		if strings.HasSuffix(b.Data, "."+st.choice) {
			return b.Data
		}
	}
	return ""
}

// ---- the bot ----

func tgRunBot(o tgOptions, plan *tgPlan, tmp string) (*Result, error) {
	res := &Result{Name: "bot", Chats: o.chats}
	conns := 0
	if o.webhook {
		conns = o.webhookConns
		res.Name = "bot (webhook)"
	}
	d := newTGDriver(o.chats, res, o.timeout, conns)
	defer d.fake.Close()
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	store := o.store
	if store == "" {
		store = "bolt:" + filepath.Join(tmp, "load.db")
	}
	var child *Child
	if o.inProcess {
		stop, err := tgInProcess(d.fake, store, addr, o.webhook, res)
		if err != nil {
			return nil, err
		}
		defer stop()
		res.Notes = append(res.Notes, "in process: the bot shares this process; no RSS or CPU figures")
	} else {
		bin := o.bin
		if bin == "" {
			fmt.Println("building ./cmd/supportbot ...")
			var err error
			if bin, err = BuildBot(tmp); err != nil {
				return nil, err
			}
		}
		start := func(store string) (*Child, error) {
			env := []string{"TELEGRAM_BOT_TOKEN=" + d.fake.Token, "TELEGRAM_API_URL=" + d.fake.URL,
				"TELEGRAM_RATE=0", "TELEGRAM_CHAT_RATE=0", "USER_RATE=0", "STORE=" + store,
				"LOG_LEVEL=warn", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=15s"}
			if o.webhook {
				env = append(env, "TELEGRAM_WEBHOOK_URL=http://"+addr+telegram.WebhookPath, "TELEGRAM_WEBHOOK_SECRET="+tgLoadSecret)
			}
			c, err := StartBotAt(bin, addr, env, filepath.Join(tmp, "bot.log"))
			if err != nil {
				return nil, err
			}
			if err := c.WaitReady(20 * time.Second); err != nil {
				c.Stop(5 * time.Second)
				return nil, err
			}
			return c, nil
		}
		child, err = start(store)
		if err != nil && strings.HasPrefix(store, "bolt:") && strings.Contains(err.Error(), "not available in this build") {
			res.Notes = append(res.Notes, "the bolt store is not wired into cmd/supportbot/store.go yet: measured with STORE=memory")
			store = "memory"
			child, err = start(store)
		}
		if err != nil {
			return nil, err
		}
		res.Notes = append(res.Notes, "STORE="+strings.Replace(store, tmp, "$TMP", 1))
	}
	var before ProcStat
	var stages Stages
	if child != nil {
		before, _ = child.Stat()
		stages, _ = ReadStages(child.Addr)
	}
	self := SelfCPU()
	res.Duration = Runner{Chats: o.chats, Loop: d.conversation(plan, tgBotButton)}.Run(o.duration)
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
	res.Notes = append(res.Notes, fmt.Sprintf("%d connections opened to the fake", d.fake.Conns()))
	if n := len(d.fake.Unanswered()); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d callback queries never answered", n))
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

// tgInProcess runs the adapter, a dispatcher and the store here, as serve
// does, so a CPU profile of this process shows the bot's own costs.
func tgInProcess(fake *telegramtest.Server, store, addr string, webhook bool, res *Result) (func(), error) {
	pack, err := content.Shipped()
	if err != nil {
		return nil, err
	}
	var st bot.Store
	switch {
	case store == "memory":
		st = memory.New(nil)
	case strings.HasPrefix(store, "bolt:"):
		s, err := bolt.Open(strings.TrimPrefix(store, "bolt:"), bolt.Options{})
		if err != nil {
			return nil, err
		}
		st = s
	default:
		return nil, fmt.Errorf("-inprocess knows memory and bolt:PATH, not %q", store)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	timed := &timedStore{Store: st, start: time.Now()}
	d, err := bot.New(bot.Config{Store: timed, Pack: pack, Log: log})
	if err != nil {
		return nil, err
	}
	cfg := telegram.Config{Token: fake.Token, APIURL: fake.URL, Pack: pack, In: d, Log: log}
	var srv *http.Server
	if webhook {
		cfg.WebhookURL, cfg.WebhookSecret = "http://"+addr+telegram.WebhookPath, tgLoadSecret
	}
	tg, err := telegram.New(cfg)
	if err != nil {
		return nil, err
	}
	if webhook {
		mux := http.NewServeMux()
		tg.Routes(mux)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		srv = &http.Server{Handler: mux}
		go srv.Serve(ln)
	}
	d.AddSender(telegram.Platform, tg)
	dctx, dstop := context.WithCancel(context.Background())
	tctx, tstop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(dctx) })
	tdone := make(chan struct{})
	go func() { tg.Run(tctx); close(tdone) }()
	for !tg.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		tstop()
		<-tdone
		dstop()
		wg.Wait()
		if srv != nil {
			srv.Close()
		}
		st.Close()
		timed.print(os.Stdout, res.Answered.Load())
	}, nil
}

// timedStore times every store call, for the in-process breakdown.
type timedStore struct {
	bot.Store
	start time.Time
	mu    sync.Mutex
	ops   map[string]*Latencies
}

func (t *timedStore) time(op string, start time.Time) {
	d := time.Since(start)
	t.mu.Lock()
	if t.ops == nil {
		t.ops = map[string]*Latencies{}
	}
	l := t.ops[op]
	if l == nil {
		l = &Latencies{}
		t.ops[op] = l
	}
	t.mu.Unlock()
	l.Add(d)
}

func (t *timedStore) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	defer t.time("PutInbox", time.Now())
	return t.Store.PutInbox(ctx, d)
}

func (t *timedStore) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	defer t.time("Begin", time.Now())
	return t.Store.Begin(ctx, l)
}

func (t *timedStore) Commit(ctx context.Context, c bot.Commit) error {
	defer t.time("Commit", time.Now())
	return t.Store.Commit(ctx, c)
}

func (t *timedStore) MarkSent(ctx context.Context, conv string, seq ...uint64) error {
	defer t.time("MarkSent", time.Now())
	return t.Store.MarkSent(ctx, conv, seq...)
}

func (t *timedStore) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	defer t.time("Finish", time.Now())
	return t.Store.Finish(ctx, conv, delivery, owner, sent...)
}

func (t *timedStore) print(w io.Writer, actions int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, op := range []string{"PutInbox", "Begin", "Commit", "MarkSent", "Finish"} {
		if l := t.ops[op]; l != nil {
			fmt.Fprintf(w, "  store      %-8s %7d calls (%.2f per answered update)  p50 %v  p95 %v  p99 %v\n", op, l.Len(),
				float64(l.Len())/float64(max(actions, 1)), ms(l.Percentile(50)), ms(l.Percentile(95)), ms(l.Percentile(99)))
		}
	}
	// A store that commits in groups (bolt): how many calls share one
	// transaction and its fsyncs.
	if gs, ok := t.Store.(interface{ Stats() bolt.Stats }); ok {
		st := gs.Stats()
		took := time.Since(t.start).Seconds()
		fmt.Fprintf(w, "  store      group commits: %d transactions for %d writing calls, %.1f calls each, %.0f transactions/s, %.2f ms apart\n",
			st.Batches, st.Ops, float64(st.Ops)/float64(max(st.Batches, 1)), float64(st.Batches)/took,
			1000*took/float64(max(st.Batches, 1)))
	}
}

// ---- the loopback limit ----

// tgBaseline measures the same fake and driver with a plain client that
// answers each update with one sendMessage and nothing else.
func tgBaseline(o tgOptions) *Result {
	res := &Result{Name: "plain client (one sendMessage per update)", Chats: o.chats}
	d := newTGDriver(o.chats, res, o.timeout, 0)
	defer d.fake.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tgEcho(ctx, d.fake, nil); close(done) }()
	self := SelfCPU()
	res.Duration = Runner{Chats: o.chats, Loop: func(ctx context.Context, i int) {
		u := tgUser(i)
		chat := telegramtest.Private(u)
		var last telegramtest.Message
		fresh := true
		for ctx.Err() == nil {
			var ok bool
			if fresh {
				last, ok = d.act(i, 1, func() error { d.fake.UserMessage(chat, u, "/start"); return nil })
				fresh = !ok
				continue
			}
			m := last
			last, ok = d.act(i, 1, func() error { _, _, err := d.fake.Press(chat, u, m.ID, "s1"); return err })
			if !ok {
				d.drain(i)
				fresh = true
			}
		}
	}}.Run(o.duration)
	res.SelfCPU = SelfCPU() - self
	time.Sleep(time.Second)
	d.account()
	cancel()
	<-done
	return res
}

// tgBaselineSameCalls measures a plain client that makes the calls the
// bot makes for each update (answerCallbackQuery, the keyboard edit, the
// same number of sendMessages with texts of the pack's size, one chat's in
// order) but has no store, engine or rendering: what the bot would reach
// if its own work cost nothing.
func tgBaselineSameCalls(o tgOptions, plan *tgPlan, texts []string) *Result {
	res := &Result{Name: "plain client (the bot's calls)", Chats: o.chats}
	d := newTGDriver(o.chats, res, o.timeout, 0)
	defer d.fake.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tgEcho(ctx, d.fake, texts); close(done) }()
	pick := func(kb telegramtest.Message, st tgStep) string { return "s" + strconv.Itoa(st.replies) }
	self := SelfCPU()
	res.Duration = Runner{Chats: o.chats, Loop: d.conversation(plan, pick)}.Run(o.duration)
	res.SelfCPU = SelfCPU() - self
	time.Sleep(time.Second)
	d.account()
	cancel()
	<-done
	return res
}

// tgEcho is the plain client: one long-polling loop, each update handled
// in its own goroutine. Without texts, every update gets one sendMessage.
// With texts, a /start gets two messages and a button "s<n>" gets the
// callback answered, the pressed message collapsed (its text with the
// choice under it, no buttons) and n messages (long texts, then a short one
// with the buttons), in order.
func tgEcho(ctx context.Context, fake *telegramtest.Server, texts []string) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 256, 256
	client := &http.Client{Transport: tr, Timeout: 70 * time.Second}
	pollClient := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 70 * time.Second}
	base := fake.URL + "/bot" + fake.Token + "/"
	var rows []string
	for n := 1; n <= 9; n++ {
		rows = append(rows, fmt.Sprintf(`[{"text":"%d messages","callback_data":"s%d"}]`, n, n))
	}
	kb := `{"inline_keyboard":[` + strings.Join(rows, ",") + `]}`
	post := func(method string, form url.Values) {
		resp, err := client.PostForm(base+method, form)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	send := func(chat int64, text string, buttons bool) {
		form := url.Values{"chat_id": {strconv.FormatInt(chat, 10)}, "text": {text}, "parse_mode": {"HTML"}}
		if buttons {
			form.Set("reply_markup", kb)
		}
		post("sendMessage", form)
	}
	sem := make(chan struct{}, 1024)
	offset := 0
	for ctx.Err() == nil {
		body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": 50, "limit": 100})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"getUpdates", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := pollClient.Do(req)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var r struct {
			Result []struct {
				UpdateID int `json:"update_id"`
				Message  *struct {
					Chat struct {
						ID int64 `json:"id"`
					} `json:"chat"`
				} `json:"message"`
				CallbackQuery *struct {
					ID      string `json:"id"`
					Data    string `json:"data"`
					Message struct {
						ID   int `json:"message_id"`
						Chat struct {
							ID int64 `json:"id"`
						} `json:"chat"`
					} `json:"message"`
				} `json:"callback_query"`
			} `json:"result"`
		}
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		for _, u := range r.Result {
			offset = u.UpdateID + 1
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				switch {
				case texts == nil && u.Message != nil:
					send(u.Message.Chat.ID, "ok", true)
				case texts == nil && u.CallbackQuery != nil:
					send(u.CallbackQuery.Message.Chat.ID, "ok", true)
				case u.Message != nil:
					send(u.Message.Chat.ID, texts[0], false)
					send(u.Message.Chat.ID, texts[1], true)
				case u.CallbackQuery != nil:
					cq := u.CallbackQuery
					chat := cq.Message.Chat.ID
					post("answerCallbackQuery", url.Values{"callback_query_id": {cq.ID}})
					// The collapse, as the bot makes it: the question's text
					// with the choice under it, and no buttons.
					post("editMessageText", url.Values{"chat_id": {strconv.FormatInt(chat, 10)},
						"message_id": {strconv.Itoa(cq.Message.ID)}, "parse_mode": {"HTML"},
						"text": {texts[1] + "\n\n✓ <b>" + cq.Data + "</b>"}})
					n, _ := strconv.Atoi(strings.TrimPrefix(cq.Data, "s"))
					for k := 1; k < n; k++ {
						send(chat, texts[2+k%(len(texts)-2)], false)
					}
					send(chat, texts[1], true)
				}
			}()
		}
	}
}

// tgTexts are texts of the pack's size for the same-calls client, in
// Telegram HTML: a greeting, a question, then long answer texts.
func tgTexts(pack *content.Pack) ([]string, error) {
	data := content.Data{}
	for _, sd := range pack.Def.Slots {
		data[sd.Name] = ""
	}
	start := pack.Def.States[pack.Def.Start]
	keys := []string{flows.KeyGreeting, start.Text}
	for _, name := range pack.Def.Order {
		st := pack.Def.States[name]
		if st.Kind != flows.Answer {
			continue
		}
		keys = append(keys, st.Texts...)
	}
	var out []string
	lang := pack.Languages()[0]
	for _, k := range keys {
		k = flows.ExpandKey(k, func(slot string) string {
			switch slot {
			case "problem":
				return "refund"
			case "channel":
				return "phone"
			}
			return ""
		})
		data["problem"], data["channel"] = "refund", "phone"
		src, err := pack.Render(lang, k, data)
		if err != nil {
			continue
		}
		out = append(out, markup.Render(markup.TelegramHTML{}, src))
	}
	if len(out) < 3 {
		return nil, errors.New("too few texts in the pack for the same-calls client")
	}
	return out, nil
}
