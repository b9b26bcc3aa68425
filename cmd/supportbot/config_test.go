package main_test

import (
	"strings"
	"testing"
)

// Each configuration mistake stops start-up with exit status 2 and one line
// that names the variable; no secret's value appears in it.
func TestConfigErrors(t *testing.T) {
	const tgToken = "123456:s3cr3t-telegram-token-value"
	const slackBot = "xoxb-s3cr3t-slack-bot"
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown store scheme", []string{"STORE=postgres://x"}, nil, `STORE: unknown scheme "postgres"`},
		{"bolt without a path", []string{"STORE=bolt:"}, nil, "STORE: bolt: needs a file path"},
		{"unreachable redis", []string{"STORE=redis://:hunter2s3cr3t@127.0.0.1:1/0", "TELEGRAM_BOT_TOKEN=" + tgToken}, nil, "STORE:"},
		{"telegram token shape", []string{"TELEGRAM_BOT_TOKEN=s3cr3t-no-colon"}, nil, "TELEGRAM_BOT_TOKEN: does not look like a bot token"},
		{"webhook without secret", []string{"TELEGRAM_BOT_TOKEN=" + tgToken, "TELEGRAM_WEBHOOK_URL=https://bot.example.com/telegram/webhook"}, nil, "TELEGRAM_WEBHOOK_SECRET: is required"},
		{"webhook secret charset", []string{"TELEGRAM_BOT_TOKEN=" + tgToken, "TELEGRAM_WEBHOOK_URL=https://x.example/hook", "TELEGRAM_WEBHOOK_SECRET=s3cr3t has spaces"}, nil, "TELEGRAM_WEBHOOK_SECRET: must be"},
		{"webhook url not absolute", []string{"TELEGRAM_BOT_TOKEN=" + tgToken, "TELEGRAM_WEBHOOK_URL=/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET=s"}, nil, "TELEGRAM_WEBHOOK_URL:"},
		{"slack bot token prefix", []string{"SLACK_BOT_TOKEN=xoxp-s3cr3t-user"}, nil, "SLACK_BOT_TOKEN: must start with xoxb-"},
		{"slack app token prefix", []string{"SLACK_BOT_TOKEN=" + slackBot, "SLACK_APP_TOKEN=xoxb-s3cr3t"}, nil, "SLACK_APP_TOKEN: must start with xapp-"},
		{"slack http without signing secret", []string{"SLACK_BOT_TOKEN=" + slackBot}, nil, "SLACK_SIGNING_SECRET: is required"},
		{"slack app token alone", []string{"SLACK_APP_TOKEN=xapp-s3cr3t"}, nil, "SLACK_BOT_TOKEN: is required"},
		{"slack api url slash", []string{"SLACK_BOT_TOKEN=" + slackBot, "SLACK_SIGNING_SECRET=s3cr3tsign", "SLACK_API_URL=https://slack.com/api"}, nil, "SLACK_API_URL:"},
		{"session ttl", []string{"SESSION_TTL=forever"}, nil, "SESSION_TTL:"},
		{"flag beats env", []string{"SESSION_TTL=30d"}, []string{"-session-ttl", "-5m"}, "SESSION_TTL:"},
		{"log level", []string{"LOG_LEVEL=loud"}, nil, "LOG_LEVEL:"},
		{"user rate", []string{"USER_RATE=-1"}, nil, "USER_RATE:"},
		{"content dir", []string{"CONTENT_DIR=/nonexistent/pack"}, nil, "content: /nonexistent/pack: no flow.yaml"},
		{"lang", nil, []string{"-lang", "xx"}, "BOT_LANG:"},
		{"unknown flag", nil, []string{"-frobnicate"}, "flags:"},
		{"address in use", []string{"TELEGRAM_BOT_TOKEN=" + tgToken, "STORE=memory", "ADDR=256.0.0.1:1"}, nil, "ADDR:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBin(t, "", tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Errorf("last line %q does not contain %q", last, tc.want)
			}
			if strings.Contains(stderr, "s3cr3t") || strings.Contains(stderr, "hunter2") {
				t.Errorf("a secret leaked:\n%s", stderr)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "supportbot:") && l != last {
					t.Errorf("more than one error line:\n%s", stderr)
				}
			}
		})
	}
}
