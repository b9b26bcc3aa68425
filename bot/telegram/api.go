package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
)

// Timeouts of one HTTP attempt.
const (
	pollTimeout = 50 // seconds Telegram holds a getUpdates open
	// callTimeout bounds every call but getUpdates.
	callTimeout = 30 * time.Second
	// pollCallTimeout is above the long-poll timeout, so a quiet poll ends
	// on Telegram's side first.
	pollCallTimeout = (pollTimeout + 15) * time.Second
	// clientTimeout is the http.Client's own ceiling, above both.
	clientTimeout = pollCallTimeout + 5*time.Second
)

// ctxClient gives tgbotapi, which has no context, one: every request it
// makes runs under ctx. It also notes the HTTP status, so a response that
// is not the API's JSON (a proxy's 502 page) can still be classified.
type ctxClient struct {
	ctx    context.Context
	base   *http.Client
	status int
}

func (c *ctxClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.base.Do(r.WithContext(c.ctx))
	if resp != nil {
		c.status = resp.StatusCode
	}
	return resp, err
}

// apiError is a failed call, classified, with nothing in it that could
// hold the token (tgbotapi's network errors carry the URL, which does).
type apiError struct {
	method     string
	class      bot.CallClass
	code       int    // the API's error_code or the HTTP status; 0 without an answer
	desc       string // the API's description or a scrubbed network error
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.code != 0 {
		return fmt.Sprintf("telegram: %s: %d %s", e.method, e.code, e.desc)
	}
	return fmt.Sprintf("telegram: %s: %s", e.method, e.desc)
}

// Is makes a refused-for-good call match bot.ErrPermanent.
func (e *apiError) Is(target error) bool {
	return target == bot.ErrPermanent &&
		(e.class == bot.CallPermanent || (e.class == bot.CallClientError && !e.unauthorized()))
}

// notModified reports the harmless answer to an edit that changes nothing.
func (e *apiError) notModified() bool {
	return e.code == http.StatusBadRequest && strings.Contains(e.desc, "message is not modified")
}

// goneMessage reports an edit of a message that no longer exists or can
// no longer be edited: there is nothing left to collapse.
func (e *apiError) goneMessage() bool {
	return e.code == http.StatusBadRequest &&
		(strings.Contains(e.desc, "message to edit not found") || strings.Contains(e.desc, "message can't be edited"))
}

// unauthorized reports a token Telegram does not know (401, or 404 for a
// malformed one): retried slowly, the bot is not ready meanwhile.
func (e *apiError) unauthorized() bool {
	return e.code == http.StatusUnauthorized || e.code == http.StatusNotFound
}

func (e *apiError) conflict() bool { return e.code == http.StatusConflict }

// classify turns what tgbotapi returned into an apiError.
func (b *Bot) classify(method string, status int, err error) *apiError {
	e := &apiError{method: method}
	var te *tgbotapi.Error
	switch {
	case errors.As(err, &te):
		e.code, e.desc = te.Code, te.Message
		if e.code == 0 {
			e.code = status
		}
		e.retryAfter = time.Duration(te.RetryAfter) * time.Second
	case status != 0 && status != http.StatusOK:
		// An answer that is not the API's JSON.
		e.code, e.desc = status, http.StatusText(status)
	default:
		e.desc = b.scrub(err)
	}
	switch {
	case e.code == 0:
		e.class = bot.CallNetwork
	case e.code == http.StatusTooManyRequests:
		e.class = bot.CallRateLimited
		if e.retryAfter <= 0 {
			e.retryAfter = time.Second
		}
	case e.code >= 500:
		e.class = bot.CallServerError
	case e.code == http.StatusForbidden:
		e.class = bot.CallPermanent
	default:
		e.class = bot.CallClientError
	}
	return e
}

// scrub describes a transport error without the URL, which holds the token.
func (b *Bot) scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if b.cfg.Token != "" {
		s = strings.ReplaceAll(s, b.cfg.Token, "<token>")
	}
	return s
}

// retryPolicy says how long one call keeps trying.
type retryPolicy struct {
	chat  int64 // the chat paced and blocked on 429; 0 for none
	paced bool  // counts against the message limits
	// once: fail at the first error (getUpdates has its own loop).
	once bool
	// maxWait bounds the total time spent retrying; 0 for no bound.
	maxWait time.Duration
}

// call runs one Bot API method with params through tgbotapi.MakeRequest:
// paced, with a timeout per attempt, retrying a 429 after exactly its
// retry_after and 5xx and network errors with capped, jittered backoff.
// Other errors are returned at once (an *apiError).
func (b *Bot) call(ctx context.Context, api *tgbotapi.BotAPI, method string, params tgbotapi.Params, p retryPolicy) (*tgbotapi.APIResponse, error) {
	if p.paced {
		if err := b.pace.wait(ctx, p.chat); err != nil {
			return nil, err
		}
	}
	timeout, hc := callTimeout, b.http
	if method == "getUpdates" {
		timeout, hc = pollCallTimeout, b.pollHTTP
	}
	start := time.Now()
	backoff := b.retryMin
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		cl := &ctxClient{ctx: actx, base: hc}
		one := *api // a copy per call: the client carries this call's context
		one.Client = cl
		t0 := time.Now()
		resp, err := one.MakeRequest(method, params)
		cancel()
		took := time.Since(t0)
		if err == nil {
			b.cfg.Obs.Call(Platform, method, bot.CallOK, took)
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e := b.classify(method, cl.status, err)
		b.cfg.Obs.Call(Platform, method, e.class, took)
		var wait time.Duration
		switch {
		case e.class == bot.CallRateLimited:
			wait = e.retryAfter
			b.cfg.Obs.Waited(Platform, wait)
			if p.chat != 0 {
				b.pace.block(p.chat, time.Now().Add(wait))
			}
		case e.class == bot.CallServerError || e.class == bot.CallNetwork || e.unauthorized():
			wait = jittered(backoff)
			backoff = min(backoff*2, b.retryMax)
		default:
			return nil, e
		}
		if p.once || (p.maxWait > 0 && time.Since(start)+wait > p.maxWait) {
			return nil, e
		}
		if attempt == 0 || attempt%10 == 9 {
			b.log.Debug("telegram: call failed; retrying", "method", method, "code", e.code, "class", string(e.class), "wait", wait, "err", e.desc)
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// jittered is backoff with jitter: between half and all of it.
func jittered(backoff time.Duration) time.Duration {
	return backoff/2 + rand.N(backoff/2+1)
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

// jsonParam is a JSON-encoded parameter (reply_markup, allowed_updates).
func jsonParam(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
