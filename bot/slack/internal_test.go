package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content"
)

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in, self string
		mention  bool
		want     string
	}{
		{"plain", "U0BOT", false, "plain"},
		{"<@U0BOT> refund phone", "U0BOT", true, "refund phone"},
		{"<@U0BOT|supportbot> help", "U0BOT", true, "help"},
		{"<@U0BOT> ask <@U2|ann> about it", "U0BOT", true, "ask @ann about it"},
		{"<@U7> <@U0BOT> hi", "U0BOT", true, "@U7  hi"},
		{"<@UX> hi", "", true, "hi"}, // before auth.test: the leading mention is ours
		{"A &amp; B &lt;3 &gt;", "", false, "A & B <3 >"},
		{"see <https://amazon.com/x|amazon.com> or <mailto:a@b.c|a@b.c> <https://x.y>", "", false, "see amazon.com or a@b.c https://x.y"},
		{"in <#C1|general> <!here>", "", false, "in #general @here"},
		{"&lt;b&gt;not bold&lt;/b&gt;", "", false, "<b>not bold</b>"},
		{"unclosed < bracket", "", false, "unclosed < bracket"},
	} {
		if got := cleanText(tc.in, tc.self, tc.mention); got != tc.want {
			t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCommandText(t *testing.T) {
	pack, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	// The flow's commands, the notebook's included.
	commands := pack.Def.Commands()
	for _, tc := range []struct {
		in        string
		kind      bot.Kind
		cmd, args string
	}{
		{"", bot.KindResume, "", ""},
		{"  ", bot.KindResume, "", ""},
		{"help", bot.KindCommand, "help", ""},
		{"HELP", bot.KindCommand, "help", ""},
		{"reset", bot.KindCommand, "reset", ""},
		{"language lv", bot.KindCommand, "language", "lv"},
		{"forget", bot.KindCommand, "forget", ""},
		{"privacy", bot.KindCommand, "privacy", ""},
		{"start refund", bot.KindCommand, "start", "refund"},
		{"refund phone", bot.KindCommand, "start", "refund phone"},
		{"atmaksa zvanīt", bot.KindCommand, "start", "atmaksa zvanīt"},
		{"/help", bot.KindCommand, "help", ""},
		{"cases", bot.KindCommand, "cases", ""},
		{"case 2", bot.KindCommand, "case", "2"},
		{"Case #2", bot.KindCommand, "case", "#2"},
	} {
		k, c, a := parseCommandText(tc.in, commands)
		if k != tc.kind || c != tc.cmd || a != tc.args {
			t.Errorf("%q: %v %q %q, want %v %q %q", tc.in, k, c, a, tc.kind, tc.cmd, tc.args)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err       error
		class     bot.CallClass
		wait      time.Duration
		permanent bool
	}{
		{nil, bot.CallOK, 0, false},
		{&slack.RateLimitedError{RetryAfter: 7 * time.Second}, bot.CallRateLimited, 7 * time.Second, false},
		{fmt.Errorf("wrapped: %w", &slack.RateLimitedError{RetryAfter: 2 * time.Second}), bot.CallRateLimited, 2 * time.Second, false},
		{slack.StatusCodeError{Code: 429}, bot.CallRateLimited, time.Second, false},
		{slack.StatusCodeError{Code: 502}, bot.CallServerError, 0, false},
		{slack.StatusCodeError{Code: 404}, bot.CallPermanent, 0, true},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, bot.CallPermanent, 0, true},
		{slack.SlackErrorResponse{Err: "not_in_channel"}, bot.CallPermanent, 0, true},
		{slack.SlackErrorResponse{Err: "account_inactive"}, bot.CallPermanent, 0, true},
		{slack.SlackErrorResponse{Err: "invalid_blocks"}, bot.CallClientError, 0, true},
		{slack.SlackErrorResponse{Err: "invalid_auth"}, bot.CallClientError, 0, false},
		{slack.SlackErrorResponse{Err: "missing_scope"}, bot.CallClientError, 0, false},
		{slack.SlackErrorResponse{Err: "internal_error"}, bot.CallServerError, 0, false},
		{slack.SlackErrorResponse{Err: "ratelimited"}, bot.CallRateLimited, time.Second, false},
		{&url.Error{Op: "Post", URL: "x", Err: errors.New("connection reset by peer")}, bot.CallNetwork, 0, false},
		{errors.New("used_url"), bot.CallPermanent, 0, true},
	} {
		o := classify(tc.err)
		if o.class != tc.class || o.wait != tc.wait || o.permanent != tc.permanent {
			t.Errorf("%v: %+v, want %v %v %v", tc.err, o, tc.class, tc.wait, tc.permanent)
		}
	}
}

// A refused call keeps its class for metrics and says whether it is for
// good.
func TestCallErrorClass(t *testing.T) {
	for _, tc := range []struct {
		err       *callError
		permanent bool
	}{
		{&callError{method: "chat.postMessage", code: "channel_not_found", class: bot.CallPermanent, permanent: true}, true},
		{&callError{method: "chat.postMessage", code: "invalid_blocks", class: bot.CallClientError, permanent: true}, true},
		{&callError{method: "chat.postMessage", code: "missing_scope", class: bot.CallClientError}, false},
	} {
		err := fmt.Errorf("send: %w", tc.err)
		if got := bot.ErrorClass(err); got != tc.err.class {
			t.Errorf("%s: class %s, want %s", tc.err.code, got, tc.err.class)
		}
		if errors.Is(err, bot.ErrPermanent) != tc.permanent {
			t.Errorf("%s: permanent %v, want %v", tc.err.code, !tc.permanent, tc.permanent)
		}
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(20, 2)
	ctx := context.Background()
	start := time.Now()
	for range 6 {
		if err := p.wait(ctx, "C1"); err != nil {
			t.Fatal(err)
		}
	}
	// 2 at once, then 4 at 20/s.
	if took := time.Since(start); took < 180*time.Millisecond || took > 600*time.Millisecond {
		t.Errorf("6 calls at 20/s with a burst of 2 took %v", took)
	}
	// Retry-After blocks the channel even with pacing off.
	off := newPacer(0, 1)
	off.block("C1", 150*time.Millisecond)
	start = time.Now()
	off.wait(ctx, "C1")
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Errorf("a blocked channel waited %v", took)
	}
	start = time.Now()
	off.wait(ctx, "C2")
	off.wait(ctx, "C1")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("an unpaced channel waited %v", took)
	}
	if len(off.buckets) != 0 {
		t.Errorf("%d buckets kept with pacing off", len(off.buckets))
	}
	cctx, cancel := context.WithCancel(ctx)
	off.block("C3", time.Hour)
	cancel()
	if err := off.wait(cctx, "C3"); err == nil {
		t.Error("a cancelled wait returned nil")
	}
}

func TestLayoutLimits(t *testing.T) {
	var buttons []bot.Button
	for i := range 30 {
		buttons = append(buttons, bot.Button{Label: fmt.Sprint("b", i), Data: fmt.Sprint(i)})
	}
	text := strings.Repeat("word ", 200) + "\n\n" + strings.Repeat("x", 7000)
	msgs := layout(text, buttons, "U1")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	// 1000 + 7000 characters: 4 sections, then 2 action blocks (25 + 5).
	if len(m.blocks) != 6 {
		t.Errorf("%d blocks, want 6", len(m.blocks))
	}
	for _, b := range m.blocks[:4] {
		if s := b.(*slack.SectionBlock); len([]rune(s.Text.Text)) > MaxSectionText {
			t.Errorf("a section of %d characters", len([]rune(s.Text.Text)))
		}
	}
	if a := m.blocks[4].(*slack.ActionBlock); len(a.Elements.ElementSet) != 25 || a.BlockID != "a:U1" {
		t.Errorf("first actions block: %d buttons, id %q", len(a.Elements.ElementSet), a.BlockID)
	}
	if a := m.blocks[5].(*slack.ActionBlock); a.BlockID != "a:U1:1" {
		t.Errorf("second actions block id %q", a.BlockID)
	}
	if m.text == "" {
		t.Error("no fallback text")
	}
	// Buttons without text still get a message with fallback text.
	if msgs := layout("", buttons[:2], "U1"); len(msgs) != 1 || msgs[0].text == "" {
		t.Errorf("buttons alone: %+v", msgs)
	}
	if msgs := layout("", nil, "U1"); len(msgs) != 0 {
		t.Errorf("nothing to send: %d messages", len(msgs))
	}
}

func TestRoutesAndRefs(t *testing.T) {
	rt, ok := parseRoute("c:C1:1.2", "")
	if !ok || rt.channel != "C1" || rt.thread != "1.2" {
		t.Errorf("channel route: %+v", rt)
	}
	rt, ok = parseRoute("u:https://hooks.slack.com/x:y", "")
	if !ok || rt.url != "https://hooks.slack.com/x:y" {
		t.Errorf("response_url route: %+v", rt)
	}
	rt, ok = parseRoute("", convKey("T1", "D1", "", "U1"))
	if !ok || rt.channel != "D1" || rt.thread != "" {
		t.Errorf("route from the conversation: %+v", rt)
	}
	if _, ok := parseRoute("x", ""); ok {
		t.Error("a bad route parsed")
	}
	ref := msgRef{Channel: "D1", TS: "1.2", Sections: []string{"a", "b"}}
	back, ok := parseRef(ref.encode())
	if !ok || back.Channel != "D1" || len(back.Sections) != 2 {
		t.Errorf("ref: %+v", back)
	}
	if _, ok := parseRef("nonsense"); ok {
		t.Error("a bad ref parsed")
	}
}

func TestSerialOrder(t *testing.T) {
	s := newSerial()
	var got []int
	done := make(chan struct{})
	for i := range 50 {
		prev, fin := s.enter("k")
		go func() {
			if prev != nil {
				<-prev
			}
			got = append(got, i)
			fin()
			if i == 49 {
				close(done)
			}
		}()
	}
	<-done
	for i, v := range got {
		if v != i {
			t.Fatalf("order %v", got)
		}
	}
	if len(s.tails) != 0 {
		t.Errorf("%d tails left", len(s.tails))
	}
}

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		code    string
		wantErr bool
	}{
		{`{"ok":true,"channel":"D1","ts":"1.2","message":{"blocks":[{"type":"section"}]}}`, true, "", false},
		{`{"channel":"D1","ok":true}`, true, "", false},
		{`{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["bad"]}}`, false, "invalid_blocks", false},
		{`{"error":"channel_not_found","ok":false}`, false, "channel_not_found", false},
		{`[]`, false, "", true},
		{`{"channel":"D1"}`, false, "", true},
		{`<html>`, false, "", true},
	} {
		a, err := readAnswer(strings.NewReader(tc.in), false)
		if (err != nil) != tc.wantErr || a.OK != tc.ok || a.Error != tc.code {
			t.Errorf("%s: %+v %v", tc.in, a, err)
		}
	}
	// The ts of a posted message, read without the echoed message: a
	// broken echo after it is never reached.
	a, err := readAnswer(strings.NewReader(`{"ok":true,"channel":"D1","ts":"1.2","message":{broken`), true)
	if err != nil || !a.OK || a.TS != "1.2" || a.Channel != "D1" {
		t.Errorf("with the ts: %+v %v", a, err)
	}
}

func TestPacerUnpacedKeys(t *testing.T) {
	p := newPacer(1, 1)
	ctx := context.Background()
	start := time.Now()
	for range 5 {
		p.wait(ctx, "=https://hooks.slack.com/x")
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("a response_url was paced: %v", took)
	}
	p.block("=https://hooks.slack.com/x", 100*time.Millisecond)
	start = time.Now()
	p.wait(ctx, "=https://hooks.slack.com/x")
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("a response_url's Retry-After was not waited: %v", took)
	}
}
