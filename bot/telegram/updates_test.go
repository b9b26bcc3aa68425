package telegram

import (
	"encoding/json"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
)

var self = tgbotapi.User{ID: 99, IsBot: true, UserName: "HelpBot"}

func convertJSON(t *testing.T, raw string) (bot.Update, string, bool) {
	t.Helper()
	var up update
	if err := json.Unmarshal([]byte(raw), &up); err != nil {
		t.Fatal(err)
	}
	return (&Bot{}).convert(&up, self)
}

func TestConvert(t *testing.T) {
	const private = `"chat":{"id":5,"type":"private"},"from":{"id":5,"first_name":"A","language_code":"lv-LV"}`
	const group = `"chat":{"id":-100,"type":"supergroup"},"from":{"id":5,"first_name":"A"}`
	tests := []struct {
		name, raw string
		ok        bool
		want      bot.Update
	}{
		{"text", `{"update_id":7,"message":{"message_id":1,` + private + `,"text":"refund"}}`, true,
			bot.Update{ID: "tg:7", Conv: "tg:5:5", User: "tg:5", Kind: bot.KindText, Text: "refund", Lang: "lv-LV", Route: "5", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"deep link", `{"update_id":8,"message":{"message_id":1,` + private + `,"text":"/start refund_phone"}}`, true,
			bot.Update{ID: "tg:8", Conv: "tg:5:5", User: "tg:5", Kind: bot.KindCommand, Command: "start", Args: "refund_phone", Lang: "lv-LV", Route: "5", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"photo", `{"update_id":9,"message":{"message_id":1,` + private + `,"photo":[{"file_id":"x"}]}}`, true,
			bot.Update{ID: "tg:9", Conv: "tg:5:5", User: "tg:5", Kind: bot.KindOther, Lang: "lv-LV", Route: "5", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"service", `{"update_id":10,"message":{"message_id":1,` + private + `,"new_chat_title":"x"}}`, false, bot.Update{}},
		{"edited", `{"update_id":11,"edited_message":{"message_id":1,` + private + `,"text":"x"}}`, false, bot.Update{}},
		{"group, not addressed", `{"update_id":12,"message":{"message_id":3,` + group + `,"text":"hello @HelpBotter"}}`, false, bot.Update{}},
		{"group, other bot's command", `{"update_id":13,"message":{"message_id":3,` + group + `,"text":"/start@OtherBot"}}`, false, bot.Update{}},
		{"group, mention", `{"update_id":14,"message":{"message_id":3,"message_thread_id":4,"is_topic_message":true,` + group + `,"text":"@helpbot, refund please"}}`, true,
			bot.Update{ID: "tg:14", Conv: "tg:-100:5", User: "tg:5", Kind: bot.KindText, Text: "refund please", Route: "-100:t4:r3", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"group, command", `{"update_id":15,"message":{"message_id":3,` + group + `,"text":"/help@HelpBot now"}}`, true,
			bot.Update{ID: "tg:15", Conv: "tg:-100:5", User: "tg:5", Kind: bot.KindCommand, Command: "help", Args: "now", Route: "-100:r3", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"group, reply to the bot", `{"update_id":16,"message":{"message_id":3,` + group + `,"text":"123","reply_to_message":{"message_id":2,"chat":{"id":-100,"type":"supergroup"},"from":{"id":99,"is_bot":true,"first_name":"H"}}}}`, true,
			bot.Update{ID: "tg:16", Conv: "tg:-100:5", User: "tg:5", Kind: bot.KindText, Text: "123", Route: "-100:r3", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"button", `{"update_id":17,"callback_query":{"id":"q","data":"a.b","from":{"id":5,"first_name":"A"},"message":{"message_id":9,"chat":{"id":5,"type":"private"}}}}`, true,
			bot.Update{ID: "tg:17", Conv: "tg:5:5", User: "tg:5", Kind: bot.KindButton, Data: "a.b", Ref: "5:9", Route: "5", HomeConv: "tg:5:5", HomeRoute: "5"}},
		{"someone else's button", `{"update_id":18,"callback_query":{"id":"q","data":"a.b","from":{"id":6,"first_name":"B"},"message":{"message_id":9,"chat":{"id":-100,"type":"supergroup"},"reply_to_message":{"message_id":3,"from":{"id":5,"first_name":"A"},"chat":{"id":-100,"type":"supergroup"}}}}}`, true,
			bot.Update{ID: "tg:18", Conv: "tg:-100:6", User: "tg:6", Kind: bot.KindButton, Data: "a.b", Route: "-100", HomeConv: "tg:6:6", HomeRoute: "6"}},
		{"inline message button", `{"update_id":19,"callback_query":{"id":"q","data":"a.b","from":{"id":5,"first_name":"A"},"inline_message_id":"x"}}`, false, bot.Update{}},
		{"from a bot", `{"update_id":20,"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":8,"is_bot":true,"first_name":"B"},"text":"hi"}}`, false, bot.Update{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, _, ok := convertJSON(t, tc.raw)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, u)
			}
			if !ok {
				return
			}
			tc.want.Platform = Platform
			if u != tc.want {
				t.Fatalf("got  %+v\nwant %+v", u, tc.want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	for _, s := range []string{"5", "-100:t4", "-100:r3", "-100:t4:r3"} {
		r, err := parseRoute(s)
		if err != nil || r.String() != s {
			t.Errorf("%q: %v %v", s, r, err)
		}
	}
	for _, s := range []string{"", "x", "5:x3", "5:t", "0"} {
		if _, err := parseRoute(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if c, m, err := parseRef("-100:9"); err != nil || c != -100 || m != 9 {
		t.Errorf("parseRef: %d %d %v", c, m, err)
	}
}

func TestRenderPartsFit(t *testing.T) {
	// Emoji count twice in Telegram's limit: a text of 3,000 of them must
	// still be cut into messages of at most 4,096 UTF-16 code units.
	long := ""
	for range 3000 {
		long += "😀"
	}
	parts := renderParts(long + "\n\n" + long)
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	for _, p := range parts {
		if n := len([]rune(p.text)) * 2; n > maxText {
			t.Errorf("part of %d UTF-16 units", n)
		}
	}
}
