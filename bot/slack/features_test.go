package slack_test

// The features of the v2 content pack through the adapter: the live-call
// companion (one message edited in place), drafts in another language, the
// escalation ladder, the case notebook and reminders.

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	slackbot "github.com/supportbot/supportbot/bot/slack"
	"github.com/supportbot/supportbot/bot/slack/slacktest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

var (
	companionChoices = []string{"c_answered", "c_details", "c_refuses", "c_supervisor", "c_agrees", "c_done"}
	rungChoices      = []string{"worked", "next_rung", "save_case", "remind", "start_over"}
	followupChoices  = []string{"fu_yes", "fu_not_yet", "fu_again"}
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock starts at 2026-11-26 18:30 UTC: 20:30 in Riga, 13:30 in New York.
func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 18, 30, 0, 0, time.UTC)} }

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

// talk is one user's conversation with the bot: in their DM, or in a
// thread under a mention in a channel.
type talk struct {
	w               *world
	user, lang      string
	channel, thread string // where the bot answers
	inThread        bool
}

func (w *world) dmTalk(user, lang string) *talk {
	w.fake.SetLocale(user, langs[lang])
	return &talk{w: w, user: user, lang: lang, channel: slacktest.DMChannel(user)}
}

func (w *world) threadTalk(user, lang string) *talk {
	w.fake.SetLocale(user, langs[lang])
	return &talk{w: w, user: user, lang: lang, channel: publicChan, inThread: true}
}

func (c *talk) messages() []slacktest.Message { return c.w.fake.Messages(c.channel, c.thread) }

// after runs f, waits for the bot, and returns the messages it posted.
func (c *talk) after(f func()) []slacktest.Message {
	c.w.t.Helper()
	before := len(c.messages())
	f()
	c.w.settle()
	return c.messages()[before:]
}

// say types text, as Slack delivers it.
func (c *talk) say(text string) []slacktest.Message {
	c.w.t.Helper()
	escaped := markup.SlackEscape(text)
	if c.inThread && c.thread == "" {
		c.thread = slacktest.NewTS()
		return c.after(func() { c.w.event(slacktest.Mention(team, c.user, c.channel, escaped, c.thread, "")) })
	}
	if c.inThread {
		return c.after(func() { c.w.event(slacktest.Mention(team, c.user, c.channel, escaped, slacktest.NewTS(), c.thread)) })
	}
	return c.after(func() { c.w.event(slacktest.IMMessage(team, c.user, c.channel, escaped, slacktest.NewTS())) })
}

// command runs /support with text in a public channel; the conversation
// goes on in the DM.
func (c *talk) command(text string) []slacktest.Message {
	c.w.t.Helper()
	dm := slacktest.DMChannel(c.user)
	before := len(c.w.fake.Messages(dm, ""))
	note := c.w.command(c.w.fake.NewCommand(team, publicChan, c.user, text))
	c.w.settle()
	if want := markup.Render(markup.SlackMrkdwn{}, c.w.label(c.lang, content.KeyMovedToDM)); note != want {
		c.w.t.Errorf("/support %s: the note %q, want %q", text, note, want)
	}
	return c.w.fake.Messages(dm, "")[before:]
}

// press presses the button for choice on the newest message that has it.
func (c *talk) press(choice string) []slacktest.Message {
	c.w.t.Helper()
	ms := c.messages()
	for i := len(ms) - 1; i >= 0; i-- {
		if _, ok := slackButton(ms[i], choice); ok {
			return c.pressOn(ms[i], choice)
		}
	}
	c.w.t.Fatalf("%s: no button for %q", c.user, choice)
	return nil
}

// pressOn presses the button for choice on m as it was when m was read
// (an old copy is an old client's keyboard).
func (c *talk) pressOn(m slacktest.Message, choice string) []slacktest.Message {
	c.w.t.Helper()
	bt, ok := slackButton(m, choice)
	if !ok {
		c.w.t.Fatalf("%s: message %s has no %q button", c.user, m.TS, choice)
	}
	return c.after(func() { c.w.pressPayload(c.w.fake.PressButton(m, bt, c.user, team)) })
}

