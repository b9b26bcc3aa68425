package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/telegram"
	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
	"github.com/supportbot/supportbot/content"
)

func TestWebhook(t *testing.T) {
	e := newEnv(t, envOpts{webhook: true})
	e.waitReady()
	wh := e.fake.Webhook()
	if wh.URL != e.hook || wh.Secret != webhookSecret || strings.Join(wh.AllowedUpdates, ",") != "message,callback_query" {
		t.Fatalf("setWebhook got %+v", wh)
	}
	// Telegram delivers with the right secret: a conversation runs.
	user := telegramtest.User{ID: 400, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	e.wantTexts(e.say(chat, user, "/start"), "en", nil, "greeting", "ask.problem")
	e.wantTexts(e.press(chat, user, "refund"), "en", nil, "ask.order")
	if n := len(e.fake.Calls("getUpdates")); n != 0 {
		t.Errorf("%d getUpdates calls in webhook mode", n)
	}

	// A wrong or missing secret: 401, and nothing reaches the dispatcher.
	accepted := e.in.calls.Load()
	keys := e.store.Keys()
	for _, secret := range []string{"", "wrong", webhookSecret + "x", strings.ToUpper(webhookSecret)} {
		_, body := e.fake.NewUserUpdate(chat, user, "/reset")
		code, err := e.fake.PostWebhook(e.hook, secret, body)
		if err != nil || code != 401 {
			t.Errorf("secret %q: status %d %v, want 401", secret, code, err)
		}
	}
	if n := e.in.calls.Load() - accepted; n != 0 {
		t.Errorf("%d refused updates reached the dispatcher", n)
	}
	if got := e.store.Keys(); strings.Join(got, " ") != strings.Join(keys, " ") {
		t.Errorf("the store changed: %v → %v", keys, got)
	}

	// The right secret by hand, but an oversized or unreadable body.
	big := []byte(`{"update_id":1,"message":{"text":"` + strings.Repeat("x", 2<<20) + `"}}`)
	if code, _ := e.fake.PostWebhook(e.hook, webhookSecret, big); code != 413 {
		t.Errorf("oversized body: %d, want 413", code)
	}
	if code, _ := e.fake.PostWebhook(e.hook, webhookSecret, []byte("{nope")); code != 400 {
		t.Errorf("bad JSON: %d, want 400", code)
	}

	// The dispatcher cannot record (store down, shutting down): 503, and
	// Telegram's redelivery is answered once.
	var n atomic.Int32
	e.in.setFail(func(bot.Update) error {
		switch n.Add(1) {
		case 1:
			return errors.New("store: connection refused")
		case 2:
			return bot.ErrClosed
		}
		return nil
	})
	got := e.say(chat, user, "/help")
	if n.Load() != 3 {
		t.Errorf("%d deliveries, want 3 (two refused with 503)", n.Load())
	}
	e.wantTexts(got, "en", nil, "help", "ask.order")
	e.noRefusals()
}

func TestWebhookRouteInPollingMode(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true})
	mux := httpMux(e.tg)
	rec := postTo(mux, "/telegram/webhook", "", `{"update_id":1}`)
	if rec != 404 {
		t.Fatalf("status %d, want 404", rec)
	}
}

