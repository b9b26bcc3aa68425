package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/supportbot/supportbot/bot"
)

// Routes adds the HTTP-mode endpoints to mux: the Events API, the slash
// command and interactivity. In Socket Mode it adds nothing.
func (b *Bot) Routes(mux *http.ServeMux) {
	if b.sm != nil {
		return
	}
	mux.HandleFunc("POST /slack/events", b.handleEvents)
	mux.HandleFunc("POST /slack/commands", b.handleCommand)
	mux.HandleFunc("POST /slack/interactivity", b.handleInteraction)
}

// verify reads the body, capped, and checks Slack's signature and
// timestamp before anything looks at it. On failure it answers 401.
func (b *Bot) verify(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	sv, err := slack.NewSecretsVerifier(r.Header, b.cfg.SigningSecret)
	if err != nil {
		b.reject(w, "headers", err)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBody))
	if err != nil {
		b.reject(w, "body", err)
		return nil, false
	}
	if _, err := sv.Write(body); err != nil {
		b.reject(w, "body", err)
		return nil, false
	}
	if err := sv.Ensure(); err != nil {
		b.reject(w, "signature", err)
		return nil, false
	}
	return body, true
}

// reject answers 401, logging at most one rejection every 10 s.
func (b *Bot) reject(w http.ResponseWriter, what string, err error) {
	now := time.Now().Unix()
	if last := b.rejectLogged.Load(); now-last >= 10 && b.rejectLogged.CompareAndSwap(last, now) {
		reason := "invalid"
		switch {
		case errors.Is(err, slack.ErrMissingHeaders):
			reason = "missing_headers"
		case errors.Is(err, slack.ErrExpiredTimestamp):
			reason = "expired_timestamp"
		case errors.Is(err, slack.ErrInvalidSignature):
			reason = "bad_signature"
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			reason = "body_too_large"
		}
		b.log.Warn("slack: rejected an unverified request", "part", what, "reason", reason)
	}
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

func (b *Bot) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := b.verify(w, r)
	if !ok {
		return
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type we do not know: nothing to do, and a retry would
		// not change that.
		b.obs.Received(Platform, "event")
		w.WriteHeader(http.StatusOK)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		uv, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, uv.Challenge)
		return
	case slackevents.AppRateLimited:
		b.log.Warn("slack: Slack is rate limiting our event subscriptions")
		w.WriteHeader(http.StatusOK)
		return
	}
	in := b.fromEvent(&ev)
	if in == nil {
		b.obs.Received(Platform, "event")
		w.WriteHeader(http.StatusOK)
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		b.log.Debug("slack: a retried event", "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	if _, err := b.accept(r.Context(), in); err != nil {
		b.failed(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (b *Bot) handleCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := b.verify(w, r)
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sc, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	in := b.fromCommand(&sc, body)
	if in == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ack, err := b.accept(r.Context(), in)
	if err != nil {
		b.failed(w, err)
		return
	}
	if ack == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ack)
}

func (b *Bot) handleInteraction(w http.ResponseWriter, r *http.Request) {
	body, ok := b.verify(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	var p press
	if err != nil || form.Get("payload") == "" || json.Unmarshal([]byte(form.Get("payload")), &p) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	in := b.fromInteraction(&p)
	if in == nil {
		b.obs.Received(Platform, "event")
		w.WriteHeader(http.StatusOK)
		return
	}
	if _, err := b.accept(r.Context(), in); err != nil {
		b.failed(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// accept delivers in after the user's earlier deliveries, within AckWithin.
func (b *Bot) accept(ctx context.Context, in *inbound) (*ackBody, error) {
	ctx, cancel := context.WithTimeout(ctx, AckWithin)
	defer cancel()
	prev, done := b.order.enter(in.order)
	defer done()
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.deliver(ctx, in)
}

// failed answers a delivery we could not record: Slack tries again.
func (b *Bot) failed(w http.ResponseWriter, err error) {
	if errors.Is(err, bot.ErrClosed) {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	b.log.Warn("slack: could not record a delivery; Slack will retry", "err", err)
	http.Error(w, "try again", http.StatusServiceUnavailable)
}
