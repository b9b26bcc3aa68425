package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/metrics"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/content"
)

type sink struct {
	mu sync.Mutex
	n  int
}

func (s *sink) Send(context.Context, bot.Reply) error { s.mu.Lock(); s.n++; s.mu.Unlock(); return nil }

func TestEverySeriesStartsAtZero(t *testing.T) {
	p, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p.Def, "v1", "abc")
	want := map[string]string{
		`supportbot_updates_received_total{kind="button",platform="telegram"}`:                  "0",
		`supportbot_updates_received_total{kind="event",platform="slack"}`:                      "0",
		`supportbot_reply_errors_total{class="permanent",platform="telegram",result="dropped"}`: "0",
		`supportbot_reply_errors_total{class="network",platform="slack",result="failed"}`:       "0",
		`supportbot_replies_resent_total{platform="slack"}`:                                     "0",
		`supportbot_turns_total{outcome="stale",platform="slack"}`:                              "0",
		`supportbot_replies_total{platform="telegram",result="dropped"}`:                        "0",
		`supportbot_api_calls_total{class="rate_limited",platform="slack"}`:                     "0",
		`supportbot_rate_limit_waits_total{platform="telegram"}`:                                "0",
		`supportbot_updates_duplicate_total{platform="slack"}`:                                  "0",
		`supportbot_stale_presses_total{platform="telegram"}`:                                   "0",
		`supportbot_store_errors_total{op="commit"}`:                                            "0",
		`supportbot_store_op_duration_seconds_count{op="begin"}`:                                "0",
		`supportbot_funnel_entered_total{state="answer"}`:                                       "0",
		`supportbot_funnel_chosen_total{choice="refund",state="problem"}`:                       "0",
		`supportbot_funnel_chosen_total{choice="chat",state="channel"}`:                         "0",
		`supportbot_turn_duration_seconds_count{platform="console"}`:                            "0",
		`supportbot_active_conversations`:                                                       "0",
		`supportbot_build_info{commit="abc",version="v1"}`:                                      "1",
	}
	got := scrape(t, m)
	for series, v := range want {
		if got[series] != v {
			t.Errorf("%s = %q, want %s", series, got[series], v)
		}
	}
}

