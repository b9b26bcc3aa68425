package storetest

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
)

// BenchTurns runs full turns as the Dispatcher does (PutInbox, Begin, a
// Commit with a 200-byte session and two replies, MarkSent for each, Finish)
// on about convs conversations at once, and reports turns/s.
func BenchTurns(b *testing.B, s bot.Store, convs int) {
	ctx := context.Background()
	session := bytes.Repeat([]byte("s"), 200)
	reply := bytes.Repeat([]byte("r"), 150)
	var next atomic.Int64
	procs := max(1, convs/runtime.GOMAXPROCS(0))
	b.SetParallelism(procs)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		conv, user := fmt.Sprintf("bench:%d:%d", i, i), fmt.Sprintf("bench:%d", i)
		for n := 0; pb.Next(); n++ {
			id := fmt.Sprintf("%s:%d", conv, n)
			if _, err := s.PutInbox(ctx, bot.Delivery{ID: id, Conv: conv, At: time.Now(), Data: reply}); err != nil {
				b.Error(err)
				return
			}
			rec, err := s.Begin(ctx, bot.Lease{Conv: conv, User: user, Delivery: id, Owner: "bench", TTL: time.Minute})
			if err != nil {
				b.Error(err)
				return
			}
			c := bot.Commit{Conv: conv, User: user, Delivery: id, Version: rec.Version, Session: session,
				SessionTTL: time.Hour, DeliveryTTL: time.Hour,
				Outbox: []bot.Outgoing{{Seq: (rec.Version+1)<<8 | 0, Data: reply}, {Seq: (rec.Version+1)<<8 | 1, Data: reply}}}
			if err := s.Commit(ctx, c); err != nil {
				b.Error(err)
				return
			}
			for _, o := range c.Outbox {
				if err := s.MarkSent(ctx, conv, o.Seq); err != nil {
					b.Error(err)
					return
				}
			}
			if err := s.Finish(ctx, conv, id, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "turns/s")
}
