package main_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/slack/slacktest"
)

// The binary serves Slack in both modes against a fake Slack: /healthz,
// /readyz, a DM answered, a clean stop on SIGTERM.
func TestSlackBinary(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(slacktest.Options{})
			defer fake.Close()
			addr := freeAddr(t)
			env := []string{"ADDR=" + addr, "STORE=memory", "LOG_FORMAT=json", "LOG_LEVEL=debug",
				"SLACK_BOT_TOKEN=" + slacktest.BotToken, "SLACK_API_URL=" + fake.APIURL, "SLACK_CHANNEL_RATE=0"}
			if mode == "socket" {
				env = append(env, "SLACK_APP_TOKEN="+slacktest.AppToken)
			} else {
				env = append(env, "SLACK_SIGNING_SECRET="+slacktest.SigningSecret)
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
				// Logs carry no secret, message text, order number or
				// Slack id, also at debug level.
				logs := stderr.String()
				if !strings.Contains(logs, `"msg":"turn"`) {
					t.Errorf("no per-turn debug lines to check:\n%s", logs)
				}
				for _, s := range []string{slacktest.BotToken, slacktest.AppToken, slacktest.SigningSecret,
					"refund", "4567890", "Kaste bija", `"U1"`, "U1:", ":U1", slacktest.Team} {
					if strings.Contains(logs, s) {
						t.Errorf("%q appears in the log", s)
					}
				}
			}()
			base := "http://" + addr
			waitHTTP(t, base+"/healthz", 200)
			waitHTTP(t, base+"/readyz", 200)
			ev := slacktest.EventCallback(slacktest.Team, slacktest.NewEventID(),
				slacktest.IMMessage(slacktest.Team, "U1", "D1", "refund", slacktest.NewTS()))
			if mode == "http" {
				c := &slacktest.Client{URL: base}
				res, err := c.Event(context.Background(), ev, 0)
				if err != nil || res.Status != 200 {
					t.Fatalf("event: %v %+v", err, res)
				}
				res, err = c.Post(context.Background(), "/slack/events", ev, http.Header{"X-Slack-Signature": {"v0=00"}}, false)
				if err != nil || res.Status != 401 {
					t.Errorf("an unsigned event: %v %+v", err, res)
				}
			} else {
				fake.Deliver(slacktest.EventsAPI, ev)
			}
			waitDM := func(n int) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for len(fake.Messages("D1", "")) < n {
					if time.Now().After(deadline) {
						t.Fatalf("no answer in the DM\n%s", stderr.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitDM(2)
			// The order number and the details, for the log check.
			for i, text := range []string{"123 4567890 7654321", "Kaste bija tukša"} {
				ev := slacktest.EventCallback(slacktest.Team, slacktest.NewEventID(),
					slacktest.IMMessage(slacktest.Team, "U1", "D1", text, slacktest.NewTS()))
				if mode == "http" {
					c := &slacktest.Client{URL: base}
					if res, err := c.Event(context.Background(), ev, 0); err != nil || res.Status != 200 {
						t.Fatalf("event: %v %+v", err, res)
					}
				} else {
					fake.Deliver(slacktest.EventsAPI, ev)
				}
				waitDM(3 + i)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d (last: %v)", url, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
