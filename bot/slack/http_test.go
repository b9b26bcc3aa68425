package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	slackbot "github.com/supportbot/supportbot/bot/slack"
	"github.com/supportbot/supportbot/bot/slack/slacktest"
)

// forge lists requests Slack did not sign, or not for now.
func TestUnverifiedRequestsAreRejected(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	body := slacktest.EventCallback(team, slacktest.NewEventID(), slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	cmd := w.fake.NewCommand(team, "D1", "U1", "help").Form().Encode()
	ctx := context.Background()
	sign := func(secret string, at time.Time, b []byte) http.Header {
		ts, sig := slacktest.Sign(secret, at, b)
		return http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}, "Content-Type": {"application/json"}}
	}
	now := time.Now()
	cases := []struct {
		name, path string
		body       []byte
		h          http.Header
	}{
		{"forged signature", "/slack/events", body, sign("not-the-secret", now, body)},
		{"stale timestamp", "/slack/events", body, sign(slacktest.SigningSecret, now.Add(-6*time.Minute), body)},
		{"future timestamp", "/slack/events", body, sign(slacktest.SigningSecret, now.Add(6*time.Minute), body)},
		{"changed body", "/slack/events", bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1), sign(slacktest.SigningSecret, now, body)},
		{"missing signature", "/slack/events", body, http.Header{"X-Slack-Request-Timestamp": {strconv.FormatInt(now.Unix(), 10)}}},
		{"missing timestamp", "/slack/events", body, http.Header{"X-Slack-Signature": sign(slacktest.SigningSecret, now, body)["X-Slack-Signature"]}},
		{"no headers", "/slack/events", body, http.Header{}},
		{"not v0", "/slack/events", body, http.Header{"X-Slack-Request-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "X-Slack-Signature": {"v1=abcd"}}},
		{"forged command", "/slack/commands", []byte(cmd), sign("not-the-secret", now, []byte(cmd))},
		{"changed command", "/slack/commands", []byte(strings.Replace(cmd, "help", "forget", 1)), sign(slacktest.SigningSecret, now, []byte(cmd))},
		{"forged interaction", "/slack/interactivity", []byte("payload=%7B%7D"), sign("x", now, []byte("payload=%7B%7D"))},
		{"too large", "/slack/events", bytes.Repeat([]byte(" "), 2<<20), sign(slacktest.SigningSecret, now, bytes.Repeat([]byte(" "), 2<<20))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.client.Post(ctx, tc.path, tc.body, tc.h, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", res.Status)
			}
		})
	}
	w.settle()
	if n := w.in.accepted(); n != 0 {
		t.Errorf("%d unverified updates reached the dispatcher", n)
	}
	for _, m := range []string{"users.info", "conversations.open", "chat.postMessage"} {
		if n := w.fake.Count(m); n != 0 {
			t.Errorf("%s called %d times for unverified requests", m, n)
		}
	}
}

