package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/telegram"
	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content/markup"
)

// payloads renders the parameters of the given calls as indented JSON,
// reply_markup decoded, keys sorted.
func payloads(t *testing.T, calls []telegramtest.Call) []byte {
	t.Helper()
	var out []map[string]any
	for _, c := range calls {
		m := map[string]any{"method": c.Method}
		for k, v := range c.Params {
			if k == "reply_markup" {
				m[k] = json.RawMessage(v[0])
				continue
			}
			m[k] = v[0]
		}
		out = append(out, m)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the HTML readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goldenSend sends replies through a running adapter and compares the
// sendMessage payloads with a golden file.
func goldenSend(t *testing.T, name string, chat telegramtest.Chat, replies ...bot.Reply) []telegramtest.Call {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 4242, FirstName: "Alice"}
	e.fake.UserMessage(chat, user, "") // the chat exists
	before := len(e.fake.Calls("sendMessage"))
	for _, r := range replies {
		if err := e.tg.Send(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	calls := e.fake.Calls("sendMessage")[before:]
	golden(t, name, payloads(t, calls))
	e.noRefusals()
	return calls
}

func TestGoldenKeyboard(t *testing.T) {
	p := shipped(t)
	text, _ := p.Text("en", "ask.problem")
	r := bot.Reply{Platform: telegram.Platform, Conv: "tg:4242:4242", Route: "4242", Lang: "en", Text: text}
	for _, c := range problems {
		label, _ := p.Text("en", "buttons."+c)
		r.Buttons = append(r.Buttons, bot.Button{Label: label, Data: "k3f9.x." + c})
	}
	goldenSend(t, "send_keyboard.golden", telegramtest.Private(telegramtest.User{ID: 4242}), r)
}

func TestGoldenGroupThread(t *testing.T) {
	forum := telegramtest.Chat{ID: -1004242, Type: "supergroup", Title: "Help", IsForum: true}
	r := bot.Reply{Platform: telegram.Platform, Conv: "tg:-1004242:4242", Route: "-1004242:t17:r1", Lang: "en",
		Text:    "Hi *there*, " + markup.Literal("<you> & *me*"),
		Buttons: []bot.Button{{Label: "Skip", Data: "k3fa.skip"}}}
	goldenSend(t, "send_group_thread.golden", forum, r)
}

// TestGoldenSplitAnswer: an answer over 4,096 characters goes out in
// parts split at paragraphs, each within the limit, the buttons on the last,
// the copy block whole and the user's text escaped.
func TestGoldenSplitAnswer(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "*Step %d.* %s\n\n", i, strings.Repeat(fmt.Sprintf("Paragraph %d says something useful & true. ", i), 24))
	}
	b.WriteString("```\nDear Amazon, my order " + markup.Literal("123-1234567-1234567 <b>&") + " arrived broken.\n```\n")
	r := bot.Reply{Platform: telegram.Platform, Conv: "tg:4242:4242", Route: "4242", Lang: "en", Text: b.String(),
		Buttons: []bot.Button{{Label: "Start over", Data: "k3fb.start_over"}}}
	calls := goldenSend(t, "send_split.golden", telegramtest.Private(telegramtest.User{ID: 4242}), r)
	if len(calls) < 2 {
		t.Fatalf("%d messages, want the answer split", len(calls))
	}
	for i, c := range calls {
		if (c.Params.Get("reply_markup") != "") != (i == len(calls)-1) {
			t.Errorf("part %d: buttons must be on the last part only", i)
		}
		if !strings.HasSuffix(c.Params.Get("text"), ".") && !strings.HasSuffix(c.Params.Get("text"), "</pre>") {
			t.Errorf("part %d does not end at a paragraph: …%q", i, c.Params.Get("text")[len(c.Params.Get("text"))-20:])
		}
	}
}
