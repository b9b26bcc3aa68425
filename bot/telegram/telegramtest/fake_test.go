package telegramtest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
)

type apiResp struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func call(t *testing.T, s *telegramtest.Server, method string, p url.Values) apiResp {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL+"/bot"+s.Token+"/"+method, p)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	var r apiResp
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: decode: %v", method, err)
	}
	if r.OK != (resp.StatusCode == 200) || (!r.OK && r.ErrorCode != resp.StatusCode) {
		t.Fatalf("%s: status %d does not match the body %+v", method, resp.StatusCode, r)
	}
	return r
}

var alice = telegramtest.User{ID: 42, FirstName: "Alice", LanguageCode: "en"}

// newChat starts a fake with one private chat the bot may write to.
func newChat(t *testing.T) (*telegramtest.Server, string) {
	s := telegramtest.New(telegramtest.Options{})
	t.Cleanup(s.Close)
	s.UserMessage(telegramtest.Private(alice), alice, "/start")
	return s, "42"
}

func send(t *testing.T, s *telegramtest.Server, p url.Values) apiResp {
	t.Helper()
	return call(t, s, "sendMessage", p)
}

func wantRefused(t *testing.T, r apiResp, code int, desc string) {
	t.Helper()
	if r.OK || r.ErrorCode != code || !strings.Contains(r.Description, desc) {
		t.Fatalf("got ok=%v %d %q, want %d %q", r.OK, r.ErrorCode, r.Description, code, desc)
	}
}

func wantOK(t *testing.T, r apiResp) {
	t.Helper()
	if !r.OK {
		t.Fatalf("refused: %d %s", r.ErrorCode, r.Description)
	}
}

func TestRuleWrongToken(t *testing.T) {
	s, _ := newChat(t)
	resp, err := s.Client().PostForm(s.URL+"/bot1:wrong/getMe", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

func TestRuleTextLength(t *testing.T) {
	s, chat := newChat(t)
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {""}}), 400, "message text is empty")
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"<b> </b>"}, "parse_mode": {"HTML"}}), 400, "message text is empty")
	wantOK(t, send(t, s, url.Values{"chat_id": {chat}, "text": {strings.Repeat("a", 4096)}}))
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {strings.Repeat("a", 4097)}}), 400, "message is too long")
	// Counted after entity parsing: tags and &amp; do not count.
	wantOK(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"<b>" + strings.Repeat("&amp;", 4096) + "</b>"}, "parse_mode": {"HTML"}}))
	// And in UTF-16 code units: an emoji counts twice.
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {strings.Repeat("😀", 2049)}}), 400, "message is too long")
}

func TestRuleUTF8(t *testing.T) {
	s, chat := newChat(t)
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"bad \xff byte"}}), 400, "UTF-8")
}

func TestRuleHTMLTags(t *testing.T) {
	s, chat := newChat(t)
	for _, bad := range []string{
		"<div>x</div>",             // not a Telegram tag
		"<b>x<i>y</b></i>",         // badly nested
		"<b>unclosed",              // never closed
		"x</b>",                    // closed, never opened
		"a < b",                    // unescaped <
		"Tom & Jerry",              // unescaped &
		`<a onclick="x">y</a>`,     // attribute Telegram does not know
		"<pre><b>bold</b></pre>",   // entities inside pre
		`<span class="x">y</span>`, // span that is not a spoiler
	} {
		wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {bad}, "parse_mode": {"HTML"}}), 400, "can't parse entities")
	}
	r := send(t, s, url.Values{"chat_id": {chat}, "parse_mode": {"HTML"},
		"text": {`<b>bold</b> <i>it</i> <pre>copy &lt;me&gt;</pre> <a href="https://example.com">l</a> &#128512; &quot;q&quot;`}})
	wantOK(t, r)
	msgs := s.BotMessages(42)
	if got := msgs[len(msgs)-1].Text; got != `bold it copy <me> l 😀 "q"` {
		t.Fatalf("visible text %q", got)
	}
}

func TestRuleCallbackData(t *testing.T) {
	s, chat := newChat(t)
	kb := func(data string) string {
		b, _ := json.Marshal(map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Go", "callback_data": data}}}})
		return string(b)
	}
	wantOK(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"q"}, "reply_markup": {kb(strings.Repeat("x", 64))}}))
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"q"}, "reply_markup": {kb(strings.Repeat("x", 65))}}), 400, "BUTTON_DATA_INVALID")
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"q"}, "reply_markup": {kb("")}}), 400, "BUTTON_DATA_INVALID")
	// Bytes, not characters: 33 × "ā" is 66 bytes.
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"q"}, "reply_markup": {kb(strings.Repeat("ā", 33))}}), 400, "BUTTON_DATA_INVALID")
}

