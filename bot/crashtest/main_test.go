package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/redis"
	"github.com/supportbot/supportbot/bot/store/redis/redistest"
	"github.com/supportbot/supportbot/content"
)

// The child's configuration, from its environment.
const (
	envChild    = "SUPPORTBOT_CRASHTEST_CHILD"    // set: run as the child bot
	envStore    = "SUPPORTBOT_CRASHTEST_STORE"    // bolt:<path> or redis:<url>
	envPrefix   = "SUPPORTBOT_CRASHTEST_PREFIX"   // the Redis key prefix
	envPlatform = "SUPPORTBOT_CRASHTEST_PLATFORM" // where replies are posted
	envContent  = "SUPPORTBOT_CRASHTEST_CONTENT"  // the content/testdata directory
	envGen      = "SUPPORTBOT_CRASHTEST_GEN"      // the child's name, sent with each reply
)

// genHeader names the child that sent a reply.
const genHeader = "X-Crashtest-Gen"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(child())
	}
	goredis.SetLogger(&logging.VoidLogger{}) // the outage test makes go-redis log every failed dial
	code := m.Run()
	redistest.StopShared()
	os.Exit(code)
}

// child is the bot process: a Dispatcher on the store named in its
// environment, updates in on POST /update, replies out to the platform. It
// prints "READY <addr>" once it takes updates, and drains on SIGTERM.
func child() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crashtest child:", err)
		return 2
	}
	pack, err := content.Load(os.DirFS(os.Getenv(envContent)), "northwind")
	if err != nil {
		return fail(err)
	}
	var store bot.Store
	switch where := os.Getenv(envStore); {
	case strings.HasPrefix(where, "bolt:"):
		store, err = bolt.Open(strings.TrimPrefix(where, "bolt:"), bolt.Options{LockTimeout: 10 * time.Second})
	case strings.HasPrefix(where, "redis:"):
		store, err = redis.Open(ctx, strings.TrimPrefix(where, "redis:"), redis.Options{Prefix: os.Getenv(envPrefix)})
	default:
		err = fmt.Errorf("no store in %s", envStore)
	}
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	send := &platformSender{url: os.Getenv(envPlatform), gen: os.Getenv(envGen), client: &http.Client{Timeout: 5 * time.Second}}
	d, err := bot.New(bot.Config{
		Store: store, Pack: pack, Log: logger,
		Senders:      map[string]bot.Sender{"test": send},
		RecoverEvery: 100 * time.Millisecond,
		Lease:        10 * time.Second,
		DrainTimeout: 10 * time.Second,
	})
	if err != nil {
		return fail(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /update", func(w http.ResponseWriter, r *http.Request) {
		var u bot.Update
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&u); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := d.Accept(r.Context(), u); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	ran := make(chan struct{})
	go func() { _ = d.Run(ctx); close(ran) }()
	fmt.Printf("READY %s\n", l.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-ran
	return 0
}

// platformSender posts each reply to the parent's fake platform, and
// retries until the platform took it.
type platformSender struct {
	url, gen string
	client   *http.Client
}

func (s *platformSender) Send(ctx context.Context, r bot.Reply) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: %v", bot.ErrPermanent, err)
	}
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(genHeader, s.gen)
		resp, err := s.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("send: %w (%v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
