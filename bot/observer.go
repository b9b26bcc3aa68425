package bot

import (
	"time"

	"github.com/supportbot/supportbot/flows"
)

// Observer is told what the Dispatcher does, for metrics. Implementations
// must not keep user ids or text.
type Observer interface {
	Accepted(u *Update, st InboxState)
	Throttled(u *Update)
	Turn(u *Update, res *flows.Result, took time.Duration)
	Sent(r *Reply, err error)
	StoreError(op string, err error)
	Panic(u *Update)
}

type nopObserver struct{}

func (nopObserver) Accepted(*Update, InboxState)               {}
func (nopObserver) Throttled(*Update)                          {}
func (nopObserver) Turn(*Update, *flows.Result, time.Duration) {}
func (nopObserver) Sent(*Reply, error)                         {}
func (nopObserver) StoreError(string, error)                   {}
func (nopObserver) Panic(*Update)                              {}
