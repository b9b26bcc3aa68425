package telegram_test

// The features of the v2 content pack through the adapter: the live-call
// companion (one message edited in place), drafts in another language, the
// escalation ladder, the case notebook and reminders.

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/telegram"
	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

var (
	companionChoices = []string{"c_answered", "c_details", "c_refuses", "c_supervisor", "c_agrees", "c_done"}
	rungChoices      = []string{"worked", "next_rung", "save_case", "remind", "start_over"}
	followupChoices  = []string{"fu_yes", "fu_not_yet", "fu_again"}
)

// data is template data with every slot of the flow, as the dispatcher
// renders: the user's own text marked as such.
func (e *env) data(slots map[string]string) content.Data {
	var s flows.Session
	for k, v := range slots {
		s.Slots = append(s.Slots, flows.Slot{Name: k, Value: v})
	}
	return e.pack.Data(&s)
}

// toAnswer walks a private chat from /start to the full answer for
// problem and channel, typing the order number and the details when they
// are given, and returns the answer's messages.
func (e *env) toAnswer(chat telegramtest.Chat, user telegramtest.User, lang, problem, channel, order, details string) []telegramtest.Message {
	e.t.Helper()
	e.say(chat, user, "/start")
	e.press(chat, user, problem)
	if problem != "service" {
		if order != "" {
			e.say(chat, user, order)
		} else {
			e.press(chat, user, "skip")
		}
	}
	if details != "" {
		e.say(chat, user, details)
	} else {
		e.press(chat, user, "skip")
	}
	got := e.press(chat, user, channel)
	slots := map[string]string{"problem": problem, "channel": channel, "order": order, "details": details}
	e.wantTexts(got, lang, e.data(slots), "answer."+problem+"."+channel+".steps", "ready."+problem,
		"answer."+problem+"."+channel+".say", "tip."+channel, "answer.next")
	e.wantButtons(got[4], lang, answerChoices...)
	return got
}

// pressData presses a button whose data is known (taken from an earlier
// keyboard), as a client showing an old keyboard would.
func (e *env) pressData(chat telegramtest.Chat, from telegramtest.User, msg int, data string) []telegramtest.Message {
	e.t.Helper()
	before := len(e.fake.BotMessages(chat.ID))
	id, _ := e.fake.PressAny(chat, from, msg, data)
	e.settle(id)
	return e.fake.BotMessages(chat.ID)[before:]
}

func buttonData(m telegramtest.Message, choice string) string {
	for _, b := range m.Buttons() {
		if strings.HasSuffix(b.Data, "."+choice) {
			return b.Data
		}
	}
	return ""
}