func TestURLVerification(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	res, err := w.client.Event(context.Background(), slacktest.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"), 0)
	if err != nil || res.Status != 200 || string(res.Body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge: %v %+v", err, res)
	}
}

// Slack retries an event it thinks failed; each copy is acknowledged and
// the event answered once, also when the retry is the only copy we see.
func TestRetriesAnsweredOnce(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, mode, worldOpts{})
			// A retry after the first copy was handled.
			id := slacktest.NewEventID()
			ev := slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS())
			w.eventWithID(id, ev, 0)
			w.settle()
			first := len(w.fake.Messages("D1", ""))
			if first == 0 {
				t.Fatal("no answer")
			}
			for retry := 1; retry <= 3; retry++ {
				w.eventWithID(id, ev, retry)
			}
			w.settle()
			if n := len(w.fake.Messages("D1", "")); n != first {
				t.Errorf("retries posted %d more messages", n-first)
			}
			// Copies at the same time (an http_timeout retry while the first
			// still runs).
			id2 := slacktest.NewEventID()
			ev2 := slacktest.IMMessage(team, "U2", "D2", "refund", slacktest.NewTS())
			var wg sync.WaitGroup
			for r := range 4 {
				wg.Go(func() { w.eventWithID(id2, ev2, r) })
			}
			wg.Wait()
			w.settle()
			ms := w.fake.Messages("D2", "")
			if len(ms) != 2 { // greeting, then the order question (refund was picked)
				t.Errorf("concurrent copies: %d messages, want 2: %q", len(ms), texts(ms))
			}
			// The first copy never arrived: the retry is handled.
			w.eventWithID(slacktest.NewEventID(), slacktest.IMMessage(team, "U3", "D3", "hi", slacktest.NewTS()), 2)
			w.settle()
			if n := len(w.fake.Messages("D3", "")); n != 2 {
				t.Errorf("a retry whose first copy was lost: %d messages, want 2", n)
			}
			// Button presses and commands redelivered are answered once too.
			m, _ := lastWithButtons(w.fake.Messages("D1", ""))
			p, _ := w.fake.Press(m, "Get a refund", "U1", team)
			w.pressPayload(p)
			w.pressPayload(p)
			cmd := w.fake.NewCommand(team, "D3", "U3", "help")
			w.command(cmd)
			w.command(cmd)
			w.settle()
			if n := len(w.fake.Messages("D1", "")); n != first+1 {
				t.Errorf("a press delivered twice: %d messages, want %d", n, first+1)
			}
			if n := w.fake.Count("chat.update"); n != 1 {
				t.Errorf("a press delivered twice: %d updates, want 1", n)
			}
			if n := len(w.fake.Messages("D3", "")); n != 4 { // help, then the question again
				t.Errorf("a command delivered twice: %d messages, want 4", n)
			}
		})
	}
}

// The bot ignores itself, other bots, edits and subtypes; a DM with only
// a file gets a hint.
func TestIgnoredAndUnreadable(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, mode, worldOpts{})
			self := slacktest.IMMessage(team, slacktest.BotUser, "D1", "hello", slacktest.NewTS())
			join := slacktest.IMMessage(team, "U1", "D1", "joined", slacktest.NewTS())
			join["subtype"] = "channel_join"
			chanMsg := slacktest.IMMessage(team, "U1", "C1", "chatter", slacktest.NewTS())
			chanMsg["channel_type"] = "channel"
			dmMention := slacktest.Mention(team, "U1", "D1", "hi", slacktest.NewTS(), "")
			editedMention := slacktest.Mention(team, "U1", "C1", "hi", slacktest.NewTS(), "")
			editedMention["edited"] = map[string]any{"user": "U1", "ts": slacktest.NewTS()}
			botMention := slacktest.Mention(team, "U1", "C1", "hi", slacktest.NewTS(), "")
			botMention["bot_id"] = "B999"
			for _, ev := range []map[string]any{
				slacktest.BotMessage("D1", "from us", slacktest.NewTS(), slacktest.BotID),
				slacktest.BotMessage("D1", "from another bot", slacktest.NewTS(), "B999"),
				self, join, chanMsg, dmMention, editedMention, botMention,
				slacktest.EditedMessage("U1", "D1", "edited", slacktest.NewTS()),
				{"type": "reaction_added", "user": "U1", "reaction": "tada", "item": map[string]any{"type": "message", "channel": "D1", "ts": "1.1"}},
			} {
				w.event(ev)
			}
			w.settle()
			if n := w.in.accepted(); n != 0 {
				t.Errorf("%d ignorable events reached the dispatcher", n)
			}
			if n := w.fake.Count("chat.postMessage"); n != 0 {
				t.Errorf("%d answers to ignorable events", n)
			}
			w.event(slacktest.FileShare(team, "U1", "D1", slacktest.NewTS()))
			w.settle()
			ms := w.fake.Messages("D1", "")
			want := w.text("en", "input.unsupported")
			if len(ms) == 0 || ms[0].Text != want {
				t.Errorf("a file-only DM got %q, want the hint %q first", texts(ms), want)
			}
		})
	}
}

