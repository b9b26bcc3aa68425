package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

func loadTestPack(t testing.TB) *content.Pack {
	t.Helper()
	p, err := content.Load(testPacks, "northwind")
	if err != nil {
		t.Fatalf("load test pack: %v", err)
	}
	return p
}

var now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// step is one user action and what must follow.
type step struct {
	in    flows.Input
	state string   // state after the turn
	keys  []string // output keys, in order ("" skips the check)
	out   flows.Outcome
}

func text(s string) flows.Input { return flows.Input{Kind: flows.InText, Text: s} }
func cmd(name, args string) flows.Input {
	return flows.Input{Kind: flows.InCommand, Command: name, Text: args}
}

// press presses the button whose label key is label on the last output.
const pressPrefix = "\x00press:"

func press(label string) flows.Input {
	return flows.Input{Kind: flows.InButton, Text: pressPrefix + label}
}

// converse runs steps through the engine, checking each.
func converse(t *testing.T, e *flows.Engine, lang string, steps []step) flows.Session {
	t.Helper()
	var s flows.Session
	var last flows.Result
	for i, st := range steps {
		in := st.in
		in.Lang = lang
		in.Now = now.Add(time.Duration(i) * time.Minute)
		if in.Kind == flows.InButton && strings.HasPrefix(in.Text, pressPrefix) {
			label := strings.TrimPrefix(in.Text, pressPrefix)
			in.Text = buttonData(t, last, label)
		}
		res := e.Handle(s, in)
		if st.state != "" && res.Session.State != st.state {
			t.Fatalf("step %d (%+v): state %q, want %q", i, st.in, res.Session.State, st.state)
		}
		if st.keys != nil {
			got := outputKeys(res)
			if strings.Join(got, ",") != strings.Join(st.keys, ",") {
				t.Fatalf("step %d (%+v): keys %v, want %v", i, st.in, got, st.keys)
			}
		}
		if st.out != "" && res.Outcome != st.out {
			t.Fatalf("step %d (%+v): outcome %q, want %q", i, st.in, res.Outcome, st.out)
		}
		checkOutputs(t, res)
		s, last = res.Session, res
	}
	return s
}

func outputKeys(r flows.Result) []string {
	var ks []string
	for _, o := range r.Outputs {
		ks = append(ks, o.Key)
	}
	return ks
}

func buttonData(t *testing.T, r flows.Result, label string) string {
	t.Helper()
	for i := len(r.Outputs) - 1; i >= 0; i-- {
		for _, b := range r.Outputs[i].Buttons {
			if b.Label == label {
				return b.Data
			}
		}
	}
	t.Fatalf("no button %q in %+v", label, r.Outputs)
	return ""
}

// checkOutputs holds for every turn: something is said, and buttons fit.
func checkOutputs(t *testing.T, r flows.Result) {
	t.Helper()
	if len(r.Outputs) == 0 {
		t.Fatalf("turn produced no output: %+v", r)
	}
	for _, o := range r.Outputs {
		if o.Key == "" {
			t.Fatalf("empty key in %+v", r.Outputs)
		}
		for _, b := range o.Buttons {
			if n := len(b.Data); n == 0 || n > flows.MaxButtonData {
				t.Fatalf("button data %q is %d bytes", b.Data, n)
			}
		}
	}
}

func TestTestPackConversations(t *testing.T) {
	e := loadTestPack(t).Engine
	for _, lang := range []string{"en", "de"} {
		t.Run(lang, func(t *testing.T) {
			tests := []struct {
				name  string
				steps []step
				slots map[string]string
			}{
				{"buttons all the way", []step{
					{in: flows.Input{Kind: flows.InResume}, state: "topic", keys: []string{"greeting", "ask.topic"}},
					{in: press("buttons.bill"), state: "account", keys: []string{"ask.account"}},
					{in: text("1234 5678"), state: "via", keys: []string{"ask.via"}},
					{in: press("buttons.email"), state: "answer", keys: []string{"answer.bill.email", "answer.next"}},
				}, map[string]string{"topic": "bill", "account": "12345678", "via": "email"}},
				{"numbers and skip", []step{
					{in: cmd("start", ""), state: "topic", keys: []string{"greeting", "ask.topic"}},
					{in: text("2"), state: "account"},
					{in: text("1"), state: "via", keys: []string{"ask.via"}},
					{in: text("1"), state: "answer", keys: []string{"answer.outage.phone", "answer.next"}},
				}, map[string]string{"topic": "outage", "account": "", "via": "phone"}},
				{"start over keeps nothing", []step{
					{in: text("2"), state: "account"},
					{in: text("11112222"), state: "via"},
					{in: text("2"), state: "answer"},
					{in: press("buttons.start_over"), state: "topic", keys: []string{"ask.topic"}},
				}, map[string]string{"topic": "", "account": ""}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := converse(t, e, lang, tc.steps)
					for k, v := range tc.slots {
						if got := s.Get(k); got != v {
							t.Errorf("slot %s = %q, want %q", k, got, v)
						}
					}
				})
			}
		})
	}
}