// TestCompanionEditsOneMessage: "I'm talking to them now" turns the
// answer's last message into the companion, and every tap after it edits
// that one message (editMessageText, text and buttons); "Done" collapses it
// with the choice shown and asks how it went in a new message. The edits'
// payloads are pinned in testdata/companion_edits.golden.
func TestCompanionEditsOneMessage(t *testing.T) {
	e := newEnv(t, envOpts{clock: newClock()})
	e.waitReady()
	user := telegramtest.User{ID: 1400, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	answer := e.toAnswer(chat, user, "en", "refund", "phone", orderNo, "")
	m := answer[4]
	slots := map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo}
	edits0 := len(e.fake.Calls("editMessageText"))
	sends0 := len(e.fake.Calls("sendMessage"))

	steps := []struct{ choice, key string }{
		{"on_call", "companion.start.script"},
		{"c_answered", "companion.answered.refund"},
		{"c_details", "companion.details.refund"},
		{"c_refuses", "companion.refuses.refund"},
		{"c_supervisor", "companion.supervisor"},
		{"c_agrees", "companion.agrees"},
	}
	var shown []telegramtest.Message // the message after each step
	for _, st := range steps {
		got := e.pressOn(chat, user, m.ID, buttonData(m, st.choice))
		if len(got) != 0 {
			t.Fatalf("%s: %d new messages, want the companion edited in place", st.choice, len(got))
		}
		m, _ = e.fake.Message(chat.ID, m.ID)
		e.wantTexts([]telegramtest.Message{m}, "en", e.data(slots), st.key)
		e.wantButtons(m, "en", companionChoices...)
		if live := e.liveKeyboards(chat.ID); len(live) != 1 || live[0] != m.ID {
			t.Fatalf("%s: live keyboards %v, want only the companion %d", st.choice, live, m.ID)
		}
		if !strings.Contains(m.Raw, "<pre>") {
			t.Errorf("%s: the line to say is not in a copy block: %q", st.choice, short(m.Raw))
		}
		shown = append(shown, m)
	}
	if n := len(e.fake.Calls("sendMessage")) - sends0; n != 0 {
		t.Errorf("%d messages sent during the companion, want none", n)
	}
	edits := e.fake.Calls("editMessageText")[edits0:]
	if len(edits) != len(steps) {
		t.Fatalf("%d editMessageText calls for %d taps", len(edits), len(steps))
	}
	for _, c := range edits {
		if c.Params.Get("message_id") != fmt.Sprint(m.ID) || c.Status != 200 {
			t.Errorf("an edit of message %s (status %d), want %d", c.Params.Get("message_id"), c.Status, m.ID)
		}
	}

	// Stale taps: a button of the keyboard as it was two edits ago, and
	// the same button twice (a double tap). Each gets the "that button
	// belongs to an earlier step" note; the companion keeps showing the
	// current step with live buttons, and nothing else changes.
	for _, data := range []string{buttonData(shown[3], "c_refuses"), buttonData(shown[4], "c_agrees")} {
		got := e.pressData(chat, user, m.ID, data)
		e.wantTexts(got, "en", nil, "note.stale")
		now, _ := e.fake.Message(chat.ID, m.ID)
		if now.Text != m.Text || !slices.Equal(now.Buttons(), m.Buttons()) {
			t.Fatalf("a stale tap changed the companion: %q %+v", short(now.Text), now.Buttons())
		}
		if live := e.liveKeyboards(chat.ID); len(live) != 1 || live[0] != m.ID {
			t.Fatalf("after a stale tap, live keyboards %v, want only the companion", live)
		}
	}

	// Done: the companion keeps its text, shows the choice, loses its
	// buttons; "How did it go?" comes as a new message.
	got := e.pressOn(chat, user, m.ID, buttonData(m, "c_done"))
	e.wantTexts(got, "en", nil, "after_call")
	e.wantButtons(got[0], "en", "save_case", "remind", "cant_help", "worked", "didnt", "start_over")
	done, _ := e.fake.Message(chat.ID, m.ID)
	e.wantTexts([]telegramtest.Message{done}, "en", e.data(slots), "companion.agrees✓c_done")
	if len(done.Keyboard) != 0 {
		t.Error("the finished companion kept its buttons")
	}
	// A tap on the finished companion (an old client): a note and the
	// current question again; the companion stays as it is.
	got = e.pressData(chat, user, m.ID, buttonData(shown[5], "c_agrees"))
	e.wantTexts(got, "en", nil, "note.stale", "after_call")
	if again, _ := e.fake.Message(chat.ID, m.ID); again.Text != done.Text || len(again.Keyboard) != 0 {
		t.Errorf("a tap on the finished companion changed it: %q", short(again.Text))
	}

	var pinned []telegramtest.Call
	for _, c := range e.fake.Calls("editMessageText")[edits0:] {
		if c.Params.Get("message_id") == fmt.Sprint(m.ID) {
			pinned = append(pinned, c)
		}
	}
	// The six steps, the companion restored after each of the two stale
	// notes removed its buttons, and the collapse.
	if len(pinned) != 9 {
		t.Fatalf("%d edits of the companion, want 9", len(pinned))
	}
	golden(t, "companion_edits.golden", payloads(t, append(pinned[:6:6], pinned[8])))
	e.noRefusals()
}

