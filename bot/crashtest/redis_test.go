package crashtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// server is a redis-server a test started.
type server struct {
	port int
	args []string
	dir  string
	cmd  *exec.Cmd
}

// startServer runs redis-server on a free loopback port. It returns nil
// when there is no redis-server binary.
func startServer(dir string, extra ...string) (*server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv := &server{port: port, dir: dir, args: extra}
	return srv, srv.start()
}

func (srv *server) start() error {
	args := append([]string{"--port", strconv.Itoa(srv.port), "--bind", "127.0.0.1", "--save", "", "--dir", srv.dir}, srv.args...)
	srv.cmd = exec.Command("redis-server", args...)
	srv.cmd.SysProcAttr = childAttr()
	if err := srv.cmd.Start(); err != nil {
		return err
	}
	c := goredis.NewClient(&goredis.Options{Addr: srv.addr(), MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
	}
	srv.stop()
	return fmt.Errorf("redis-server on port %d did not answer", srv.port)
}

// stop kills the process this test started, by its handle.
func (srv *server) stop() {
	if srv.cmd != nil && srv.cmd.Process != nil {
		_ = srv.cmd.Process.Kill()
		_ = srv.cmd.Wait()
		srv.cmd = nil
	}
}

func (srv *server) addr() string { return "127.0.0.1:" + strconv.Itoa(srv.port) }
func (srv *server) url() string  { return "redis://" + srv.addr() + "/0" }

var (
	shared     *server
	sharedURL  string
	sharedErr  error
	sharedOnce sync.Once
)

func stopShared() {
	if shared != nil {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
}

// unavailable skips a test that has no Redis, except in CI, where a
// skipped test would pass unnoticed.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Redis to test against (CI=true): %s", why)
	}
	t.Skipf("no Redis to test against: %s (set SUPPORTBOT_TEST_REDIS or install redis-server)", why)
}

// redisURL is SUPPORTBOT_TEST_REDIS, or a redis-server started for the
// package's tests.
func redisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SUPPORTBOT_TEST_REDIS"); u != "" {
		return u
	}
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "supportbot-crashtest-redis-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = startServer(dir, "--appendonly", "no")
		if shared != nil && sharedErr == nil {
			sharedURL = shared.url()
		}
	})
	switch {
	case sharedErr != nil:
		unavailable(t, sharedErr.Error())
	case sharedURL == "":
		unavailable(t, "SUPPORTBOT_TEST_REDIS is not set and there is no redis-server binary")
	}
	return sharedURL
}

// ownServer starts a redis-server for one test, one it may stop and start
// again: with an append-only file written at every command, so a kill
// loses nothing.
func ownServer(t *testing.T) *server {
	t.Helper()
	srv, err := startServer(t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	switch {
	case err != nil:
		unavailable(t, err.Error())
	case srv == nil:
		unavailable(t, "this test needs the redis-server binary")
	}
	t.Cleanup(srv.stop)
	return srv
}

var prefixes atomic.Int64

// uniquePrefix keeps test runs apart on a shared Redis; cleanPrefix
// deletes a prefix's keys after the test.
func uniquePrefix(t testing.TB, url string) string {
	p := fmt.Sprintf("sbcrash-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, prefixes.Add(1))
	t.Cleanup(func() { cleanPrefix(url, p) })
	return p
}

func cleanPrefix(url, prefix string) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return
	}
	o.DisableIdentity = true
	c := goredis.NewClient(o)
	defer c.Close()
	iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// rawClient is a plain client, for tests that write what the store never
// would.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.DisableIdentity = true
	c := goredis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
