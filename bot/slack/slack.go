// Package slack is the Slack front end: direct messages, mentions in
// channels (answered in a thread), the /support slash command and Block Kit
// buttons, over Socket Mode or over HTTP (Events API, slash commands and
// interactivity endpoints with signed requests).
//
// Every delivery is recorded with the Acceptor (the Dispatcher's inbox)
// before Slack is acknowledged, and de-duplicated there by id: events by
// event_id, button presses by user and action_ts, commands by trigger_id.
// Replies go out through Send, which keeps Slack's per-channel pace, waits
// out 429s, retries 5xx and network failures, and only returns once Slack
// accepted the message.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content"
)

// Platform is the platform name in updates and replies.
const Platform = "slack"

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// AckWithin bounds the work between a delivery's arrival and its
// acknowledgement (waiting for the user's earlier delivery, the lookups,
// the inbox write): Slack retries what is not acknowledged within 3 s, so
// past this the delivery is left unacknowledged on purpose (503 over HTTP,
// no ack in Socket Mode) and Slack's retry is answered instead.
const AckWithin = 2500 * time.Millisecond

// Config configures a Bot. BotToken, Pack and In are required, and either
// AppToken (Socket Mode) or SigningSecret (HTTP mode).
type Config struct {
	BotToken      string // xoxb-…
	AppToken      string // xapp-…: Socket Mode when set
	SigningSecret string // HTTP mode: verifies every request
	APIURL        string // Web API base ending with "/"; default DefaultAPIURL
	// ChannelRate is how many messages per second go into one channel,
	// with bursts of ChannelBurst; 0 turns pacing off.
	ChannelRate  float64
	ChannelBurst int // default 3

	Pack *content.Pack
	In   bot.Acceptor
	Log  *slog.Logger
	Obs  bot.PlatformObserver
	// HTTPClient makes the Web API calls; default a client with a 30 s
	// timeout and enough idle connections for many conversations.
	HTTPClient *http.Client

	// LookupTimeout bounds the calls made before Slack is acknowledged
	// (users.info for the locale, conversations.open for /support in a
	// channel); default 1.5 s. With the inbox write they share AckWithin.
	LookupTimeout time.Duration
	// LocaleTTL is how long a user's Slack locale is cached; default 1 h.
	LocaleTTL time.Duration
	// PingInterval is how long Socket Mode waits for a ping from Slack
	// before it reconnects; default 30 s.
	PingInterval time.Duration
	// MaxBody caps an HTTP request body; default 1 MiB.
	MaxBody int64
}

// Bot is the Slack platform: a bot.Sender, and the receiver of Slack's
// deliveries in either mode.
type Bot struct {
	cfg  Config
	api  *slack.Client
	sm   *socketmode.Client // nil in HTTP mode
	log  *slog.Logger
	obs  bot.PlatformObserver
	pace *pacer

	locales *ttlCache // team:user → Slack locale
	dms     *ttlCache // team:user → the user's DM channel with the bot
	order   *serial   // deliveries of one user are accepted in order
	partial sync.Map  // reply key → messages of a split reply already sent
	// commands are the words /support takes as commands: the flow's.
	commands []string
	// pressKey keys the hash that names a button press (the bot token,
	// which outlives a restart, so a retry is still recognised).
	pressKey []byte
	shown    shownMessages

	authed    atomic.Bool
	connected atomic.Bool
	self      atomic.Pointer[identity]

	rejectLogged atomic.Int64 // unix seconds of the last logged rejection
}

// identity is what auth.test tells us about ourselves.
type identity struct {
	UserID string
	BotID  string
	TeamID string
}

var _ bot.Sender = (*Bot)(nil)

// New checks the configuration and builds the bot. It does no network I/O:
// auth.test runs in Run.
func New(cfg Config) (*Bot, error) {
	switch {
	case cfg.BotToken == "":
		return nil, errors.New("slack: a bot token is required")
	case cfg.Pack == nil || cfg.In == nil:
		return nil, errors.New("slack: a content pack and an acceptor are required")
	case cfg.AppToken == "" && cfg.SigningSecret == "":
		return nil, errors.New("slack: HTTP mode needs a signing secret (or set an app token for Socket Mode)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		return nil, fmt.Errorf("slack: the API URL %q must end with /", cfg.APIURL)
	}
	if cfg.ChannelRate < 0 {
		return nil, errors.New("slack: the channel rate must not be negative")
	}
	if cfg.ChannelBurst <= 0 {
		cfg.ChannelBurst = 3
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Obs == nil {
		cfg.Obs = bot.NopPlatformObserver{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 1500 * time.Millisecond
	}
	if cfg.LocaleTTL <= 0 {
		cfg.LocaleTTL = time.Hour
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	opts := []slack.Option{slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	b := &Bot{
		cfg:     cfg,
		api:     slack.New(cfg.BotToken, opts...),
		log:     cfg.Log,
		obs:     cfg.Obs,
		pace:    newPacer(cfg.ChannelRate, cfg.ChannelBurst),
		locales: newTTLCache(100_000),
		dms:     newTTLCache(100_000),
		order:   newSerial(),
	}
	b.commands = cfg.Pack.Def.Commands()
	b.pressKey = []byte(cfg.BotToken)
	if cfg.AppToken != "" {
		b.sm = socketmode.New(b.api, socketmode.OptionPingInterval(cfg.PingInterval))
	}
	return b, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Timeout: 30 * time.Second, Transport: t}
}

// Name is the platform's name in updates and replies.
func (b *Bot) Name() string { return Platform }

// SocketMode reports whether the bot receives over Socket Mode.
func (b *Bot) SocketMode() bool { return b.sm != nil }

// Ready reports whether auth.test succeeded and, in Socket Mode, the socket
// is connected.
func (b *Bot) Ready() bool {
	if !b.authed.Load() {
		return false
	}
	return b.sm == nil || b.connected.Load()
}

// Run learns who the bot is (auth.test, retried with backoff) and, in
// Socket Mode, keeps the socket connected and handles what arrives. It
// returns nil once ctx ends. In HTTP mode the work happens in the handlers
// Routes adds.
func (b *Bot) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { b.authLoop(ctx) })
	if b.sm != nil {
		b.runSocket(ctx)
	} else {
		<-ctx.Done()
	}
	wg.Wait()
	return nil
}

// authLoop calls auth.test until it succeeds or ctx ends.
func (b *Bot) authLoop(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		res, err := b.api.AuthTestContext(actx)
		cancel()
		cl := classify(err)
		b.obs.Call(Platform, "auth.test", cl.class, time.Since(start))
		if err == nil {
			b.self.Store(&identity{UserID: res.UserID, BotID: res.BotID, TeamID: res.TeamID})
			b.authed.Store(true)
			b.log.Info("slack: signed in", "mode", b.mode())
			return
		}
		if ctx.Err() != nil {
			return
		}
		if cl.wait > wait {
			wait = cl.wait
		}
		b.log.Warn("slack: auth.test failed; retrying", "err", errCode(err), "in", wait)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, time.Minute)
	}
}

func (b *Bot) mode() string {
	if b.sm != nil {
		return "socket"
	}
	return "http"
}

// botUser is our own user id, once auth.test told us.
func (b *Bot) botUser() string {
	if id := b.self.Load(); id != nil {
		return id.UserID
	}
	return ""
}

// errCode is what logs show of an error: Slack's error code or the error's
// kind, never a token or user text.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return "rate_limited"
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return fmt.Sprintf("http_%d", sc.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "network_timeout"
		}
		return "network"
	}
	return "error"
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(int64(d)*2/5+1)) - d/5
}