// TestCompanionEditIsRetriedOnce: a 429 on an edit is waited out for its
// retry_after, and the edit arrives once.
func TestCompanionEditIsRetriedOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 1410, FirstName: "Alice", LanguageCode: "lv"}
	chat := telegramtest.Private(user)
	m := e.toAnswer(chat, user, "lv", "credit", "chat", "", "")[4]
	e.fake.Inject("editMessageText", telegramtest.Fault{Code: 429, RetryAfter: 1, Chat: chat.ID})
	t0 := time.Now()
	if got := e.pressOn(chat, user, m.ID, buttonData(m, "on_call")); len(got) != 0 {
		t.Fatalf("%d new messages", len(got))
	}
	if d := time.Since(t0); d < time.Second {
		t.Errorf("the edit went through after %v, before retry_after", d)
	}
	m, _ = e.fake.Message(chat.ID, m.ID)
	e.wantTexts([]telegramtest.Message{m}, "lv", e.data(map[string]string{"problem": "credit", "channel": "chat", "kind": "chat"}), "companion.start.chat")
	if m.Edits != 1 {
		t.Errorf("the companion was edited %d times, want once", m.Edits)
	}
	e.noRefusals()
}

// TestEditsArePaced: edits count against the chat's pace like messages.
func TestEditsArePaced(t *testing.T) {
	e := newEnv(t, envOpts{chatRate: 10})
	e.waitReady()
	user := telegramtest.User{ID: 1420, FirstName: "Alice"}
	chat := telegramtest.Private(user)
	got := e.say(chat, user, "/start")
	ref := fmt.Sprintf("%d:%d", chat.ID, got[1].ID)
	t0 := time.Now()
	for i := range 12 {
		r := bot.Reply{Platform: telegram.Platform, Conv: "tg:1420:1420", Route: "1420", Edit: ref,
			Text: fmt.Sprintf("step %d", i)}
		if err := e.tg.Send(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	// The /start turn took 2 of the burst of 10; 12 edits at 10/s need
	// about 0.4 s more.
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("12 edits took %v: not paced", d)
	}
	e.noRefusals()
}

// TestDraftInEnglishForLatvian: a Latvian user asks for the message in
// English: the question and what follows are in Latvian, the draft in
// English, in copy blocks (<pre>), the user's text escaped inside them.
func TestDraftInEnglishForLatvian(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 1500, FirstName: "Bērziņa", LanguageCode: "lv"}
	chat := telegramtest.Private(user)
	m := e.toAnswer(chat, user, "lv", "refund", "email", orderNo, details)[4]
	got := e.pressOn(chat, user, m.ID, buttonData(m, "draft"))
	e.wantTexts(got, "lv", nil, "draft.lang")
	e.wantButtons(got[0], "lv", "draft_en", "draft_lv")

	got = e.press(chat, user, "draft_en")
	slots := map[string]string{"problem": "refund", "channel": "email", "kind": "email", "order": orderNo,
		"details": details, "draftlang": "en"}
	e.wantTexts(got[:1], "en", e.data(slots), "draft.email.refund")
	e.wantTexts(got[1:], "lv", nil, "draft.next")
	e.wantButtons(got[1], "lv", "on_call", "save_case", "cant_help", "start_over")
	raw := got[0].Raw
	if strings.Count(raw, "<pre>") < 2 || !strings.Contains(raw, "Refund request") {
		t.Errorf("the draft is not in English copy blocks: %q", short(raw))
	}
	if !strings.Contains(raw, "&lt;crushed&gt;") || strings.Contains(raw, "<crushed>") {
		t.Errorf("the user's text is not escaped in the draft")
	}
	// The question was collapsed with the Latvian label of the choice.
	if q, _ := e.fake.Message(chat.ID, got[0].ID-1); !strings.HasSuffix(q.Text, "✓ "+e.label("lv", "draft_en")) {
		t.Errorf("the language question shows %q", q.Text)
	}
	e.noRefusals()
}

