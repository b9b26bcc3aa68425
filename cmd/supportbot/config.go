package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// config is everything the binary reads from the environment and flags.
// Flags win over the environment; secrets (tokens, signing secrets) come
// from the environment only and never appear in an error.
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

	Telegram telegramConfig
	Slack    slackConfig
}

type telegramConfig struct {
	Token         string // secret
	APIURL        string
	WebhookURL    string
	WebhookSecret string // secret
	Rate          float64
	ChatRate      float64
}

type slackConfig struct {
	BotToken      string // secret
	AppToken      string // secret
	SigningSecret string // secret
	APIURL        string
	ChannelRate   float64
}

// console reports whether no platform is configured: chat in the terminal.
func (c *config) console() bool { return c.Telegram.Token == "" && c.Slack.BotToken == "" }

// configError names the variable that is wrong. Its message never holds a
// secret's value.
type configError struct {
	Var string
	Msg string
}

func (e *configError) Error() string { return e.Var + ": " + e.Msg }

// setting is one documented variable. Those with a flag can be set either
// way (the flag wins); secrets have no flag.
type setting struct {
	env, flag, def, help string
}

var settings = []setting{
	{"ADDR", "addr", ":8080", "HTTP listen address: webhooks, /healthz, /readyz, /metrics"},
	{"STORE", "store", "", "where conversations are kept: memory, bolt:PATH or redis://[:PASSWORD@]HOST:PORT/DB[?prefix=NAME] (rediss:// for TLS); default memory in the terminal, bolt:./supportbot.db on the platforms"},
	{"SESSION_TTL", "session-ttl", "30d", "idle conversations and user data are deleted after this long (Go duration, or days such as 30d)"},
	{"LOG_LEVEL", "log-level", "", "debug, info, warn or error; default info (warn in the terminal)"},
	{"LOG_FORMAT", "log-format", "", "json or text; default text on a terminal, json otherwise"},
	{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long to finish work in flight after SIGINT/SIGTERM"},
	{"CONTENT_DIR", "content", "", "load the content pack from this folder instead of the built-in one"},
	{"BOT_LANG", "lang", "", "terminal only: chat in this language (en, lv)"},
	{"USER_RATE", "user-rate", "20", "messages one user may send per 10 s; the excess is dropped after one warning (0: no limit)"},
	{"TELEGRAM_BOT_TOKEN", "", "", "secret; enables Telegram (from @BotFather)"},
	{"TELEGRAM_API_URL", "telegram-api-url", "https://api.telegram.org", "Bot API base; the bot calls BASE/bot<TOKEN>/<method>"},
	{"TELEGRAM_WEBHOOK_URL", "telegram-webhook-url", "", "public URL of POST /telegram/webhook; set it for webhook mode, leave empty for long polling"},
	{"TELEGRAM_WEBHOOK_SECRET", "", "", "secret; required with TELEGRAM_WEBHOOK_URL: 1-256 of A-Z a-z 0-9 _ -"},
	{"TELEGRAM_RATE", "telegram-rate", "30", "messages per second to Telegram in all (0: no pacing)"},
	{"TELEGRAM_CHAT_RATE", "telegram-chat-rate", "1", "messages per second into one chat, bursts of 10 (0: no pacing)"},
	{"SLACK_BOT_TOKEN", "", "", "secret; enables Slack (xoxb-...)"},
	{"SLACK_APP_TOKEN", "", "", "secret; Socket Mode when set (xapp-...); HTTP mode otherwise"},
	{"SLACK_SIGNING_SECRET", "", "", "secret; required in HTTP mode: verifies requests from Slack"},
	{"SLACK_API_URL", "slack-api-url", "https://slack.com/api/", "Slack Web API base; must end with /"},
	{"SLACK_CHANNEL_RATE", "slack-channel-rate", "1", "messages per second into one channel, short bursts allowed (0: no pacing)"},
}

var (
	telegramToken  = regexp.MustCompile(`^[0-9]+:.+$`)
	telegramSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

// errHelp is returned by parseConfig for -h or -help: print usage, exit 0.
var errHelp = flag.ErrHelp

// newFlagSet declares every flag with its built-in default. The
// environment is applied after parsing, not as a flag default, so usage
// never echoes an environment value (a STORE URL holds a password) and
// the flag package prints nothing itself: run reports one line.
func newFlagSet() (*flag.FlagSet, map[string]*string) {
	fs := flag.NewFlagSet("supportbot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	vals := map[string]*string{}
	for _, s := range settings {
		if s.flag != "" {
			vals[s.env] = fs.String(s.flag, s.def, s.help+" ($"+s.env+")")
		}
	}
	return fs, vals
}

// printUsage writes the commands and flags with their built-in defaults.
func printUsage(w io.Writer) {
	fs, _ := newFlagSet()
	var secrets []string
	for _, s := range settings {
		if s.flag == "" {
			secrets = append(secrets, s.env)
		}
	}
	fmt.Fprint(w, `usage: supportbot [flags]        chat in the terminal, or on Telegram and Slack when their tokens are set
       supportbot lint [DIR]    check a content pack (default: the built-in one)
       supportbot graph [DIR]   print the flow as a Mermaid graph
       supportbot version
       supportbot healthcheck   ask the running bot's /healthz on ADDR

Each flag can also be set by the environment variable in parentheses; a flag
wins. Defaults shown are the built-in ones.
Secrets come from the environment only: `+strings.Join(secrets, ", ")+`

flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseConfig reads flags (args) over the environment (getenv). A flag
// error comes back as one line, errHelp for -h.
func parseConfig(args []string, getenv func(string) string) (*config, error) {
	fs, flags := newFlagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, &configError{Var: "flags", Msg: err.Error() + " (see supportbot -h)"}
	}
	if fs.NArg() > 0 {
		return nil, &configError{Var: "flags", Msg: fmt.Sprintf("unexpected argument %q (commands: lint, graph, version; see supportbot -h)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	vals := map[string]*string{}
	for _, s := range settings {
		if set[s.flag] {
			vals[s.env] = flags[s.env]
			continue
		}
		v := strings.TrimSpace(getenv(s.env))
		if v == "" {
			v = s.def
		}
		vals[s.env] = &v
	}
	get := func(k string) string { return *vals[k] }
	c := &config{
		Addr:       get("ADDR"),
		Store:      get("STORE"),
		LogLevel:   strings.ToLower(get("LOG_LEVEL")),
		LogFormat:  strings.ToLower(get("LOG_FORMAT")),
		ContentDir: get("CONTENT_DIR"),
		Lang:       strings.ToLower(get("BOT_LANG")),
		Telegram: telegramConfig{
			Token:         get("TELEGRAM_BOT_TOKEN"),
			APIURL:        strings.TrimRight(get("TELEGRAM_API_URL"), "/"),
			WebhookURL:    get("TELEGRAM_WEBHOOK_URL"),
			WebhookSecret: get("TELEGRAM_WEBHOOK_SECRET"),
		},
		Slack: slackConfig{
			BotToken:      get("SLACK_BOT_TOKEN"),
			AppToken:      get("SLACK_APP_TOKEN"),
			SigningSecret: get("SLACK_SIGNING_SECRET"),
			APIURL:        get("SLACK_API_URL"),
		},
	}
	var err error
	if c.SessionTTL, err = parseDays(get("SESSION_TTL")); err != nil || c.SessionTTL <= 0 {
		return nil, &configError{"SESSION_TTL", fmt.Sprintf("%q is not a positive duration (e.g. 720h or 30d)", get("SESSION_TTL"))}
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		return nil, &configError{"SHUTDOWN_TIMEOUT", fmt.Sprintf("%q is not a positive duration (e.g. 15s)", get("SHUTDOWN_TIMEOUT"))}
	}
	if c.UserRate, err = strconv.Atoi(get("USER_RATE")); err != nil || c.UserRate < 0 {
		return nil, &configError{"USER_RATE", fmt.Sprintf("%q is not a whole number from 0", get("USER_RATE"))}
	}
	for _, r := range []struct {
		name string
		dst  *float64
	}{{"TELEGRAM_RATE", &c.Telegram.Rate}, {"TELEGRAM_CHAT_RATE", &c.Telegram.ChatRate}, {"SLACK_CHANNEL_RATE", &c.Slack.ChannelRate}} {
		v, err := strconv.ParseFloat(get(r.name), 64)
		if err != nil || v < 0 {
			return nil, &configError{r.name, fmt.Sprintf("%q is not a number from 0 (messages per second)", get(r.name))}
		}
		*r.dst = v
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
	if err := c.checkStore(); err != nil {
		return nil, err
	}
	if err := c.checkTelegram(); err != nil {
		return nil, err
	}
	if err := c.checkSlack(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkStore checks STORE's scheme; connecting is done at start.
func (c *config) checkStore() error {
	s := c.Store
	switch {
	case s == "":
		if c.console() {
			c.Store = "memory"
		} else {
			c.Store = "bolt:./supportbot.db"
		}
	case s == "memory":
	case strings.HasPrefix(s, "bolt:"):
		if strings.TrimPrefix(s, "bolt:") == "" {
			return &configError{"STORE", "bolt: needs a file path, e.g. bolt:./supportbot.db"}
		}
	case strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://"):
		if _, err := url.Parse(s); err != nil {
			return &configError{"STORE", "is not a valid redis:// URL"}
		}
	default:
		scheme, _, _ := strings.Cut(s, ":")
		return &configError{"STORE", fmt.Sprintf("unknown scheme %q (want memory, bolt:PATH, redis:// or rediss://)", scheme)}
	}
	return nil
}

func (c *config) checkTelegram() error {
	t := c.Telegram
	if t.Token == "" {
		if t.WebhookURL != "" {
			return &configError{"TELEGRAM_WEBHOOK_URL", "is set but TELEGRAM_BOT_TOKEN is not"}
		}
		return nil
	}
	if !telegramToken.MatchString(t.Token) {
		return &configError{"TELEGRAM_BOT_TOKEN", "does not look like a bot token (digits, a colon, then the rest)"}
	}
	if u, err := url.Parse(t.APIURL); err != nil || !u.IsAbs() {
		return &configError{"TELEGRAM_API_URL", fmt.Sprintf("%q is not an absolute URL", t.APIURL)}
	}
	if t.WebhookURL != "" {
		if u, err := url.Parse(t.WebhookURL); err != nil || !u.IsAbs() || u.Host == "" {
			return &configError{"TELEGRAM_WEBHOOK_URL", fmt.Sprintf("%q is not an absolute URL", t.WebhookURL)}
		}
		if t.WebhookSecret == "" {
			return &configError{"TELEGRAM_WEBHOOK_SECRET", "is required with TELEGRAM_WEBHOOK_URL"}
		}
		if !telegramSecret.MatchString(t.WebhookSecret) {
			return &configError{"TELEGRAM_WEBHOOK_SECRET", "must be 1-256 characters of A-Z, a-z, 0-9, _ and -"}
		}
	}
	return nil
}

func (c *config) checkSlack() error {
	s := c.Slack
	if s.BotToken == "" {
		if s.AppToken != "" {
			return &configError{"SLACK_BOT_TOKEN", "is required with SLACK_APP_TOKEN"}
		}
		return nil
	}
	if !strings.HasPrefix(s.BotToken, "xoxb-") {
		return &configError{"SLACK_BOT_TOKEN", "must start with xoxb- (the bot token, not a user or app token)"}
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		return &configError{"SLACK_APP_TOKEN", "must start with xapp- (an app-level token with connections:write)"}
	}
	if s.AppToken == "" && s.SigningSecret == "" {
		return &configError{"SLACK_SIGNING_SECRET", "is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"}
	}
	if u, err := url.Parse(s.APIURL); err != nil || !u.IsAbs() || !strings.HasSuffix(s.APIURL, "/") {
		return &configError{"SLACK_API_URL", fmt.Sprintf("%q must be an absolute URL ending with /", s.APIURL)}
	}
	return nil
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
