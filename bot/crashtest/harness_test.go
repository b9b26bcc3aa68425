package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

var ctx = context.Background()

func contentDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../../content/testdata")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadPack(t testing.TB) *content.Pack {
	t.Helper()
	p, err := content.Load(os.DirFS(contentDir(t)), "northwind")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// seed is the run's random seed: SUPPORTBOT_CRASHTEST_SEED, or a new one,
// logged so a failing run can be repeated.
func seed(t *testing.T) *rand.Rand {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("SUPPORTBOT_CRASHTEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		s = n
	}
	t.Logf("seed %d (SUPPORTBOT_CRASHTEST_SEED repeats a run)", s)
	return rand.New(rand.NewPCG(s, s>>1))
}

// replyKey is what must be the same in a reply and the reference's: not
// the button data, which carries a time-seeded nonce.
func replyKey(r bot.Reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%s|%s", r.Kind, r.Text, r.Chosen)
	for _, btn := range r.Buttons {
		b.WriteString("|" + btn.Label)
	}
	return b.String()
}

// received is a reply the platform took, and the child that sent it.
type received struct {
	gen string
	key string
	at  time.Time
}

// platform is the fake platform: it records every reply by the delivery
// that caused it (the update's Route, which replies carry).
type platform struct {
	srv     *httptest.Server
	mu      sync.Mutex
	byRoute map[string][]received
	waiters map[string]chan struct{} // by route
	total   int
}

func newPlatform(t *testing.T) *platform {
	p := &platform{byRoute: map[string][]received{}, waiters: map[string]chan struct{}{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep bot.Reply
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest) // cut off by a kill
			return
		}
		p.mu.Lock()
		p.byRoute[rep.Route] = append(p.byRoute[rep.Route], received{gen: r.Header.Get(genHeader), key: replyKey(rep), at: time.Now()})
		p.total++
		if ch := p.waiters[rep.Route]; ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) url() string { return p.srv.URL + "/reply" }

// has reports whether every wanted reply of the delivery arrived.
func (p *platform) has(route string, want []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return covers(p.byRoute[route], want)
}

func covers(got []received, want []string) bool {
	n := map[string]int{}
	for _, g := range got {
		n[g.key]++
	}
	for _, w := range want {
		if n[w] == 0 {
			return false
		}
		n[w]--
	}
	return true
}

// wait waits until every wanted reply of the delivery arrived.
func (p *platform) wait(route string, want []string, timeout time.Duration) bool {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.waiters[route] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, route)
		p.mu.Unlock()
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !p.has(route, want) {
		select {
		case <-ch:
		case <-deadline.C:
			return p.has(route, want)
		}
	}
	return true
}

// verdict is what the platform saw of all deliveries.
type verdict struct {
	deliveries, replies int
	lost                []string // deliveries with a wanted reply missing
	wrong               []string // replies the reference did not give
	dups                []dup    // a reply that came again, from another process
	sameDups            []string // a reply sent twice by one process
}

// dup is a reply that came again: from process gen, after prev sent it
// (the platform took it at prevAt).
type dup struct {
	route, key, gen, prev string
	prevAt                time.Time
}

// judge compares what arrived per delivery with the reference's replies.
func (p *platform) judge(want map[string][]string) verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	var v verdict
	v.deliveries = len(want)
	for route, got := range p.byRoute {
		if _, ok := want[route]; !ok {
			v.wrong = append(v.wrong, fmt.Sprintf("%s: %d replies to an update never sent", route, len(got)))
		}
	}
	for route, w := range want {
		got := p.byRoute[route]
		v.replies += len(got)
		if !covers(got, w) {
			v.lost = append(v.lost, fmt.Sprintf("%s: got %q, want %q", route, keysOf(got), w))
			continue
		}
		left := map[string]int{}
		for _, k := range w {
			left[k]++
		}
		copies := map[string][]received{}
		for _, g := range got {
			copies[g.key] = append(copies[g.key], g)
		}
		for k, gs := range copies {
			if _, ok := left[k]; !ok {
				v.wrong = append(v.wrong, fmt.Sprintf("%s: unexpected reply %q", route, k))
				continue
			}
			// The first left[k] copies are the wanted ones; each further
			// one is a duplicate, which only another process may send.
			for i := left[k]; i < len(gs); i++ {
				if gs[i].gen == gs[i-1].gen {
					v.sameDups = append(v.sameDups, fmt.Sprintf("%s: %q sent %d times by %s", route, k, len(gs), gs[i].gen))
					break
				}
				v.dups = append(v.dups, dup{route: route, key: k, gen: gs[i].gen, prev: gs[i-1].gen, prevAt: gs[i-1].at})
			}
		}
	}
	return v
}