// TestEscalationLadder walks the ladder for every problem in both
// languages: each rung's text arrives with its buttons, the last one ends
// the ladder, and the pages the facts come from (sources.*) never reach
// the user.
func TestEscalationLadder(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	sources := packSources(t, e.pack)
	t.Run("walks", func(t *testing.T) {
		n := 0
		for _, lang := range []string{"en", "lv"} {
			for i, p := range problems {
				n++
				user := telegramtest.User{ID: int64(1600 + n), FirstName: "Alice", LanguageCode: lang}
				// Half go down the ladder from "The agent can't help", half
				// from the feedback "This didn't work".
				start := []string{"cant_help", "didnt"}[n%2]
				channel := channels[i%len(channels)]
				t.Run(lang+"/"+p, func(t *testing.T) {
					t.Parallel()
					e := e.with(t)
					chat := telegramtest.Private(user)
					m := e.toAnswer(chat, user, lang, p, channel, "", "")[4]
					slots := map[string]string{"problem": p, "channel": channel}
					got := e.pressOn(chat, user, m.ID, buttonData(m, start))
					e.wantTexts(got, lang, e.data(slots), "ladder.supervisor."+p, "ladder.next")
					e.wantButtons(got[1], lang, rungChoices...)
					for _, rung := range []string{"written", "atoz", "chargeback"} {
						got = e.press(chat, user, "next_rung")
						e.wantTexts(got, lang, e.data(slots), "ladder."+rung, "ladder.next")
						e.wantButtons(got[1], lang, rungChoices...)
					}
					got = e.press(chat, user, "next_rung")
					e.wantTexts(got, lang, e.data(slots), "ladder.consumer", "ladder.last")
					e.wantButtons(got[1], lang, "worked", "didnt", "save_case", "remind", "start_over")
					for _, msg := range e.fake.BotMessages(chat.ID) {
						for _, src := range sources {
							if strings.Contains(msg.Raw, src) {
								t.Errorf("message %d shows a source: %q", msg.ID, src)
							}
						}
					}
				})
			}
		}
	})
	e.noRefusals()
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

// caseSlots are the notebook's fields of the case the notebook test saves.
var caseSlots = map[string]string{"problem": "return", "channel": "phone", "kind": "script", "order": orderNo,
	"agent": "Maria <Ops>", "casenum": "D-12345678", "promise": "A full refund & a label", "due": "2026-12-05"}

// TestCaseNotebook saves a case answer by answer, then reads it back with
// /cases and /case 1, also after the adapter and the dispatcher restart on
// the same store; the same order number later offers to carry on with it.
func TestCaseNotebook(t *testing.T) {
	clk := newClock()
	e := newEnv(t, envOpts{clock: clk})
	e.waitReady()
	user := telegramtest.User{ID: 1700, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	m := e.toAnswer(chat, user, "en", "return", "phone", orderNo, "")[4]

	got := e.pressOn(chat, user, m.ID, buttonData(m, "save_case"))
	e.wantTexts(got, "en", nil, "ask.agent")
	e.wantButtons(got[0], "en", "skip")
	e.wantTexts(e.say(chat, user, caseSlots["agent"]), "en", nil, "ask.casenum")
	e.wantTexts(e.say(chat, user, caseSlots["casenum"]), "en", nil, "ask.promise")
	e.wantTexts(e.say(chat, user, caseSlots["promise"]), "en", nil, "ask.due")
	e.wantTexts(e.say(chat, user, "not a date"), "en", nil, "invalid.due", "ask.due")
	saved := map[string]string{"caseno": "1"}
	for k, v := range caseSlots {
		saved[k] = v
	}
	got = e.say(chat, user, "5.12.2026")
	e.wantTexts(got, "en", e.data(saved), "case.saved")
	e.wantButtons(got[0], "en", "remind", "on_call", "cant_help", "start_over")
	if !strings.Contains(got[0].Text, "Maria <Ops>") {
		t.Errorf("the saved case does not show the agent as typed: %q", got[0].Text)
	}

	check := func(e *env) {
		t.Helper()
		item := map[string]string{"id": "1", "closed": ""}
		for _, f := range e.pack.Def.CaseFields {
			item[f] = caseSlots[f]
		}
		item["details"] = ""
		got := e.say(chat, user, "/cases")
		list := e.pack.With(e.data(saved), nil, []map[string]string{item})
		e.wantTexts(got[:1], "en", list, "cases.list")
		got = e.say(chat, user, "/case 1")
		one := e.pack.With(e.data(saved), item, nil)
		e.wantTexts(got[:1], "en", one, "case.summary")
		if !strings.Contains(got[0].Raw, "<pre>") || !strings.Contains(got[0].Text, "I'm following up on case D-12345678") {
			t.Errorf("the case is not ready to paste: %q", short(got[0].Raw))
		}
		e.wantTexts(e.say(chat, user, "/case 7")[:1], "en", nil, "case.unknown")
	}
	check(e)

	// A restart: a new adapter and dispatcher on the same store.
	e.stop()
	e2 := newEnv(t, envOpts{fake: e.fake, store: e.store, clock: clk})
	e2.waitReady()
	check(e2)
	// The same order number again: carry on with the saved case.
	e2.say(chat, user, "/reset")
	e2.press(chat, user, "return")
	got = e2.say(chat, user, orderNo)
	e2.wantTexts(got, "en", e2.data(saved), "case.found", "case.found_next")
	e2.wantButtons(got[1], "en", "continue_case", "new_case")
	got = e2.press(chat, user, "continue_case")
	e2.wantTexts(got[:1], "en", e2.data(saved), "case.resume")
	e2.noRefusals("query is too old", "terminated by other getUpdates")
}

// TestReminders: a reminder set with the buttons asks for the time zone
// the first time only, comes when due (and not before) through the normal
// sender (a 429 waited out), once, in the private chat, with the "Did you
// get it?" buttons; a reminder from a group comes in the private chat too;
// after /forget, nothing comes.
func TestReminders(t *testing.T) {
	clk := newClock()
	clk.Add(8*time.Hour + 30*time.Minute) // 18:30 UTC: 20:30 in Riga
	e := newEnv(t, envOpts{clock: clk, remindEvery: 10 * time.Millisecond})
	e.waitReady()
	user := telegramtest.User{ID: 1800, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	m := e.toAnswer(chat, user, "en", "refund", "phone", orderNo, "")[4]

	got := e.pressOn(chat, user, m.ID, buttonData(m, "remind"))
	e.wantTexts(got, "en", nil, "remind.when")
	e.wantButtons(got[0], "en", "r_tomorrow", "r_2days", "r_week", "r_promised")
	got = e.press(chat, user, "r_tomorrow")
	e.wantTexts(got, "en", nil, "ask.tz")
	e.wantButtons(got[0], "en", "tz_riga", "tz_london", "tz_berlin", "tz_new_york", "tz_los_angeles", "tz_utc")
	got = e.press(chat, user, "tz_riga")
	first := map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo,
		"when": "24h", "caseno": "1", "tz": "Europe/Riga"}
	e.wantTexts(got, "en", e.data(first), "remind.set")

	// A second case: the time zone is known now.
	e.press(chat, user, "start_over")
	m = e.toAnswerFromProblem(chat, user, "en", "return", "chat")
	e.pressOn(chat, user, m.ID, buttonData(m, "remind"))
	got = e.press(chat, user, "r_week")
	e.wantTexts(got, "en", e.data(map[string]string{"problem": "return", "channel": "chat", "kind": "chat", "when": "168h", "caseno": "2"}), "remind.set")
	asked := 0
	for _, msg := range e.fake.BotMessages(chat.ID) {
		if strings.HasPrefix(msg.Text, e.visible("en", "ask.tz", nil)) {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("the time zone was asked %d times, want once", asked)
	}

	// "Tomorrow" from 20:30 in Riga is 20:30 tomorrow, too late: the
	// morning after, 09:00 in Riga (07:00 UTC), 36.5 h from now. Nothing
	// comes a day later (it would, in UTC); then it comes once, after a 429.
	n := len(e.fake.BotMessages(chat.ID))
	clk.Add(24*time.Hour + time.Minute)
	time.Sleep(100 * time.Millisecond)
	if got := e.fake.BotMessages(chat.ID); len(got) != n {
		t.Fatalf("a reminder came early: %q", got[n].Text)
	}
	e.fake.Inject("sendMessage", telegramtest.Fault{Code: 429, RetryAfter: 1, Chat: chat.ID})
	clk.Add(12*time.Hour + 30*time.Minute)
	if !e.fake.WaitFor(10*time.Second, func() bool { return len(e.fake.BotMessages(chat.ID)) >= n+2 && e.quiet() }) {
		t.Fatalf("the reminder did not come: %d messages", len(e.fake.BotMessages(chat.ID))-n)
	}
	time.Sleep(200 * time.Millisecond)
	got = e.fake.BotMessages(chat.ID)[n:]
	due := map[string]string{"problem": "refund", "channel": "phone", "kind": "script", "order": orderNo, "caseno": "1"}
	e.wantTexts(got, "en", e.data(due), "followup.refund", "followup.ask")
	e.wantButtons(got[1], "en", followupChoices...)
	if e.fake.Faults() != 0 {
		t.Error("the reminder's 429 was never hit")
	}
	sends := e.fake.Calls("sendMessage")
	for i, c := range sends {
		if c.Status == 429 {
			if d := sends[i+1].At.Sub(c.At); sends[i+1].Params.Get("chat_id") != c.Params.Get("chat_id") || d < time.Second {
				t.Errorf("the reminder was sent again after %v, before retry_after", d)
			}
		}
	}
	// Answered: the case is closed.
	got = e.press(chat, user, "fu_yes")
	e.wantTexts(got, "en", e.data(due), "case.closed")

	// A reminder set in a group comes in the person's private chat.
	group := telegramtest.Chat{ID: -100900, Type: "supergroup", Title: "Shoppers"}
	bob := telegramtest.User{ID: 1801, FirstName: "Bob", LanguageCode: "en"}
	e.say(telegramtest.Private(bob), bob, "/help") // he has talked to the bot
	privBefore := len(e.fake.BotMessages(bob.ID))
	got = e.say(group, bob, "/start@"+telegramtest.BotUsername+" credit email")
	e.wantTexts(got[len(got)-1:], "en", nil, "answer.next")
	e.pressOn(group, bob, got[len(got)-1].ID, buttonData(got[len(got)-1], "remind"))
	e.press(group, bob, "r_2days")
	e.press(group, bob, "tz_utc")
	groupBefore := len(e.fake.BotMessages(group.ID))
	clk.Add(51 * time.Hour) // two days from 07:01 UTC: 09:00 UTC
	if !e.fake.WaitFor(10*time.Second, func() bool { return len(e.fake.BotMessages(bob.ID)) >= privBefore+2 && e.quiet() }) {
		t.Fatal("the group's reminder did not come to the private chat")
	}
	got = e.fake.BotMessages(bob.ID)[privBefore:]
	e.wantTexts(got, "en", e.data(map[string]string{"problem": "credit", "channel": "email", "kind": "email", "caseno": "1"}),
		"followup.credit", "followup.ask")
	if n := len(e.fake.BotMessages(group.ID)); n != groupBefore {
		t.Errorf("%d reminder messages went to the group", n-groupBefore)
	}

	// Alice's second reminder is pending; /forget deletes it.
	e.wantTexts(e.say(chat, user, "/forget"), "en", nil, "forget.done")
	n = len(e.fake.BotMessages(chat.ID))
	clk.Add(200 * time.Hour)
	time.Sleep(200 * time.Millisecond)
	if got := e.fake.BotMessages(chat.ID); len(got) != n {
		t.Errorf("a reminder came after /forget: %q", got[n].Text)
	}
	for _, k := range e.store.Keys() {
		if strings.Contains(k, "tg:1800") {
			t.Errorf("/forget left %s", k)
		}
	}
	e.noRefusals()
}

// toAnswerFromProblem goes from the problem question (already shown) to
// the answer, skipping the optional questions.
func (e *env) toAnswerFromProblem(chat telegramtest.Chat, user telegramtest.User, lang, problem, channel string) telegramtest.Message {
	e.t.Helper()
	e.press(chat, user, problem)
	if problem != "service" {
		e.press(chat, user, "skip")
	}
	e.press(chat, user, "skip")
	got := e.press(chat, user, channel)
	e.wantButtons(got[len(got)-1], lang, answerChoices...)
	return got[len(got)-1]
}
