package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
)

// The binary serves Telegram by long polling and by webhook against the
// fake Bot API: ready, a /start answered, a clean stop on SIGTERM, no
// secret in the log.
func TestTelegramBinary(t *testing.T) {
	for _, mode := range []string{"polling", "webhook"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fake := telegramtest.New(telegramtest.Options{})
			defer fake.Close()
			addr := freeAddr(t)
			const secret = "hook-s3cret_value"
			env := []string{"ADDR=" + addr, "STORE=memory", "LOG_FORMAT=json", "LOG_LEVEL=debug",
				"TELEGRAM_BOT_TOKEN=" + fake.Token, "TELEGRAM_API_URL=" + fake.URL,
				"TELEGRAM_RATE=0", "TELEGRAM_CHAT_RATE=0"}
			if mode == "webhook" {
				env = append(env, "TELEGRAM_WEBHOOK_URL=http://"+addr+"/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET="+secret)
			}
			cmd := exec.Command(bin)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("exit: %v\n%s", err, stderr.String())
					}
				case <-time.After(20 * time.Second):
					cmd.Process.Kill()
					t.Errorf("no exit after SIGTERM\n%s", stderr.String())
				}
				for _, s := range []string{fake.Token, secret, "Alice"} {
					if strings.Contains(stderr.String(), s) {
						t.Errorf("%q in the log:\n%s", s, stderr.String())
					}
				}
			}()
			waitHTTP(t, "http://"+addr+"/readyz", 200)
			if mode == "webhook" && fake.Webhook().Secret != secret {
				t.Fatalf("webhook not set: %+v", fake.Webhook())
			}
			user := telegramtest.User{ID: 31, FirstName: "Alice", LanguageCode: "lv"}
			fake.UserMessage(telegramtest.Private(user), user, "/start")
			if !fake.WaitFor(10*time.Second, func() bool { return len(fake.BotMessages(31)) == 2 }) {
				t.Fatalf("no answer\n%s", stderr.String())
			}
			if n := len(fake.Refused()); n != 0 {
				t.Errorf("the fake refused %d calls: %+v", n, fake.Refused())
			}
		})
	}
}
