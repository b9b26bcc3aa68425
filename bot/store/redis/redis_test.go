package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/redis/redistest"
	"github.com/supportbot/supportbot/bot/store/storetest"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	goredis.SetLogger(&logging.VoidLogger{}) // the outage test makes go-redis log every failed dial
	code := m.Run()
	redistest.StopShared()
	os.Exit(code)
}

var prefixes atomic.Int64

// uniquePrefix keeps test runs and cases apart on a shared Redis.
func uniquePrefix() string {
	return fmt.Sprintf("sbtest-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, prefixes.Add(1))
}

// openStore opens a store under a fresh prefix and deletes its keys after
// the test.
func openStore(t testing.TB, url, prefix string) *Store {
	t.Helper()
	s, err := Open(ctx, url, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		cleanPrefix(url, prefix)
	})
	return s
}

func cleanPrefix(url, prefix string) {
	s, err := Open(ctx, url, Options{Prefix: prefix})
	if err != nil {
		return
	}
	defer s.Close()
	keys, _ := s.Keys(ctx)
	for _, k := range keys {
		s.rdb.Del(ctx, k)
	}
}

// harness runs the suite on a real Redis: TTLs are the server's, so the
// clock is real and Advance sleeps.
type harness struct {
	url, prefix string
	s           *Store
}

func (h *harness) Open(t *testing.T) bot.Store {
	h.prefix = uniquePrefix()
	h.s = openStore(t, h.url, h.prefix)
	return h.s
}

func (h *harness) Reopen(t *testing.T) bot.Store {
	s, err := Open(ctx, h.url, Options{Prefix: h.prefix})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return s
}

func (h *harness) Keys(t *testing.T) []string {
	keys, err := h.s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (h *harness) Advance(d time.Duration) { time.Sleep(d) }

func TestStore(t *testing.T) {
	storetest.Run(t, &harness{url: redistest.URL(t)})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, addr, prefix string
		db                int
		tls               bool
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", "supportbot", 0, false},
		{"redis://:pw@cache:6380/2?prefix=bot-eu", "cache:6380", "bot-eu", 2, false},
		{"rediss://:pw@cache.example.com:6380/1?prefix=x&dial_timeout=3s", "cache.example.com:6380", "x", 1, true},
	} {
		o, prefix, err := parseURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if o.Addr != tc.addr || prefix != tc.prefix || o.DB != tc.db || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("%s: addr %s prefix %s db %d tls %v", tc.url, o.Addr, prefix, o.DB, o.TLSConfig != nil)
		}
	}
	for _, bad := range []string{"redis://:s3cret@host:6379/x", "redis://:s3cret@host:6379/0?nosuch=1", "http://:s3cret@host/", "redis://:s3cret@[::1"} {
		_, _, err := parseURL(bad)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "redis: ") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nobody listens there now
	_, err = Open(ctx, "redis://:s3cret@"+addr+"/0", Options{})
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a closed port: %v", err)
	}
	t.Log(err)
}

