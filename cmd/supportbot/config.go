package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is everything the binary reads from the environment and flags.
// Flags win over the environment; secrets (tokens, signing secrets) come
// from the environment only.
type config struct {
	Addr            string
	Store           string
	SessionTTL      time.Duration
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	ContentDir      string
	Lang            string
	UserRate        int
}

// configError names the variable that is wrong. Its message never holds a
// secret's value.
type configError struct {
	Var string
	Msg string
}

func (e *configError) Error() string { return e.Var + ": " + e.Msg }

// setting is one documented variable with its flag.
type setting struct {
	env, flag, def, help string
}

var settings = []setting{
	{"ADDR", "addr", ":8080", "HTTP listen address (webhooks, /healthz, /readyz, /metrics)"},
	{"STORE", "store", "", "where conversations are kept: memory, bolt:PATH or redis://HOST:PORT/DB (default: memory in the terminal, bolt:./supportbot.db otherwise)"},
	{"SESSION_TTL", "session-ttl", "30d", "idle conversations are deleted after this long (Go duration or days, e.g. 30d)"},
	{"LOG_LEVEL", "log-level", "", "debug, info, warn or error (default: info; warn in the terminal)"},
	{"LOG_FORMAT", "log-format", "", "json or text (default: text on a terminal, json otherwise)"},
	{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long to finish work in flight after SIGINT/SIGTERM"},
	{"CONTENT_DIR", "content", "", "load the content pack from this folder instead of the built-in one"},
	{"BOT_LANG", "lang", "", "terminal only: the language to chat in (en or lv)"},
	{"USER_RATE", "user-rate", "20", "messages one user may send per 10 s before the excess is dropped (0: no limit)"},
}

// parseConfig reads flags (args) over the environment (getenv).
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("supportbot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		vals[s.env] = fs.String(s.flag, v, s.help+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, &configError{Var: "flags", Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &configError{Var: "flags", Msg: fmt.Sprintf("unexpected argument %q (commands: lint, graph, version)", fs.Arg(0))}
	}
	c := &config{
		Addr:       *vals["ADDR"],
		Store:      *vals["STORE"],
		LogLevel:   strings.ToLower(*vals["LOG_LEVEL"]),
		LogFormat:  strings.ToLower(*vals["LOG_FORMAT"]),
		ContentDir: *vals["CONTENT_DIR"],
		Lang:       strings.ToLower(*vals["BOT_LANG"]),
	}
	var err error
	if c.SessionTTL, err = parseDays(*vals["SESSION_TTL"]); err != nil || c.SessionTTL <= 0 {
		return nil, &configError{"SESSION_TTL", fmt.Sprintf("%q is not a positive duration (e.g. 720h or 30d)", *vals["SESSION_TTL"])}
	}
	if c.ShutdownTimeout, err = time.ParseDuration(*vals["SHUTDOWN_TIMEOUT"]); err != nil || c.ShutdownTimeout <= 0 {
		return nil, &configError{"SHUTDOWN_TIMEOUT", fmt.Sprintf("%q is not a positive duration (e.g. 15s)", *vals["SHUTDOWN_TIMEOUT"])}
	}
	if c.UserRate, err = strconv.Atoi(*vals["USER_RATE"]); err != nil || c.UserRate < 0 {
		return nil, &configError{"USER_RATE", fmt.Sprintf("%q is not a whole number from 0", *vals["USER_RATE"])}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return nil, &configError{"LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", c.LogLevel)}
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		return nil, &configError{"LOG_FORMAT", fmt.Sprintf("%q is not json or text", c.LogFormat)}
	}
	return c, nil
}

// parseDays reads a Go duration, also accepting whole days ("30d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
