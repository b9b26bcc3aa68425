// Package telegram is the Telegram front end, on go-telegram-bot-api v5
// (tgbotapi): its client signs in (getMe) and its types describe updates
// and keyboards. The adapter closes that library's gaps itself: every call
// after getMe is its own form POST under a context, whose answer is read
// only as far as needed (Telegram echoes every sent message in full),
// getUpdates runs in our own loop (offsets confirmed only once the
// dispatcher holds the update), the webhook checks Telegram's secret token,
// and one sender paces messages and edits and retries 429s after exactly
// retry_after.
//
// Keys: a conversation is "tg:<chat>:<user>", so two people in one group
// have their own; a user is "tg:<user>"; a delivery is "tg:<update_id>".
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content"
)

// Platform is the platform name in updates and replies.
const Platform = "telegram"

// DefaultAPIURL is the Bot API's base.
const DefaultAPIURL = "https://api.telegram.org"

// WebhookPath is where Telegram posts updates in webhook mode.
const WebhookPath = "/telegram/webhook"

// maxWebhookBody caps a webhook request: updates are a few KB.
const maxWebhookBody = 1 << 20

// allowedUpdates is what we ask Telegram for, in both modes.
var allowedUpdates = []string{"message", "callback_query"}

// Config configures the adapter. Token, Pack and In are required.
type Config struct {
	Token  string // from @BotFather; secret
	APIURL string // default DefaultAPIURL; the bot calls APIURL/bot<TOKEN>/<method>
	// WebhookURL switches to webhook mode: setWebhook with this URL, and
	// updates arrive at POST WebhookPath. Empty: long polling.
	WebhookURL    string
	WebhookSecret string // required with WebhookURL; secret
	// Rate is messages per second to Telegram in all, ChatRate per chat
	// (with a burst of at least 10). 0 turns a limit off.
	Rate     float64
	ChatRate float64
	Pack     *content.Pack
	In       bot.Acceptor
	Log      *slog.Logger
	Obs      bot.PlatformObserver
	// HTTPClient makes the HTTP calls; default one with a timeout above
	// the long poll's. Each call also gets its own context and timeout.
	HTTPClient *http.Client
}

// Bot is the Telegram adapter: a bot.Sender, and the poller or webhook
// that feeds the dispatcher.
type Bot struct {
	cfg  Config
	log  *slog.Logger
	base string // APIURL/bot<TOKEN>/: a method's URL is base+method
	http *http.Client
	// pollHTTP carries getUpdates on connections of its own, so a long
	// poll never queues behind sends for a free connection.
	pollHTTP *http.Client
	pace     *pacer
	// commands are the menus per language code ("" for the default).
	commands map[string][]tgbotapi.BotCommand

	api       atomic.Pointer[tgbotapi.BotAPI] // set once connected
	connected chan struct{}                   // closed when api is set
	connOnce  sync.Once
	ready     atomic.Bool

	convMu sync.Mutex
	convs  map[string]*convState // keyboards on screen, per conversation
	sweep  time.Time

	answers sync.WaitGroup // callback answers in flight
	ansSem  chan struct{}

	retryMin, retryMax time.Duration
}

var _ bot.Sender = (*Bot)(nil)

