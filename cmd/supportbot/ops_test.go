package main_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/telegram/telegramtest"
)

// botProc is the built binary running against a fake platform.
type botProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
	addr   string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startBot(t *testing.T, fake *telegramtest.Server, addr string, extra ...string) *botProc {
	t.Helper()
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ADDR=" + addr, "LOG_FORMAT=json",
		"TELEGRAM_BOT_TOKEN=" + fake.Token, "TELEGRAM_API_URL=" + fake.URL, "TELEGRAM_RATE=0", "TELEGRAM_CHAT_RATE=0", "USER_RATE=0"}, extra...)
	p := &botProc{t: t, cmd: exec.Command(bin), stderr: &syncBuffer{}, done: make(chan error, 1), addr: addr}
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and returns the exit status.
func (p *botProc) stop() int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatalf("no exit 30 s after SIGTERM\n%s", p.stderr.String())
		return -1
	}
}

func (p *botProc) get(path string) (int, string) {
	res, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (p *botProc) waitStatus(path string, status int, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _ := p.get(path)
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never answered %d (last %d)\n%s", path, status, got, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// script is one user's walk and how many messages the bot answers each
// step with: typed words only, so the count is the whole contract.
var script = []struct {
	text    string
	replies int
}{
	{"/start", 2}, // greeting, question
	{"refund", 1}, // order number?
	{"skip", 1},   // details?
	{"skip", 1},   // channel?
	{"e-mail", 5}, // steps, checklist, phrasing, tip, what next
	{"/reset", 2}, // "let's start again", question
}

// TestSIGTERMUnderLoad stops the bot with SIGTERM while 20 users talk to
// it without pause, starts it again on the same bbolt file, and checks
// that every message was answered exactly once, in order.
func TestSIGTERMUnderLoad(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	db := "STORE=bolt:" + filepath.Join(t.TempDir(), "bot.db")
	addr := freeAddr(t)
	p := startBot(t, fake, addr, db)
	p.waitStatus("/readyz", 200, 10*time.Second)

	const users, rounds = 20, 3
	var wg sync.WaitGroup
	errs := make(chan string, users)
	var mu sync.Mutex
	sent := 0
	for u := range users {
		wg.Go(func() {
			user := telegramtest.User{ID: int64(1000 + u), FirstName: "U", LanguageCode: "en"}
			chat := telegramtest.Private(user)
			want := 0
			for range rounds {
				for _, step := range script {
					fake.UserMessage(chat, user, step.text)
					mu.Lock()
					sent++
					mu.Unlock()
					want += step.replies
					if !fake.WaitFor(60*time.Second, func() bool { return len(fake.BotMessages(chat.ID)) >= want }) {
						errs <- fmt.Sprintf("user %d: %d replies after %q, want %d", u, len(fake.BotMessages(chat.ID)), step.text, want)
						return
					}
				}
			}
		})
	}
	// Stop in the middle of the traffic, then start again.
	fake.WaitFor(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return sent > users*len(script) })
	if code := p.stop(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM\n%s", code, p.stderr.String())
	}
	mu.Lock()
	atStop := sent
	mu.Unlock()
	if atStop >= users*rounds*len(script) {
		t.Fatalf("the stop came after the traffic (%d messages sent); it proves nothing", atStop)
	}
	t.Logf("SIGTERM after %d of %d messages", atStop, users*rounds*len(script))
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no orderly stop in the log:\n%s", p.stderr.String())
	}
	p2 := startBot(t, fake, addr, db)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	total := 0
	for _, s := range script {
		total += s.replies
	}
	for u := range users {
		msgs := fake.BotMessages(int64(1000 + u))
		if len(msgs) != total*rounds {
			t.Errorf("user %d: %d messages, want %d (lost or duplicated)", u, len(msgs), total*rounds)
			continue
		}
		// In order: each round starts with the greeting or "start again".
		for r := range rounds {
			first := msgs[r*total].Text
			if r == 0 && !strings.HasPrefix(first, "Hi!") {
				t.Errorf("user %d round %d starts with %q", u, r, first)
			}
		}
	}
	if code := p2.stop(); code != 0 {
		t.Errorf("second run exit %d", code)
	}
}

// TestLogsCarryNoUserData runs a whole conversation with debug logs and
// fails if any message text, name, order number or token shows up.
func TestLogsCarryNoUserData(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	addr := freeAddr(t)
	p := startBot(t, fake, addr, "STORE=memory", "LOG_LEVEL=debug")
	p.waitStatus("/readyz", 200, 10*time.Second)
	user := telegramtest.User{ID: 77, FirstName: "Zelma", Username: "zelma_k", LanguageCode: "lv"}
	chat := telegramtest.Private(user)
	words := []string{"atmaksa", "123 4567890 7654321", "Kaste bija tukša, tikai papīrs", "e-pasts"}
	want := 0
	for i, w := range words {
		fake.UserMessage(chat, user, w)
		want += []int{2, 1, 1, 5}[i]
		if !fake.WaitFor(10*time.Second, func() bool { return len(fake.BotMessages(77)) >= want }) {
			t.Fatalf("no answer to %q\n%s", w, p.stderr.String())
		}
	}
	// A button press too.
	msgs := fake.BotMessages(77)
	last := msgs[len(msgs)-1]
	if _, _, err := fake.Press(chat, user, last.ID, last.Buttons()[0].Data); err != nil {
		t.Fatal(err)
	}
	fake.WaitFor(10*time.Second, func() bool { return len(fake.BotMessages(77)) > want })
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `"msg":"turn"`) {
		t.Fatalf("no per-turn debug lines to check:\n%s", logs)
	}
	for _, secret := range append(words, "123-4567890-7654321", "Zelma", "zelma_k", fake.Token, "77:") {
		if strings.Contains(logs, secret) {
			t.Errorf("%q appears in the log", secret)
		}
	}
}