func TestPassword(t *testing.T) {
	srv := redistest.Own(t, "--requirepass", "s3cret-pw")
	_, err := Open(ctx, "redis://:wrong-pw@"+srv.Addr()+"/0", Options{})
	if err == nil || !strings.Contains(err.Error(), srv.Addr()) || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
	t.Log(err)
	s := openStore(t, "redis://:s3cret-pw@"+srv.Addr()+"/0", uniquePrefix())
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPrefixIsolates: two stores on one Redis see nothing of each other.
func TestPrefixIsolates(t *testing.T) {
	url := redistest.URL(t)
	a, b := openStore(t, url, uniquePrefix()), openStore(t, url, uniquePrefix())
	if _, err := a.PutInbox(ctx, bot.Delivery{ID: "d1", Conv: "c1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := bot.Commit{Conv: "c1", User: "u1", Delivery: "d1", Session: []byte("s"), UserData: []byte("u"),
		SessionTTL: time.Hour, DeliveryTTL: time.Hour, Outbox: []bot.Outgoing{{Seq: 1, Data: []byte("r")}}}
	if err := a.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Begin(ctx, bot.Lease{Conv: "c1", User: "u1", Owner: "A", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	rec, err := b.Begin(ctx, bot.Lease{Conv: "c1", User: "u1", Delivery: "d1", Owner: "B", TTL: time.Hour})
	if err != nil || rec.Session != nil || rec.User != nil || rec.Done || len(rec.Outbox) != 0 {
		t.Fatalf("b sees a's data: %+v, %v", rec, err)
	}
	if st, err := b.PutInbox(ctx, bot.Delivery{ID: "d1", Conv: "c1", At: time.Now()}); err != nil || st != bot.InboxNew {
		t.Fatalf("b's PutInbox: %v, %v", st, err)
	}
	if err := b.Commit(ctx, c); err != nil {
		t.Fatalf("b's commit: %v", err)
	}
	for _, s := range []*Store{a, b} {
		keys, err := s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, s.prefix) {
				t.Fatalf("%s lists %s", s.prefix, k)
			}
		}
		if len(keys) == 0 {
			t.Fatal("no keys")
		}
	}
}

// TestOutage: calls fail with the operation named while Redis is down and
// work again once it is back.
func TestOutage(t *testing.T) {
	srv := redistest.Own(t)
	s := openStore(t, srv.URL(), uniquePrefix())
	c := bot.Commit{Conv: "c1", User: "u1", Delivery: "d1", Session: []byte("s"), SessionTTL: time.Hour, DeliveryTTL: time.Hour}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	version := uint64(1)
	calls := []struct {
		op   string
		call func() error
	}{
		{"put inbox", func() error {
			_, err := s.PutInbox(ctx, bot.Delivery{ID: "d2", Conv: "c1", At: time.Now()})
			return err
		}},
		{"inbox", func() error { _, err := s.Inbox(ctx, 10); return err }},
		{"begin", func() error {
			_, err := s.Begin(ctx, bot.Lease{Conv: "c1", User: "u1", Owner: "w", TTL: time.Minute})
			return err
		}},
		{"commit", func() error {
			c := c
			c.Delivery, c.Version = "d2", version
			return s.Commit(ctx, c)
		}},
		{"mark sent", func() error { return s.MarkSent(ctx, "c1", 1) }},
		{"finish", func() error { return s.Finish(ctx, "c1", "d2", "w") }},
		{"ping", func() error { return s.Ping(ctx) }},
	}
	for _, call := range calls {
		err := call.call()
		if err == nil || errors.Is(err, bot.ErrConflict) || errors.Is(err, bot.ErrLocked) ||
			!strings.HasPrefix(err.Error(), "redis: "+call.op+": ") {
			t.Errorf("%s with Redis down: %v", call.op, err)
		}
	}
	if t.Failed() {
		return
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// Redis came back empty (no persistence): the turn starts from scratch.
	version = 0
	for _, call := range calls {
		var err error
		for range 50 { // the pool may hand out a dead connection once
			if err = call.call(); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("%s after Redis came back: %v", call.op, err)
		}
	}
}

// BenchmarkTurn runs full turns as the Dispatcher does (PutInbox, Begin,
// Commit with a 200-byte session and two replies, MarkSent twice, Finish)
// on 64 conversations at once.
//
//	go test -run '^$' -bench BenchmarkTurn -benchtime 200000x ./bot/store/redis/
func BenchmarkTurn(b *testing.B) { benchTurns(b, Options{}) }

// BenchmarkDispatch runs whole turns through the Dispatcher and the
// shipped pack on Redis, 64 conversations at once.
//
//	go test -run '^$' -bench BenchmarkDispatch -benchtime 100000x ./bot/store/redis/
func BenchmarkDispatch(b *testing.B) {
	url := redistest.URL(b)
	s, err := Open(ctx, url, Options{Prefix: uniquePrefix()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = s.Close()
		cleanPrefix(url, s.prefix[:len(s.prefix)-1])
	})
	storetest.BenchDispatch(b, s, 64)
}

// BenchmarkTurnNoAutoPipeline is BenchmarkTurn with a round trip per call.
func BenchmarkTurnNoAutoPipeline(b *testing.B) { benchTurns(b, Options{NoAutoPipeline: true}) }

func benchTurns(b *testing.B, opts Options) {
	opts.Prefix = uniquePrefix()
	url := redistest.URL(b)
	s, err := Open(ctx, url, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = s.Close()
		cleanPrefix(url, opts.Prefix)
	})
	storetest.BenchTurns(b, s, 64)
}
