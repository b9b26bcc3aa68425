package telegram_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

var (
	problems = []string{"return", "refund", "credit", "service", "unsure"}
	channels = []string{"phone", "callback", "email", "chat"}
	// answerChoices are the buttons under a full answer.
	answerChoices = []string{"draft", "on_call", "cant_help", "save_case", "remind", "worked", "didnt", "start_over"}
)

const (
	orderNo = "123-1234567-1234567"
	details = "The parcel arrived late & the box was <crushed>"
)

// TestEveryProblemAndChannel walks every problem × channel pair in both
// languages, each in its own private chat, pressing the buttons the bot
// sent; some type the order number and the details instead of skipping.
func TestEveryProblemAndChannel(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	t.Run("pairs", func(t *testing.T) {
		n := 0
		for _, lang := range []string{"en", "lv"} {
			for _, p := range problems {
				for _, c := range channels {
					n++
					user := telegramtest.User{ID: int64(5000 + n), FirstName: "Alice", LanguageCode: lang}
					typed := n%2 == 0
					t.Run(fmt.Sprintf("%s/%s/%s", lang, p, c), func(t *testing.T) {
						t.Parallel()
						walk(e.with(t), user, lang, p, c, typed)
					})
				}
			}
		}
	})
	e.noRefusals()
	if u := e.fake.Unanswered(); len(u) != 0 {
		t.Errorf("callback queries never answered: %v", u)
	}
}

// walk runs one whole conversation and checks every message.
func walk(e *env, user telegramtest.User, lang, p, c string, typed bool) {
	chat := telegramtest.Private(user)
	data := content.Data{"problem": p, "channel": c, "order": "", "details": ""}

	got := e.say(chat, user, "/start")
	e.wantTexts(got, lang, data, "greeting", "ask.problem")
	e.wantButtons(got[1], lang, problems...)
	problemMsg := got[1].ID

	got = e.press(chat, user, p)
	if m, _ := e.fake.Message(chat.ID, problemMsg); len(m.Keyboard) != 0 {
		e.t.Fatal("the pressed question kept its buttons")
	} else if want := e.want(lang, "ask.problem✓"+p, data); m.Text != want {
		e.t.Fatalf("the pressed question shows %q, want %q", m.Text, want)
	}
	if p != "service" {
		e.wantTexts(got, lang, data, "ask.order")
		e.wantButtons(got[0], lang, "skip")
		if typed {
			data["order"] = markup.Literal(orderNo)
			got = e.say(chat, user, orderNo)
		} else {
			got = e.press(chat, user, "skip")
		}
	}
	e.wantTexts(got, lang, data, "ask.details."+p)
	if typed {
		data["details"] = markup.Literal(details)
		got = e.say(chat, user, details)
	} else {
		got = e.press(chat, user, "skip")
	}
	e.wantTexts(got, lang, data, "ask.channel")
	e.wantButtons(got[0], lang, channels...)

	got = e.press(chat, user, c)
	e.wantTexts(got, lang, data,
		"answer."+p+"."+c+".steps", "ready."+p, "answer."+p+"."+c+".say", "tip."+c, "answer.next")
	e.wantButtons(got[4], lang, answerChoices...)
	if typed && p != "service" && !strings.Contains(got[2].Text, orderNo) {
		e.t.Errorf("the phrasing does not quote the order number: %q", short(got[2].Text))
	}
	// The phrasing is in <pre> blocks, ready to copy, and user text is
	// escaped inside them.
	if raw := got[2].Raw; !strings.Contains(raw, "<pre>") || (typed && strings.Contains(raw, "<crushed>")) {
		e.t.Errorf("phrasing payload: %q", short(raw))
	}
	// Only the last question's buttons can still be pressed.
	if live := e.liveKeyboards(chat.ID); len(live) != 1 || live[0] != got[4].ID {
		e.t.Errorf("messages with live buttons: %v, want only %d", live, got[4].ID)
	}
}

func TestDeepLinkStart(t *testing.T) {
	e := newEnv(t, envOpts{})
	user := telegramtest.User{ID: 71, FirstName: "Alice", LanguageCode: "en-GB"}
	chat := telegramtest.Private(user)
	// The payload reaches the engine as the command's arguments: the bot
	// answers exactly what the engine makes of it.
	for _, payload := range []string{"refund_phone", "return"} {
		r := e.pack.Engine.Handle(flows.Session{}, flows.Input{Kind: flows.InCommand, Command: "start", Text: payload, Lang: "en", Now: time.Now()})
		var keys []string
		for _, o := range r.Outputs {
			keys = append(keys, o.Key)
		}
		data := e.pack.Data(&r.Session)
		got := e.say(chat, user, "/start "+payload)
		e.wantTexts(got, "en", data, keys...)
		if payload == "return" && keys[0] != "ask.order" {
			t.Errorf("/start return did not jump: %v", keys)
		}
	}
	e.noRefusals()
}