// TestReadinessFlips: /readyz follows the store (a Redis that goes away and
// comes back) and turns 503 during shutdown while /healthz stays 200.
func TestReadinessFlips(t *testing.T) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is needed in CI")
		}
		t.Skip("redis-server not installed")
	}
	port := strings.Split(freeAddr(t), ":")[1]
	startRedis := func() *exec.Cmd {
		c := exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		time.Sleep(200 * time.Millisecond)
		return c
	}
	r := startRedis()
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	addr := freeAddr(t)
	p := startBot(t, fake, addr, "STORE=redis://127.0.0.1:"+port+"/0?prefix=ready"+port)
	p.waitStatus("/readyz", 200, 10*time.Second)

	r.Process.Kill()
	r.Wait()
	p.waitStatus("/readyz", 503, 10*time.Second)
	if code, _ := p.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d while the store is down", code)
	}
	startRedis()
	p.waitStatus("/readyz", 200, 15*time.Second)

	// Shutdown with a reply in flight (the platform is slow): readiness
	// turns 503 at once, the listener stays up until the work is done.
	fake.SetDelay("sendMessage", 1500*time.Millisecond)
	user := telegramtest.User{ID: 5, FirstName: "R", LanguageCode: "en"}
	fake.UserMessage(telegramtest.Private(user), user, "/start")
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitStatus("/readyz", 503, 2*time.Second)
	if code, _ := p.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d during shutdown", code)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if n := len(fake.BotMessages(5)); n != 2 {
		t.Errorf("the turn in flight sent %d of its 2 messages before exiting", n)
	}
}

