package main_test

import (
	"os"
	"path/filepath"
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
		{"content dir", []string{"CONTENT_DIR=/nonexistent/pack"}, nil, "CONTENT_DIR: /nonexistent/pack: no flow.yaml"},
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

// A flag mistake is one line on stderr, and neither it nor -h echoes a
// value from the environment: STORE's password must not appear.
func TestFlagsShowNoEnvironment(t *testing.T) {
	env := []string{"STORE=redis://:hunter2@127.0.0.1:1/0", "TELEGRAM_API_URL=https://tg.internal.example"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-frobnicate"}, "supportbot: flags: flag provided but not defined: -frobnicate (see supportbot -h)"},
		{[]string{"-store"}, "supportbot: flags: flag needs an argument: -store (see supportbot -h)"},
		{[]string{"extra"}, `supportbot: flags: unexpected argument "extra"`},
	} {
		out, stderr, code := runBin(t, "", env, tc.args...)
		if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line %q", tc.args, code, out, stderr, tc.want)
		}
		if strings.Contains(out+stderr, "hunter2") {
			t.Errorf("%v: the STORE password leaked:\n%s%s", tc.args, out, stderr)
		}
	}
	for _, arg := range []string{"-h", "-help", "--help"} {
		out, stderr, code := runBin(t, "", env, arg)
		if code != 0 || stderr != "" {
			t.Errorf("%s: exit %d, stderr %q", arg, code, stderr)
		}
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tg.internal.example") {
			t.Errorf("%s: usage shows values from the environment:\n%s", arg, out)
		}
		// The built-in defaults instead.
		for _, want := range []string{"-store", "$STORE", `(default "https://api.telegram.org")`, `(default "15s")`, "TELEGRAM_BOT_TOKEN"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, out)
			}
		}
	}
	// The environment still applies when no flag is given.
	_, stderr, code := runBin(t, "", env)
	if code != 2 || !strings.Contains(stderr, "STORE:") || strings.Contains(stderr, "hunter2") {
		t.Errorf("STORE from the environment: exit %d, stderr %q", code, stderr)
	}
}

// A content pack that fails lint stops start-up like any other setting:
// exit 2 and one line naming CONTENT_DIR, the first problem, the count.
func TestBrokenContentDir(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("..", "..", "content", "testdata", "northwind"), dir)
	edit := func(file, old, new string) {
		t.Helper()
		p := filepath.Join(dir, file)
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), old) {
			t.Fatalf("%s: %q not found (%v)", file, old, err)
		}
		os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
	}
	edit("de/texts.yaml", "  via: Telefon oder E-Mail?\n", "")
	edit("en/texts.yaml", "greeting: Hello", "farewell: Bye\ngreeting: Hello")
	want := "supportbot: CONTENT_DIR: " + filepath.Join(dir, "en", "texts.yaml") + `:1: text "farewell" is not used`
	for _, env := range [][]string{{"CONTENT_DIR=" + dir}, {"CONTENT_DIR=" + dir, "TELEGRAM_BOT_TOKEN=123456:s3cr3t", "STORE=memory"}} {
		_, stderr, code := runBin(t, "", env)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, want) ||
			!strings.Contains(stderr, "(2 problems; run supportbot lint "+dir+")") || strings.Contains(stderr, "s3cr3t") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line starting %q", env, code, stderr, want)
		}
	}
	// A YAML error is one line too.
	edit("flow.yaml", "  topic:\n    kind: choose", "  topic:\n    kind: [choose")
	_, stderr, code := runBin(t, "", []string{"CONTENT_DIR=" + dir})
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "supportbot: CONTENT_DIR: "+filepath.Join(dir, "flow.yaml")+":") {
		t.Errorf("YAML error: exit %d, stderr %q", code, stderr)
	}
}