// message is m as it is now.
func (c *talk) message(m slacktest.Message) slacktest.Message {
	for _, x := range c.w.fake.Messages(m.Channel, "") {
		if x.TS == m.TS {
			return x
		}
	}
	c.w.t.Fatalf("message %s is gone", m.TS)
	return m
}

func slackButton(m slacktest.Message, choice string) (slacktest.Button, bool) {
	for _, b := range m.Buttons() {
		if strings.HasSuffix(b.Value, "."+choice) {
			return b, true
		}
	}
	return slacktest.Button{}, false
}

// render is a text as the adapter posts it, with every slot of the flow.
func (w *world) render(lang, key string, slots map[string]string) string {
	w.t.Helper()
	var ss []flows.Slot
	for k, v := range slots {
		ss = append(ss, flows.Slot{Name: k, Value: v})
	}
	return w.text(lang, key, ss...)
}

// want checks the messages' texts against content keys.
func (c *talk) want(got []slacktest.Message, slots map[string]string, keys ...string) {
	c.w.t.Helper()
	c.wantIn(got, c.lang, slots, keys...)
}

func (c *talk) wantIn(got []slacktest.Message, lang string, slots map[string]string, keys ...string) {
	c.w.t.Helper()
	if len(got) != len(keys) {
		c.w.t.Fatalf("%s: %d messages %.300q, want %v", c.user, len(got), texts(got), keys)
	}
	for i, k := range keys {
		if want := c.w.render(lang, k, slots); got[i].Text != want {
			c.w.t.Fatalf("%s: message %d:\n got %.300q\nwant %s/%s %.300q", c.user, i, got[i].Text, lang, k, want)
		}
	}
}

// wantButtons checks a message's buttons against choices.
func (c *talk) wantButtons(m slacktest.Message, choices ...string) {
	c.w.t.Helper()
	bs := m.Buttons()
	if len(bs) != len(choices) {
		c.w.t.Fatalf("%s: message %s has %d buttons, want %v", c.user, m.TS, len(bs), choices)
	}
	for i, ch := range choices {
		if bs[i].Label != c.w.label(c.lang, "buttons."+ch) || !strings.HasSuffix(bs[i].Value, "."+ch) {
			c.w.t.Fatalf("%s: button %d is %+v, want %s", c.user, i, bs[i], ch)
		}
	}
}

// toAnswer runs the conversation from its start to the full answer, typing
// the order number and the details when given; it returns the answer's
// last message, the one with the buttons.
func (c *talk) toAnswer(problem, channel, order, details string) slacktest.Message {
	c.w.t.Helper()
	c.say("hello")
	c.press(problem)
	if problem != "service" {
		if order != "" {
			c.say(order)
		} else {
			c.press("skip")
		}
	}
	if details != "" {
		c.say(details)
	} else {
		c.press("skip")
	}
	got := c.press(channel)
	slots := map[string]string{"problem": problem, "channel": channel, "order": order, "details": details}
	c.want(got, slots, "answer."+problem+"."+channel+".steps", "ready."+problem,
		"answer."+problem+"."+channel+".say", "tip."+channel, "answer.next")
	c.wantButtons(got[4], answerChoices...)
	return got[4]
}

