package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/flows"
)

// user plays the front end: it keeps the user's cases and time zone
// between turns, as bot.Dispatcher does.
type user struct {
	t     *testing.T
	e     *flows.Engine
	s     flows.Session
	last  flows.Result
	cases []flows.Case
	tz    string
	lang  string
	now   time.Time
}

func newUser(t *testing.T, lang string) *user {
	return &user{t: t, e: loadTestPack(t).Engine, lang: lang, now: now}
}

func (u *user) do(in flows.Input) flows.Result {
	u.t.Helper()
	in.Lang, in.TZ, in.Cases = u.lang, u.tz, u.cases
	u.now = u.now.Add(time.Minute)
	in.Now = u.now
	if in.Kind == flows.InButton && strings.HasPrefix(in.Text, pressPrefix) {
		in.Text = buttonData(u.t, u.last, strings.TrimPrefix(in.Text, pressPrefix))
	}
	res := u.e.Handle(u.s, in)
	if res.SaveCase != nil {
		saved := false
		for i := range u.cases {
			if u.cases[i].ID == res.SaveCase.ID {
				u.cases[i], saved = *res.SaveCase, true
			}
		}
		if !saved {
			u.cases = append(u.cases, *res.SaveCase)
		}
	}
	if res.SetTZ != "" {
		u.tz = res.SetTZ
	}
	u.s, u.last = res.Session, res
	return res
}

func (u *user) walk(inputs ...flows.Input) flows.Result {
	u.t.Helper()
	var r flows.Result
	for _, in := range inputs {
		r = u.do(in)
	}
	return r
}

func TestDraftInAnotherLanguage(t *testing.T) {
	u := newUser(t, "de")
	u.walk(text("rechnung"), text("1234 5678"), text("e-mail"), press("buttons.draft"))
	if u.s.State != "draft_lang" {
		t.Fatalf("state %q", u.s.State)
	}
	r := u.do(press("buttons.draft_en"))
	if got := outputKeys(r); strings.Join(got, ",") != "draft.bill,draft.next" {
		t.Fatalf("keys %v", got)
	}
	if r.Lang != "de" || r.Outputs[0].Lang != "en" || r.Outputs[1].Lang != "" {
		t.Fatalf("languages: turn %q, draft %q, prompt %q", r.Lang, r.Outputs[0].Lang, r.Outputs[1].Lang)
	}
}

func TestCompanionEditsOneMessage(t *testing.T) {
	u := newUser(t, "en")
	u.walk(text("bill"), text("skip"), text("phone"))
	r := u.do(press("buttons.on_call"))
	if len(r.Outputs) != 1 || !r.Outputs[0].Edit || r.Outputs[0].Key != "companion.start" {
		t.Fatalf("companion: %+v", r.Outputs)
	}
	oldRefuse := buttonData(t, r, "buttons.c_refuses")
	r = u.do(press("buttons.c_refuses"))
	if !r.Outputs[0].Edit || r.Outputs[0].Key != "companion.refuses" || u.s.State != "companion_refuses" {
		t.Fatalf("refuses: %+v", r)
	}
	r = u.do(press("buttons.c_agrees"))
	if r.Outputs[0].Key != "companion.agrees" {
		t.Fatalf("agrees: %+v", r.Outputs)
	}
	// A tap on the companion as it was two edits ago does nothing harmful.
	r = u.do(flows.Input{Kind: flows.InButton, Text: oldRefuse})
	if r.Outcome != flows.Stale || u.s.State != "companion_agrees" {
		t.Fatalf("stale tap: %+v", r)
	}
	// Typed, there is no message to edit: a new one is sent.
	r = u.do(text("they refuse"))
	if r.Outputs[0].Edit {
		t.Fatal("a typed answer cannot edit a message")
	}
}