func TestRuleNotModified(t *testing.T) {
	s, chat := newChat(t)
	kb := `{"inline_keyboard":[[{"text":"Go","callback_data":"1.go"}]]}`
	r := send(t, s, url.Values{"chat_id": {chat}, "text": {"question"}, "reply_markup": {kb}})
	wantOK(t, r)
	var m struct {
		ID int `json:"message_id"`
	}
	json.Unmarshal(r.Result, &m)
	id := strings.TrimSpace(string(mustJSON(m.ID)))
	// Same text and keyboard: refused.
	wantRefused(t, call(t, s, "editMessageText", url.Values{"chat_id": {chat}, "message_id": {id}, "text": {"question"}, "reply_markup": {kb}}), 400, "message is not modified")
	wantRefused(t, call(t, s, "editMessageReplyMarkup", url.Values{"chat_id": {chat}, "message_id": {id}, "reply_markup": {kb}}), 400, "message is not modified")
	// Removing the keyboard changes something, once.
	wantOK(t, call(t, s, "editMessageReplyMarkup", url.Values{"chat_id": {chat}, "message_id": {id}}))
	wantRefused(t, call(t, s, "editMessageReplyMarkup", url.Values{"chat_id": {chat}, "message_id": {id}}), 400, "message is not modified")
	// Unknown messages and other people's messages.
	wantRefused(t, call(t, s, "editMessageReplyMarkup", url.Values{"chat_id": {chat}, "message_id": {"999"}}), 400, "message to edit not found")
	wantRefused(t, call(t, s, "editMessageText", url.Values{"chat_id": {chat}, "message_id": {"1"}, "text": {"x"}}), 400, "message can't be edited")
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestRuleCallbackAnsweredOnce(t *testing.T) {
	s, chat := newChat(t)
	_ = chat
	_, q := s.PressAny(telegramtest.Private(alice), alice, 1, "x")
	wantOK(t, call(t, s, "answerCallbackQuery", url.Values{"callback_query_id": {q}}))
	wantRefused(t, call(t, s, "answerCallbackQuery", url.Values{"callback_query_id": {q}}), 400, "query is too old")
	wantRefused(t, call(t, s, "answerCallbackQuery", url.Values{"callback_query_id": {"nope"}}), 400, "query is too old")
	if u := s.Unanswered(); len(u) != 0 {
		t.Fatalf("unanswered %v", u)
	}
}

func TestRuleCommands(t *testing.T) {
	s, _ := newChat(t)
	wantOK(t, call(t, s, "setMyCommands", url.Values{"commands": {`[{"command":"start","description":"Start"}]`}, "language_code": {"lv"}}))
	wantRefused(t, call(t, s, "setMyCommands", url.Values{"commands": {`[{"command":"Start!","description":"x"}]`}}), 400, "BOT_COMMAND_INVALID")
	wantRefused(t, call(t, s, "setMyCommands", url.Values{"commands": {`[{"command":"start","description":""}]`}}), 400, "DESCRIPTION_INVALID")
	if got := s.Commands("lv"); !strings.Contains(got, `"start"`) {
		t.Fatalf("commands %q", got)
	}
}

func TestRuleUnknownChatAndBlocked(t *testing.T) {
	s, chat := newChat(t)
	wantRefused(t, send(t, s, url.Values{"chat_id": {"555"}, "text": {"hi"}}), 400, "chat not found")
	s.Block(42, true)
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"hi"}}), 403, "blocked")
}

func TestInjectedFaults(t *testing.T) {
	s, chat := newChat(t)
	s.Inject("sendMessage",
		telegramtest.Fault{Code: 429, RetryAfter: 3},
		telegramtest.Fault{Code: 502},
		telegramtest.Fault{Delay: 150 * time.Millisecond})
	r := send(t, s, url.Values{"chat_id": {chat}, "text": {"a"}})
	wantRefused(t, r, 429, "Too Many Requests")
	if r.Parameters == nil || r.Parameters.RetryAfter != 3 {
		t.Fatalf("parameters %+v", r.Parameters)
	}
	wantRefused(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"a"}}), 502, "Bad Gateway")
	t0 := time.Now()
	wantOK(t, send(t, s, url.Values{"chat_id": {chat}, "text": {"a"}}))
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("slow answer took %v", d)
	}
	// An HTML error page and a dropped connection.
	s.Inject("sendMessage", telegramtest.Fault{Code: 503, HTML: true}, telegramtest.Fault{Drop: true})
	resp, err := s.Client().PostForm(s.URL+"/bot"+s.Token+"/sendMessage", url.Values{"chat_id": {chat}, "text": {"a"}})
	if err != nil || resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTML fault: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := s.Client().PostForm(s.URL+"/bot"+s.Token+"/sendMessage", url.Values{"chat_id": {chat}, "text": {"a"}}); err == nil {
		t.Fatal("dropped connection answered")
	}
	if n := len(s.Refused()); n != 0 {
		t.Fatalf("injected faults counted as refusals: %d", n)
	}
}

