package flows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

var (
	problems = []string{"return", "refund", "credit", "service", "unsure"}
	channels = []string{"phone", "callback", "email", "chat"}
)

func shipped(t testing.TB) *content.Pack {
	t.Helper()
	p, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAmazonAllPairs walks every problem × channel conversation in both
// languages, by buttons, with and without the optional answers, and checks
// the answer: its steps, checklist, phrasing and tip, then the follow-ups.
func TestAmazonAllPairs(t *testing.T) {
	p := shipped(t)
	for _, lang := range []string{"en", "lv"} {
		for _, prob := range problems {
			for _, ch := range channels {
				for _, details := range []bool{true, false} {
					name := fmt.Sprintf("%s/%s/%s/details=%v", lang, prob, ch, details)
					t.Run(name, func(t *testing.T) {
						steps := []step{{in: cmd("start", ""), state: "problem", keys: []string{"greeting", "ask.problem"}}}
						steps = append(steps, step{in: press("buttons." + prob)})
						if prob != "service" {
							steps[1].state = "order"
							if details {
								steps = append(steps, step{in: text("123 1234567 7654321"), state: "details", keys: []string{"ask.details." + prob}})
							} else {
								steps = append(steps, step{in: press("buttons.skip"), state: "details"})
							}
						} else {
							steps[1].state = "details"
						}
						if details {
							steps = append(steps, step{in: text("It arrived <b>broken</b> & *late*"), state: "channel", keys: []string{"ask.channel"}})
						} else {
							steps = append(steps, step{in: press("buttons.skip"), state: "channel"})
						}
						steps = append(steps, step{in: press("buttons." + ch), state: "answer", keys: []string{
							"answer." + prob + "." + ch + ".steps", "ready." + prob, "answer." + prob + "." + ch + ".say", "tip." + ch, "answer.next"}})
						steps = append(steps, step{in: press("buttons.cant_help"), state: "ladder_supervisor", keys: []string{"ladder.supervisor." + prob, "ladder.next"}})
						steps = append(steps, step{in: press("buttons.worked"), state: "worked_end", keys: []string{"worked"}})
						steps = append(steps, step{in: press("buttons.start_over"), state: "problem", keys: []string{"ask.problem"}})
						s := converseRendered(t, p, lang, steps[:len(steps)-3], func(key, out string) {
							if !strings.HasSuffix(key, ".say") {
								return
							}
							// The phrasing is filled in with what the user told us,
							// escaped as user text.
							if details && prob != "service" && !strings.Contains(out, markup.Literal("123-1234567-7654321")) {
								t.Errorf("%s does not quote the order number:\n%s", key, out)
							}
							if details && !strings.Contains(out, markup.Literal("It arrived <b>broken</b> & *late*")) {
								t.Errorf("%s does not quote the details:\n%s", key, out)
							}
						})
						if got := s.Get("problem") + "/" + s.Get("channel"); got != prob+"/"+ch {
							t.Fatalf("slots %s", got)
						}
						converse(t, p.Engine, lang, steps)
					})
				}
			}
		}
	}
}

// converseRendered is converse that also renders every output in lang and
// hands it to check.
func converseRendered(t *testing.T, p *content.Pack, lang string, steps []step, check func(key, out string)) flows.Session {
	t.Helper()
	var s flows.Session
	var last flows.Result
	for i, st := range steps {
		in := st.in
		in.Lang = lang
		in.Now = now
		if in.Kind == flows.InButton && strings.HasPrefix(in.Text, pressPrefix) {
			in.Text = buttonData(t, last, strings.TrimPrefix(in.Text, pressPrefix))
		}
		res := p.Engine.Handle(s, in)
		if st.state != "" && res.Session.State != st.state {
			t.Fatalf("step %d: state %q, want %q", i, res.Session.State, st.state)
		}
		if res.Lang != lang {
			t.Fatalf("step %d: language %q", i, res.Lang)
		}
		data := p.Data(&res.Session)
		for _, o := range res.Outputs {
			out, err := p.Render(lang, o.Key, data)
			if err != nil {
				t.Fatal(err)
			}
			check(o.Key, out)
		}
		s, last = res.Session, res
	}
	return s
}

// TestAmazonFreeText walks conversations typing instead of pressing, with
// the words people use, in both languages.
func TestAmazonFreeText(t *testing.T) {
	p := shipped(t)
	tests := []struct {
		lang  string
		words []string
		want  string // problem/channel
	}{
		{"en", []string{"I want my money back", "skip", "it never arrived", "call them"}, "refund/phone"},
		{"en", []string{"return", "123-1234567-1234567", "skip", "call me back"}, "return/callback"},
		{"en", []string{"it came damaged", "#1231234567 1234567", "skip", "email"}, "credit/email"},
		{"en", []string{"my Prime subscription", "charged twice for Prime", "live chat"}, "service/chat"},
		{"en", []string{"no idea", "skip", "skip", "4"}, "unsure/chat"},
		{"lv", []string{"atmaksa", "izlaist", "izlaist", "zvanīt"}, "refund/phone"},
		{"lv", []string{"ATMAKSU!", "123 1234567 1234567", "Prece nebija tāda, kā solīts", "e-pasts"}, "refund/email"},
		{"lv", []string{"atgriezt preci", "izlaist", "izlaist", "tērzēšana"}, "return/chat"},
		{"lv", []string{"1", "1", "1", "2"}, "return/callback"},
	}
	for _, tc := range tests {
		t.Run(tc.lang+"/"+tc.want, func(t *testing.T) {
			var steps []step
			for _, w := range tc.words {
				steps = append(steps, step{in: text(w)})
			}
			steps[len(steps)-1].state = "answer"
			s := converse(t, p.Engine, tc.lang, steps)
			if got := s.Get("problem") + "/" + s.Get("channel"); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAmazonAnswersDiffer checks that the 20 answers are each written for
// their pair: steps and phrasing differ pairwise, in wording, not only in a
// swapped noun.
func TestAmazonAnswersDiffer(t *testing.T) {
	p := shipped(t)
	data := content.Data{"problem": "", "channel": "", "order": markup.Literal("123-1234567-1234567"), "details": markup.Literal("It broke")}
	for _, lang := range []string{"en", "lv"} {
		for _, part := range []string{"steps", "say"} {
			type text struct {
				key      string
				shingles map[string]bool
			}
			var texts []text
			for _, prob := range problems {
				for _, ch := range channels {
					key := "answer." + prob + "." + ch + "." + part
					d := content.Data{}
					for k, v := range data {
						d[k] = v
					}
					d["problem"], d["channel"] = prob, ch
					out, err := p.Render(lang, key, d)
					if err != nil {
						t.Fatal(err)
					}
					texts = append(texts, text{key, shingles(out)})
				}
			}
			worst, pair := 0.0, ""
			for i := range texts {
				for j := i + 1; j < len(texts); j++ {
					sim := jaccard(texts[i].shingles, texts[j].shingles)
					if sim > worst {
						worst, pair = sim, texts[i].key+" ~ "+texts[j].key
					}
					if sim > 0.5 {
						t.Errorf("%s: %s and %s share %.0f%% of their wording", lang, texts[i].key, texts[j].key, 100*sim)
					}
				}
			}
			t.Logf("%s %s: most similar pair %s (%.0f%%)", lang, part, pair, 100*worst)
		}
	}
}

// shingles are the text's runs of three words, normalised.
func shingles(s string) map[string]bool {
	w := strings.Fields(flows.Normalize(markup.Strip(s)))
	out := map[string]bool{}
	for i := 0; i+3 <= len(w); i++ {
		out[strings.Join(w[i:i+3], " ")] = true
	}
	return out
}

func jaccard(a, b map[string]bool) float64 {
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// TestAmazonRenderedGolden pins a few whole answers as the terminal shows
// them (go test -update rewrites the files after a content edit).
func TestAmazonRenderedGolden(t *testing.T) {
	p := shipped(t)
	cases := []struct {
		lang, prob, ch, order, details string
	}{
		{"en", "refund", "phone", "", ""},
		{"en", "return", "email", "123-1234567-1234567", "The zip broke on the first day"},
		{"lv", "credit", "chat", "123-1234567-1234567", "Paka pienāca nedēļu par vēlu"},
		{"lv", "service", "callback", "", ""},
	}
	for _, c := range cases {
		name := fmt.Sprintf("answer_%s_%s_%s.golden", c.lang, c.prob, c.ch)
		t.Run(name, func(t *testing.T) {
			s := flows.Session{Slots: []flows.Slot{{"problem", c.prob}, {"channel", c.ch}, {"order", c.order}, {"details", c.details}}}
			data := p.Data(&s)
			var b strings.Builder
			for _, k := range p.Def.States["answer"].Texts {
				out, err := p.Render(c.lang, flows.ExpandKey(k, s.Get), data)
				if err != nil {
					t.Fatal(err)
				}
				b.WriteString(markup.Render(markup.Plain{}, out))
				b.WriteString("\n\n")
			}
			golden(t, name, b.String())
		})
	}
}

// TestAmazonDrafts renders every draft kind for every problem in both
// languages, also for a Latvian user who wants the draft in English.
func TestAmazonDrafts(t *testing.T) {
	p := shipped(t)
	for _, user := range []string{"en", "lv"} {
		for _, draftLang := range []string{"en", "lv"} {
			for _, prob := range problems {
				for _, ch := range channels {
					name := fmt.Sprintf("%s-user/%s-draft/%s/%s", user, draftLang, prob, ch)
					t.Run(name, func(t *testing.T) {
						kind := map[string]string{"phone": "script", "callback": "script", "email": "email", "chat": "chat"}[ch]
						var s flows.Session
						var last flows.Result
						for _, in := range []flows.Input{cmd("start", prob+" "+ch), press("buttons.draft"), press("buttons.draft_" + draftLang)} {
							in.Lang, in.Now = user, now
							if in.Kind == flows.InButton {
								in.Text = buttonData(t, last, strings.TrimPrefix(in.Text, pressPrefix))
							}
							last = p.Engine.Handle(s, in)
							s = last.Session
						}
						// Guidance in the user's language, the draft in the chosen one.
						if s.State != "draft" || len(last.Outputs) != 2 || last.Outputs[0].Key != "draft."+kind+"."+prob ||
							last.Outputs[0].Lang != draftLang || last.Outputs[1].Lang != "" || last.Lang != user {
							t.Fatalf("draft: state %q outputs %+v (turn in %s)", s.State, last.Outputs, last.Lang)
						}
						out, err := p.Render(draftLang, last.Outputs[0].Key, p.Data(&s))
						if err != nil || !strings.Contains(out, "```") {
							t.Fatalf("draft is not a copy block: %v\n%s", err, out)
						}
					})
				}
			}
		}
	}
}

// TestAmazonLadder walks the whole escalation ladder for each problem in
// both languages: one rung at a time, each with its feedback buttons.
func TestAmazonLadder(t *testing.T) {
	p := shipped(t)
	rungs := []struct{ state, key string }{
		{"ladder_supervisor", "ladder.supervisor.%s"}, {"ladder_written", "ladder.written"},
		{"ladder_atoz", "ladder.atoz"}, {"ladder_chargeback", "ladder.chargeback"}, {"ladder_consumer", "ladder.consumer"},
	}
	for _, lang := range []string{"en", "lv"} {
		for _, prob := range problems {
			t.Run(lang+"/"+prob, func(t *testing.T) {
				steps := []step{{in: cmd("start", prob+" email"), state: "answer"}}
				for i, r := range rungs {
					key := r.key
					if strings.Contains(key, "%s") {
						key = fmt.Sprintf(key, prob)
					}
					next := "ladder.next"
					if i == len(rungs)-1 {
						next = "ladder.last"
					}
					label := "buttons.next_rung"
					if i == 0 {
						label = "buttons.cant_help"
					}
					steps = append(steps, step{in: press(label), state: r.state, keys: []string{key, next}})
				}
				// The last rung can be rated too; "didn't" ends kindly.
				steps = append(steps, step{in: press("buttons.didnt"), state: "didnt_end", keys: []string{"didnt_end"}})
				converseRendered(t, p, lang, steps, func(key, out string) {
					if strings.HasPrefix(key, "ladder.") && strings.Contains(out, "http") && !strings.Contains(out, "ecclatvia.lv") {
						t.Errorf("%s shows a raw address:\n%s", key, out)
					}
				})
				converse(t, p.Engine, lang, steps)
			})
		}
	}
}

// TestAmazonOverduePromise: a reminder "on the promised date" for a date
// that has passed says so, in both languages, instead of naming the past
// day as when the bot will be back.
func TestAmazonOverduePromise(t *testing.T) {
	p := shipped(t)
	past := now.AddDate(0, 0, -6).Format(time.DateOnly)
	want := map[string]string{"en": "has already passed", "lv": "jau ir pagājis"}
	for _, lang := range []string{"en", "lv"} {
		t.Run(lang, func(t *testing.T) {
			said := ""
			steps := []step{
				{in: cmd("start", "refund email"), state: "answer"},
				{in: press("buttons.save_case"), state: "case_agent"},
				{in: press("buttons.skip")}, {in: press("buttons.skip")}, {in: press("buttons.skip"), state: "case_due"},
				{in: text(past), state: "case_saved"},
				{in: press("buttons.remind"), state: "remind"},
				{in: press("buttons.r_promised"), state: "timezone"},
				{in: press("buttons.tz_riga"), state: "remind_set"},
			}
			s := converseRendered(t, p, lang, steps, func(key, out string) {
				if key == "remind.set" {
					said = out
				}
			})
			if s.Get("when") != flows.Overdue {
				t.Errorf("when = %q", s.Get("when"))
			}
			if !strings.Contains(said, past) || !strings.Contains(said, want[lang]) {
				t.Errorf("remind.set does not say the date has passed:\n%s", said)
			}
		})
	}
}

// TestAmazonNotYetGoesOnFromTheSavedRung: a reminder fires into whatever
// conversation the user has now (here a new one); "not yet" goes on from
// the rung the case had reached, which is saved with the case.
func TestAmazonNotYetGoesOnFromTheSavedRung(t *testing.T) {
	u := &user{t: t, e: shipped(t).Engine, lang: "en", now: now}
	u.walk(cmd("start", "refund email"), press("buttons.cant_help"), press("buttons.next_rung"))
	if u.s.State != "ladder_written" {
		t.Fatalf("setup: %s", u.s.State)
	}
	u.walk(press("buttons.remind"), press("buttons.r_tomorrow"), press("buttons.tz_riga"))
	if u.s.State != "remind_set" || len(u.cases) != 1 || u.cases[0].Fields["rung"] != "written" {
		t.Fatalf("remind: %s %+v", u.s.State, u.cases)
	}
	u.s = flows.Session{} // the conversation expired, or the user started over
	u.do(flows.Input{Kind: flows.InReminder, Case: u.cases[0].ID})
	if r := u.do(press("buttons.fu_not_yet")); u.s.State != "ladder_atoz" {
		t.Fatalf("not yet: %s %v", u.s.State, outputKeys(r))
	}
}
