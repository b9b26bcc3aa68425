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
			env := []string{"ADDR=" + addr, "STORE=memory", "LOG_FORMAT=json",
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
				if strings.Contains(stderr.String(), slacktest.BotToken) || strings.Contains(stderr.String(), slacktest.SigningSecret) {
					t.Error("a secret in the log")
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
			deadline := time.Now().Add(10 * time.Second)
			for len(fake.Messages("D1", "")) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("no answer in the DM\n%s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
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