func TestKeywordsPerLanguage(t *testing.T) {
	e := loadTestPack(t).Engine
	converse(t, e, "de", []step{
		{in: text("RECHNUNG!"), state: "account", keys: []string{"greeting", "ask.account"}},
		{in: text("nein"), state: "via"},
		{in: text("ich möchte anrufen"), state: "answer"},
	})
	converse(t, e, "en", []step{
		{in: text("there is no power"), state: "account"},
		{in: text("skip"), state: "via"},
		{in: text("e-mail please"), state: "answer", keys: []string{"answer.outage.email", "answer.next"}},
	})
}

func TestBadInput(t *testing.T) {
	e := loadTestPack(t).Engine
	start := []step{{in: cmd("start", ""), state: "topic"}}
	tests := []struct {
		name string
		in   flows.Input
		keys []string
		out  flows.Outcome
	}{
		{"empty line", text(""), []string{"input.empty", "ask.topic"}, flows.BadInput},
		{"whitespace", text("  \t "), []string{"input.empty", "ask.topic"}, flows.BadInput},
		{"10,000 characters", text(strings.Repeat("a", 10000)), []string{"input.too_long", "ask.topic"}, flows.BadInput},
		{"invalid UTF-8", text("bill \xff\xfe"), []string{"input.unreadable", "ask.topic"}, flows.BadInput},
		{"control characters", text("\x01\x02\x1b[2J"), []string{"input.unmatched", "ask.topic"}, flows.Unmatched},
		{"emoji only", text("😡😡😡"), []string{"input.unmatched", "ask.topic"}, flows.Unmatched},
		{"forged button", flows.Input{Kind: flows.InButton, Text: "zzzzzzzz.bill"}, []string{"note.stale", "ask.topic"}, flows.Stale},
		{"garbage button", flows.Input{Kind: flows.InButton, Text: "\xff<script>"}, []string{"note.stale", "ask.topic"}, flows.Stale},
		{"unknown command", cmd("frobnicate", ""), []string{"command.unknown", "ask.topic"}, flows.Unknown},
		{"unknown language", cmd("language", "xx"), []string{"language.unknown", "ask.topic"}, flows.Unknown},
		{"command with extra words", cmd("help", "me please now"), []string{"help", "ask.topic"}, flows.Commanded},
		{"photo", flows.Input{Kind: flows.InOther}, []string{"input.unsupported", "ask.topic"}, flows.Unsupported},
		{"ambiguous", text("bill for the outage"), []string{"input.unmatched", "ask.topic"}, flows.Unmatched},
		{"number out of range", text("7"), []string{"input.unmatched", "ask.topic"}, flows.Unmatched},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := converse(t, e, "en", start)
			in := tc.in
			in.Now = now.Add(time.Hour)
			res := e.Handle(s, in)
			if got := outputKeys(res); strings.Join(got, ",") != strings.Join(tc.keys, ",") {
				t.Fatalf("keys %v, want %v", got, tc.keys)
			}
			if res.Outcome != tc.out {
				t.Errorf("outcome %q, want %q", res.Outcome, tc.out)
			}
			// The session changes only in its clock: same step, same nonce
			// (buttons already on screen stay valid), nothing remembered.
			want := s
			want.Updated = in.Now.Unix()
			if !sameSession(res.Session, want) {
				t.Errorf("session changed:\n got %+v\nwant %+v", res.Session, want)
			}
		})
	}
}

func sameSession(a, b flows.Session) bool {
	if a.Flow != b.Flow || a.State != b.State || a.Lang != b.Lang || a.Nonce != b.Nonce ||
		a.Version != b.Version || a.Created != b.Created || a.Updated != b.Updated || len(a.Slots) != len(b.Slots) {
		return false
	}
	for i := range a.Slots {
		if a.Slots[i] != b.Slots[i] {
			return false
		}
	}
	return true
}

func TestInvalidAnswerReasks(t *testing.T) {
	e := loadTestPack(t).Engine
	s := converse(t, e, "en", []step{
		{in: text("bill"), state: "account"},
		{in: text("12"), state: "account", keys: []string{"invalid.account", "ask.account"}, out: flows.Invalid},
		{in: text("abcd-efgh"), state: "account", keys: []string{"invalid.account", "ask.account"}, out: flows.Invalid},
		{in: text("🙂"), state: "account", keys: []string{"invalid.account", "ask.account"}, out: flows.Invalid},
		{in: text("1234-5678"), state: "via"},
	})
	if got := s.Get("account"); got != "12345678" {
		t.Errorf("account normalised to %q", got)
	}
}