func TestRateLimitStorm(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	var wg sync.WaitGroup
	for i := range 4 {
		user := telegramtest.User{ID: int64(500 + i), FirstName: "Alice", LanguageCode: "en"}
		chat := telegramtest.Private(user)
		// Every chat: its first two sends, a collapse of a pressed
		// question and a callback answer are rate limited.
		e.fake.Inject("sendMessage", telegramtest.Fault{Code: 429, RetryAfter: 1, Chat: chat.ID}, telegramtest.Fault{Code: 429, RetryAfter: 1, Chat: chat.ID})
		e.fake.Inject("editMessageText", telegramtest.Fault{Code: 429, RetryAfter: 1, Chat: chat.ID})
		e.fake.Inject("answerCallbackQuery", telegramtest.Fault{Code: 429, RetryAfter: 1})
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := e.with(t)
			e.wantTexts(e.say(chat, user, "/start"), "en", nil, "greeting", "ask.problem")
			data := content.Data{"problem": "credit", "channel": "email", "order": "", "details": ""}
			e.press(chat, user, "credit")
			e.press(chat, user, "skip")
			e.press(chat, user, "skip")
			got := e.press(chat, user, "email")
			e.wantTexts(got, "en", data, "answer.credit.email.steps", "ready.credit", "answer.credit.email.say", "tip.email", "answer.next")
			e.wantButtons(got[4], "en", answerChoices...)
			// Every reply once, in order.
			all := e.fake.BotMessages(chat.ID)
			e.wantTexts(all, "en", data, "greeting", "ask.problem✓credit", "ask.order✓skip", "ask.details.credit✓skip", "ask.channel✓email",
				"answer.credit.email.steps", "ready.credit", "answer.credit.email.say", "tip.email", "answer.next")
		}()
	}
	wg.Wait()
	if n := e.fake.Faults(); n != 0 {
		t.Fatalf("%d faults never hit", n)
	}
	// Each retry came after exactly retry_after (1 s), not before and not
	// much later.
	calls := e.fake.Calls("sendMessage", "editMessageText")
	for i, c := range calls {
		if c.Status != 429 {
			continue
		}
		for _, next := range calls[i+1:] {
			if next.Params.Get("chat_id") == c.Params.Get("chat_id") {
				if d := next.At.Sub(c.At); d < time.Second || d > 1500*time.Millisecond {
					t.Errorf("retry after %v, want 1 s", d)
				}
				break
			}
		}
	}
	if u := e.fake.Unanswered(); len(u) != 0 {
		t.Errorf("unanswered: %v", u)
	}
	e.noRefusals()
}

func TestServerErrorsAreRetried(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 600, FirstName: "Alice", LanguageCode: "lv"}
	chat := telegramtest.Private(user)
	e.fake.Inject("sendMessage",
		telegramtest.Fault{Code: 500},
		telegramtest.Fault{Code: 502, HTML: true},
		telegramtest.Fault{Drop: true},
		telegramtest.Fault{Code: 503})
	e.fake.Inject("getUpdates", telegramtest.Fault{Code: 502}, telegramtest.Fault{Drop: true})
	e.fake.Inject("editMessageText", telegramtest.Fault{Code: 500})
	e.wantTexts(e.say(chat, user, "/start"), "lv", nil, "greeting", "ask.problem")
	e.wantTexts(e.press(chat, user, "return"), "lv", nil, "ask.order")
	e.wantTexts(e.fake.BotMessages(chat.ID), "lv", nil, "greeting", "ask.problem✓return", "ask.order")
	if n := e.fake.Faults(); n != 0 {
		t.Fatalf("%d faults never hit", n)
	}
	e.noRefusals()
}

func TestBlockedIsPermanent(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 700, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	e.say(chat, user, "/start")
	e.fake.Block(chat.ID, true)
	sends := len(e.fake.Calls("sendMessage"))
	// Typed while blocked (a message sent just before blocking): the turn
	// runs, its replies are refused once each and dropped, not retried.
	got := e.say(chat, user, "refund")
	if len(got) != 0 {
		t.Fatalf("delivered to a blocked chat")
	}
	if n := len(e.fake.Calls("sendMessage")) - sends; n != 1 {
		t.Errorf("%d sendMessage calls for one reply; 403 must not be retried", n)
	}
	err := e.tg.Send(context.Background(), bot.Reply{Platform: telegram.Platform, Conv: "tg:700:700", Route: "700", Text: "hi"})
	if !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("Send to a blocked chat: %v, want ErrPermanent", err)
	}
	// The session was kept: unblocked, the conversation goes on from the
	// order question.
	e.fake.Block(chat.ID, false)
	e.wantTexts(e.say(chat, user, "/help"), "en", nil, "help", "ask.order")
	if !strings.Contains(e.log.String(), "refused it for good") {
		t.Error("the dropped reply was not logged")
	}
}

