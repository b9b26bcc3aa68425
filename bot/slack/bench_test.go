package slack_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/supportbot/supportbot/bot/slack/slacktest"
)

// BenchmarkTurn measures one DM turn end to end (delivery, inbox, engine,
// memory store, chat.postMessage to the fake) in each mode, with many
// conversations at once. go test -bench Turn -cpuprofile cpu.out
func BenchmarkTurn(b *testing.B) {
	for _, mode := range []string{"http", "socket"} {
		b.Run(mode, func(b *testing.B) {
			w := newWorld(b, mode, worldOpts{fake: slacktest.Options{NoCallLog: true}})
			var mu sync.Mutex
			waiting := map[string]chan struct{}{}
			w.fake.OnPost(func(p slacktest.Post) {
				mu.Lock()
				ch := waiting[p.Message.Channel]
				mu.Unlock()
				if ch != nil {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			})
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				user := fmt.Sprintf("U%06d", n.Add(1))
				dm := slacktest.DMChannel(user)
				ch := make(chan struct{}, 16)
				mu.Lock()
				waiting[dm] = ch
				mu.Unlock()
				for pb.Next() {
					// "help" answers with the help text and the current
					// question: two posts.
					ev := slacktest.EventCallback(team, slacktest.NewEventID(), slacktest.IMMessage(team, user, dm, "help", slacktest.NewTS()))
					if mode == "http" {
						w.client.Event(b.Context(), ev, 0)
					} else {
						w.fake.Deliver(slacktest.EventsAPI, ev)
					}
					<-ch
					<-ch
				}
			})
		})
	}
}