func TestStaleButtons(t *testing.T) {
	e := loadTestPack(t).Engine
	var s flows.Session
	first := e.Handle(s, flows.Input{Kind: flows.InCommand, Command: "start", Now: now})
	billData := first.Outputs[1].Buttons[0].Data
	second := e.Handle(first.Session, flows.Input{Kind: flows.InButton, Text: billData, Now: now})
	if second.Session.State != "account" {
		t.Fatalf("press moved to %q", second.Session.State)
	}
	// Pressing the same button again, from the earlier step.
	again := e.Handle(second.Session, flows.Input{Kind: flows.InButton, Text: billData, Now: now})
	if again.Outcome != flows.Stale || again.Session.State != "account" || outputKeys(again)[0] != "note.stale" {
		t.Fatalf("stale press: %+v", again)
	}
	if !again.Pressed {
		t.Error("a stale press must still let the front end take its buttons away")
	}
	// A button of this very step with a nonce from another conversation.
	skip := again.Outputs[1].Buttons[0].Data
	forged := strings.Replace(skip, skip[:strings.IndexByte(skip, '.')], "1", 1)
	if r := e.Handle(second.Session, flows.Input{Kind: flows.InButton, Text: forged, Now: now}); r.Outcome != flows.Stale {
		t.Fatalf("forged nonce accepted: %+v", r)
	}
	// After the conversation is forgotten, no old button acts.
	gone := e.Handle(second.Session, flows.Input{Kind: flows.InCommand, Command: "forget", Now: now})
	if !gone.Forget || !gone.Session.IsZero() {
		t.Fatalf("forget: %+v", gone)
	}
	fresh := e.Handle(gone.Session, flows.Input{Kind: flows.InButton, Text: skip, Now: now.Add(time.Second)})
	if fresh.Outcome != flows.Stale || fresh.Session.State != "topic" {
		t.Fatalf("press after forget: %+v", fresh)
	}
}

func TestLanguage(t *testing.T) {
	e := loadTestPack(t).Engine
	// The platform's hint, in any form.
	r := e.Handle(flows.Session{}, flows.Input{Kind: flows.InResume, Lang: "de-AT", Now: now})
	if r.Lang != "de" {
		t.Fatalf("hint de-AT gave %q", r.Lang)
	}
	// Unknown hints fall back to the pack's first language.
	if r := e.Handle(flows.Session{}, flows.Input{Kind: flows.InResume, Lang: "it-IT", Now: now}); r.Lang != "en" {
		t.Fatalf("hint it-IT gave %q", r.Lang)
	}
	// /language sets the user's preference, kept across /reset.
	r = e.Handle(r.Session, flows.Input{Kind: flows.InCommand, Command: "language", Text: "en", Now: now})
	if r.SetLang != "en" || r.Lang != "en" {
		t.Fatalf("/language en: %+v", r)
	}
	r = e.Handle(r.Session, flows.Input{Kind: flows.InCommand, Command: "reset", Lang: "de", Now: now})
	if r.Lang != "en" {
		t.Fatalf("language after /reset: %q", r.Lang)
	}
	// A stored preference wins over the hint, also for a new conversation.
	if r := e.Handle(flows.Session{}, flows.Input{Kind: flows.InResume, Lang: "en", UserLang: "de", Now: now}); r.Lang != "de" {
		t.Fatalf("preference lost: %q", r.Lang)
	}
	// /language with no argument offers buttons that always work.
	r = e.Handle(r.Session, flows.Input{Kind: flows.InCommand, Command: "language", Now: now})
	if len(r.Outputs) != 1 || len(r.Outputs[0].Buttons) != 2 {
		t.Fatalf("/language: %+v", r.Outputs)
	}
	de := r.Outputs[0].Buttons[1].Data
	later := e.Handle(r.Session, text("1"))
	if r := e.Handle(later.Session, flows.Input{Kind: flows.InButton, Text: de, Now: now}); r.SetLang != "de" || r.Outcome == flows.Stale {
		t.Fatalf("language button after a step: %+v", r)
	}
}

