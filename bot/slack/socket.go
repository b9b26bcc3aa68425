package slack

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// maxInFlight bounds the envelopes being recorded at once in Socket Mode.
const maxInFlight = 512

// runSocket keeps the Socket Mode connection up (slack-go reconnects on
// refresh and drops; we restart it after fatal errors, with backoff) and
// handles its events until ctx ends.
func (b *Bot) runSocket(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		wait := time.Second
		for ctx.Err() == nil {
			start := time.Now()
			err := b.sm.RunContext(ctx)
			b.connected.Store(false)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				wait = time.Second
			}
			b.log.Warn("slack: Socket Mode stopped; reconnecting", "err", errCode(err), "in", wait)
			if !sleep(ctx, wait) {
				return
			}
			wait = min(wait*2, time.Minute)
		}
	})
	sem := make(chan struct{}, maxInFlight)
	var handlers sync.WaitGroup
	defer func() {
		handlers.Wait()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-b.sm.Events:
			in, env, ok := b.onSocketEvent(evt)
			if !ok {
				continue
			}
			if in == nil { // nothing for us: acknowledge at once
				handlers.Go(func() { b.ack(ctx, env, nil) })
				continue
			}
			// Register in arrival order, then record concurrently: one
			// user's deliveries still reach the inbox in order.
			prev, done := b.order.enter(in.order)
			dctx, cancel := context.WithTimeout(ctx, AckWithin)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				cancel()
				done()
				return
			}
			handlers.Go(func() {
				defer func() { <-sem }()
				defer done()
				defer cancel()
				if prev != nil {
					select {
					case <-prev:
					case <-dctx.Done():
						return
					}
				}
				ack, err := b.deliver(dctx, in)
				if err != nil {
					// Not recorded: no ack, so Slack delivers it again.
					if ctx.Err() == nil {
						b.log.Warn("slack: could not record a delivery; waiting for Slack to redeliver it", "err", err)
					}
					return
				}
				b.ack(ctx, env, ack)
			})
		}
	}
}

// onSocketEvent reads one Socket Mode event. ok is false for events that
// need no acknowledgement; in is nil for envelopes to acknowledge and
// ignore.
func (b *Bot) onSocketEvent(evt socketmode.Event) (in *inbound, env string, ok bool) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.connected.Store(false)
		return nil, "", false
	case socketmode.EventTypeConnected, socketmode.EventTypeHello:
		if !b.connected.Swap(true) {
			b.log.Info("slack: Socket Mode connected")
		}
		return nil, "", false
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		b.connected.Store(false)
		var cause error
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			cause = ce.ErrorObj
		}
		b.log.Warn("slack: Socket Mode cannot connect", "err", errCode(cause))
		return nil, "", false
	case socketmode.EventTypeErrorBadMessage:
		// Something we cannot parse (an event type slack-go does not
		// know): acknowledge it, since a redelivery cannot parse better.
		if bm, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var e struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bm.Message, &e) == nil && e.EnvelopeID != "" {
				b.obs.Received(Platform, "event")
				return nil, e.EnvelopeID, true
			}
		}
		return nil, "", false
	}
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return nil, "", false
	}
	env = evt.Request.EnvelopeID
	switch evt.Type {
	case socketmode.EventTypeEventsAPI:
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			in = b.fromEvent(&ev)
		}
	case socketmode.EventTypeSlashCommand:
		if sc, ok := evt.Data.(slack.SlashCommand); ok {
			in = b.fromCommand(&sc, evt.Request.Payload)
		}
	case socketmode.EventTypeInteractive:
		if ic, ok := evt.Data.(slack.InteractionCallback); ok {
			in = b.fromInteraction(pressOf(&ic))
		}
	}
	if in == nil {
		b.obs.Received(Platform, "event")
	}
	return in, env, true
}

// ack acknowledges an envelope, with a payload for slash commands.
func (b *Bot) ack(ctx context.Context, env string, payload *ackBody) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if payload != nil {
		err = b.sm.AckCtx(ctx, env, payload)
	} else {
		err = b.sm.AckCtx(ctx, env, nil)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Warn("slack: could not acknowledge an envelope; Slack will redeliver it", "err", errCode(err))
	}
}