func TestRestartMidConversation(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	t.Cleanup(fake.Close)
	store := memory.New(nil)
	user := telegramtest.User{ID: 800, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)

	e1 := newEnv(t, envOpts{fake: fake, store: store})
	first, _ := fake.UserMessage(chat, user, "/start")
	e1.settle(first)
	e1.press(chat, user, "refund")
	e1.stop()
	before := fake.BotMessages(chat.ID)
	e1.wantTexts(before, "en", nil, "greeting", "ask.problem✓refund", "ask.order")

	// The process died before confirming: Telegram sends everything again.
	if n := fake.Redeliver(first); n != 2 {
		t.Fatalf("redelivered %d updates, want 2", n)
	}
	e2 := newEnv(t, envOpts{fake: fake, store: store})
	if !fake.WaitFor(10*time.Second, func() bool { return fake.Pending() == 0 && e2.quiet() }) {
		t.Fatal("redelivered updates not confirmed")
	}
	if got := fake.BotMessages(chat.ID); len(got) != len(before) {
		t.Fatalf("redelivered updates answered again: %d messages, had %d", len(got), len(before))
	}
	// The session survived: skip on the order question asked before the
	// restart goes on to the details.
	got := e2.press(chat, user, "skip")
	e2.wantTexts(got, "en", nil, "ask.details.refund")
	if live := e2.liveKeyboards(chat.ID); len(live) != 1 {
		t.Errorf("live buttons %v", live)
	}
	// The redelivered button press was answered again: Telegram says the
	// query is too old, which is harmless. The old process's last long
	// poll may reach the server after the new one's and end it (409).
	e2.noRefusals("query is too old", "terminated by other getUpdates")
}

func TestStopConfirmsAndReturns(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 900, FirstName: "Alice", LanguageCode: "en"}
	chat := telegramtest.Private(user)
	// Hold Accept, so the update is recorded just as the stop comes.
	hold, held := make(chan struct{}), make(chan struct{})
	e.in.hold(held, hold)
	id, _ := e.fake.UserMessage(chat, user, "/start")
	<-held
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	time.Sleep(50 * time.Millisecond)
	close(hold)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if !e.fake.Confirmed(id) {
		t.Error("the recorded update was not confirmed on the way out")
	}
	last := e.fake.Calls("getUpdates")
	if p := last[len(last)-1].Params; p.Get("timeout") != "0" {
		t.Errorf("last getUpdates %v, want the timeout=0 confirmation", p)
	}
	// A stop during an idle long poll is prompt too (checked by stop()).
	e2 := newEnv(t, envOpts{fake: e.fake})
	e2.waitReady()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	e2.stop()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("stopping during a long poll took %v", d)
	}
}

