package slack_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/supportbot/supportbot/bot/slack/slacktest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

var (
	problems = []string{"return", "refund", "credit", "service", "unsure"}
	channels = []string{"phone", "callback", "email", "chat"}
	surfaces = []string{"dm", "mention", "support"}
	langs    = map[string]string{"en": "en-US", "lv": "lv-LV"}
	// answerChoices are the buttons under a full answer.
	answerChoices = []string{"draft", "on_call", "cant_help", "save_case", "remind", "worked", "didnt", "start_over"}
)

const (
	orderNo = "123-1234567-1234567"
	// What a user types, with characters Slack escapes and mrkdwn reads.
	detailsTyped = "Box <arrived> crushed & wet"
	publicChan   = "C0GENERAL"
)

// convo is one scripted conversation through the whole flow.
type convo struct {
	w                *world
	surface          string
	user, lang, dm   string
	channel, thread  string // where the bot answers
	problem, via     string
	typeDetails      bool
	notice           string // /support in a channel: what the user saw at once
	pressed          []string
	expected         []string // texts the bot should have posted, in order
	order, details   string
	expectedCollapse int
}

func (c *convo) messages() []slacktest.Message { return c.w.fake.Messages(c.channel, c.thread) }

// say types text where the conversation is.
func (c *convo) say(text string) {
	escaped := markup.SlackEscape(text) // as Slack delivers it
	if c.surface == "mention" {
		c.w.event(slacktest.Mention(team, c.user, c.channel, escaped, slacktest.NewTS(), c.thread))
		return
	}
	c.w.event(slacktest.IMMessage(team, c.user, c.dm, escaped, slacktest.NewTS()))
}

func (c *convo) press(labelKey string) {
	m, ok := lastWithButtons(c.messages())
	if !ok {
		c.w.t.Errorf("%s: no message with buttons", c)
		return
	}
	label := c.w.label(c.lang, labelKey)
	p, err := c.w.fake.Press(m, label, c.user, team)
	if err != nil {
		c.w.t.Errorf("%s: %v", c, err)
		return
	}
	c.pressed = append(c.pressed, label)
	c.w.pressPayload(p)
}

func (c *convo) String() string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", c.w.mode, c.surface, c.lang, c.problem, c.via)
}

func (c *convo) slots() []flows.Slot {
	s := []flows.Slot{{Name: "problem", Value: c.problem}, {Name: "channel", Value: c.via}}
	if c.order != "" {
		s = append(s, flows.Slot{Name: "order", Value: c.order})
	}
	if c.details != "" {
		s = append(s, flows.Slot{Name: "details", Value: c.details})
	}
	return s
}

// steps is the script: each step runs for every conversation, then the
// world settles.
var steps = []func(c *convo){
	func(c *convo) { // start
		w := c.w
		c.expected = append(c.expected, w.text(c.lang, "greeting"), w.text(c.lang, "ask.problem"))
		switch c.surface {
		case "dm":
			c.w.event(slacktest.IMMessage(team, c.user, c.dm, "hi", slacktest.NewTS()))
		case "mention":
			c.thread = slacktest.NewTS()
			c.w.event(slacktest.Mention(team, c.user, c.channel, "hello", c.thread, ""))
		case "support":
			c.notice = c.w.command(c.w.fake.NewCommand(team, publicChan, c.user, ""))
		}
	},
	func(c *convo) { // what went wrong
		c.press("buttons." + c.problem)
		c.expectedCollapse++
		if c.problem == "service" {
			c.expected = append(c.expected, c.w.text(c.lang, "ask.details.service"))
		} else {
			c.expected = append(c.expected, c.w.text(c.lang, "ask.order"))
		}
	},
	func(c *convo) { // the order number
		if c.problem == "service" {
			return
		}
		c.order = orderNo
		c.say(orderNo)
		c.expected = append(c.expected, c.w.text(c.lang, "ask.details."+c.problem))
	},
	func(c *convo) { // what happened, or Skip
		if c.typeDetails {
			c.details = markup.Literal(detailsTyped)
			c.say(detailsTyped)
		} else {
			c.press("buttons.skip")
			c.expectedCollapse++
		}
		c.expected = append(c.expected, c.w.text(c.lang, "ask.channel"))
	},
	func(c *convo) { // how to reach them
		c.press("buttons." + c.via)
		c.expectedCollapse++
		s := c.slots()
		for _, k := range []string{
			"answer." + c.problem + "." + c.via + ".steps", "ready." + c.problem,
			"answer." + c.problem + "." + c.via + ".say", "tip." + c.via, "answer.next",
		} {
			c.expected = append(c.expected, c.w.text(c.lang, k, s...))
		}
	},
}

