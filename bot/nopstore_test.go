package bot

import (
	"context"
	"time"
)

// nopStore satisfies Store for tests that never touch it.
type nopStore struct{}

func (nopStore) PutInbox(context.Context, Delivery) (InboxState, error)          { return InboxNew, nil }
func (nopStore) Inbox(context.Context, int) ([]Delivery, error)                  { return nil, nil }
func (nopStore) Begin(context.Context, Lease) (Record, error)                    { return Record{}, nil }
func (nopStore) Commit(context.Context, Commit) error                            { return nil }
func (nopStore) MarkSent(context.Context, string, ...uint64) error               { return nil }
func (nopStore) Finish(context.Context, string, string, string, ...uint64) error { return nil }
func (nopStore) ClaimReminders(context.Context, time.Time, time.Duration, int) ([]Reminder, error) {
	return nil, nil
}
func (nopStore) DeleteReminder(context.Context, string, string) error { return nil }
func (nopStore) Ping(context.Context) error                           { return nil }
func (nopStore) Close() error                                         { return nil }
