package slack_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/supportbot/supportbot/bot"
	slackbot "github.com/supportbot/supportbot/bot/slack"
	"github.com/supportbot/supportbot/bot/slack/slacktest"
)

// Storms of 429s: every reply waits exactly Retry-After and arrives once,
// in order.
func TestRateLimitStorm(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	w.fake.RateLimit("chat.postMessage", 6, time.Second)
	w.fake.RateLimit("chat.update", 2, time.Second)
	var cs []*convo
	for i := range 6 {
		user := fmt.Sprintf("U%03d", i)
		c := &convo{w: w, surface: "dm", user: user, lang: "en", dm: slacktest.DMChannel(user),
			problem: problems[i%5], via: channels[i%4]}
		c.channel = c.dm
		cs = append(cs, c)
	}
	start := time.Now()
	for _, step := range steps {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() { step(c) })
		}
		wg.Wait()
		w.settle()
	}
	for _, c := range cs {
		check(t, c)
	}
	w.obs.mu.Lock()
	waited := append([]time.Duration(nil), w.obs.waited...)
	w.obs.mu.Unlock()
	if len(waited) != 8 {
		t.Errorf("waited %d times, want 8", len(waited))
	}
	for _, d := range waited {
		if d != time.Second {
			t.Errorf("waited %v, want exactly Retry-After (1s)", d)
		}
	}
	if n := w.obs.count("chat.postMessage/rate_limited"); n != 6 {
		t.Errorf("%d rate-limited calls recorded, want 6", n)
	}
	if time.Since(start) < time.Second {
		t.Error("the 429s were not waited out")
	}
}

// 5xx, error codes worth retrying and dropped connections are retried
// with backoff; nothing is lost or doubled.
func TestServerErrorsRetried(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{})
	w.fake.Inject("chat.postMessage", 2, slacktest.Failure{Status: 503})
	w.fake.Inject("chat.postMessage", 1, slacktest.Failure{Code: "internal_error"})
	w.fake.Inject("chat.postMessage", 1, slacktest.Failure{Drop: true})
	w.fake.Inject("users.info", 1, slacktest.Failure{Status: 500})
	w.event(slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	w.settle()
	ms := w.fake.Messages("D1", "")
	if len(ms) != 2 || ms[0].Text != w.text("en", "greeting") || ms[1].Text != w.text("en", "ask.problem") {
		t.Errorf("after server errors: %q", texts(ms))
	}
	if n := w.obs.count("chat.postMessage/server_error"); n != 3 {
		t.Errorf("%d server errors recorded, want 3", n)
	}
	if n := w.obs.count("chat.postMessage/network"); n != 1 {
		t.Errorf("%d network errors recorded, want 1", n)
	}
}

// channel_not_found, not_in_channel and account_inactive are permanent:
// the reply is dropped, and the conversation is not stuck.
func TestPermanentFailures(t *testing.T) {
	w := newWorld(t, "http", worldOpts{noRun: true})
	for _, code := range []string{"channel_not_found", "not_in_channel", "account_inactive", "invalid_blocks", "message_not_found"} {
		w.fake.Inject("chat.postMessage", 1, slacktest.Failure{Code: code})
		err := w.bot.Send(context.Background(), bot.Reply{Platform: "slack", Conv: "slack:T:D1::U1", Route: "c:D1:", Text: "hello"})
		if !errors.Is(err, bot.ErrPermanent) {
			t.Errorf("%s: %v, want ErrPermanent", code, err)
		}
	}
	// Auth errors are not the message's fault: it stays in the outbox.
	w.fake.Inject("chat.postMessage", 1, slacktest.Failure{Code: "invalid_auth"})
	err := w.bot.Send(context.Background(), bot.Reply{Platform: "slack", Conv: "slack:T:D1::U1", Route: "c:D1:", Text: "hello"})
	if err == nil || errors.Is(err, bot.ErrPermanent) {
		t.Errorf("invalid_auth: %v, want a temporary error", err)
	}
	if n := w.obs.count("chat.postMessage/permanent"); n != 4 {
		t.Errorf("%d permanent failures recorded, want 4", n)
	}
	// Collapsing a message that is gone is permanent too.
	err = w.bot.Send(context.Background(), bot.Reply{Kind: bot.Collapse, Platform: "slack", Conv: "slack:T:D1::U1",
		Edit: `{"c":"D1","ts":"1.000001","s":["What do you need help with?"]}`, Chosen: "Get a refund"})
	if !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("collapse of an unknown message: %v, want ErrPermanent", err)
	}

	// End to end: the channel is gone for one turn, then back.
	w2 := newWorld(t, "http", worldOpts{})
	w2.fake.FailChannel("D1", "channel_not_found")
	w2.event(slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	w2.settle()
	w2.fake.FailChannel("D1", "")
	w2.event(slacktest.IMMessage(team, "U1", "D1", "refund", slacktest.NewTS()))
	w2.settle()
	ms := w2.fake.Messages("D1", "")
	if len(ms) != 1 || ms[0].Text != w2.text("en", "ask.order") {
		t.Errorf("after a permanent failure: %q", texts(ms))
	}
}

