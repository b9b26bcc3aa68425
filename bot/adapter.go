package bot

import (
	"context"
	"errors"
	"time"
)

// Acceptor takes incoming updates: the Dispatcher. Adapters acknowledge the
// platform only after Accept returned nil.
type Acceptor interface {
	Accept(ctx context.Context, u Update) error
}

// CallClass classifies the outcome of one platform API call, for metrics.
type CallClass string

const (
	CallOK          CallClass = "ok"
	CallRateLimited CallClass = "rate_limited" // 429: waited and retried
	CallServerError CallClass = "server_error" // 5xx: backed off and retried
	CallNetwork     CallClass = "network"      // no answer: backed off and retried
	CallPermanent   CallClass = "permanent"    // refused for good (blocked, channel gone)
	CallClientError CallClass = "client_error" // other 4xx: our mistake, not retried
)

// CallClasses lists every class, so metrics can start every series at 0.
var CallClasses = []CallClass{CallOK, CallRateLimited, CallServerError, CallNetwork, CallPermanent, CallClientError}

// UpdateKinds lists every kind adapters report to Received, in one place so
// metrics can start every series at 0; an adapter reporting a new kind adds
// it here (a test in bot/metrics reads the adapters' sources to check).
var UpdateKinds = []string{"message", "button", "command", "event", "other", "ignored"}

// ErrorClass classifies an error a Sender returned, for metrics. An error
// that knows its class says so with a CallClass method (found through
// wrapping). Otherwise: ErrPermanent is permanent; the end of the context
// is network (no answer in time, as the adapters count a call cut short);
// anything else is client_error, since a Sender retries rate limits, server
// and network errors itself until its context ends.
func ErrorClass(err error) CallClass {
	var c interface{ CallClass() CallClass }
	switch {
	case err == nil:
		return CallOK
	case errors.As(err, &c):
		return c.CallClass()
	case errors.Is(err, ErrPermanent):
		return CallPermanent
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CallNetwork
	}
	return CallClientError
}

// PlatformObserver is told about what adapters do, for metrics. It must not
// keep ids or text.
type PlatformObserver interface {
	// Received counts an update from the platform by kind: one of
	// UpdateKinds.
	Received(platform, kind string)
	// Call records one API call by method and outcome.
	Call(platform, method string, class CallClass, took time.Duration)
	// Waited records a wait the platform asked for (Retry-After).
	Waited(platform string, d time.Duration)
}

// NopPlatformObserver ignores everything.
type NopPlatformObserver struct{}

func (NopPlatformObserver) Received(string, string)                       {}
func (NopPlatformObserver) Call(string, string, CallClass, time.Duration) {}
func (NopPlatformObserver) Waited(string, time.Duration)                  {}
