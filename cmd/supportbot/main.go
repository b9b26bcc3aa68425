// Command supportbot runs the bot: in the terminal when no platform token
// is set, on Telegram and Slack when their tokens are. It also checks
// content packs (lint), draws flows (graph) and prints its version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"syscall"
	"time"
	// Reminders and "the promised date has passed" follow the user's time
	// zone; a minimal container may have no zone database of its own.
	_ "time/tzdata"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/console"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

// Set with -ldflags "-X main.version=... -X main.commit=... -X main.built=...".
var (
	version = "dev"
	commit  = "none"
	built   = "unknown"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The heap is small (tens of MB) and short-lived garbage dominates:
		// collecting half as often costs little memory and a tenth of the
		// CPU per message under load. GOGC still overrides it.
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful shutdown, the default
		// action is back: a second signal ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // lint found problems, or the bot failed while running
	exitConfig = 2 // bad configuration: nothing started
)

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "supportbot %s (commit %s, built %s)\n", version, commit, built)
			return exitOK
		case "lint":
			return lint(args[1:], stdout, stderr)
		case "graph":
			return graph(args[1:], stdout, stderr)
		case "healthcheck":
			return healthcheck(getenv, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv)
	if errors.Is(err, errHelp) {
		printUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "supportbot: %v\n", err)
		return exitConfig
	}
	pack, err := loadPack(cfg.ContentDir)
	if err != nil {
		fmt.Fprintf(stderr, "supportbot: %v\n", packError(cfg.ContentDir, err))
		return exitConfig
	}
	pack.SetRetention(cfg.SessionTTL) // what /privacy promises
	if cfg.Lang != "" && pack.Def.Languages != nil && !hasLang(pack, cfg.Lang) {
		fmt.Fprintf(stderr, "supportbot: BOT_LANG: %q is not one of the pack's languages %v\n", cfg.Lang, pack.Languages())
		return exitConfig
	}
	if cfg.console() {
		err = serveConsole(ctx, cfg, pack, stdin, stdout, stderr)
	} else {
		err = serve(ctx, cfg, pack, stderr)
	}
	var ce *configError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "supportbot: %v\n", err)
		return exitConfig
	case err != nil:
		fmt.Fprintf(stderr, "supportbot: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func hasLang(p *content.Pack, l string) bool {
	for _, x := range p.Languages() {
		if x == l {
			return true
		}
	}
	return false
}

// serveConsole chats in the terminal until stdin ends.
func serveConsole(ctx context.Context, cfg *config, pack *content.Pack, stdin io.Reader, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr, slog.LevelWarn)
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return &configError{"STORE", err.Error()}
	}
	defer store.Close()
	con := &console.Console{In: stdin, Out: stdout, Lang: cfg.Lang, Styled: isTerminal(stdout)}
	d, err := bot.New(bot.Config{
		Store: store, Pack: pack, Log: log,
		Senders:    map[string]bot.Sender{console.Platform: con},
		SessionTTL: cfg.SessionTTL, UserRate: 0, DrainTimeout: cfg.ShutdownTimeout,
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	err = con.Run(ctx, d)
	cancel()
	<-done
	return err
}

// loadPack loads the built-in pack, or the one in dir.
func loadPack(dir string) (*content.Pack, error) {
	if dir == "" {
		return content.Shipped()
	}
	fsys, sub, err := packFS(dir)
	if err != nil {
		return nil, err
	}
	p, err := content.Load(fsys, sub)
	return p, prefixProblems(err, dir)
}

// packError names the variable behind a pack that does not load: one
// line with the first problem and how to see them all.
func packError(dir string, err error) *configError {
	name := "CONTENT_DIR"
	if dir == "" {
		name = "built-in pack" // only a broken build gets here
	}
	msg := err.Error()
	var ps flows.Problems
	if errors.As(err, &ps) && len(ps) > 0 {
		n := "1 problem"
		if len(ps) > 1 {
			n = fmt.Sprintf("%d problems", len(ps))
		}
		msg = fmt.Sprintf("%s (%s; run supportbot lint %s)", ps[0], n, dir)
	}
	// A YAML message can span lines; the rule is one line.
	return &configError{name, newlines.ReplaceAllString(msg, " ")}
}

var newlines = regexp.MustCompile(`\s*\n\s*`)

// packFS finds the pack in dir: dir itself, or its only subfolder with a
// flow.yaml.
func packFS(dir string) (fs.FS, string, error) {
	fsys := os.DirFS(dir)
	if _, err := fs.Stat(fsys, "flow.yaml"); err == nil {
		return fsys, ".", nil
	}
	matches, _ := fs.Glob(fsys, "*/flow.yaml")
	switch len(matches) {
	case 1:
		return fsys, path.Dir(matches[0]), nil
	case 0:
		return nil, "", fmt.Errorf("%s: no flow.yaml here or in a subfolder", dir)
	}
	return nil, "", fmt.Errorf("%s: several packs (%v); point at one of them", dir, matches)
}

// prefixProblems makes problem paths relative to the working directory.
func prefixProblems(err error, dir string) error {
	var ps flows.Problems
	if !errors.As(err, &ps) {
		return err
	}
	for i := range ps {
		ps[i].File = filepath.Join(dir, ps[i].File)
	}
	return ps
}

func lint(args []string, stdout, stderr io.Writer) int {
	var ps flows.Problems
	name := "the built-in pack"
	switch len(args) {
	case 0:
		ps = content.Lint(content.ShippedFS(), content.ShippedPack)
		for i := range ps {
			ps[i].File = filepath.Join("content", ps[i].File)
		}
	case 1:
		name = args[0]
		fsys, sub, err := packFS(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "supportbot lint: %v\n", err)
			return exitFailed
		}
		ps = content.Lint(fsys, sub)
		for i := range ps {
			ps[i].File = filepath.Join(args[0], ps[i].File)
		}
	default:
		fmt.Fprintln(stderr, "usage: supportbot lint [DIR]")
		return exitConfig
	}
	for _, p := range ps {
		fmt.Fprintln(stdout, p)
	}
	if len(ps) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", name, len(ps))
		return exitFailed
	}
	fmt.Fprintf(stderr, "%s: ok\n", name)
	return exitOK
}

func graph(args []string, stdout, stderr io.Writer) int {
	dir := ""
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: supportbot graph [DIR]")
		return exitConfig
	}
	if len(args) == 1 {
		dir = args[0]
	}
	p, err := loadPack(dir)
	if err != nil {
		fmt.Fprintf(stderr, "supportbot graph: %v\n", err)
		return exitFailed
	}
	m, err := p.Def.Mermaid()
	if err != nil {
		fmt.Fprintf(stderr, "supportbot graph: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%%%% flow %s (version %d)\n%s", p.ID, p.Def.Version, m)
	return exitOK
}

func newLogger(cfg *config, w io.Writer, def slog.Level) *slog.Logger {
	level := def
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" || (cfg.LogFormat == "" && !isTerminal(w)) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// healthcheck asks the running bot's /healthz on ADDR: the container's
// HEALTHCHECK (the distroless image has no curl).
func healthcheck(getenv func(string) string, stderr io.Writer) int {
	addr := getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: ADDR: %v\n", err)
		return exitFailed
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFailed
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s\n", resp.Status)
		return exitFailed
	}
	return exitOK
}