// TestUnreachablePlatform: a Bot API that cannot be reached keeps the bot
// running and not ready; it never exits on its own.
func TestUnreachablePlatform(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	fake.Close() // nothing listens there any more
	addr := freeAddr(t)
	p := startBot(t, fake, addr, "STORE=memory")
	p.waitStatus("/healthz", 200, 10*time.Second)
	for range 3 {
		if code, _ := p.get("/readyz"); code != 503 {
			t.Fatalf("/readyz = %d with the platform unreachable", code)
		}
		time.Sleep(time.Second)
	}
	select {
	case err := <-p.done:
		t.Fatalf("the bot exited on its own: %v\n%s", err, p.stderr.String())
	default:
	}
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestMetricsAfterConversation scrapes /metrics after a scripted walk.
func TestMetricsAfterConversation(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	addr := freeAddr(t)
	p := startBot(t, fake, addr, "STORE=memory")
	p.waitStatus("/readyz", 200, 10*time.Second)
	_, before := p.get("/metrics")
	for _, series := range []string{`supportbot_turns_total{outcome="moved",platform="telegram"} 0`, `supportbot_funnel_chosen_total{choice="email",state="channel"} 0`} {
		if !strings.Contains(before, series) {
			t.Errorf("before any message, /metrics lacks %s", series)
		}
	}
	user := telegramtest.User{ID: 9, FirstName: "M", LanguageCode: "en"}
	want := 0
	for _, s := range script[:5] {
		fake.UserMessage(telegramtest.Private(user), user, s.text)
		want += s.replies
		fake.WaitFor(10*time.Second, func() bool { return len(fake.BotMessages(9)) >= want })
	}
	time.Sleep(100 * time.Millisecond)
	_, after := p.get("/metrics")
	for _, series := range []string{
		`supportbot_turns_total{outcome="moved",platform="telegram"} 5`,
		`supportbot_funnel_entered_total{state="answer"} 1`,
		`supportbot_funnel_chosen_total{choice="refund",state="problem"} 1`,
		`supportbot_funnel_chosen_total{choice="email",state="channel"} 1`,
		`supportbot_replies_total{platform="telegram",result="sent"} 10`,
		`supportbot_updates_received_total{kind="command",platform="telegram"} 1`,
		`supportbot_updates_received_total{kind="message",platform="telegram"} 4`,
	} {
		if !strings.Contains(after, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	p.stop()
}

// TestSecondProcessOnBoltFile: the bbolt file is locked; a second bot on
// it stops at once with one clear line instead of hanging.
func TestSecondProcessOnBoltFile(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	db := filepath.Join(t.TempDir(), "bot.db")
	p := startBot(t, fake, freeAddr(t), "STORE=bolt:"+db)
	p.waitStatus("/healthz", 200, 10*time.Second)
	start := time.Now()
	_, stderr, code := runBin(t, "", []string{"STORE=bolt:" + db, "ADDR=" + freeAddr(t),
		"TELEGRAM_BOT_TOKEN=" + fake.Token, "TELEGRAM_API_URL=" + fake.URL})
	if code != 2 || !strings.Contains(stderr, "in use by another supportbot process") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("second process: exit %d, stderr %q", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the second process took %v to give up", d)
	}
	p.stop()
}

// stuckTurn sends /start while the fake holds every sendMessage for a
// minute, and waits until the turn is committed and sending its reply.
func stuckTurn(t *testing.T, p *botProc, fake *telegramtest.Server, user telegramtest.User) {
	t.Helper()
	fake.SetDelay("sendMessage", time.Minute)
	fake.UserMessage(telegramtest.Private(user), user, "/start")
	deadline := time.Now().Add(10 * time.Second)
	for turnsCounted(p) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the turn never ran\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into the held sendMessage
}

// turnsCounted sums supportbot_turns_total: a turn is counted once
// committed, just before its replies go out.
func turnsCounted(p *botProc) float64 {
	_, m := p.get("/metrics")
	n := 0.0
	for _, l := range strings.Split(m, "\n") {
		if rest, ok := strings.CutPrefix(l, "supportbot_turns_total{"); ok {
			var v float64
			fmt.Sscan(rest[strings.LastIndex(rest, " ")+1:], &v)
			n += v
		}
	}
	return n
}

// resumes starts the bot again on the same store with the platform quick
// again, and checks the held turn's two replies arrive exactly once.
func resumes(t *testing.T, fake *telegramtest.Server, db string, chat int64) {
	t.Helper()
	fake.SetDelay("sendMessage", 0)
	p := startBot(t, fake, freeAddr(t), db)
	if !fake.WaitFor(15*time.Second, func() bool { return len(fake.BotMessages(chat)) >= 2 }) {
		t.Fatalf("the held turn did not resume: %d messages\n%s", len(fake.BotMessages(chat)), p.stderr.String())
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	if n := len(fake.BotMessages(chat)); n != 2 {
		t.Errorf("after the restart the chat has %d messages, want 2", n)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("restarted bot: exit %d", code)
	}
}

// TestShutdownDeadline: SHUTDOWN_TIMEOUT bounds the whole shutdown, from
// the signal to the exit, even with a reply the platform never accepts and
// a client that never finishes its request; the reply is sent after the
// next start.
func TestShutdownDeadline(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	db := "STORE=bolt:" + filepath.Join(t.TempDir(), "bot.db")
	const timeout = 2 * time.Second
	p := startBot(t, fake, freeAddr(t), db, "SHUTDOWN_TIMEOUT="+timeout.String())
	p.waitStatus("/readyz", 200, 10*time.Second)
	user := telegramtest.User{ID: 31, FirstName: "D", LanguageCode: "en"}
	stuckTurn(t, p, fake, user)
	// And an HTTP request that never finishes its headers: the listener
	// waits for it only until the same deadline.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")

	start := time.Now()
	code := p.stop()
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
	// Well inside the deadline would mean the held turn was not waited for.
	if took < timeout/2 || took > timeout+time.Second {
		t.Errorf("shutdown took %v with SHUTDOWN_TIMEOUT=%v", took, timeout)
	}
	logs := p.stderr.String()
	for _, want := range []string{"turns still running at the deadline", "work still running at the deadline", `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the log:\n%s", want, logs)
		}
	}
	resumes(t, fake, db, user.ID)
}

// TestSecondSignalExitsAtOnce: while a shutdown waits for a turn, a second
// SIGTERM ends the process at once, by the signal's default action; the
// turn is finished after the next start.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	fake := telegramtest.New(telegramtest.Options{})
	defer fake.Close()
	db := "STORE=bolt:" + filepath.Join(t.TempDir(), "bot.db")
	p := startBot(t, fake, freeAddr(t), db, "SHUTDOWN_TIMEOUT=60s")
	p.waitStatus("/readyz", 200, 10*time.Second)
	user := telegramtest.User{ID: 32, FirstName: "S", LanguageCode: "en"}
	stuckTurn(t, p, fake, user)

	p.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), `"msg":"shutting down"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown after the first SIGTERM\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The shutdown is waiting for the held reply.
	select {
	case err := <-p.done:
		t.Fatalf("exited on the first SIGTERM (%v) with a turn in flight\n%s", err, p.stderr.String())
	case <-time.After(500 * time.Millisecond):
	}

	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("exit after the second SIGTERM: %v, want death by SIGTERM", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("exit after the second SIGTERM: %v, want death by SIGTERM", err)
		}
		t.Logf("exited %v after the second SIGTERM", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after the second SIGTERM (SHUTDOWN_TIMEOUT 60s)\n%s", p.stderr.String())
	}
	if strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Error("the process stopped in order; the second signal did nothing")
	}
	resumes(t, fake, db, user.ID)
}