func TestLanguageHint(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i, code := range []string{"lv", "lv-LV", "LV", "it", ""} {
		user := telegramtest.User{ID: int64(80 + i), FirstName: "Alice", LanguageCode: code}
		got := e.say(telegramtest.Private(user), user, "/start")
		want := "en"
		if strings.HasPrefix(strings.ToLower(code), "lv") {
			want = "lv"
		}
		e.wantTexts(got, want, nil, "greeting", "ask.problem")
	}
}

func TestCommands(t *testing.T) {
	e := newEnv(t, envOpts{})
	user := telegramtest.User{ID: 90, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	e.say(chat, user, "/start")
	e.press(chat, user, "refund")

	e.wantTexts(e.say(chat, user, "/help"), "en", nil, "help", "ask.order")
	e.wantTexts(e.say(chat, user, "/privacy"), "en", nil, "privacy", "ask.order")
	e.wantTexts(e.say(chat, user, "/nonsense"), "en", nil, "command.unknown", "ask.order")

	got := e.say(chat, user, "/language")
	e.wantTexts(got, "en", nil, "language.choose")
	if bs := got[0].Buttons(); len(bs) != 2 || bs[1].Data != "L.lv" {
		t.Fatalf("language buttons %+v", bs)
	}
	got = e.pressOn(chat, user, got[0].ID, "L.lv")
	e.wantTexts(got, "lv", nil, "language.set", "ask.order")
	// The choice beats the language_code hint ("en").
	e.wantTexts(e.say(chat, user, "/reset"), "lv", nil, "restarted", "ask.problem")
	e.say(chat, user, "/language en")

	e.wantTexts(e.say(chat, user, "/forget"), "en", nil, "forget.done")
	for _, k := range e.store.Keys() {
		if strings.Contains(k, "tg:90") {
			t.Errorf("/forget left %s", k)
		}
	}
	if live := e.liveKeyboards(chat.ID); len(live) != 0 {
		t.Errorf("buttons left after /forget: %v", live)
	}
	e.noRefusals()
}

// TestCommandMenus: setMyCommands for English (no language_code) and
// Latvian (lv), with descriptions from the pack.
func TestCommandMenus(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	if !e.fake.WaitFor(5e9, func() bool { return e.fake.Commands("") != "" && e.fake.Commands("lv") != "" }) {
		t.Fatal("command menus not set")
	}
	// The flow's commands: the engine's and the notebook's.
	names := e.pack.Def.Commands()
	if !slices.Contains(names, "cases") || !slices.Contains(names, "case") {
		t.Fatalf("the pack's commands %v lack the notebook's", names)
	}
	for code, lang := range map[string]string{"": "en", "lv": "lv"} {
		menu := e.fake.Commands(code)
		if n := strings.Count(menu, `"command":`); n != len(names) {
			t.Errorf("menu %q has %d commands, want %d", code, n, len(names))
		}
		for _, name := range names {
			desc, _ := e.pack.Text(lang, "commands."+name)
			if !strings.Contains(menu, fmt.Sprintf(`{"command":%q,"description":%q}`, name, strings.TrimSpace(desc))) {
				t.Errorf("menu %q lacks %s: %s", code, name, menu)
			}
		}
	}
	if e.fake.Commands("en") != "" {
		t.Error("English registered with a language_code; it is the default")
	}
}

func TestStaleAndForgedButtons(t *testing.T) {
	e := newEnv(t, envOpts{})
	user := telegramtest.User{ID: 100, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	got := e.say(chat, user, "/start")
	old := got[1]
	e.press(chat, user, "credit") // now at the order question
	edits := len(e.fake.Calls("editMessageReplyMarkup"))

	// The old question's button, pressed again (an old client, a double tap).
	oldData := old.Buttons()[0].Data
	for _, data := range []string{oldData, "zzz", "999999.refund", strings.Repeat("x", 64), "L.xx"} {
		before := len(e.fake.BotMessages(chat.ID))
		id, _ := e.fake.PressAny(chat, user, old.ID, data)
		e.settle(id)
		got := e.fake.BotMessages(chat.ID)[before:]
		e.wantTexts(got, "en", nil, "note.stale", "ask.order")
	}
	// A button on a message that does not exist.
	id, _ := e.fake.PressAny(chat, user, 99999, "1.refund")
	e.settle(id)
	if n := len(e.fake.Calls("editMessageReplyMarkup")) - edits; n != 6 {
		// Each stale note's new question removes the previous one's buttons
		// (6 presses, 6 removals); the old, bare message is never edited.
		t.Errorf("%d keyboard edits, want 6", n)
	}
	for _, c := range e.fake.Calls("editMessageReplyMarkup") {
		if c.Params.Get("message_id") == fmt.Sprint(old.ID) && c.Seq > 0 && c.Status != 200 {
			t.Errorf("an edit of the bare message was sent: %s", c.Desc)
		}
	}
	e.noRefusals()
	if u := e.fake.Unanswered(); len(u) != 0 {
		t.Errorf("unanswered: %v", u)
	}
}

func TestNonTextAndIgnored(t *testing.T) {
	e := newEnv(t, envOpts{})
	user := telegramtest.User{ID: 110, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	e.wantTexts(e.say(chat, user, "", telegramtest.Content("photo")), "en", nil, "input.unsupported", "ask.problem")
	e.press(chat, user, "return")
	for _, kind := range []string{"sticker", "voice", "document", "location"} {
		e.wantTexts(e.say(chat, user, "", telegramtest.Content(kind)), "en", nil, "input.unsupported", "ask.order")
	}
	// Ignored, but confirmed: an edit, a channel post, another bot, a
	// service message.
	before := len(e.fake.BotMessages(chat.ID))
	ids := []int{
		e.fake.Push("edited_message", chat, user, "actually, a refund"),
		e.fake.Push("channel_post", telegramtest.Chat{ID: -1009, Type: "channel", Title: "News"}, user, "news"),
	}
	botUser := telegramtest.User{ID: 111, FirstName: "OtherBot", IsBot: true}
	id, _ := e.fake.UserMessage(chat, botUser, "/start")
	ids = append(ids, id)
	id, _ = e.fake.UserMessage(chat, user, "", telegramtest.Service())
	ids = append(ids, id)
	for _, id := range ids {
		e.settle(id)
	}
	if n := len(e.fake.BotMessages(chat.ID)) - before; n != 0 {
		t.Errorf("%d replies to ignored updates", n)
	}
	e.noRefusals()
}

func TestGroups(t *testing.T) {
	e := newEnv(t, envOpts{})
	group := telegramtest.Chat{ID: -100777, Type: "supergroup", Title: "Shoppers"}
	a := telegramtest.User{ID: 201, FirstName: "Alice", LanguageCode: "en"}
	b := telegramtest.User{ID: 202, FirstName: "Bērziņa", LanguageCode: "lv"}
	at := "@" + telegramtest.BotUsername

	// Not addressed: nothing.
	for _, text := range []string{"hello everyone", "/start", "/start@other_bot", "refund please"} {
		if got := e.say(group, a, text); len(got) != 0 {
			t.Fatalf("answered %q, which was not for the bot", text)
		}
	}
	// A command for us.
	id, am := e.fake.UserMessage(group, a, "/start@"+telegramtest.BotUsername)
	e.settle(id)
	got := e.fake.BotMessages(group.ID)
	e.wantTexts(got, "en", nil, "greeting", "ask.problem")
	if got[0].ReplyTo != am.ID {
		t.Errorf("the reply does not answer Alice's message (%d, want %d)", got[0].ReplyTo, am.ID)
	}
	aProblem := got[1]

	// Bērziņa mentions the bot: her own conversation, in Latvian.
	id, bm := e.fake.UserMessage(group, b, at+" refund")
	e.settle(id)
	gotB := e.fake.BotMessages(group.ID)[2:]
	e.wantTexts(gotB, "lv", nil, "greeting", "ask.order")
	if gotB[0].ReplyTo != bm.ID {
		t.Errorf("the reply does not answer her message")
	}

	// Alice presses her button; then answers by replying to the bot.
	got = e.pressOn(group, a, aProblem.ID, aProblem.Buttons()[0].Data)
	e.wantTexts(got, "en", nil, "ask.order")
	got = e.say(group, a, orderNo, telegramtest.ReplyTo(got[0].ID))
	e.wantTexts(got, "en", content.Data{"problem": "return", "order": markup.Literal(orderNo)}, "ask.details.return")
	aDetails := got[0]

	// Bērziņa presses Alice's button: Alice's buttons stay, Bērziņa gets
	// her own question again.
	got = e.pressOn(group, b, aDetails.ID, aDetails.Buttons()[0].Data)
	e.wantTexts(got, "lv", nil, "note.stale", "ask.order")
	if m, _ := e.fake.Message(group.ID, aDetails.ID); len(m.Keyboard) == 0 {
		t.Error("someone else's press removed Alice's buttons")
	}
	// Alice continues where she was.
	got = e.pressOn(group, a, aDetails.ID, aDetails.Buttons()[0].Data)
	e.wantTexts(got, "en", nil, "ask.channel")
	e.noRefusals()
}

func TestForumTopic(t *testing.T) {
	e := newEnv(t, envOpts{})
	forum := telegramtest.Chat{ID: -100888, Type: "supergroup", Title: "Help desk", IsForum: true}
	a := telegramtest.User{ID: 301, FirstName: "Alice", LanguageCode: "en"}
	got := e.say(forum, a, "/help@"+telegramtest.BotUsername, telegramtest.InThread(17))
	e.wantTexts(got, "en", nil, "help", "ask.problem")
	for _, m := range got {
		if m.Thread != 17 {
			t.Errorf("reply in thread %d, want 17", m.Thread)
		}
	}
	got = e.press(forum, a, "refund")
	if got[0].Thread != 17 {
		t.Errorf("reply to a button in thread %d, want 17", got[0].Thread)
	}
	e.noRefusals()
}
