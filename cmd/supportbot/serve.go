package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/metrics"
	"github.com/supportbot/supportbot/content"
)

// platform is one chat platform the bot serves.
type platform interface {
	bot.Sender
	// Name is the platform's name in updates and replies ("telegram").
	Name() string
	// Run serves until ctx ends, then returns nil. A platform that cannot
	// be reached is retried with backoff; it never ends the process.
	Run(ctx context.Context) error
	// Routes adds the platform's HTTP endpoints (webhooks) to mux.
	Routes(mux *http.ServeMux)
	// Ready reports whether the platform is connected.
	Ready() bool
}

// deps is what a platform is built from.
type deps struct {
	cfg  *config
	pack *content.Pack
	in   bot.Acceptor
	log  *slog.Logger
	obs  bot.PlatformObserver
}

// serve runs the platforms until ctx ends, then shuts down in order:
// readiness goes 503, platforms stop taking work, turns in flight finish and
// send their replies, the listener closes, the store is flushed and closed.
func serve(ctx context.Context, cfg *config, pack *content.Pack, stderr io.Writer) error {
	log := newLogger(cfg, stderr, slog.LevelInfo)

	m := metrics.New(pack.Def, version, commit)
	rawStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return &configError{"STORE", err.Error()}
	}
	store := m.Store(rawStore)
	d, err := bot.New(bot.Config{
		Store: store, Pack: pack, Log: log, Obs: m,
		SessionTTL: cfg.SessionTTL, UserRate: cfg.UserRate, DrainTimeout: drainTimeout(cfg.ShutdownTimeout),
	})
	if err != nil {
		store.Close()
		return err
	}
	dp := &deps{cfg: cfg, pack: pack, in: d, log: log, obs: m}
	var platforms []platform
	if cfg.Telegram.Token != "" {
		p, err := newTelegram(dp)
		if err != nil {
			store.Close()
			return err
		}
		platforms = append(platforms, p)
	}
	if cfg.Slack.BotToken != "" {
		p, err := newSlack(dp)
		if err != nil {
			store.Close()
			return err
		}
		platforms = append(platforms, p)
	}
	for _, p := range platforms {
		d.AddSender(p.Name(), p)
	}

	h := &health{store: store, platforms: platforms}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.live)
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	for _, p := range platforms {
		p.Routes(mux)
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return &configError{"ADDR", fmt.Sprintf("cannot listen on %s: %v", cfg.Addr, err)}
	}
	// Logged once everything that can fail at start has succeeded, so a
	// configuration error is the only line an operator sees.
	log.Info("supportbot started", "version", version, "commit", commit, "built", built,
		"addr", ln.Addr().String(), "store", storeKind(cfg.Store), "pack", pack.ID, "platforms", names(platforms))

	// The dispatcher outlives the platforms: it drains after they stop.
	dispCtx, stopDisp := context.WithCancel(context.Background())
	dispDone := make(chan error, 1)
	go func() { dispDone <- d.Run(dispCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	for _, p := range platforms {
		g.Go(func() error { return p.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		h.stopping.Store(true)
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		return nil
	})
	// Wait for a signal (or a failure), then stop in order, all within one
	// deadline SHUTDOWN_TIMEOUT from now. Past it, what is unfinished stays
	// in the store's inbox and outbox and resumes at the next start.
	<-gctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	h.stopping.Store(true)
	stopDisp()
	derr, ok := within(sctx, dispDone)
	late := !ok
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still open at the deadline are cut off.
		late = true
		_ = srv.Close()
	}
	gDone := make(chan error, 1)
	go func() { gDone <- g.Wait() }()
	gerr, ok := within(sctx, gDone)
	if late || !ok {
		log.Warn("shutdown: work still running at the deadline; stopping anyway, it resumes at the next start", "timeout", cfg.ShutdownTimeout)
	}
	if err := store.Close(); err != nil {
		log.Warn("closing the store", "err", err)
	}
	log.Info("stopped")
	return errors.Join(gerr, derr)
}

// drainTimeout is the dispatcher's share of SHUTDOWN_TIMEOUT, counted from
// the same signal: turns in flight get most of it, and a tenth (at most a
// second) is left for cancelled turns to unwind and the listener and store
// to close before the deadline.
func drainTimeout(total time.Duration) time.Duration {
	return total - min(total/10, time.Second)
}

// within receives from ch unless ctx ends first; ok is false then. What is
// already there is taken even if ctx has ended.
func within[T any](ctx context.Context, ch <-chan T) (v T, ok bool) {
	select {
	case v = <-ch:
		return v, true
	default:
	}
	select {
	case v = <-ch:
		return v, true
	case <-ctx.Done():
		return v, false
	}
}

func storeKind(s string) string {
	kind, _, _ := cutAny(s, ":")
	return kind
}

func cutAny(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func names(ps []platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return out
}
