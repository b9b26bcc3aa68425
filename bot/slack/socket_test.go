package slack_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/slack/slacktest"
)

// The socket drops and is refreshed in the middle of conversations; every
// message is still answered, once, in order.
func TestReconnectMidConversation(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{})
	var cs []*convo
	for i := range 8 {
		user := fmt.Sprintf("U%03d", i)
		c := &convo{w: w, surface: []string{"dm", "support"}[i%2], user: user, lang: "en",
			dm: slacktest.DMChannel(user), problem: problems[i%5], via: channels[i%4], typeDetails: i%3 == 0}
		c.channel = c.dm
		cs = append(cs, c)
	}
	disturb := []func(){
		nil,
		w.fake.DropSockets,
		w.fake.RefreshSockets,
		w.fake.DropSockets,
		w.fake.RefreshSockets,
	}
	for i, step := range steps {
		var wg sync.WaitGroup
		if d := disturb[i]; d != nil {
			d() // envelopes sent now wait for the next connection
		}
		for _, c := range cs {
			wg.Go(func() { step(c) })
		}
		wg.Wait()
		w.settle()
	}
	for _, c := range cs {
		check(t, c)
	}
	if d := w.fake.Dials(); d < 5 {
		t.Errorf("%d websocket connections, want at least 5", d)
	}
	w.waitFor("the socket to be back", 5*time.Second, w.bot.Ready)
}

// An envelope in flight when the connection drops is redelivered with a
// new envelope id; it is answered once whether or not the first copy was
// recorded. Slack also redelivers envelopes not acknowledged in time.
func TestRedeliveryAfterDrop(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{fake: slacktest.Options{AckTimeout: 300 * time.Millisecond}})
	for i := range 20 {
		user := fmt.Sprintf("U%03d", i)
		w.fake.Deliver(slacktest.EventsAPI, slacktest.EventCallback(team, slacktest.NewEventID(),
			slacktest.IMMessage(team, user, slacktest.DMChannel(user), "hi", slacktest.NewTS())))
		if i%5 == 2 {
			w.fake.DropSockets()
		}
	}
	w.waitFor("every envelope acknowledged", 10*time.Second, func() bool { return w.fake.Unacked() == 0 })
	w.settle()
	for i := range 20 {
		user := fmt.Sprintf("U%03d", i)
		if n := len(w.fake.Messages(slacktest.DMChannel(user), "")); n != 2 {
			t.Errorf("%s: %d messages, want 2", user, n)
		}
	}
}

// Envelopes are acknowledged as soon as they are recorded: well within
// Slack's 3 s.
func TestAckLatency(t *testing.T) {
	w := newWorld(t, "socket", worldOpts{})
	var worst time.Duration
	for i := range 30 {
		user := fmt.Sprintf("U%03d", i)
		start := time.Now()
		w.deliver(slacktest.EventsAPI, slacktest.EventCallback(team, slacktest.NewEventID(),
			slacktest.IMMessage(team, user, slacktest.DMChannel(user), "hi", slacktest.NewTS())))
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Errorf("the slowest ack took %v", worst)
	}
	w.settle()
}

// Until auth.test succeeds the bot is not ready, and it keeps trying.
func TestNotReadyUntilAuthenticated(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mode, worldOpts{noRun: true})
			w.fake.Inject("auth.test", 1, slacktest.Failure{Code: "invalid_auth"})
			if mode == "socket" {
				w.fake.Inject("apps.connections.open", 1, slacktest.Failure{Status: 503})
			}
			ctx, cancel := contextWithCleanup(t)
			defer cancel()
			var wg sync.WaitGroup
			wg.Go(func() { w.disp.Run(ctx) })
			wg.Go(func() { w.bot.Run(ctx) })
			defer wg.Wait()
			time.Sleep(200 * time.Millisecond)
			if w.bot.Ready() {
				t.Fatal("ready before auth.test succeeded")
			}
			w.waitFor("ready", 10*time.Second, w.bot.Ready)
			if n := w.fake.Count("auth.test"); n != 2 {
				t.Errorf("auth.test called %d times, want 2", n)
			}
			cancel()
		})
	}
}