func TestUnreachableAtStart(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	t.Cleanup(fake.Close)
	fake.Inject("getMe", telegramtest.Fault{Code: 502}, telegramtest.Fault{Drop: true}, telegramtest.Fault{Code: 401})
	fake.Inject("deleteWebhook", telegramtest.Fault{Code: 500})
	fake.Inject("getUpdates", telegramtest.Fault{Code: 409}, telegramtest.Fault{Code: 409})
	e := newEnv(t, envOpts{fake: fake})
	if e.tg.Ready() {
		t.Fatal("ready before connecting")
	}
	e.waitReady()
	// Once Telegram answers again the bot is ready, and stays so while its
	// long poll waits (not only after that poll ends).
	if !e.fake.WaitFor(5*time.Second, func() bool { return e.fake.Faults() == 0 && e.fake.Polling() }) {
		t.Fatal("the faults were not all hit")
	}
	time.Sleep(100 * time.Millisecond)
	if !e.tg.Ready() {
		t.Fatal("not ready while Telegram answers again")
	}
	user := telegramtest.User{ID: 1000, FirstName: "Alice", LanguageCode: "en"}
	e.wantTexts(e.say(telegramtest.Private(user), user, "/start"), "en", nil, "greeting", "ask.problem")
	logs := e.log.String()
	for _, want := range []string{"refuses the token", "409 Conflict", "webhook mode"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestNetworkErrorsDoNotLeakTheToken(t *testing.T) {
	// Nothing listens on this port: every call fails with a *url.Error,
	// whose text holds the URL, and so the token.
	e := newEnv(t, envOpts{noStart: true})
	tg, err := telegram.New(telegram.Config{Token: e.fake.Token, APIURL: "http://127.0.0.1:1", Pack: e.pack, In: e.in,
		Log: logTo(e.log)})
	if err != nil {
		t.Fatal(err)
	}
	telegram.SetRetry(tg, time.Millisecond, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := tg.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(e.log.String(), "cannot reach the Bot API") {
		t.Fatalf("no log of the failure: %s", e.log.String())
	}
	// checkLogs (cleanup) fails if the token shows.
}

func TestPacing(t *testing.T) {
	e := newEnv(t, envOpts{chatRate: 1, rate: 0})
	e.waitReady()
	user := telegramtest.User{ID: 1100, FirstName: "Alice"}
	e.say(telegramtest.Private(user), user, "/privacy") // the chat exists
	t0 := time.Now()
	for i := range 10 {
		// Another conversation in the same chat: no old buttons to remove.
		r := bot.Reply{Platform: telegram.Platform, Conv: "tg:1100:9", Route: "1100", Text: fmt.Sprintf("message %d", i)}
		if err := e.tg.Send(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	var at []time.Duration
	for _, c := range e.fake.Calls("sendMessage") {
		if c.At.After(t0) {
			at = append(at, c.At.Sub(t0))
		}
	}
	// The burst of 10 goes out at once (the /privacy turn used 2 of it),
	// then one a second.
	if at[7] > 300*time.Millisecond {
		t.Errorf("8th message after %v: the burst was paced", at[7])
	}
	if at[8] < 700*time.Millisecond || at[9] < 1700*time.Millisecond {
		t.Errorf("messages 9 and 10 after %v and %v: not paced at 1/s", at[8], at[9])
	}

	// The overall rate: 5 a second across chats.
	g := newEnv(t, envOpts{rate: 5, chatRate: 0})
	g.waitReady()
	for i := range 8 {
		u := telegramtest.User{ID: int64(1200 + i)}
		g.fake.UserMessage(telegramtest.Private(u), u, "")
	}
	t0 = time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := 1200 + i
			r := bot.Reply{Platform: telegram.Platform, Conv: fmt.Sprintf("tg:%d:%d", id, id), Route: fmt.Sprint(id), Text: "hi"}
			if err := g.tg.Send(context.Background(), r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(t0); d < 500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("8 messages at 5/s (burst 5) took %v, want about 0.6 s", d)
	}
}

// TestEditsThatChangeNothingAreNotSent: collapsing a message twice, or
// editing it to what it shows, sends nothing the second time.
func TestEditsThatChangeNothingAreNotSent(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.waitReady()
	user := telegramtest.User{ID: 1300, FirstName: "Alice"}
	chat := telegramtest.Private(user)
	got := e.say(chat, user, "/start")
	q := got[1]
	ref := fmt.Sprintf("%d:%d", chat.ID, q.ID)
	ctx := context.Background()
	collapse := bot.Reply{Kind: bot.Collapse, Platform: telegram.Platform, Conv: "tg:1300:1300", Route: "1300", Edit: ref}
	for range 2 {
		if err := e.tg.Send(ctx, collapse); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.fake.Calls("editMessageReplyMarkup")); n != 1 {
		t.Errorf("%d keyboard edits, want 1", n)
	}
	edit := bot.Reply{Platform: telegram.Platform, Conv: "tg:1300:1300", Route: "1300", Edit: ref, Text: "Changed *once*",
		Buttons: []bot.Button{{Label: "OK", Data: "1.ok"}}}
	for range 2 {
		if err := e.tg.Send(ctx, edit); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.fake.Calls("editMessageText")); n != 1 {
		t.Errorf("%d text edits, want 1", n)
	}
	if m, _ := e.fake.Message(chat.ID, q.ID); m.Text != "Changed once" || len(m.Buttons()) != 1 {
		t.Errorf("edited message %+v", m)
	}
	// Unknown to this process (sent before a restart): the edit is sent,
	// and Telegram's "not modified" is success.
	e.stop()
	e2 := newEnv(t, envOpts{fake: e.fake, store: e.store})
	e2.waitReady()
	if err := e2.tg.Send(ctx, edit); err != nil {
		t.Fatalf("not modified is not an error: %v", err)
	}
}