// TestEveryProblemAndChannel runs every problem × channel pair, in both
// languages, over DM, mention and /support, in both modes, end to end.
func TestEveryProblemAndChannel(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mode, worldOpts{})
			var cs []*convo
			n := 0
			for _, surface := range surfaces {
				for _, lang := range []string{"en", "lv"} {
					for _, p := range problems {
						for _, ch := range channels {
							n++
							user := fmt.Sprintf("U%04d", n)
							w.fake.SetLocale(user, langs[lang])
							c := &convo{w: w, surface: surface, user: user, lang: lang, dm: slacktest.DMChannel(user),
								problem: p, via: ch, typeDetails: n%2 == 0}
							c.channel = c.dm
							if surface == "mention" {
								c.channel = publicChan
							}
							cs = append(cs, c)
						}
					}
				}
			}
			for i, step := range steps {
				var wg sync.WaitGroup
				for _, c := range cs {
					wg.Go(func() { step(c) })
				}
				wg.Wait()
				w.settle()
				if t.Failed() {
					t.Fatalf("step %d failed", i)
				}
			}
			for _, c := range cs {
				check(t, c)
			}
			// Every update names the user's DM as its home (reminders go
			// there), DMs too, and carries the profile's time zone.
			w.in.mu.Lock()
			for _, u := range w.in.u {
				user := u.User[strings.LastIndexByte(u.User, ':')+1:]
				dm := slacktest.DMChannel(user)
				if u.HomeConv != "slack:"+team+":"+dm+"::"+user || u.HomeRoute != "c:"+dm+":" || u.TZ == "" {
					t.Errorf("%s: an update with home %q %q and time zone %q", u.ID, u.HomeConv, u.HomeRoute, u.TZ)
				}
			}
			w.in.mu.Unlock()
			// Lookups are cached: one users.info per user, one
			// conversations.open per /support or mention user.
			if got := w.fake.Count("users.info"); got != len(cs) {
				t.Errorf("users.info called %d times for %d users", got, len(cs))
			}
			if got, want := w.fake.Count("conversations.open"), len(cs)*2/3; got != want {
				t.Errorf("conversations.open called %d times, want %d", got, want)
			}
		})
	}
}

func check(t *testing.T, c *convo) {
	t.Helper()
	ms := c.messages()
	got := texts(ms)
	if !slices.Equal(got, c.expected) {
		t.Errorf("%s: the bot posted %d messages, want %d", c, len(got), len(c.expected))
		for i := range max(len(got), len(c.expected)) {
			var g, e string
			if i < len(got) {
				g = got[i]
			}
			if i < len(c.expected) {
				e = c.expected[i]
			}
			if g != e {
				t.Errorf("%s: message %d:\n got: %.200q\nwant: %.200q", c, i, g, e)
			}
		}
		return
	}
	// Pressed messages lost their buttons and show the choice.
	collapsed := 0
	for _, m := range ms {
		if ctx := m.Context(); len(ctx) > 0 {
			if len(m.Buttons()) > 0 {
				t.Errorf("%s: a collapsed message still has buttons", c)
			}
			if want := "✓ *" + markup.SlackEscape(c.pressed[collapsed]) + "*"; collapsed < len(c.pressed) && ctx[0] != want {
				t.Errorf("%s: collapsed message says %q, want %q", c, ctx[0], want)
			}
			collapsed++
		}
	}
	if collapsed != c.expectedCollapse {
		t.Errorf("%s: %d collapsed messages, want %d", c, collapsed, c.expectedCollapse)
	}
	last := ms[len(ms)-1]
	if got := last.Buttons(); len(got) != len(answerChoices) {
		t.Errorf("%s: the last message has %d buttons, want %v", c, len(got), answerChoices)
	} else {
		for i, choice := range answerChoices {
			if got[i].Label != c.w.label(c.lang, "buttons."+choice) || !strings.HasSuffix(got[i].Value, "."+choice) {
				t.Errorf("%s: button %d is %+v, want %s", c, i, got[i], choice)
			}
		}
	}
	if c.details != "" {
		if !strings.Contains(strings.Join(got, "\n"), markup.SlackEscape(detailsTyped)) {
			t.Errorf("%s: the answer does not quote the details escaped", c)
		}
		if strings.Contains(strings.Join(got, "\n"), detailsTyped) {
			t.Errorf("%s: the answer quotes the details unescaped", c)
		}
	}
	if c.surface == "support" {
		if want := markup.Render(markup.SlackMrkdwn{}, c.w.label(c.lang, content.KeyMovedToDM)); c.notice != want {
			t.Errorf("%s: /support in a channel showed %q, want the %s note %q", c, c.notice, c.lang, want)
		}
		// Nothing of the conversation went to the channel.
		for _, m := range c.w.fake.Messages(publicChan, "") {
			if m.ThreadTS == "" {
				t.Errorf("%s: a message went to the channel itself: %.80q", c, m.Text)
			}
		}
	}
	if c.surface == "mention" {
		for _, m := range ms {
			if m.ThreadTS != c.thread {
				t.Errorf("%s: a reply is not in the mention's thread", c)
			}
		}
	}
}
