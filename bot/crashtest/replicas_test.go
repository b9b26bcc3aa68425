package crashtest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/store/redis"
	"github.com/supportbot/supportbot/bot/store/redis/redistest"
)

// TestTwoProcessesOneRedis runs two bot processes on one Redis, under one
// prefix, and delivers every update to both, the two copies racing (a
// platform that redelivers to another replica, or two replicas behind one
// webhook). Each conversation's next message goes out once the replies to
// the last one came, as a user writes. Every update must be answered
// exactly once, and every conversation end where its script leads.
func TestTwoProcessesOneRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two processes")
	}
	const (
		convs = 30
		run   = 4 * time.Second
	)
	url := redistest.URL(t)
	prefix := uniquePrefix(t, url)
	rnd := seed(t)
	pack := loadPack(t)
	plat := newPlatform(t)
	ref := newReference(t, pack)
	childEnv := []string{envStore + "=redis:" + url, envPrefix + "=" + prefix, envPlatform + "=" + plat.url()}
	a := startProc(t, "A", childEnv...)
	t.Cleanup(a.kill)
	b := startProc(t, "B", childEnv...)
	t.Cleanup(b.kill)
	addrs := []func() string{func() string { return a.addr }, func() string { return b.addr }}

	var (
		more   atomic.Bool
		turns  atomic.Int64
		wg     sync.WaitGroup
		copies sync.WaitGroup // deliveries of the second copies still going on
		names  []string
	)
	more.Store(true)
	send := newSender()
	for c := range convs {
		s := &script{rnd: rndFor(rnd)}
		conv := fmt.Sprintf("replicas:%d", c)
		names = append(names, conv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				text, ok := s.next(more.Load())
				if !ok {
					return
				}
				u := textUpdate(conv, n, text)
				want := ref.turn(t, u)
				// Both copies, in a random order, a few milliseconds apart
				// at most; neither waits for the other.
				first := s.rnd.IntN(2)
				for i, delay := range []time.Duration{0, time.Duration(s.rnd.Int64N(int64(3 * time.Millisecond)))} {
					to := addrs[(first+i)%2]
					copies.Add(1)
					go func() {
						defer copies.Done()
						time.Sleep(delay)
						if send.deliver(to, u, 30*time.Second) == 0 {
							t.Errorf("%s: never acknowledged", u.ID)
						}
					}()
				}
				if !plat.wait(u.ID, want, 30*time.Second) {
					t.Errorf("%s (%q): its replies never came", u.ID, text)
					return
				}
				turns.Add(1)
			}
		}()
	}
	time.Sleep(run)
	more.Store(false)
	wg.Wait()
	copies.Wait()
	stopAll(t, a, b)
	a.checkLog(t)
	b.checkLog(t)

	v := plat.judge(ref.wanted())
	for _, l := range v.lost {
		t.Errorf("lost: %s", l)
	}
	for _, w := range v.wrong {
		t.Errorf("wrong: %s", w)
	}
	for _, d := range v.sameDups {
		t.Errorf("answered twice by one process: %s", d)
	}
	for _, d := range v.dups {
		t.Errorf("answered by both processes: %s: %q by %s and %s", d.route, d.key, d.prev, d.gen)
	}
	byGen := map[string]int{}
	plat.mu.Lock()
	for _, rs := range plat.byRoute {
		for _, r := range rs {
			byGen[r.gen]++
		}
	}
	plat.mu.Unlock()
	t.Logf("%d turns, each delivered to both; %d replies: %d from A, %d from B", turns.Load(), v.replies, byGen["A"], byGen["B"])
	if byGen["A"] == 0 || byGen["B"] == 0 {
		t.Errorf("one process did all the work: %v", byGen)
	}

	s, err := redis.Open(ctx, url, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, conv := range names {
		got, rec := session(t, s, conv, "user-"+conv)
		want, _ := session(t, ref.store, conv, "user-"+conv)
		if !sameState(got, want) {
			t.Errorf("%s ends in %s, want %s", conv, showState(got), showState(want))
		}
		if len(rec.Outbox) != 0 {
			t.Errorf("%s: %d replies left in the outbox", conv, len(rec.Outbox))
		}
	}
	if left, err := s.Inbox(ctx, 0); err != nil || len(left) != 0 {
		t.Errorf("inbox after both processes stopped: %d entries, %v", len(left), err)
	}
}
