package crashtest

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/store/redis"
	"github.com/supportbot/supportbot/bot/store/redis/redistest"
	"github.com/supportbot/supportbot/flows"
)

// badSession is a conversation whose stored session the bot cannot use.
type badSession struct {
	conv string
	// session is written through the store (a session the engine cannot
	// read or place); nil when raw damages the store's record itself.
	session []byte
	raw     []byte
}

func badSessions(t *testing.T) []badSession {
	t.Helper()
	pack := loadPack(t)
	enc := func(s flows.Session) []byte {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	real := enc(flows.Session{Flow: pack.Def.ID, Version: pack.Def.Version, State: "via", Lang: "en",
		Slots: []flows.Slot{{Name: "topic", Value: "bill"}, {Name: "account", Value: "12345678"}}})
	return []badSession{
		{conv: "bad:garbage", session: []byte("garbage, not a session")},
		{conv: "bad:truncated", session: real[:len(real)/2]},
		// A session from an older content version: its step is gone.
		{conv: "bad:gone-state", session: enc(flows.Session{Flow: pack.Def.ID, Version: pack.Def.Version - 1,
			State: "a_step_that_was_removed", Lang: "en", Slots: []flows.Slot{{Name: "topic", Value: "bill"}}})},
		{conv: "bad:other-flow", session: enc(flows.Session{Flow: "another-pack", Version: 1, State: "topic", Lang: "en"})},
		{conv: "bad:record", raw: []byte("\xff\x00")},
		{conv: "bad:record-long", raw: []byte("\x00\x00\x00\x00\x00\x00\x00\x07\x01damaged beyond repair")},
	}
}

// checkStartsAgain sends a message to each damaged conversation: the user
// gets the "start again" note and the first question, and the next
// message goes on from there.
func checkStartsAgain(t *testing.T, store bot.Store, bad []badSession) {
	t.Helper()
	pack := loadPack(t)
	text := func(key string) string {
		s, err := pack.Text("en", key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	note, topic, account := text("note.flow_changed"), text("ask.topic"), text("ask.account")
	r := startDispatcher(t, store, bot.Config{})
	for _, b := range bad {
		r.say(t, b.conv, "bill")
		got := r.rec.texts(b.conv)
		if len(got) != 2 || got[0] != note || got[1] != topic {
			t.Errorf("%s: first replies %q, want %q", b.conv, got, []string{note, topic})
			continue
		}
		r.say(t, b.conv, "bill")
		if got := r.rec.texts(b.conv); len(got) != 3 || got[2] != account {
			t.Errorf("%s: the conversation does not go on: %q", b.conv, got)
		}
		if s, _ := session(t, store, b.conv, "user-"+b.conv); s.State != "account" || s.Get("topic") != "bill" {
			t.Errorf("%s: stored %s after two turns", b.conv, showState(s))
		}
	}
}

// commitSessions writes the sessions the engine cannot use through the
// store, as if an older bot had.
func commitSessions(t *testing.T, s bot.Store, bad []badSession) {
	t.Helper()
	for _, b := range bad {
		if b.session == nil {
			continue
		}
		c := bot.Commit{Conv: b.conv, User: "user-" + b.conv, Session: b.session, SessionTTL: time.Hour, DeliveryTTL: time.Hour}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadSessionsBolt(t *testing.T) {
	bad := badSessions(t)
	path := filepath.Join(t.TempDir(), "supportbot.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitSessions(t, s, bad)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage the records themselves. The layout is bolt's (records.go):
	// bucket "sessions", key the conversation id after its uvarint length.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range bad {
			if b.raw != nil {
				key := append(binary.AppendUvarint(nil, uint64(len(b.conv))), b.conv...)
				if err := tx.Bucket([]byte("sessions")).Put(key, b.raw); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	checkStartsAgain(t, s, bad)
}

func TestBadSessionsRedis(t *testing.T) {
	url := redistest.URL(t)
	prefix := uniquePrefix(t, url)
	s, err := redis.Open(ctx, url, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	bad := badSessions(t)
	commitSessions(t, s, bad)
	// The layout is the redis package's: <prefix>:session:<conv> holds the
	// version (8 bytes) and the session.
	raw := rawClient(t, url)
	for _, b := range bad {
		if b.raw != nil {
			if err := raw.Set(ctx, prefix+":session:"+b.conv, b.raw, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkStartsAgain(t, s, bad)
}

// TestRedisOutage stops Redis while the bot works: an update that arrives
// meanwhile is refused at the accept timeout (the platform redelivers it)
// and answered once Redis is back; a turn cut off between its replies and their
// marks ends without sending anything twice. Redis keeps an append-only
// file, so it comes back with its data.
func TestRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts redis.Options
	}{
		{"autopipeline", redis.Options{}},
		{"no autopipeline", redis.Options{NoAutoPipeline: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { testRedisOutage(t, tc.opts) })
	}
}

func testRedisOutage(t *testing.T, opts redis.Options) {
	srv := redistest.Own(t, "--appendonly", "yes", "--appendfsync", "always")
	opts.Prefix = "outage"
	s, err := redis.Open(ctx, srv.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const acceptTimeout = 300 * time.Millisecond
	r := startDispatcher(t, s, bot.Config{RecoverEvery: 50 * time.Millisecond, Lease: time.Second, AcceptTimeout: acceptTimeout})
	const conv = "outage:1"
	r.say(t, conv, "bill")

	// platform delivers as a platform does: it waits a while for the
	// acknowledgement, and delivers again until it gets one.
	var (
		accepting sync.WaitGroup
		mu        sync.Mutex
		refused   = map[string]int{}
		slowest   = map[string]time.Duration{}
	)
	platform := func(text string) {
		u := userUpdate(conv, text)
		accepting.Add(1)
		go func() {
			defer accepting.Done()
			for {
				start := time.Now()
				err := r.d.Accept(ctx, u)
				took := time.Since(start)
				mu.Lock()
				slowest[text] = max(slowest[text], took)
				if err != nil {
					refused[text]++
				}
				mu.Unlock()
				if err == nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	outage := time.Second + 500*time.Millisecond

	// Redis is down when the update comes.
	srv.Stop()
	platform("skip")
	time.Sleep(outage)
	if got := r.rec.texts(conv); len(got) != 2 {
		t.Fatalf("answered while Redis was down: %q", got)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	accepting.Wait()
	waitFor(t, "the answer after the outage", func() bool { return len(r.rec.texts(conv)) >= 3 })

	// Redis goes down while a turn sends its replies: the marks and the
	// next update wait for it.
	held, release := r.rec.hold()
	platform("email")
	accepting.Wait()
	<-held
	srv.Stop()
	platform("start over")
	release()
	time.Sleep(outage)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	accepting.Wait()

	ref := startDispatcher(t, memory.New(nil), bot.Config{})
	for _, text := range []string{"bill", "skip", "email", "start over"} {
		ref.say(t, conv, text)
	}
	want := ref.rec.texts(conv)
	waitFor(t, "every answer", func() bool { return len(r.rec.texts(conv)) >= len(want) })
	waitFor(t, "an empty inbox", func() bool {
		left, err := s.Inbox(ctx, 0)
		return err == nil && len(left) == 0
	})
	time.Sleep(200 * time.Millisecond)
	if got := r.rec.texts(conv); !slices.Equal(got, want) {
		t.Errorf("replies %q\nwant %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("while Redis was down: Accept refused %v times, took at most %v", refused, slowest)
	for _, text := range []string{"skip", "start over"} {
		if refused[text] == 0 {
			t.Errorf("%q was accepted while Redis was down", text)
		}
		// The platform is waiting: Accept gives up at its timeout, also
		// when autopipelining has queued the write.
		if slowest[text] > acceptTimeout+500*time.Millisecond {
			t.Errorf("%q: Accept took %v, past its %v timeout", text, slowest[text], acceptTimeout)
		}
	}
	if sess, rec := session(t, s, conv, "user-"+conv); sess.State != "topic" || len(rec.Outbox) != 0 {
		t.Errorf("after the outages: %s, outbox %d", showState(sess), len(rec.Outbox))
	}
}
