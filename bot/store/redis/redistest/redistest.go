// Package redistest runs real redis-server processes for tests: one shared
// by a test binary, or one per test that it may stop and start again.
// Without a redis-server binary, tests skip, except under CI=true, where a
// skipped store test would pass unnoticed and so fails instead.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server is a redis-server a test started, on a loopback port.
type Server struct {
	Port int
	args []string
	dir  string
	cmd  *exec.Cmd
}

// Launch runs redis-server without persistence (extra arguments override)
// on a free loopback port, keeping its files in dir. It returns nil, nil
// when there is no redis-server binary.
func Launch(dir string, extra ...string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{Port: port, dir: dir, args: extra}
	return s, s.Start()
}

// Start starts the server (again, after Stop) and waits until it answers.
func (s *Server) Start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := c.Ping(context.Background()).Err(); err == nil || strings.Contains(err.Error(), "NOAUTH") {
			return nil
		}
	}
	s.Stop()
	return fmt.Errorf("redis-server on port %d did not answer", s.Port)
}

// Stop kills the process, by its handle.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Addr is host:port; URL the redis:// address of database 0.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }
func (s *Server) URL() string  { return "redis://" + s.Addr() + "/0" }

// Unavailable skips a test that has no Redis, or fails it under CI=true.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Redis to test against (CI=true): %s", why)
	}
	t.Skipf("no Redis to test against: %s (set SUPPORTBOT_TEST_REDIS or install redis-server)", why)
}

var (
	shared     *Server
	sharedURL  string
	sharedErr  error
	sharedOnce sync.Once
)

// URL is SUPPORTBOT_TEST_REDIS (test.sh sets it), or a redis-server started
// once for the test binary; StopShared ends it.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SUPPORTBOT_TEST_REDIS"); u != "" {
		return u
	}
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "supportbot-redis-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = Launch(dir)
		if shared != nil && sharedErr == nil {
			sharedURL = shared.URL()
		}
	})
	switch {
	case sharedErr != nil:
		Unavailable(t, sharedErr.Error())
	case sharedURL == "":
		Unavailable(t, "SUPPORTBOT_TEST_REDIS is not set and there is no redis-server binary")
	}
	return sharedURL
}

// StopShared stops the server URL started, if any (call it from TestMain).
func StopShared() {
	if shared != nil {
		shared.Stop()
		_ = os.RemoveAll(shared.dir)
	}
}

// Own starts a redis-server for one test, one the test may stop and start
// again; it is stopped when the test ends.
func Own(t testing.TB, extra ...string) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), extra...)
	switch {
	case err != nil:
		Unavailable(t, err.Error())
	case s == nil:
		Unavailable(t, "this test needs the redis-server binary")
	}
	t.Cleanup(s.Stop)
	return s
}