// TestCompanionEditsOneMessage: "I'm talking to them now" turns the
// answer's last message into the companion, and every tap after it edits
// that one message (chat.update, text and buttons); stale taps get a note
// and change nothing; "Done" collapses it and asks how it went. The
// updates' payloads are pinned in testdata/companion_updates.golden.json.
func TestCompanionEditsOneMessage(t *testing.T) {
	clk := newClock()
	w := newWorld(t, "http", worldOpts{now: clk.Now})
	c := w.dmTalk("U1400", "en")
	m := c.toAnswer("refund", "phone", orderNo, "")
	slots := map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo}
	updates0 := len(w.fake.Calls("chat.update"))

	steps := []struct{ choice, key string }{
		{"on_call", "companion.start.script"},
		{"c_answered", "companion.answered.refund"},
		{"c_details", "companion.details.refund"},
		{"c_refuses", "companion.refuses.refund"},
		{"c_supervisor", "companion.supervisor"},
		{"c_agrees", "companion.agrees"},
	}
	var shown []slacktest.Message
	for i, st := range steps {
		if got := c.pressOn(m, st.choice); len(got) != 0 {
			t.Fatalf("%s: %d new messages, want the companion edited in place", st.choice, len(got))
		}
		m = c.message(m)
		c.want([]slacktest.Message{m}, slots, st.key)
		c.wantButtons(m, companionChoices...)
		if m.Edits != i+1 || !strings.Contains(m.Text, "```") {
			t.Fatalf("%s: %d edits, text %.100q", st.choice, m.Edits, m.Text)
		}
		shown = append(shown, m)
	}

	// Stale taps: a button from two edits ago, and one from the keyboard
	// just replaced (a double tap). A note each; the companion already
	// shows the current step, so it is not updated.
	for _, old := range []slacktest.Message{shown[3], shown[4]} {
		got := c.pressOn(old, "c_refuses")
		c.want(got, nil, "note.stale")
		if now := c.message(m); now.Edits != m.Edits || now.Text != m.Text || !slices.Equal(now.Buttons(), m.Buttons()) {
			t.Fatalf("a stale tap changed the companion: %d edits", now.Edits)
		}
	}

	// Done: the companion loses its buttons and shows the choice.
	got := c.pressOn(m, "c_done")
	c.want(got, nil, "after_call")
	c.wantButtons(got[0], "save_case", "remind", "cant_help", "worked", "didnt", "start_over")
	done := c.message(m)
	if len(done.Buttons()) != 0 || !slices.Equal(done.Context(), []string{"✓ *Done*"}) || done.Text != m.Text {
		t.Errorf("the finished companion: %d buttons, context %q", len(done.Buttons()), done.Context())
	}
	// A tap on the finished companion: a note and the current question.
	got = c.pressOn(shown[5], "c_agrees")
	c.want(got, nil, "note.stale", "after_call")
	if again := c.message(m); again.Edits != done.Edits {
		t.Error("a tap on the finished companion changed it")
	}

	updates := w.fake.Calls("chat.update")[updates0:]
	if len(updates) != len(steps)+1 {
		t.Fatalf("%d chat.update calls, want %d: one per step and the collapse", len(updates), len(steps)+1)
	}
	for _, u := range updates {
		if u.Form.Get("ts") != m.TS || u.Form.Get("channel") != m.Channel {
			t.Errorf("an update of %s/%s, want the companion %s", u.Form.Get("channel"), u.Form.Get("ts"), m.TS)
		}
	}
	goldenCalls(t, "companion_updates", updates)
}

// TestCompanionEphemeral: on an ephemeral message the companion is edited
// through the press's response_url (replace_original), buttons and all.
func TestCompanionEphemeral(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	c := w.dmTalk("U1410", "lv")
	m := c.toAnswer("credit", "chat", "", "")
	posts := w.fake.Count("chat.postMessage")
	slots := map[string]string{"problem": "credit", "channel": "chat", "kind": "chat"}
	for _, st := range []struct{ choice, key string }{
		{"on_call", "companion.start.chat"},
		{"c_answered", "companion.answered.credit"},
	} {
		m.Ephemeral = true
		if got := c.pressOn(m, st.choice); len(got) != 0 {
			t.Fatalf("%s: %d new messages", st.choice, len(got))
		}
		m = c.message(m)
		c.want([]slacktest.Message{m}, slots, st.key)
		c.wantButtons(m, companionChoices...)
	}
	calls := w.fake.Calls("response_url")
	if len(calls) != 2 {
		t.Fatalf("%d response_url calls, want 2", len(calls))
	}
	for _, call := range calls {
		var body struct {
			ReplaceOriginal bool            `json:"replace_original"`
			Blocks          json.RawMessage `json:"blocks"`
		}
		json.Unmarshal(call.JSON, &body)
		if !body.ReplaceOriginal || !strings.Contains(string(body.Blocks), ".c_done") {
			t.Errorf("a response_url edit without its buttons: %s", call.JSON)
		}
	}
	if n := w.fake.Count("chat.postMessage") - posts; n != 0 {
		t.Errorf("%d messages posted", n)
	}
}