func TestCaseNotebook(t *testing.T) {
	u := newUser(t, "en")
	u.walk(text("bill"), text("1111 2222"), text("phone"))
	r := u.do(press("buttons.save"))
	if r.SaveCase == nil || r.SaveCase.ID != 1 || r.SaveCase.Fields["account"] != "11112222" || r.SaveCase.Fields["topic"] != "bill" {
		t.Fatalf("the case is saved when the notebook opens: %+v", r.SaveCase)
	}
	// Each answer is saved as soon as it is given.
	r = u.do(text("Maria"))
	if r.SaveCase == nil || r.SaveCase.Fields["agent"] != "Maria" || u.s.State != "case_due" {
		t.Fatalf("agent: %+v", r.SaveCase)
	}
	r = u.do(text("next friday"))
	if r.Outcome != flows.Invalid || outputKeys(r)[0] != "invalid.due" {
		t.Fatalf("a due date must be a date: %+v", r)
	}
	r = u.do(text("5.12."))
	if r.SaveCase == nil || r.SaveCase.Fields["due"] != "2026-12-05" {
		t.Fatalf("due: %+v", r.SaveCase)
	}
	if u.s.State != "case_saved" || len(u.cases) != 1 {
		t.Fatalf("state %q, cases %v", u.s.State, u.cases)
	}

	// /cases and /case N.
	r = u.do(cmd("cases", ""))
	if r.Outputs[0].Key != "cases.list" || len(r.Outputs[0].Items) != 1 || r.Outputs[0].Items[0]["agent"] != "Maria" {
		t.Fatalf("/cases: %+v", r.Outputs)
	}
	r = u.do(cmd("case", "1"))
	if r.Outputs[0].Key != "case.summary" || r.Outputs[0].Data["due"] != "2026-12-05" || r.Outputs[0].Data["id"] != "1" {
		t.Fatalf("/case 1: %+v", r.Outputs)
	}
	if r := u.do(cmd("case", "9")); r.Outputs[0].Key != "case.unknown" {
		t.Fatalf("/case 9: %+v", r.Outputs)
	}

	// A new conversation about the same account offers to continue.
	u.do(cmd("reset", ""))
	r = u.walk(text("outage"), text("11112222"))
	// What the user just chose stays; what they told us before comes back.
	if u.s.State != "resume" || u.s.Get("caseno") != "1" || u.s.Get("agent") != "Maria" || u.s.Get("topic") != "outage" || u.s.Get("due") != "2026-12-05" {
		t.Fatalf("resume: state %q slots %v", u.s.State, u.s.Slots)
	}
	// A different account starts a second case.
	u.do(cmd("reset", ""))
	u.walk(text("outage"), text("3333 4444"), text("email"), press("buttons.save"))
	if len(u.cases) != 2 || u.cases[1].ID != 2 {
		t.Fatalf("second case: %+v", u.cases)
	}
}

