package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// ctxClient gives tgbotapi, which has no context, one for getMe: every
// request it makes runs under ctx. It also notes the HTTP status, so a response that
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

// CallClass tells bot.ErrorClass what kind of failure this was.
func (e *apiError) CallClass() bot.CallClass { return e.class }

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
	e.setClass()
	return e
}

// setClass sorts the error by its code.
func (e *apiError) setClass() {
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

// callResult is what the adapter reads from a Bot API answer: the id of a
// sent message, or the whole result of getUpdates. Telegram echoes a sent
// or edited message back in full; nothing else of it is read.
type callResult struct {
	messageID int
	result    json.RawMessage
}

// call runs one Bot API method with params: paced, with a timeout per
// attempt, retrying a 429 after exactly its retry_after and 5xx and
// network errors with capped, jittered backoff. Other errors are returned
// at once (an *apiError).
func (b *Bot) call(ctx context.Context, method string, params tgbotapi.Params, p retryPolicy) (callResult, error) {
	if p.paced {
		if err := b.pace.wait(ctx, p.chat); err != nil {
			return callResult{}, err
		}
	}
	timeout, hc := callTimeout, b.http
	if method == "getUpdates" {
		timeout, hc = pollCallTimeout, b.pollHTTP
	}
	body := formBody(params)
	start := time.Now()
	backoff := b.retryMin
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		t0 := time.Now()
		a, e := b.request(actx, hc, method, body)
		cancel()
		took := time.Since(t0)
		if e == nil {
			b.cfg.Obs.Call(Platform, method, bot.CallOK, took)
			return a, nil
		}
		if ctx.Err() != nil {
			return callResult{}, ctx.Err()
		}
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
			return callResult{}, e
		}
		if p.once || (p.maxWait > 0 && time.Since(start)+wait > p.maxWait) {
			return callResult{}, e
		}
		if attempt == 0 || attempt%10 == 9 {
			b.log.Debug("telegram: call failed; retrying", "method", method, "code", e.code, "class", string(e.class), "wait", wait, "err", e.desc)
		}
		if !sleep(ctx, wait) {
			return callResult{}, ctx.Err()
		}
	}
}

// request makes one attempt of a call: a form POST, as tgbotapi makes
// them, whose answer is read as a stream up to what the method needs ("ok",
// a sent message's id, getUpdates' result); the rest is drained unread, so
// the connection is reused.
func (b *Bot) request(ctx context.Context, hc *http.Client, method, body string) (callResult, *apiError) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+method, strings.NewReader(body))
	if err != nil {
		return callResult{}, &apiError{method: method, class: bot.CallClientError, desc: b.scrub(err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		e := &apiError{method: method, desc: b.scrub(err)}
		e.setClass()
		return callResult{}, e
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
	}()
	r, err := readAnswer(resp.Body, method)
	switch {
	case err != nil && resp.StatusCode != http.StatusOK:
		// Not the API's JSON: a proxy's error page.
		e := &apiError{method: method, code: resp.StatusCode, desc: http.StatusText(resp.StatusCode)}
		e.setClass()
		return callResult{}, e
	case err != nil:
		e := &apiError{method: method, desc: "unreadable answer: " + b.scrub(err)}
		e.setClass()
		return callResult{}, e
	case !r.ok:
		e := &apiError{method: method, code: r.code, desc: r.desc, retryAfter: time.Duration(r.retryAfter) * time.Second}
		if e.code == 0 {
			e.code = resp.StatusCode
		}
		e.setClass()
		return callResult{}, e
	}
	return r.callResult, nil
}

// formBody encodes params as a form.
func formBody(params tgbotapi.Params) string {
	var sb strings.Builder
	for k, v := range params {
		if sb.Len() > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(url.QueryEscape(k))
		sb.WriteByte('=')
		sb.WriteString(url.QueryEscape(v))
	}
	return sb.String()
}

// apiAnswer is a Bot API answer as read by readAnswer.
type apiAnswer struct {
	callResult
	ok         bool
	code       int
	desc       string
	retryAfter int
}

// readAnswer reads a Bot API answer: "ok" (Telegram writes it first) and,
// for sendMessage, the message_id of the result, for getUpdates the whole
// result; a refusal is read for its error_code, description and
// retry_after. It stops as soon as it has what it needs.
func readAnswer(r io.Reader, method string) (apiAnswer, error) {
	var a apiAnswer
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil {
		return a, err
	} else if t != json.Delim('{') {
		return a, errors.New("not a JSON object")
	}
	seenOK := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return a, err
		}
		switch t {
		case "ok":
			if err := dec.Decode(&a.ok); err != nil {
				return a, err
			}
			seenOK = true
			if a.ok && method != "sendMessage" && method != "getUpdates" {
				return a, nil
			}
		case "result":
			switch {
			case method == "getUpdates":
				err = dec.Decode(&a.result)
			case method == "sendMessage":
				a.messageID, err = readMessageID(dec)
				if err == nil && seenOK && a.ok {
					return a, nil
				}
			default:
				err = skip(dec)
			}
			if err != nil {
				return a, err
			}
		case "error_code":
			err = dec.Decode(&a.code)
		case "description":
			err = dec.Decode(&a.desc)
		case "parameters":
			var p struct {
				RetryAfter int `json:"retry_after"`
			}
			err = dec.Decode(&p)
			a.retryAfter = p.RetryAfter
		default:
			err = skip(dec)
		}
		if err != nil {
			return a, err
		}
	}
	if !seenOK {
		return a, errors.New("no \"ok\" in the answer")
	}
	return a, nil
}

// readMessageID reads a message object up to its message_id (Telegram
// writes it first), leaving the decoder inside the object: the caller
// stops reading there.
func readMessageID(dec *json.Decoder) (int, error) {
	if t, err := dec.Token(); err != nil {
		return 0, err
	} else if t != json.Delim('{') {
		return 0, errors.New("the result is not a message")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0, err
		}
		if key == "message_id" {
			var id int
			err := dec.Decode(&id)
			return id, err
		}
		if err := skip(dec); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("no message_id in the result")
}

// skip reads past one value.
func skip(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
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