// /support's words map to the engine's commands; used in a channel it
// moves to the DM; in the DM it stays there without a note.
func TestSupportCommand(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, mode, worldOpts{})
			w.fake.SetLocale("U2", "lv-LV")
			dm := slacktest.DMChannel("U1")
			type step struct {
				channel, text string
				note          bool   // an ephemeral note in the channel
				firstKey      string // the first new message in the DM
			}
			for i, s := range []step{
				{publicChan, "", true, "greeting"},
				{dm, "help", false, "help"},
				{publicChan, "privacy", true, "privacy"},
				{dm, "language lv", false, "language.set"},
				{dm, "language en", false, "language.set"},
				{dm, "reset", false, "restarted"},
				{dm, "forget", false, "forget.done"},
			} {
				before := len(w.fake.Messages(dm, ""))
				note := w.command(w.fake.NewCommand(team, s.channel, "U1", s.text))
				w.settle()
				if (note != "") != s.note {
					t.Errorf("step %d (%q): note %q", i, s.text, note)
				}
				ms := w.fake.Messages(dm, "")
				lang := "en"
				if s.text == "language lv" {
					lang = "lv"
				}
				if len(ms) <= before || ms[before].Text != w.text(lang, s.firstKey) {
					t.Errorf("step %d (%q): got %q, want %q first", i, s.text, texts(ms[before:]), w.text(lang, s.firstKey))
				}
				// Slack has one slash command: the help names the
				// commands as its words, never as "/cases" of their own.
				if s.text == "help" && len(ms) > before {
					got := ms[before].Text
					if !strings.Contains(got, "/support cases") || !strings.Contains(got, "/support reset") || strings.Contains(got, " /cases") {
						t.Errorf("help on Slack names commands Slack does not have:\n%s", got)
					}
				}
			}
			// Jumping ahead with words in the user's language.
			w.command(w.fake.NewCommand(team, publicChan, "U2", "atmaksa e-pasts"))
			w.settle()
			ms := w.fake.Messages(slacktest.DMChannel("U2"), "")
			if len(ms) == 0 || ms[0].Text == w.text("lv", "greeting") {
				t.Errorf("/support atmaksa e-pasts did not jump ahead: %q", texts(ms))
			}
			w.command(w.fake.NewCommand(team, publicChan, "U3", "refund email"))
			w.settle()
			ms = w.fake.Messages(slacktest.DMChannel("U3"), "")
			if len(ms) == 0 || ms[0].Text == w.text("en", "greeting") {
				t.Errorf("/support refund email did not jump ahead: %q", texts(ms))
			}
			for _, m := range w.fake.Messages(publicChan, "") {
				t.Errorf("a message went to the channel: %.80q", m.Text)
			}
			if got := w.in.u[len(w.in.u)-1]; got.Command != "start" || got.Args != "refund email" {
				t.Errorf("/support refund email became %q %q", got.Command, got.Args)
			}
		})
	}
}

// A mention answers in a thread under it; answers in the thread continue
// it; another user's press there does not take the owner's buttons away.
func TestMentionThread(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	root := slacktest.NewTS()
	w.event(slacktest.Mention(team, "U1", publicChan, "refund", root, ""))
	w.settle()
	ms := w.fake.Messages(publicChan, root)
	if len(ms) != 2 || ms[1].Text != w.text("en", "ask.order") {
		t.Fatalf("mention: %q", texts(ms))
	}
	// Another user presses Skip on U1's question: their own conversation
	// (a fresh one: a stale note), and U1's message keeps its button.
	w.press(ms[1], "Skip", "U2")
	w.settle()
	if got := w.fake.Messages(publicChan, root)[1]; len(got.Buttons()) != 1 || got.Edits != 0 {
		t.Errorf("someone else's press changed the owner's message: %d edits", got.Edits)
	}
	w.event(slacktest.Mention(team, "U1", publicChan, orderNo, slacktest.NewTS(), root))
	w.settle()
	// The thread's home is the user's DM (reminders go there); the time
	// zone comes from the profile.
	u := w.in.u[len(w.in.u)-1]
	if dm := slacktest.DMChannel("U1"); u.HomeConv != "slack:"+team+":"+dm+"::U1" || u.HomeRoute != "c:"+dm+":" || u.TZ != "America/New_York" || u.Lang != "en-US" {
		t.Errorf("a mention's update: home %q %q, tz %q, lang %q", u.HomeConv, u.HomeRoute, u.TZ, u.Lang)
	}
	ms = w.fake.Messages(publicChan, root)
	if last := ms[len(ms)-1]; last.Text != w.text("en", "ask.details.refund") {
		t.Errorf("an answer in the thread: got %.80q", last.Text)
	}
	// A stale press: the note and the current question.
	n := len(ms)
	w.press(ms[1], "Skip", "U1")
	w.settle()
	ms = w.fake.Messages(publicChan, root)
	if len(ms) != n+2 || ms[n].Text != w.text("en", "note.stale") || ms[n+1].Text != w.text("en", "ask.details.refund") {
		t.Errorf("a stale press: %q", texts(ms[n:]))
	}
}