func keysOf(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.key + " (" + r.gen + ")"
	}
	return out
}

// routeRecorder is the reference's platform: replies by route.
type routeRecorder struct {
	mu      sync.Mutex
	byRoute map[string][]string
}

func (r *routeRecorder) Send(_ context.Context, rep bot.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byRoute[rep.Route] = append(r.byRoute[rep.Route], replyKey(rep))
	return nil
}

// reference runs the same updates through a Dispatcher on the memory
// store: what it answers is what the child must answer.
type reference struct {
	d     *bot.Dispatcher
	store *memory.Store
	rec   *routeRecorder

	mu   sync.Mutex
	want map[string][]string // by delivery
}

func newReference(t *testing.T, pack *content.Pack) *reference {
	rec := &routeRecorder{byRoute: map[string][]string{}}
	store := memory.New(nil)
	d, err := bot.New(bot.Config{Store: store, Pack: pack, Senders: map[string]bot.Sender{"test": rec}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &reference{d: d, store: store, rec: rec, want: map[string][]string{}}
}

// turn runs u and returns its replies.
func (r *reference) turn(t *testing.T, u bot.Update) []string {
	if err := r.d.Handle(ctx, u); err != nil {
		t.Errorf("reference: %v", err)
	}
	r.rec.mu.Lock()
	want := append([]string(nil), r.rec.byRoute[u.Route]...)
	r.rec.mu.Unlock()
	r.mu.Lock()
	r.want[u.ID] = want
	r.mu.Unlock()
	return want
}

// wanted is every delivery's replies so far.
func (r *reference) wanted() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.want)
}

