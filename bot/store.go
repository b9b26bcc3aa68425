package bot

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns.
var (
	// ErrConflict: the session changed since it was loaded (another
	// process advanced the conversation). Reload and run the turn again.
	ErrConflict = errors.New("store: session version conflict")
	// ErrLocked: another owner holds the conversation's lease.
	ErrLocked = errors.New("store: conversation is busy")
	// ErrStoreClosed: the store was closed.
	ErrStoreClosed = errors.New("store: closed")
)

// InboxState is what PutInbox found.
type InboxState uint8

const (
	InboxNew     InboxState = iota + 1 // recorded now
	InboxPending                       // already waiting in the inbox
	InboxDone                          // already handled
)

// Delivery is an inbox entry: an update recorded before it is acknowledged.
type Delivery struct {
	ID   string
	Conv string
	At   time.Time
	Data []byte // the encoded Update
}

// Outgoing is an outbox entry: a reply to send, in Seq order.
type Outgoing struct {
	Seq  uint64
	Data []byte // the encoded Reply
}

// Lease names who works on a conversation, for how long.
type Lease struct {
	Conv     string
	User     string
	Delivery string // checked against the done ids
	Owner    string
	TTL      time.Duration
}

// Record is a conversation as Begin loads it.
type Record struct {
	Session []byte // encoded flows.Session; nil when there is none
	Version uint64 // 0 when there is no session
	User    []byte // the user's UserData; nil when there is none
	Outbox  []Outgoing
	Done    bool // the lease's delivery is already handled
}

// Commit is one turn's atomic write.
type Commit struct {
	Conv     string
	User     string
	Delivery string // marked done, kept for DeliveryTTL
	Version  uint64 // the version Begin returned; ErrConflict otherwise
	Session  []byte // the new session; nil deletes it
	UserData []byte // the user's new record; nil leaves it as it is
	Outbox   []Outgoing
	// Forget deletes, before anything else is written, every session of
	// the user (on every platform, through the per-user index), their
	// outboxes, their user record and their reminders.
	Forget      bool
	SessionTTL  time.Duration
	DeliveryTTL time.Duration
	// Reminders are scheduled, each replacing a pending one with its ID.
	Reminders []Reminder
	// Cancel removes pending reminders by ID, before Reminders are
	// scheduled.
	Cancel []string
}

// Reminder is a follow-up the user asked for, due at At. Data is the
// encoded Update the Dispatcher accepts when it is due; Key is that
// update's delivery id.
type Reminder struct {
	ID   string // one pending reminder per ID: "<user>|<case>"
	User string
	At   time.Time
	Key  string
	Data []byte
}

// Store is what the Dispatcher needs from a store. Implementations live
// under bot/store/.
type Store interface {
	// PutInbox records a delivery durably, unless its id is already in the
	// inbox or done.
	PutInbox(ctx context.Context, d Delivery) (InboxState, error)
	// Inbox lists waiting deliveries, oldest first.
	Inbox(ctx context.Context, limit int) ([]Delivery, error)
	// Begin takes the conversation's lease and loads it. ErrLocked when
	// another owner holds an unexpired lease.
	Begin(ctx context.Context, l Lease) (Record, error)
	// Commit writes one turn atomically (see Commit).
	Commit(ctx context.Context, c Commit) error
	// MarkSent removes replies from the conversation's outbox.
	MarkSent(ctx context.Context, conv string, seqs ...uint64) error
	// Finish removes the sent replies from the outbox (those already
	// marked are skipped) and the delivery from the inbox (when delivery
	// is not ""), and releases the lease if owner still holds it, in one
	// write.
	Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error
	// ClaimReminders returns up to limit reminders (all when limit <= 0)
	// due at now (At <= now), oldest first, and moves each one's time to
	// now+lease so no other process takes it while it is being delivered;
	// a reminder not deleted by then is due again. Claiming is atomic: of
	// several processes claiming at once, one gets each reminder. The
	// reminders returned keep the time they were due at.
	ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Reminder, error)
	// DeleteReminder removes a delivered reminder, if it is still the one
	// with that delivery key (a newer one with the same ID stays).
	DeleteReminder(ctx context.Context, id, key string) error
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