// TestScriptedConversation runs a conversation through a dispatcher and
// checks the counters it moved.
func TestScriptedConversation(t *testing.T) {
	p, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p.Def, "v1", "abc")
	d, err := bot.New(bot.Config{Store: m.Store(memory.New(nil)), Pack: p, Obs: m,
		Senders: map[string]bot.Sender{"telegram": &sink{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	n := 0
	send := func(kind bot.Kind, text string) bot.Update {
		n++
		u := bot.Update{ID: fmt.Sprint("tg:", n), Platform: "telegram", Conv: "tg:1:1", User: "tg:1", Kind: kind, Text: text, Data: text}
		if err := d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	send(bot.KindText, "refund")
	send(bot.KindText, "skip")
	send(bot.KindText, "skip")
	send(bot.KindButton, "zz.bogus") // a forged press
	u := send(bot.KindText, "call them")
	if err := d.Accept(ctx, u); err != nil { // a redelivery
		t.Fatal(err)
	}
	m.Received("telegram", "message")
	m.Waited("telegram", 1500*time.Millisecond)

	got := scrape(t, m)
	want := map[string]string{
		`supportbot_turns_total{outcome="moved",platform="telegram"}`:           "4",
		`supportbot_turns_total{outcome="stale",platform="telegram"}`:           "1",
		`supportbot_stale_presses_total{platform="telegram"}`:                   "1",
		`supportbot_updates_duplicate_total{platform="telegram"}`:               "1",
		`supportbot_funnel_entered_total{state="problem"}`:                      "1",
		`supportbot_funnel_entered_total{state="order"}`:                        "1",
		`supportbot_funnel_entered_total{state="answer"}`:                       "1",
		`supportbot_funnel_chosen_total{choice="refund",state="problem"}`:       "1",
		`supportbot_funnel_chosen_total{choice="phone",state="channel"}`:        "1",
		`supportbot_funnel_chosen_total{choice="email",state="channel"}`:        "0",
		`supportbot_turn_duration_seconds_count{platform="telegram"}`:           "5",
		`supportbot_store_op_duration_seconds_count{op="commit"}`:               "5",
		`supportbot_active_conversations`:                                       "1",
		`supportbot_updates_received_total{kind="message",platform="telegram"}`: "1",
		`supportbot_rate_limit_waits_total{platform="telegram"}`:                "1",
		`supportbot_rate_limit_wait_seconds_total{platform="telegram"}`:         "1.5",
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("%s = %q, want %s", series, got[series], v)
		}
	}
	// greeting+order question, details, channel, stale note+channel, 5 answer messages
	if v := got[`supportbot_replies_total{platform="telegram",result="sent"}`]; v != "11" {
		t.Errorf("replies sent = %s", v)
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}

// scrape renders the registry in the text format and indexes it by series.
func scrape(t *testing.T, m *metrics.Metrics) map[string]string {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var b strings.Builder
	for _, mf := range mfs {
		b.Reset()
		if err := writeText(&b, mf); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

func TestFeedbackPerKey(t *testing.T) {
	p, err := content.Load(os.DirFS("../../content/testdata"), "northwind")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p.Def, "v", "c")
	if got := scrape(t, m)[`supportbot_feedback_total{key="answer.outage.phone",verdict="didnt"}`]; got != "0" {
		t.Fatalf("feedback series missing before any rating: %q", got)
	}
	d, err := bot.New(bot.Config{Store: m.Store(memory.New(nil)), Pack: p, Obs: m, Senders: map[string]bot.Sender{"slack": &sink{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	for i, text := range []string{"outage", "skip", "phone", "6"} { // 6: "This didn't"
		u := bot.Update{ID: fmt.Sprint("s:", i), Platform: "slack", Conv: "s:c", User: "s:u", Kind: bot.KindText, Text: text}
		if err := d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape(t, m)
	if v := got[`supportbot_feedback_total{key="answer.outage.phone",verdict="didnt"}`]; v != "1" {
		t.Errorf("feedback = %q", v)
	}
	if v := got[`supportbot_feedback_total{key="ladder.outage",verdict="worked"}`]; v != "0" {
		t.Errorf("ladder feedback series = %q", v)
	}
}

// failOnce is a store that fails one PutInbox and one Commit, as an
// unreachable store would.
type failOnce struct {
	*memory.Store
	mu          sync.Mutex
	put, commit bool
}

var errDown = errors.New("store unreachable")

func (f *failOnce) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	f.mu.Lock()
	fail := !f.put
	f.put = true
	f.mu.Unlock()
	if fail {
		return 0, errDown
	}
	return f.Store.PutInbox(ctx, d)
}

func (f *failOnce) Commit(ctx context.Context, c bot.Commit) error {
	f.mu.Lock()
	fail := !f.commit
	f.commit = true
	f.mu.Unlock()
	if fail {
		return errDown
	}
	return f.Store.Commit(ctx, c)
}

// TestStoreErrorCountedOnce: the dispatcher sees the failures (Accept
// fails, the commit is retried) but only the instrumented store counts.
func TestStoreErrorCountedOnce(t *testing.T) {
	p, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p.Def, "v", "c")
	d, err := bot.New(bot.Config{Store: m.Store(&failOnce{Store: memory.New(nil)}), Pack: p, Obs: m,
		Senders: map[string]bot.Sender{"telegram": &sink{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	u := bot.Update{ID: "tg:1", Platform: "telegram", Conv: "tg:1:1", User: "tg:1", Kind: bot.KindText, Text: "refund"}
	if err := d.Handle(ctx, u); !errors.Is(err, errDown) {
		t.Fatalf("Handle with the store down: %v", err)
	}
	if err := d.Handle(ctx, u); err != nil { // the platform delivers again
		t.Fatal(err)
	}
	got := scrape(t, m)
	for series, v := range map[string]string{
		`supportbot_store_errors_total{op="put_inbox"}`:               "1",
		`supportbot_store_errors_total{op="commit"}`:                  "1",
		`supportbot_store_errors_total{op="begin"}`:                   "0",
		`supportbot_turns_total{outcome="moved",platform="telegram"}`: "1",
	} {
		if got[series] != v {
			t.Errorf("%s = %q, want %s", series, got[series], v)
		}
	}
}

// classed is an adapter error that names its class.
type classed struct{ class bot.CallClass }

func (e classed) Error() string            { return "refused" }
func (e classed) CallClass() bot.CallClass { return e.class }
func (e classed) Is(target error) bool     { return target == bot.ErrPermanent }

func TestReplyErrorsByClass(t *testing.T) {
	m := metrics.New(nil, "v", "c")
	r := &bot.Reply{Platform: "slack"}
	m.Sent(r, false, nil)
	m.Sent(r, false, fmt.Errorf("slack: chat.postMessage: %w", bot.ErrPermanent))
	m.Sent(r, false, fmt.Errorf("slack: chat.postMessage: %w", classed{bot.CallClientError}))
	m.Sent(r, true, fmt.Errorf("slack: chat.postMessage: %w", context.DeadlineExceeded))
	m.Sent(r, true, nil)
	got := scrape(t, m)
	for series, v := range map[string]string{
		`supportbot_replies_total{platform="slack",result="sent"}`:                              "2",
		`supportbot_replies_total{platform="slack",result="dropped"}`:                           "2",
		`supportbot_replies_total{platform="slack",result="failed"}`:                            "1",
		`supportbot_reply_errors_total{class="permanent",platform="slack",result="dropped"}`:    "1",
		`supportbot_reply_errors_total{class="client_error",platform="slack",result="dropped"}`: "1",
		`supportbot_reply_errors_total{class="network",platform="slack",result="failed"}`:       "1",
		`supportbot_replies_resent_total{platform="slack"}`:                                     "2",
	} {
		if got[series] != v {
			t.Errorf("%s = %q, want %s", series, got[series], v)
		}
	}
}
