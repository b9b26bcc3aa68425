package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/supportbot/supportbot/bot"
)

// outcome is how one Web API call went and what to do about it.
type outcome struct {
	class bot.CallClass
	wait  time.Duration // rate limited: exactly what Slack asked for
	// permanent: retrying cannot help, drop the message. Set for the
	// classes CallPermanent and CallClientError, except for auth errors,
	// which an operator can fix, so the reply waits in the outbox.
	permanent bool
}

// Slack error codes that mean the message can never be delivered.
var permanentCodes = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "account_inactive": true,
	"is_archived": true, "channel_is_archived": true, "user_not_found": true,
	"user_disabled": true, "user_not_visible": true, "cannot_dm_bot": true,
	"message_not_found": true, "cant_update_message": true, "edit_window_closed": true,
	"team_access_not_granted": true, "restricted_action": true, "ekm_access_denied": true,
	"expired_url": true, "used_url": true, "no_permission": true, "thread_not_found": true,
}

// Slack error codes worth retrying after a backoff.
var serverCodes = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true,
}

// Auth and permission errors: not the message's fault and an operator can
// fix them (a token, a scope), so the reply waits in the outbox.
var authCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "token_revoked": true, "token_expired": true,
	"missing_scope": true, "not_allowed_token_type": true,
}

// classify sorts an error from slack-go.
func classify(err error) outcome {
	if err == nil {
		return outcome{class: bot.CallOK}
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		w := rl.RetryAfter
		if w <= 0 {
			w = time.Second
		}
		return outcome{class: bot.CallRateLimited, wait: w}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case se.Err == "ratelimited" || se.Err == "rate_limited":
			return outcome{class: bot.CallRateLimited, wait: time.Second}
		case serverCodes[se.Err]:
			return outcome{class: bot.CallServerError}
		case permanentCodes[se.Err]:
			return outcome{class: bot.CallPermanent, permanent: true}
		case authCodes[se.Err]:
			return outcome{class: bot.CallClientError}
		}
		return outcome{class: bot.CallClientError, permanent: true}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == 429:
			return outcome{class: bot.CallRateLimited, wait: time.Second}
		case sc.Code >= 500:
			return outcome{class: bot.CallServerError}
		case sc.Code == 404 || sc.Code == 410:
			return outcome{class: bot.CallPermanent, permanent: true} // an expired response_url
		case sc.Code == 401 || sc.Code == 403:
			return outcome{class: bot.CallClientError}
		}
		return outcome{class: bot.CallClientError, permanent: true}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return outcome{class: bot.CallNetwork}
	}
	var ue *url.Error
	var ne net.Error
	var syn *json.SyntaxError
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &syn) {
		return outcome{class: bot.CallNetwork}
	}
	if permanentCodes[err.Error()] { // a response_url answers in plain text
		return outcome{class: bot.CallPermanent, permanent: true}
	}
	return outcome{class: bot.CallNetwork}
}