// TestDraftInEnglishForLatvian: a user with Slack in Latvian asks for the
// message in English: the question and what follows are in Latvian, the
// draft in English, in code blocks, the user's text escaped.
func TestDraftInEnglishForLatvian(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{})
	c := w.dmTalk("U1500", "lv")
	m := c.toAnswer("refund", "email", orderNo, detailsTyped)
	got := c.pressOn(m, "draft")
	c.want(got, nil, "draft.lang")
	c.wantButtons(got[0], "draft_en", "draft_lv")
	got = c.press("draft_en")
	slots := map[string]string{"problem": "refund", "channel": "email", "kind": "email", "order": orderNo,
		"details": detailsTyped, "draftlang": "en"}
	c.wantIn(got[:1], "en", slots, "draft.email.refund")
	c.want(got[1:], nil, "draft.next")
	c.wantButtons(got[1], "on_call", "save_case", "cant_help", "start_over")
	if strings.Count(got[0].Text, "```") < 4 || !strings.Contains(got[0].Text, "Refund request") {
		t.Errorf("the draft is not in English code blocks: %.200q", got[0].Text)
	}
	if !strings.Contains(got[0].Text, markup.SlackEscape(detailsTyped)) || strings.Contains(got[0].Text, detailsTyped) {
		t.Error("the user's text is not escaped in the draft")
	}
}

// TestEscalationLadder walks the ladder for every problem in both
// languages: each rung's text arrives with its buttons, the last one ends
// the ladder, and the pages the facts come from never reach the user.
func TestEscalationLadder(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	sources := packSources(t, w.pack)
	n := 0
	for _, lang := range []string{"en", "lv"} {
		for i, p := range problems {
			n++
			c := w.dmTalk("U16"+string(rune('A'+n)), lang)
			channel := channels[i%len(channels)]
			m := c.toAnswer(p, channel, "", "")
			slots := map[string]string{"problem": p, "channel": channel}
			// Half go down the ladder from "The agent can't help", half
			// from the feedback "This didn't work".
			got := c.pressOn(m, []string{"cant_help", "didnt"}[n%2])
			c.want(got, slots, "ladder.supervisor."+p, "ladder.next")
			c.wantButtons(got[1], rungChoices...)
			for _, rung := range []string{"written", "atoz", "chargeback"} {
				got = c.press("next_rung")
				c.want(got, slots, "ladder."+rung, "ladder.next")
				c.wantButtons(got[1], rungChoices...)
			}
			got = c.press("next_rung")
			c.want(got, slots, "ladder.consumer", "ladder.last")
			c.wantButtons(got[1], "worked", "didnt", "save_case", "remind", "start_over")
			for _, msg := range c.messages() {
				for _, src := range sources {
					if strings.Contains(msg.Text, src) || strings.Contains(msg.Text, markup.SlackEscape(src)) ||
						strings.Contains(string(msg.Blocks), markup.SlackEscape(src)) {
						t.Errorf("%s/%s: a message shows a source: %q", lang, p, src)
					}
				}
			}
		}
	}
}

