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
	"github.com/supportbot/supportbot/content"
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

// BenchDispatch runs whole turns end to end on s: a Dispatcher with the
// shipped pack takes each update through the inbox, the engine, one
// commit, sending (to a sender that accepts at once) and the marks, on
// convs conversations at once, and reports turns/s. Each goroutine walks
// its own conversation, waiting for each turn as a user waits for the
// reply.
func BenchDispatch(b *testing.B, s bot.Store, convs int) {
	pack, err := content.Shipped()
	if err != nil {
		b.Fatal(err)
	}
	d, err := bot.New(bot.Config{Store: s, Pack: pack, Senders: map[string]bot.Sender{"bench": acceptAll{}},
		RecoverEvery: time.Hour, RemindEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// A walk to the answer and back to the start, as users type it.
	script := []bot.Update{
		{Kind: bot.KindText, Text: "refund"},
		{Kind: bot.KindText, Text: "123 1234567 1234567"},
		{Kind: bot.KindText, Text: "The parcel never arrived"},
		{Kind: bot.KindText, Text: "email"},
		{Kind: bot.KindText, Text: "start over"},
	}
	var next, ids atomic.Int64
	b.SetParallelism(max(1, convs/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		conv := fmt.Sprintf("bench:%d", i)
		for n := 0; pb.Next(); n++ {
			u := script[n%len(script)]
			u.ID = fmt.Sprintf("bench:%d", ids.Add(1))
			u.Platform, u.Conv, u.Route, u.User, u.Lang = "bench", conv, conv, "user-"+conv, "en"
			if err := d.Handle(ctx, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "turns/s")
}

type acceptAll struct{}

func (acceptAll) Send(context.Context, bot.Reply) error { return nil }
