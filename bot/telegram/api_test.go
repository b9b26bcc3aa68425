package telegram

import (
	"fmt"
	"strings"
	"testing"

	"github.com/supportbot/supportbot/bot"
)

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, method, in string
		want             apiAnswer
		wantErr          bool
	}{
		{"sent message: the id, the echo unread (here: broken)", "sendMessage",
			`{"ok":true,"result":{"message_id":42,"from":{broken`, apiAnswer{ok: true, callResult: callResult{messageID: 42}}, false},
		{"the id after other fields", "sendMessage",
			`{"ok":true,"result":{"chat":{"id":5,"type":"private"},"date":1,"message_id":7,"text":"x"}}`,
			apiAnswer{ok: true, callResult: callResult{messageID: 7}}, false},
		{"an edit: ok is enough", "editMessageText", `{"ok":true,"result":{broken`, apiAnswer{ok: true}, false},
		{"a refusal", "sendMessage",
			`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`,
			apiAnswer{code: 429, desc: "Too Many Requests: retry after 3", retryAfter: 3}, false},
		{"getUpdates: the result", "getUpdates", `{"ok":true,"result":[{"update_id":1}]}`,
			apiAnswer{ok: true, callResult: callResult{result: []byte(`[{"update_id":1}]`)}}, false},
		{"a proxy's page", "sendMessage", `<html><body>502</body></html>`, apiAnswer{}, true},
		{"no ok", "sendMessage", `{"result":{"message_id":1}}`, apiAnswer{}, true},
	} {
		a, err := readAnswer(strings.NewReader(tc.in), tc.method)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if err != nil {
			continue
		}
		if a.ok != tc.want.ok || a.code != tc.want.code || a.desc != tc.want.desc || a.retryAfter != tc.want.retryAfter ||
			a.messageID != tc.want.messageID || string(a.result) != string(tc.want.result) {
			t.Errorf("%s: %+v, want %+v", tc.name, a, tc.want)
		}
	}
}

func TestFormBody(t *testing.T) {
	got := formBody(map[string]string{"text": "a & b <c> ✓", "chat_id": "-100"})
	for _, want := range []string{"text=a+%26+b+%3Cc%3E+%E2%9C%93", "chat_id=-100"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

// A refused call keeps its class for metrics: a user who blocked the bot
// (permanent) is told apart from a request of ours Telegram refused.
func TestAPIErrorClass(t *testing.T) {
	for _, e := range []*apiError{
		{method: "sendMessage", class: bot.CallPermanent, code: 403, desc: "Forbidden: bot was blocked by the user"},
		{method: "sendMessage", class: bot.CallClientError, code: 400, desc: "Bad Request: can't parse entities"},
	} {
		if got := bot.ErrorClass(fmt.Errorf("send: %w", e)); got != e.class {
			t.Errorf("%s: class %s, want %s", e.desc, got, e.class)
		}
	}
}