func TestJumpAhead(t *testing.T) {
	e := loadTestPack(t).Engine
	tests := []struct {
		args, state string
		slots       map[string]string
	}{
		{"bill_phone", "answer", map[string]string{"topic": "bill", "via": "phone"}},
		{"outage email", "answer", map[string]string{"topic": "outage", "via": "email"}},
		{"bill 1234-5678 email", "answer", map[string]string{"account": "12345678", "via": "email"}},
		{"bill", "account", map[string]string{"topic": "bill"}},
		{"rechnung telefon", "answer", map[string]string{"topic": "bill", "via": "phone"}},
		{"nonsense words", "topic", nil},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			lang := "en"
			if strings.Contains(tc.args, "rechnung") {
				lang = "de"
			}
			r := e.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: tc.args, Lang: lang, Now: now})
			if r.Session.State != tc.state {
				t.Fatalf("state %q, want %q (%v)", r.Session.State, tc.state, outputKeys(r))
			}
			for k, v := range tc.slots {
				if got := r.Session.Get(k); got != v {
					t.Errorf("slot %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestJumpNowhereKeepsTheConversation: words that match no choice
// ("/support hlep") say the command is unknown and leave the conversation
// where it was, slots and all; a new conversation gets the greeting.
func TestJumpNowhereKeepsTheConversation(t *testing.T) {
	e := loadTestPack(t).Engine
	mid := e.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: "bill 1234-5678", Lang: "en", Now: now}).Session
	if mid.State != "via" || mid.Get("account") != "12345678" {
		t.Fatalf("setup: %s %v", mid.State, mid.Slots)
	}
	r := e.Handle(mid, flows.Input{Kind: flows.InCommand, Command: "start", Text: "hlep", Lang: "en", Now: now})
	if r.Outcome != flows.Unknown || !sameSession(r.Session, mid) {
		t.Fatalf("unknown words: %s, session %+v, want %+v", r.Outcome, r.Session, mid)
	}
	if keys := outputKeys(r); len(keys) != 2 || keys[0] != flows.KeyUnknownCommand || keys[1] != "ask.via" {
		t.Fatalf("unknown words said %v", keys)
	}
	r = e.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: "hlep", Lang: "en", Now: now})
	if keys := outputKeys(r); r.Session.State != "topic" || len(keys) != 2 || keys[0] != flows.KeyGreeting {
		t.Fatalf("new conversation: %s %v", r.Session.State, keys)
	}
}

func TestFlowChangedResets(t *testing.T) {
	e := loadTestPack(t).Engine
	s := flows.Session{Flow: "northwind", Version: 1, State: "gone_state", Lang: "de", Nonce: 7, Slots: []flows.Slot{{"topic", "bill"}}}
	r := e.Handle(s, text("1"))
	if r.Outcome != flows.Reset || r.Session.State != "topic" || outputKeys(r)[0] != "note.flow_changed" || r.Lang != "de" {
		t.Fatalf("reset: %+v", r)
	}
	if len(r.Session.Slots) != 0 {
		t.Errorf("slots kept: %v", r.Session.Slots)
	}
	// An older version whose state still exists just goes on: a text edit
	// never disturbs a conversation.
	s = flows.Session{Flow: "northwind", Version: 1, State: "via", Lang: "en", Nonce: 7}
	if r := e.Handle(s, text("phone")); r.Session.State != "answer" || r.Outcome != flows.Moved {
		t.Fatalf("old version: %+v", r)
	}
}

func TestHandleDoesNotChangeInput(t *testing.T) {
	e := loadTestPack(t).Engine
	s := flows.Session{Flow: "northwind", Version: 2, State: "account", Lang: "en", Nonce: 3, Slots: []flows.Slot{{"topic", "bill"}}}
	before := s
	before.Slots = append([]flows.Slot(nil), s.Slots...)
	e.Handle(s, text("11112222"))
	e.Handle(s, flows.Input{Kind: flows.InCommand, Command: "reset"})
	if !sameSession(s, before) {
		t.Fatalf("input session changed: %+v", s)
	}
}

func TestJumpSkipsFreeTextAndReadsAnyLanguage(t *testing.T) {
	p := shipped(t)
	// "/start refund_phone": the free-text details step is skipped, not
	// filled with "phone".
	r := p.Engine.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: "refund_phone", Lang: "en", Now: now})
	if r.Session.State != "answer" || r.Session.Get("details") != "" || r.Session.Get("channel") != "phone" {
		t.Fatalf("refund_phone: state %q slots %v", r.Session.State, r.Session.Slots)
	}
	// Latvian words for an English user (Slack's /support has one name).
	r = p.Engine.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: "atmaksa e-pasts", Lang: "en", Now: now})
	if r.Session.State != "answer" || r.Session.Get("problem") != "refund" || r.Session.Get("channel") != "email" || r.Lang != "en" {
		t.Fatalf("atmaksa e-pasts: state %q slots %v lang %s", r.Session.State, r.Session.Slots, r.Lang)
	}
}