// New checks cfg and returns the adapter. It does no network I/O: the
// client (whose constructor calls getMe) is made in Run.
func New(cfg Config) (*Bot, error) {
	if cfg.Token == "" {
		return nil, errors.New("telegram: a bot token is required")
	}
	if cfg.Pack == nil || cfg.In == nil {
		return nil, errors.New("telegram: a content pack and an acceptor are required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.WebhookURL != "" && cfg.WebhookSecret == "" {
		return nil, errors.New("telegram: webhook mode needs a secret token")
	}
	if cfg.Rate < 0 || cfg.ChatRate < 0 {
		return nil, errors.New("telegram: rates must not be negative")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Obs == nil {
		cfg.Obs = bot.NopPlatformObserver{}
	}
	hc, pc := cfg.HTTPClient, cfg.HTTPClient
	if hc == nil {
		hc, pc = defaultHTTPClient(), defaultHTTPClient()
	}
	b := &Bot{
		cfg:       cfg,
		log:       cfg.Log.With("platform", Platform),
		base:      cfg.APIURL + "/bot" + cfg.Token + "/",
		http:      hc,
		pollHTTP:  pc,
		pace:      newPacer(cfg.Rate, cfg.ChatRate),
		connected: make(chan struct{}),
		convs:     map[string]*convState{},
		ansSem:    make(chan struct{}, 256),
		retryMin:  250 * time.Millisecond,
		retryMax:  30 * time.Second,
	}
	cmds, err := commandMenus(cfg.Pack)
	if err != nil {
		return nil, err
	}
	b.commands = cmds
	return b, nil
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	tr.MaxConnsPerHost = 256
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Timeout: clientTimeout, Transport: tr}
}

// commandMenus builds setMyCommands' lists from the pack: its flow's
// commands (the notebook's too, when it has one), described in each
// language. The first language is the default (no language_code), the
// others have their code.
func commandMenus(p *content.Pack) (map[string][]tgbotapi.BotCommand, error) {
	out := map[string][]tgbotapi.BotCommand{}
	for i, lang := range p.Languages() {
		var list []tgbotapi.BotCommand
		for _, name := range p.Def.Commands() {
			desc, err := p.Text(lang, content.CommandKey(name))
			if err != nil {
				return nil, fmt.Errorf("telegram: command menu: %w", err)
			}
			list = append(list, tgbotapi.BotCommand{Command: name, Description: strings.TrimSpace(desc)})
		}
		code := lang
		if i == 0 {
			code = ""
		}
		out[code] = list
	}
	return out, nil
}

// Name is the platform's name.
func (b *Bot) Name() string { return Platform }

// Ready reports whether the bot is connected: polling works, or the
// webhook is set.
func (b *Bot) Ready() bool { return b.ready.Load() }

// Run connects (retrying with backoff while the Bot API is unreachable or
// refuses the token), registers the command menus, then polls or sets the
// webhook until ctx ends. It returns nil then; Send keeps working for the
// dispatcher's drain.
func (b *Bot) Run(ctx context.Context) error {
	defer b.answers.Wait()
	defer b.ready.Store(false)
	api := b.connect(ctx)
	if api == nil {
		return nil
	}
	go b.setCommands(ctx)
	if b.cfg.WebhookURL != "" {
		if !b.setWebhook(ctx) {
			return nil
		}
		b.ready.Store(true)
		<-ctx.Done()
		return nil
	}
	if !b.deleteWebhook(ctx) {
		return nil
	}
	b.poll(ctx, api)
	return nil
}

// connect makes the tgbotapi client, whose constructor calls getMe.
func (b *Bot) connect(ctx context.Context) *tgbotapi.BotAPI {
	if api := b.api.Load(); api != nil {
		return api // a second Run after a restart of the loop
	}
	endpoint := strings.ReplaceAll(b.cfg.APIURL, "%", "%%") + "/bot%s/%s"
	backoff := b.retryMin
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, callTimeout)
		cl := &ctxClient{ctx: actx, base: b.http}
		t0 := time.Now()
		api, err := tgbotapi.NewBotAPIWithClient(b.cfg.Token, endpoint, cl)
		cancel()
		if err == nil {
			b.cfg.Obs.Call(Platform, "getMe", bot.CallOK, time.Since(t0))
			api.Client = nil // each call sets its own
			b.api.Store(api)
			b.connOnce.Do(func() { close(b.connected) })
			b.log.Info("telegram: connected", "bot_id", api.Self.ID, "mode", b.mode())
			return api
		}
		if ctx.Err() != nil {
			return nil
		}
		e := b.classify("getMe", cl.status, err)
		b.cfg.Obs.Call(Platform, "getMe", e.class, time.Since(t0))
		wait := jittered(backoff)
		if e.class == bot.CallRateLimited {
			wait = e.retryAfter
		}
		backoff = min(backoff*2, b.retryMax)
		msg := "telegram: cannot reach the Bot API; retrying"
		if e.unauthorized() {
			msg = "telegram: the Bot API refuses the token (check TELEGRAM_BOT_TOKEN); retrying"
		}
		if attempt < 3 || attempt%10 == 0 {
			b.log.Warn(msg, "code", e.code, "err", e.desc, "wait", wait.Round(time.Millisecond))
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

func (b *Bot) mode() string {
	if b.cfg.WebhookURL != "" {
		return "webhook"
	}
	return "polling"
}

// setCommands registers the command menus, retrying in the background.
func (b *Bot) setCommands(ctx context.Context) {
	for code, list := range b.commands {
		p := tgbotapi.Params{"commands": jsonParam(list)}
		p.AddNonEmpty("language_code", code)
		if _, err := b.call(ctx, "setMyCommands", p, retryPolicy{}); err != nil && ctx.Err() == nil {
			b.log.Warn("telegram: cannot set the command menu", "lang", code, "err", err)
		}
	}
}

// setWebhook points Telegram at our endpoint with the secret token, which
// tgbotapi's WebhookConfig lacks, hence MakeRequest.
func (b *Bot) setWebhook(ctx context.Context) bool {
	p := tgbotapi.Params{
		"url":             b.cfg.WebhookURL,
		"secret_token":    b.cfg.WebhookSecret,
		"allowed_updates": jsonParam(allowedUpdates),
	}
	return b.untilDone(ctx, "setWebhook", p, "telegram: cannot set the webhook; retrying")
}

// deleteWebhook clears a webhook, which would make getUpdates fail with 409.
// Pending updates are kept.
func (b *Bot) deleteWebhook(ctx context.Context) bool {
	return b.untilDone(ctx, "deleteWebhook", tgbotapi.Params{}, "telegram: cannot delete the webhook; retrying")
}

// untilDone retries a start-up call with backoff until it succeeds or ctx
// ends.
func (b *Bot) untilDone(ctx context.Context, method string, p tgbotapi.Params, msg string) bool {
	backoff := b.retryMin
	for attempt := 0; ; attempt++ {
		_, err := b.call(ctx, method, p, retryPolicy{once: true})
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := jittered(backoff)
		var e *apiError
		if errors.As(err, &e) && e.class == bot.CallRateLimited {
			wait = e.retryAfter
		}
		backoff = min(backoff*2, b.retryMax)
		if attempt < 3 || attempt%10 == 0 {
			b.log.Warn(msg, "err", err, "wait", wait.Round(time.Millisecond))
		}
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// waitAPI returns the client once Run has connected.
func (b *Bot) waitAPI(ctx context.Context) (*tgbotapi.BotAPI, error) {
	if api := b.api.Load(); api != nil {
		return api, nil
	}
	select {
	case <-b.connected:
		return b.api.Load(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer answers a callback query at once, in the background, so the
// button's spinner stops; stale and forged presses too.
func (b *Bot) answer(id string) {
	if id == "" {
		return
	}
	b.answers.Add(1)
	b.ansSem <- struct{}{}
	go func() {
		defer b.answers.Done()
		defer func() { <-b.ansSem }()
		// Telegram drops an unanswered query after about 15 s.
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		_, err := b.call(ctx, "answerCallbackQuery", tgbotapi.Params{"callback_query_id": id},
			retryPolicy{maxWait: 10 * time.Second})
		if err != nil {
			b.log.Debug("telegram: callback not answered", "err", err)
		}
	}()
}