// packSources lists every entry of sources.* in the pack's texts.
func packSources(t *testing.T, p *content.Pack) []string {
	t.Helper()
	fsys := content.ShippedFS()
	var out []string
	for _, lang := range p.Languages() {
		files, err := fs.Glob(fsys, path.Join(content.ShippedPack, lang, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Sources map[string][]string `yaml:"sources"`
			}
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, list := range doc.Sources {
				out = append(out, list...)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the pack lists no sources")
	}
	return out
}

// TestCaseNotebook saves a case answer by answer, then reads it back with
// /support cases and /support case 1 from a channel (answered in the DM),
// also after the adapter and the dispatcher restart on the same store.
func TestCaseNotebook(t *testing.T) {
	clk := newClock()
	w := newWorld(t, "socket", worldOpts{now: clk.Now})
	c := w.dmTalk("U1700", "en")
	m := c.toAnswer("return", "phone", orderNo, "")
	caseSlots := map[string]string{"problem": "return", "channel": "phone", "kind": "script", "order": orderNo,
		"agent": "Maria <Ops>", "casenum": "D-12345678", "promise": "A full refund & a label", "due": "2026-12-05"}

	got := c.pressOn(m, "save_case")
	c.want(got, nil, "ask.agent")
	c.wantButtons(got[0], "skip")
	c.want(c.say(caseSlots["agent"]), nil, "ask.casenum")
	c.want(c.say(caseSlots["casenum"]), nil, "ask.promise")
	c.want(c.say(caseSlots["promise"]), nil, "ask.due")
	saved := map[string]string{"caseno": "1"}
	for k, v := range caseSlots {
		saved[k] = v
	}
	got = c.say("5.12.2026")
	c.want(got, saved, "case.saved")
	c.wantButtons(got[0], "remind", "on_call", "cant_help", "start_over")

	check := func(w *world) {
		t.Helper()
		c := &talk{w: w, user: c.user, lang: c.lang, channel: c.channel}
		item := map[string]string{"id": "1", "closed": "", "details": ""}
		for _, f := range w.pack.Def.CaseFields {
			item[f] = caseSlots[f]
		}
		data := w.pack.Data(&flows.Session{})
		list, err := w.pack.Render("en", flows.KeyCasesList, w.pack.With(data, nil, []map[string]string{item}))
		if err != nil {
			t.Fatal(err)
		}
		got := c.command("cases")
		if len(got) == 0 || got[0].Text != renderMrkdwn(list) {
			t.Fatalf("/support cases: %.300q\nwant %.300q", texts(got), renderMrkdwn(list))
		}
		one, err := w.pack.Render("en", flows.KeyCaseSummary, w.pack.With(data, item, nil))
		if err != nil {
			t.Fatal(err)
		}
		got = c.command("case 1")
		if len(got) == 0 || got[0].Text != renderMrkdwn(one) {
			t.Fatalf("/support case 1: %.300q\nwant %.300q", texts(got), renderMrkdwn(one))
		}
		if !strings.Contains(got[0].Text, "```\nHello, I'm following up on case D-12345678") ||
			!strings.Contains(got[0].Text, "Maria &lt;Ops&gt;") {
			t.Errorf("the case is not ready to paste: %.300q", got[0].Text)
		}
		got = c.command("case 7")
		c.want(got[:1], nil, "case.unknown")
	}
	check(w)
	w.stop()
	w2 := newWorld(t, "socket", worldOpts{server: w.fake, store: w.store, now: clk.Now})
	check(w2)
}

// renderMrkdwn renders a text of the shipped pack (which has a notebook)
// as the adapter posts it.
func renderMrkdwn(s string) string {
	s = markup.Commands(s, append(slices.Clone(flows.Commands), flows.CaseCommands...), slackbot.SlashCommand)
	return strings.Join(markup.Split(markup.SlackMrkdwn{}, s, 3000), "\n\n")
}

// TestReminders: reminders set with the buttons need no time-zone
// question (Slack's profile has the zone), come when due in that zone,
// through the normal sender (a 429 waited out), once, in the user's DM,
// also when the conversation was a channel thread, with the "Did you get
// it?" buttons; after /support forget, nothing comes.
func TestReminders(t *testing.T) {
	clk := newClock() // 18:30 UTC: 20:30 in Riga
	w := newWorld(t, "http", worldOpts{now: clk.Now, remindEvery: 10 * time.Millisecond})
	w.fake.SetTZ("U1800", "Europe/Riga")
	c := w.threadTalk("U1800", "en")
	m := c.toAnswer("refund", "phone", orderNo, "")
	got := c.pressOn(m, "remind")
	c.want(got, nil, "remind.when")
	c.wantButtons(got[0], "r_tomorrow", "r_2days", "r_week", "r_promised")
	got = c.press("r_tomorrow")
	c.want(got, map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo,
		"when": "24h", "caseno": "1", "tz": "Europe/Riga"}, "remind.set")
	for _, msg := range c.messages() {
		if msg.Text == w.render("en", "ask.tz", nil) {
			t.Error("the time zone was asked; Slack's profile has it")
		}
	}
	dm := &talk{w: w, user: c.user, lang: "en", channel: slacktest.DMChannel(c.user)}
	inThread, inDM := len(c.messages()), len(dm.messages())

	// "Tomorrow" from 20:30 in Riga is too late in the day: 09:00 in Riga
	// the morning after (07:00 UTC), 36.5 h from now. Nothing a day later
	// (it would come in New York's zone or UTC); then it comes, once,
	// after a 429.
	clk.Add(24*time.Hour + time.Minute)
	time.Sleep(100 * time.Millisecond)
	if n := len(dm.messages()); n != inDM {
		t.Fatalf("the reminder came early: %.100q", dm.messages()[inDM].Text)
	}
	w.fake.RateLimit("chat.postMessage", 1, time.Second)
	clk.Add(12*time.Hour + 30*time.Minute)
	w.waitFor("the reminder", 10*time.Second, func() bool { return len(dm.messages()) >= inDM+2 })
	w.settle()
	time.Sleep(200 * time.Millisecond)
	got = dm.messages()[inDM:]
	due := map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo, "caseno": "1"}
	dm.want(got, due, "followup.refund", "followup.ask")
	dm.wantButtons(got[1], followupChoices...)
	if n := len(c.messages()); n != inThread {
		t.Errorf("%d reminder messages went to the thread", n-inThread)
	}
	w.obs.mu.Lock()
	waited := slices.Clone(w.obs.waited)
	w.obs.mu.Unlock()
	if !slices.Equal(waited, []time.Duration{time.Second}) {
		t.Errorf("waited %v, want the reminder's 429 once, for its Retry-After", waited)
	}
	got = dm.press("fu_yes")
	dm.want(got, due, "case.closed")

	// In a DM, with the zone of the profile (New York): "in 2 days" at
	// 07:01 UTC (02:01 there) is 09:00 New York time, 14:00 UTC.
	d := w.dmTalk("U1801", "en")
	m = d.toAnswer("credit", "email", "", "")
	d.pressOn(m, "remind")
	d.want(d.press("r_2days"), map[string]string{"problem": "credit", "channel": "email", "kind": "email",
		"when": "48h", "caseno": "1", "tz": "America/New_York"}, "remind.set")
	n := len(d.messages())
	clk.Add(48*time.Hour + 6*time.Hour)
	time.Sleep(100 * time.Millisecond)
	if len(d.messages()) != n {
		t.Fatal("the New York reminder came before 09:00 New York time")
	}
	clk.Add(time.Hour)
	w.waitFor("the DM reminder", 10*time.Second, func() bool { return len(d.messages()) >= n+2 })
	w.settle()
	d.want(d.messages()[n:], map[string]string{"problem": "credit", "channel": "email", "kind": "email", "caseno": "1"},
		"followup.credit", "followup.ask")

	// "Remind me again", then /support forget: it never comes.
	d.press("fu_again")
	d.press("r_week")
	d.command("forget")
	n = len(d.messages())
	clk.Add(300 * time.Hour)
	time.Sleep(200 * time.Millisecond)
	if got := d.messages(); len(got) != n {
		t.Errorf("a reminder came after /support forget: %.100q", got[n].Text)
	}
	for _, k := range w.store.Keys() {
		if strings.Contains(k, "U1801") {
			t.Errorf("/support forget left %s", k)
		}
	}
}

// goldenCalls pins Web API calls (their form, blocks decoded) in
// testdata/<name>.golden.json.
func goldenCalls(t *testing.T, name string, calls []slacktest.Call) {
	t.Helper()
	var out []map[string]any
	for _, c := range calls {
		m := map[string]any{"method": c.Method}
		for k, v := range c.Form {
			if k == "blocks" {
				var blocks any
				if err := json.Unmarshal([]byte(v[0]), &blocks); err != nil {
					t.Fatalf("%s: blocks: %v", name, err)
				}
				m[k] = blocks
				continue
			}
			m[k] = v[0]
		}
		out = append(out, m)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, p, buf.String())
	}
}