// call runs one Web API call until Slack accepts it, ctx ends, or retrying
// cannot help. paceKey, when set, names the pace the call keeps and the
// Retry-After it honours: the channel for chat.postMessage, "upd:" and the
// channel for chat.update, "=" and the URL for a response_url (paused by
// Retry-After but not paced); empty for lookups. A refusal for good
// returns an error wrapping bot.ErrPermanent.
func (b *Bot) call(ctx context.Context, method, paceKey string, fn func(ctx context.Context) error) error {
	backoff := 250 * time.Millisecond
	for {
		if err := b.pace.wait(ctx, paceKey); err != nil {
			return fmt.Errorf("slack: %s: %w", method, err)
		}
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := fn(actx)
		cancel()
		o := classify(err)
		if err != nil && ctx.Err() != nil {
			o.class = bot.CallNetwork
		}
		b.obs.Call(Platform, method, o.class, time.Since(start))
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("slack: %s: %w", method, ctx.Err())
		case o.class == bot.CallRateLimited:
			b.obs.Waited(Platform, o.wait)
			if paceKey != "" {
				b.pace.block(paceKey, o.wait)
			} else if !sleep(ctx, o.wait) {
				return fmt.Errorf("slack: %s: %w", method, ctx.Err())
			}
			continue
		case o.class == bot.CallServerError || o.class == bot.CallNetwork:
			b.log.Debug("slack: call failed; retrying", "method", method, "err", errCode(err), "in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return fmt.Errorf("slack: %s: %w", method, ctx.Err())
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		return &callError{method: method, code: errCode(err), class: o.class, permanent: o.permanent, err: err}
	}
}

// callError is a call Slack refused: its code, its class for metrics, and
// whether it is for good (then it matches bot.ErrPermanent).
type callError struct {
	method, code string
	class        bot.CallClass
	permanent    bool
	err          error
}

func (e *callError) Error() string { return "slack: " + e.method + ": " + e.code }

func (e *callError) Unwrap() error { return e.err }

func (e *callError) Is(target error) bool { return target == bot.ErrPermanent && e.permanent }

// CallClass tells bot.ErrorClass what kind of failure this was.
func (e *callError) CallClass() bot.CallClass { return e.class }

// pacer keeps a pace per key (channel): a token bucket, plus the pauses
// Slack asks for with Retry-After.
type pacer struct {
	rate  float64 // tokens per second; 0: no pacing
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	until  time.Time // no calls before this (Retry-After)
}

func newPacer(rate float64, burst int) *pacer {
	return &pacer{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// wait blocks until a call on key may go. Keys starting with "=" are not
// paced, only paused by Retry-After.
func (p *pacer) wait(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	rate := p.rate
	if key[0] == '=' {
		rate = 0
	}
	for {
		p.mu.Lock()
		now := time.Now()
		b := p.buckets[key]
		if b == nil {
			if rate <= 0 {
				p.mu.Unlock()
				return nil // not paced and not paused
			}
			if len(p.buckets) > 10_000 {
				p.sweep(now)
			}
			b = &bucket{tokens: p.burst, last: now}
			p.buckets[key] = b
		}
		var d time.Duration
		switch {
		case now.Before(b.until):
			d = b.until.Sub(now)
		case rate <= 0:
			delete(p.buckets, key)
			p.mu.Unlock()
			return nil
		default:
			b.tokens = min(p.burst, b.tokens+now.Sub(b.last).Seconds()*rate)
			b.last = now
			if b.tokens >= 1 {
				b.tokens--
				p.mu.Unlock()
				return nil
			}
			d = time.Duration((1 - b.tokens) / rate * float64(time.Second))
		}
		p.mu.Unlock()
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// block pauses key for d: Slack said Retry-After.
func (p *pacer) block(key string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	b := p.buckets[key]
	if b == nil {
		b = &bucket{tokens: 0, last: now}
		p.buckets[key] = b
	}
	if u := now.Add(d); u.After(b.until) {
		b.until = u
	}
	b.tokens = 0
}

// sweep forgets buckets that are full again and not blocked.
func (p *pacer) sweep(now time.Time) {
	for k, b := range p.buckets {
		if now.After(b.until) && b.tokens+now.Sub(b.last).Seconds()*p.rate >= p.burst {
			delete(p.buckets, k)
		}
	}
}

// ttlCache is a small map with expiry, bounded in size.
type ttlCache struct {
	max int

	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	v       string
	expires time.Time
}

func newTTLCache(max int) *ttlCache { return &ttlCache{max: max, m: map[string]cached{}} }

func (c *ttlCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return "", false
	}
	if time.Now().After(e.expires) {
		delete(c.m, k)
		return "", false
	}
	return e.v, true
}

func (c *ttlCache) put(k, v string, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		now := time.Now()
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = cached{v: v, expires: time.Now().Add(ttl)}
}

// serial runs functions one at a time per key, in the order they entered.
type serial struct {
	mu    sync.Mutex
	tails map[string]chan struct{}
}

func newSerial() *serial { return &serial{tails: map[string]chan struct{}{}} }

// enter queues a turn for key. The caller waits on prev (nil when there is
// none) before its work, and calls done after it.
func (s *serial) enter(key string) (prev <-chan struct{}, done func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	p := s.tails[key]
	s.tails[key] = ch
	s.mu.Unlock()
	if p != nil {
		prev = p
	}
	return prev, func() {
		s.mu.Lock()
		if s.tails[key] == ch {
			delete(s.tails, key)
		}
		s.mu.Unlock()
		close(ch)
	}
}

// apiAnswer is what the adapter reads from a chat.postMessage or
// chat.update answer. Slack echoes the whole message back; slack-go would
// decode its blocks into Block Kit types, which costs more than the rest
// of the call, so these two methods are posted here and only these fields
// are read: "ok" and, when asked for, the "channel" and "ts" that Slack
// writes before the echoed message.
type apiAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	TS      string `json:"ts"`
	Channel string `json:"channel"`
	Meta    struct {
		Messages []string `json:"messages"`
	} `json:"response_metadata"`
}

// apiPost posts a JSON body to a Web API method with the bot token (JSON:
// the blocks are not form-escaped, so the request is about half the size).
// Its errors are slack-go's types (*slack.RateLimitedError,
// slack.StatusCodeError, slack.SlackErrorResponse), so classify reads them
// alike.
func (b *Bot) apiPost(ctx context.Context, method string, body []byte, wantTS bool) (apiAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.APIURL+method, bytes.NewReader(body))
	if err != nil {
		return apiAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+b.cfg.BotToken)
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return apiAnswer{}, err
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil {
			return apiAnswer{}, &slack.RateLimitedError{RetryAfter: time.Duration(s) * time.Second}
		}
	}
	if resp.StatusCode != http.StatusOK {
		return apiAnswer{}, slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	a, err := readAnswer(resp.Body, wantTS)
	if err != nil {
		return apiAnswer{}, err
	}
	if !a.OK {
		return a, slack.SlackErrorResponse{Err: a.Error, ResponseMetadata: slack.ResponseMetadata{Messages: a.Meta.Messages}}
	}
	return a, nil
}

// readAnswer reads a Web API answer up to "ok": true (Slack puts it first)
// or, with wantTS, up to the "ts" that follows it, leaving the echoed
// message unread; a refusal is read on for its error.
func readAnswer(r io.Reader, wantTS bool) (apiAnswer, error) {
	var a apiAnswer
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil {
		return a, err
	} else if t != json.Delim('{') {
		return a, errNotObject
	}
	seenOK := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return a, err
		}
		var v any
		switch t {
		case "ok":
			v = &a.OK
		case "error":
			v = &a.Error
		case "ts":
			v = &a.TS
		case "channel":
			v = &a.Channel
		case "response_metadata":
			v = &a.Meta
		default:
			v = new(json.RawMessage)
		}
		if err := dec.Decode(v); err != nil {
			return a, err
		}
		if t == "ok" {
			seenOK = true
		}
		if seenOK && a.OK && (!wantTS || a.TS != "") {
			return a, nil
		}
	}
	if !seenOK {
		return a, errNotObject
	}
	return a, nil
}

const errNotObject = constError("slack: the answer is not a Web API object")