// A forged button value gets the note and the question, nothing else.
func TestForgedButton(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{})
	w.event(slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	w.settle()
	m, _ := lastWithButtons(w.fake.Messages("D1", ""))
	bt := m.Buttons()[0]
	bt.Value = "forged:" + strings.Repeat("x", 40)
	w.pressPayload(w.fake.PressButton(m, bt, "U1", team))
	w.settle()
	ms := w.fake.Messages("D1", "")
	if len(ms) != 4 || ms[2].Text != w.text("en", "note.stale") || ms[3].Text != w.text("en", "ask.problem") {
		t.Errorf("forged press: %q", texts(ms))
	}
}

// Ephemeral messages are answered and collapsed through response_url.
func TestEphemeralPress(t *testing.T) {
	w := newWorld(t, "http", worldOpts{})
	w.event(slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	w.settle()
	// Pretend the question was ephemeral: the fake holds it as such.
	m, _ := lastWithButtons(w.fake.Messages("D1", ""))
	m.Ephemeral = true
	p, _ := w.fake.Press(m, "Get a refund", "U1", team)
	var ic map[string]any
	json.Unmarshal(p, &ic)
	w.pressPayload(p)
	w.settle()
	calls := w.fake.Calls("response_url")
	if len(calls) != 2 {
		t.Fatalf("%d response_url calls, want 2 (collapse, next question)", len(calls))
	}
	var first, second struct {
		Text            string `json:"text"`
		ReplaceOriginal bool   `json:"replace_original"`
		ResponseType    string `json:"response_type"`
	}
	json.Unmarshal(calls[0].JSON, &first)
	json.Unmarshal(calls[1].JSON, &second)
	if !first.ReplaceOriginal || !strings.Contains(first.Text, "Get a refund") {
		t.Errorf("collapse through response_url: %+v", first)
	}
	if second.ReplaceOriginal || second.ResponseType != "ephemeral" || second.Text != w.text("en", "ask.order") {
		t.Errorf("reply through response_url: %+v", second)
	}
}

// stuck is an acceptor whose store never answers.
type stuck struct{}

func (stuck) Accept(ctx context.Context, _ bot.Update) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAckWithin: slow lookups and a store that does not answer still get
// Slack an answer within its 3 s: a 503, so that it retries, rather than
// a request that hangs.
func TestAckWithin(t *testing.T) {
	w := newWorld(t, "http", worldOpts{fake: slacktest.Options{Latency: time.Second},
		cfg: func(c *slackbot.Config) { c.In = stuck{} }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	res, err := w.client.Event(ctx, slacktest.EventCallback(team, slacktest.NewEventID(),
		slacktest.IMMessage(team, "U9", slacktest.DMChannel("U9"), "hi", slacktest.NewTS())), 0)
	took := time.Since(start)
	if err != nil || res.Status != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %+v %v", res, err)
	}
	if took >= 3*time.Second {
		t.Errorf("Slack got its answer after %v", took)
	}
}
