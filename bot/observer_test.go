package bot_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/flows"
)

// counts is an Observer that counts what the dispatcher reports.
type counts struct {
	mu         sync.Mutex
	duplicates int
	throttled  int
	panics     int
	sent       map[string]int // "result/class", "resent" prefixed for replies from the outbox
}

func newCounts() *counts { return &counts{sent: map[string]int{}} }

func (c *counts) Duplicate(*bot.Update)                          { c.mu.Lock(); c.duplicates++; c.mu.Unlock() }
func (c *counts) Throttled(*bot.Update)                          { c.mu.Lock(); c.throttled++; c.mu.Unlock() }
func (c *counts) Panic(*bot.Update)                              { c.mu.Lock(); c.panics++; c.mu.Unlock() }
func (c *counts) Turn(*bot.Update, *flows.Result, time.Duration) {}

func (c *counts) Sent(_ *bot.Reply, resent bool, err error) {
	key := string(bot.ErrorClass(err))
	if resent {
		key = "resent " + key
	}
	c.mu.Lock()
	c.sent[key]++
	c.mu.Unlock()
}

func (c *counts) get(f func(*counts) int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c)
}

// classed is an adapter error that names its class.
type classed struct{ class bot.CallClass }

func (e classed) Error() string            { return "refused" }
func (e classed) CallClass() bot.CallClass { return e.class }
func (e classed) Is(target error) bool     { return target == bot.ErrPermanent }

func TestErrorClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bot.CallClass
	}{
		{nil, bot.CallOK},
		{fmt.Errorf("send: %w", bot.ErrPermanent), bot.CallPermanent},
		{fmt.Errorf("send: %w", classed{bot.CallClientError}), bot.CallClientError}, // the adapter's class wins
		{fmt.Errorf("send: %w", context.DeadlineExceeded), bot.CallNetwork},
		{context.Canceled, bot.CallNetwork},
		{errors.New("invalid_auth"), bot.CallClientError},
	} {
		if got := bot.ErrorClass(tc.err); got != tc.want {
			t.Errorf("ErrorClass(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
