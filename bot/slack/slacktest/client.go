package slacktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client posts signed requests to a bot in HTTP mode, as Slack does.
type Client struct {
	URL    string // the bot's base URL: URL + "/slack/events" and so on
	Secret string // the signing secret; default SigningSecret
	HTTP   *http.Client
	Now    func() time.Time
}

// Response is what the bot answered.
type Response struct {
	Status int
	Body   []byte
	Took   time.Duration
}

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature headers
// of body.
func Sign(secret string, at time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(at.Unix(), 10)
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("v0:" + timestamp + ":"))
	h.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(h.Sum(nil))
}

// Event posts an Events API payload; retry > 0 marks it as Slack's retry.
func (c *Client) Event(ctx context.Context, body []byte, retry int) (*Response, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	if retry > 0 {
		h.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		h.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	return c.Post(ctx, "/slack/events", body, h, true)
}

// Command posts a slash command.
func (c *Client) Command(ctx context.Context, cmd Command) (*Response, error) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	return c.Post(ctx, "/slack/commands", []byte(cmd.Form().Encode()), h, true)
}

// Interaction posts an interaction payload (a button press).
func (c *Client) Interaction(ctx context.Context, payload []byte) (*Response, error) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	body := url.Values{"payload": {string(payload)}}.Encode()
	return c.Post(ctx, "/slack/interactivity", []byte(body), h, true)
}

// Post sends body to path with headers h, signed when sign is true (over
// the body as given: tests change it afterwards to forge).
func (c *Client) Post(ctx context.Context, path string, body []byte, h http.Header, sign bool) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if sign {
		secret := c.Secret
		if secret == "" {
			secret = SigningSecret
		}
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		ts, sig := Sign(secret, now(), body)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Body: b, Took: time.Since(start)}, err
}