// Send keeps each channel's pace; 0 turns pacing off.
func TestChannelPace(t *testing.T) {
	for _, rate := range []float64{0, 5} {
		w := newWorld(t, "http", worldOpts{noRun: true, cfg: func(c *slackbot.Config) { c.ChannelRate = rate; c.ChannelBurst = 2 }})
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 7 {
			wg.Go(func() {
				ch := "D1"
				if i == 6 {
					ch = "D2" // another channel is not slowed down
				}
				r := bot.Reply{Platform: "slack", Conv: "slack:T:" + ch + "::U1", Route: "c:" + ch + ":", Text: "hello"}
				if err := w.bot.Send(context.Background(), r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		// Six messages into D1 with a burst of 2 at 5/s: at least 0.8 s;
		// without pacing far less, even on a busy machine under -race.
		if rate > 0 && took < 780*time.Millisecond {
			t.Errorf("rate %v: 6 messages in %v", rate, took)
		}
		if rate == 0 && took > 400*time.Millisecond {
			t.Errorf("pacing off: 6 messages took %v", took)
		}
	}
}

// Long answers are split within Block Kit's limits, and every message has
// fallback text; long labels are cut.
func TestLongReplySplit(t *testing.T) {
	w := newWorld(t, "http", worldOpts{noRun: true})
	var paras []string
	for i := range 120 {
		paras = append(paras, fmt.Sprintf("*Paragraph %d* %s <&>", i, strings.Repeat("lorem ipsum ", 40)))
	}
	paras = append(paras, "```\n"+strings.Repeat("a line to copy\n", 400)+"```")
	text := strings.Join(paras, "\n\n")
	r := bot.Reply{Platform: "slack", Conv: "slack:T:D1::U1", Route: "c:D1:", Text: text,
		Buttons: []bot.Button{{Label: strings.Repeat("long label ", 10), Data: "x"}, {Label: "Ok", Data: "y"}}}
	if err := w.bot.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	ms := w.fake.Messages("D1", "")
	if len(ms) < 5 {
		t.Fatalf("%d messages for a 70 000-character answer", len(ms))
	}
	total := 0
	for i, m := range ms {
		if code, why := slacktest.Validate(m.Text, string(m.Blocks)); code != "" {
			t.Errorf("message %d: %s %s", i, code, why)
		}
		total += utf8.RuneCountInString(m.Text)
		if bs := m.Buttons(); (len(bs) > 0) != (i == len(ms)-1) {
			t.Errorf("message %d has %d buttons; only the last should", i, len(bs))
		}
	}
	last := ms[len(ms)-1].Buttons()
	if n := utf8.RuneCountInString(last[0].Label); n > slackbot.MaxButtonText {
		t.Errorf("a %d-character label", n)
	}
	if !strings.Contains(ms[0].Text, "&lt;&amp;&gt;") {
		t.Error("text not escaped")
	}
	if total < len(text)*9/10 {
		t.Errorf("only %d of %d characters sent", total, len(text))
	}
}

// A reply that edits the pressed message (the engine's in-place steps)
// replaces it with chat.update, buttons and all.
func TestEditInPlace(t *testing.T) {
	w := newWorld(t, "http", worldOpts{noRun: true})
	ctx := context.Background()
	if err := w.bot.Send(ctx, bot.Reply{Platform: "slack", Conv: "slack:T:D1::U1", Route: "c:D1:", Text: "first",
		Buttons: []bot.Button{{Label: "A", Data: "1.a"}}}); err != nil {
		t.Fatal(err)
	}
	m := w.fake.Messages("D1", "")[0]
	ref := fmt.Sprintf(`{"c":"D1","ts":%q,"s":["first"]}`, m.TS)
	err := w.bot.Send(ctx, bot.Reply{Platform: "slack", Conv: "slack:T:D1::U1", Route: "c:D1:", Text: "*second*",
		Buttons: []bot.Button{{Label: "B", Data: "2.b"}}, Edit: ref})
	if err != nil {
		t.Fatal(err)
	}
	ms := w.fake.Messages("D1", "")
	if len(ms) != 1 || ms[0].Text != "*second*" || ms[0].Edits != 1 || ms[0].Buttons()[0].Value != "2.b" {
		t.Errorf("after an in-place edit: %+v", ms)
	}
}