// session loads a conversation's session from a store.
func session(t *testing.T, s bot.Store, conv, user string) (flows.Session, bot.Record) {
	t.Helper()
	// A worker may still hold the lease a moment (a recovered delivery that
	// turned out done).
	var rec bot.Record
	var err error
	for wait := time.Millisecond; ; wait *= 2 {
		rec, err = s.Begin(ctx, bot.Lease{Conv: conv, User: user, Owner: "crashtest-checker", TTL: time.Second})
		if !errors.Is(err, bot.ErrLocked) || wait > time.Second {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		t.Fatalf("load %s: %v", conv, err)
	}
	_ = s.Finish(ctx, conv, "", "crashtest-checker")
	var sess flows.Session
	if rec.Session != nil {
		if err := sess.UnmarshalBinary(rec.Session); err != nil {
			t.Errorf("%s: session unreadable: %v", conv, err)
		}
	}
	return sess, rec
}

// sameState compares what a script decides: the step, the language and the
// slots (not the times and the nonce).
func sameState(a, b flows.Session) bool {
	return a.Flow == b.Flow && a.Version == b.Version && a.State == b.State && a.Lang == b.Lang &&
		fmt.Sprint(a.Slots) == fmt.Sprint(b.Slots)
}

func showState(s flows.Session) string {
	return fmt.Sprintf("%s/v%d state %q lang %s slots %v", s.Flow, s.Version, s.State, s.Lang, s.Slots)
}

// segments are walks through the northwind flow that end where they began
// (at the topic question), so a script is any sequence of them.
var segments = [][]string{
	{"bill", "1234-5678", "email", "start over"},
	{"outage", "skip", "phone", "start over"},
	{"bill", "skip", "phone", "start over"},
	{"outage", "9999 0000", "email", "start over"},
	{"bill", "12", "4321 8765", "phone", "start over"},
	{"help", "outage", "hello", "skip", "email", "start over"},
}

// script is one conversation's walk: segment after segment while more is
// wanted; then it ends where it is, so conversations end on different
// steps.
type script struct {
	rnd *rand.Rand
	seg []string
	i   int
}

func (s *script) next(more bool) (string, bool) {
	if !more {
		return "", false
	}
	if s.i == len(s.seg) {
		s.seg, s.i = segments[s.rnd.IntN(len(segments))], 0
	}
	s.i++
	return s.seg[s.i-1], true
}

// proc is one child process.
type proc struct {
	gen    string
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{} // closed once it exited
	err    error         // its exit status, once done
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startProc runs the test binary as a child bot and waits until it takes
// updates.
func startProc(t *testing.T, gen string, env ...string) *proc {
	t.Helper()
	p, err := launchProc(gen, contentDir(t), env...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchProc is startProc for callers that must not stop the test at once
// (other goroutines still use it).
func launchProc(gen, content string, env ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &proc{gen: gen, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(exe)
	p.cmd.Env = append(os.Environ(), append([]string{envChild + "=1", envGen + "=" + gen, envContent + "=" + content}, env...)...)
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = childAttr()
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case line := <-ready:
		addr, ok := strings.CutPrefix(line, "READY ")
		if !ok {
			<-p.done
			return nil, fmt.Errorf("child %s did not start: %q %v\n%s", gen, line, p.err, p.stderr)
		}
		p.addr = addr
		return p, nil
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("child %s did not start in 30 s\n%s", gen, p.stderr)
	}
}

// kill ends the child at once (SIGKILL), by its handle.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop asks the child to drain and exit (SIGTERM), and kills it if it
// does not within 20 s.
func (p *proc) stop(t *testing.T) { stopAll(t, p) }

// stopAll stops children at once.
func stopAll(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	late := false
	for _, p := range ps {
		if !late {
			select {
			case <-p.done:
			case <-deadline.C:
				late = true
			}
		}
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("child %s exited with %v\n%s", p.gen, p.err, p.stderr)
			}
		default:
			p.kill()
			t.Errorf("child %s did not stop in 20 s", p.gen)
		}
	}
}

// checkLog fails on what must never be in a child's log.
func (p *proc) checkLog(t *testing.T) {
	t.Helper()
	log := p.stderr.String()
	for _, bad := range []string{"DATA RACE", "panic:", "fatal error:", "turn panicked"} {
		if strings.Contains(log, bad) {
			t.Errorf("child %s logged %q:\n%s", p.gen, bad, log)
			return
		}
	}
}

// sender posts updates to a child, again and again until it answers 200,
// as a platform redelivers what was not acknowledged.
type sender struct {
	client *http.Client
}

func newSender() *sender {
	return &sender{client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
}

// post delivers once; true on 200.
func (s *sender) post(addr string, u bot.Update) bool {
	if addr == "" {
		return false
	}
	body, _ := json.Marshal(u)
	resp, err := s.client.Post("http://"+addr+"/update", "application/json", bytes.NewReader(body))
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// deliver posts until a child acknowledges; addr is asked each time (the
// child may have been restarted on another port). It returns the number of
// attempts, or 0 when it gave up after timeout.
func (s *sender) deliver(addr func() string, u bot.Update, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for n := 1; ; n++ {
		if s.post(addr(), u) {
			return n
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func textUpdate(conv string, n int, text string) bot.Update {
	id := fmt.Sprintf("%s:%d", conv, n)
	return bot.Update{ID: id, Route: id, Platform: "test", Conv: conv, User: "user-" + conv, Kind: bot.KindText, Text: text}
}

// rndFor is a generator of its own for one goroutine, from the run's.
func rndFor(r *rand.Rand) *rand.Rand { return rand.New(rand.NewPCG(r.Uint64(), r.Uint64())) }