func TestGetUpdatesOffsetAndTimeout(t *testing.T) {
	s, _ := newChat(t)
	get := func(offset, timeout string) []map[string]any {
		r := call(t, s, "getUpdates", url.Values{"offset": {offset}, "timeout": {timeout}})
		wantOK(t, r)
		var ups []map[string]any
		json.Unmarshal(r.Result, &ups)
		return ups
	}
	ups := get("0", "0")
	if len(ups) != 1 {
		t.Fatalf("got %d updates, want the /start", len(ups))
	}
	id := int(ups[0]["update_id"].(float64))
	// Not confirmed yet: it comes again.
	if ups := get("0", "0"); len(ups) != 1 {
		t.Fatalf("unconfirmed update not redelivered")
	}
	// Confirmed by the next offset; a long poll then waits.
	t0 := time.Now()
	if ups := get(itoa(id+1), "1"); len(ups) != 0 || time.Since(t0) < 900*time.Millisecond {
		t.Fatalf("long poll returned %d after %v", len(ups), time.Since(t0))
	}
	if !s.Confirmed(id) || s.Pending() != 0 {
		t.Fatal("update not confirmed")
	}
	// An update pushed during a long poll ends it at once.
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.UserMessage(telegramtest.Private(alice), alice, "hello")
	}()
	t0 = time.Now()
	if ups := get(itoa(id+1), "10"); len(ups) != 1 || time.Since(t0) > 5*time.Second {
		t.Fatalf("long poll: %d updates after %v", len(ups), time.Since(t0))
	}
}

func itoa(n int) string { return strings.TrimSpace(string(mustJSON(n))) }

func TestGetUpdatesConflicts(t *testing.T) {
	s, _ := newChat(t)
	call(t, s, "getUpdates", url.Values{"offset": {"100000"}}) // confirm the /start
	done := make(chan apiResp)
	go func() { done <- call(t, s, "getUpdates", url.Values{"timeout": {"5"}}) }()
	time.Sleep(100 * time.Millisecond)
	second := make(chan apiResp)
	go func() { second <- call(t, s, "getUpdates", url.Values{"timeout": {"1"}}) }()
	wantRefused(t, <-done, 409, "terminated by other getUpdates")
	wantOK(t, <-second)
	wantOK(t, call(t, s, "setWebhook", url.Values{"url": {"https://example.com/hook"}, "secret_token": {"s3cret"}}))
	wantRefused(t, call(t, s, "getUpdates", nil), 409, "webhook is active")
	wantRefused(t, call(t, s, "setWebhook", url.Values{"url": {"https://example.com/hook"}, "secret_token": {"bad secret!"}}), 400, "secret token")
	wantOK(t, call(t, s, "deleteWebhook", nil))
	wantOK(t, call(t, s, "getUpdates", nil))
}

func TestWebhookDelivery(t *testing.T) {
	s, _ := newChat(t)
	got := make(chan string, 10)
	fail := 1
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail > 0 {
			fail--
			w.WriteHeader(503)
			return
		}
		got <- r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	})
	srv := newHTTPServer(t, hook)
	wantOK(t, call(t, s, "setWebhook", url.Values{"url": {srv + "/hook"}, "secret_token": {"s3cret"}}))
	select {
	case sec := <-got:
		if sec != "s3cret" {
			t.Fatalf("secret %q", sec)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("update not delivered to the webhook")
	}
	if !s.WaitFor(2*time.Second, func() bool { return s.Pending() == 0 }) {
		t.Fatal("delivered update still pending")
	}
	// PostWebhook sends any secret, or none.
	_, body := s.NewUserUpdate(telegramtest.Private(alice), alice, "hi")
	if code, err := s.PostWebhook(srv+"/hook", "", body); err != nil || code != 200 {
		t.Fatalf("post: %d %v", code, err)
	}
	if sec := <-got; sec != "" {
		t.Fatalf("secret %q, want none", sec)
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
