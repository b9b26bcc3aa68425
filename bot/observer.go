package bot

import (
	"time"

	"github.com/supportbot/supportbot/flows"
)

// Observer is told what the Dispatcher does, for metrics. Implementations
// must not keep user ids or text. Store errors are not reported here: the
// instrumented Store (bot/metrics) counts each failed operation, including
// those the Dispatcher ignores or that happen outside it (readiness pings).
type Observer interface {
	// Duplicate: a redelivered update was dropped, because it was already
	// handled or is queued or running. A redelivery that runs (nobody was
	// working on it) is not a duplicate.
	Duplicate(u *Update)
	// Throttled: an update over the user's rate; the first one is answered
	// with "slow down", the rest are dropped.
	Throttled(u *Update)
	Turn(u *Update, res *flows.Result, took time.Duration)
	// Sent: one attempt to send a reply, with the Sender's error. resent
	// is true for a reply left in the outbox by an earlier run (a failed
	// send, or a run that ended before sending or marking it).
	Sent(r *Reply, resent bool, err error)
	Panic(u *Update)
}

type nopObserver struct{}

func (nopObserver) Duplicate(*Update)                          {}
func (nopObserver) Throttled(*Update)                          {}
func (nopObserver) Turn(*Update, *flows.Result, time.Duration) {}
func (nopObserver) Sent(*Reply, bool, error)                   {}
func (nopObserver) Panic(*Update)                              {}