func TestRemindersAndFollowUp(t *testing.T) {
	u := newUser(t, "en")
	u.walk(text("bill"), text("1111 2222"), text("phone"), press("buttons.remind"))
	// No time zone yet: asked once.
	r := u.do(press("buttons.r_tomorrow"))
	if u.s.State != "timezone" {
		t.Fatalf("time zone not asked: %q", u.s.State)
	}
	r = u.do(press("buttons.tz_berlin"))
	if r.SetTZ != "Europe/Berlin" || r.Remind == nil || r.Remind.In != 24*time.Hour || r.Remind.Case != 1 || r.SaveCase == nil {
		t.Fatalf("remind: %+v %+v", r.Remind, r.SaveCase)
	}
	// Known time zone: not asked again; the promised date is used.
	u.do(cmd("reset", ""))
	u.walk(text("outage"), text("5555 6666"), text("phone"), press("buttons.save"), text("skip"), text("2026-12-24"), press("buttons.remind"))
	r = u.do(press("buttons.r_promised"))
	if u.s.State != "remind_set" || r.Remind == nil || r.Remind.Date != "2026-12-24" || r.Remind.Case != 2 {
		t.Fatalf("promised: state %q %+v", u.s.State, r.Remind)
	}
	// A promised date already past: tomorrow, and the reply says why
	// instead of naming the past day as the reminder's.
	u.do(cmd("reset", ""))
	u.walk(text("outage"), text("7777 8888"), text("phone"), press("buttons.save"), text("skip"), text("2026-11-20"), press("buttons.remind"))
	r = u.do(press("buttons.r_promised"))
	if r.Remind == nil || r.Remind.Date != "" || r.Remind.In != 24*time.Hour || u.s.Get("when") != flows.Overdue {
		t.Fatalf("overdue: when %q %+v", u.s.Get("when"), r.Remind)
	}
	// Today's date is still a promise that can be kept.
	u.do(cmd("reset", ""))
	u.walk(text("outage"), text("9999 0000"), text("phone"), press("buttons.save"), text("skip"), text(now.Format(time.DateOnly)), press("buttons.remind"))
	if r = u.do(press("buttons.r_promised")); r.Remind == nil || r.Remind.Date != now.Format(time.DateOnly) || u.s.Get("when") != "promised" {
		t.Fatalf("due today: when %q %+v", u.s.Get("when"), r.Remind)
	}

	// "Already passed" is on the user's calendar, not UTC's: just after
	// midnight in Riga yesterday has passed; in New York on the evening
	// of the same UTC moment it is still today.
	for _, tc := range []struct {
		tz   string
		now  time.Time
		want string
	}{
		{"Europe/Riga", time.Date(2026, 11, 25, 22, 30, 0, 0, time.UTC), flows.Overdue},
		{"America/New_York", time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC), "promised"},
	} {
		v := newUser(t, "en")
		v.tz, v.now = tc.tz, tc.now
		v.walk(text("outage"), text("5555 6666"), text("phone"), press("buttons.save"), text("skip"), text("2026-11-25"), press("buttons.remind"))
		v.do(press("buttons.r_promised"))
		if got := v.s.Get("when"); v.s.State != "remind_set" || got != tc.want {
			t.Errorf("%s: state %s, when %q, want %q", tc.tz, v.s.State, got, tc.want)
		}
	}

	// The reminder fires, even into an expired conversation: the case is
	// loaded and the user is asked how it went.
	u.s = flows.Session{}
	r = u.do(flows.Input{Kind: flows.InReminder, Case: 1})
	if u.s.State != "followup" || outputKeys(r)[0] != "followup.bill" || u.s.Get("account") != "11112222" {
		t.Fatalf("followup: %q %v", u.s.State, outputKeys(r))
	}
	r = u.do(press("buttons.fu_yes"))
	if r.SaveCase == nil || !r.SaveCase.Closed || r.SaveCase.ID != 1 {
		t.Fatalf("close: %+v", r.SaveCase)
	}
	// A reminder for a closed or unknown case says nothing.
	if r := u.do(flows.Input{Kind: flows.InReminder, Case: 1}); len(r.Outputs) != 0 {
		t.Fatalf("closed case reminder: %+v", r.Outputs)
	}
	if r := u.do(flows.Input{Kind: flows.InReminder, Case: 42}); len(r.Outputs) != 0 {
		t.Fatalf("unknown case reminder: %+v", r.Outputs)
	}
	// "Not yet" goes on to the next rung.
	u.do(flows.Input{Kind: flows.InReminder, Case: 2})
	if r := u.do(press("buttons.fu_no")); u.s.State != "ladder" || outputKeys(r)[0] != "ladder.outage" {
		t.Fatalf("not yet: %q %v", u.s.State, outputKeys(r))
	}
}

func TestFeedback(t *testing.T) {
	u := newUser(t, "en")
	u.walk(text("bill"), text("skip"), text("email"))
	r := u.do(press("buttons.worked"))
	if r.Feedback == nil || r.Feedback.Key != "answer.bill.email" || r.Feedback.Verdict != flows.Worked {
		t.Fatalf("feedback: %+v", r.Feedback)
	}
	u.walk(press("buttons.start_over"), text("outage"), text("skip"), text("phone"))
	r = u.do(press("buttons.didnt"))
	if r.Feedback == nil || r.Feedback.Key != "answer.outage.phone" || r.Feedback.Verdict != flows.Didnt || u.s.State != "ladder" {
		t.Fatalf("didn't: %+v", r.Feedback)
	}
}

func TestDates(t *testing.T) {
	v := &flows.Validator{Date: true}
	for in, want := range map[string]string{
		"2026-12-05": "2026-12-05", "5.12.2026": "2026-12-05", "5.12.": "2026-12-05", "5/12": "2026-12-05",
		"05.12": "2026-12-05", "1.1.": "2027-01-01", "25.11.": "2026-11-25", "20.11.": "2026-11-20", "1.9.": "2027-09-01",
		"31.2.": "", "friday": "", "2026-13-01": "", "5.12.1999": "",
	} {
		got, ok := v.Check(in, now)
		if (want == "") == ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
}
