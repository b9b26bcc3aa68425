package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/supportbot/supportbot/bot"
)

// An op is one mutating call, run by the writer inside a shared write
// transaction. fn checks first and writes after: it sets wrote before its
// first write. An error with wrote false is the op's own answer (say
// ErrConflict) and the batch goes on; an error with wrote true may have left
// half an op in the transaction, so the writer rolls back and runs the
// batch again without it.
type op struct {
	fn   func(tx *bbolt.Tx, now time.Time) (wrote bool, err error)
	err  error
	done chan error
}

// do runs fn in the next batch and returns once that batch is on disk.
func (s *Store) do(ctx context.Context, fn func(tx *bbolt.Tx, now time.Time) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return bot.ErrStoreClosed
	}
	o := &op{fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the op will run; a caller that stops waiting cannot know
	// whether it was applied, as with any remote store.
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the group committer: it takes the first waiting op, everything
// else already waiting, and writes them all in one transaction, so a
// thousand conversations share one fsync instead of queueing for a
// thousand.
// busyBatch is the batch size from which the writer lingers for more.
const busyBatch = 16

func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*op, 0, s.maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	busy := false
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		case <-s.quit:
			return
		}
	drain:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		// Under load, wait a moment for more calls to share the commit:
		// each transaction costs two fdatasyncs and a meta page whatever
		// its size. An idle store commits at once.
		if busy && s.linger > 0 && len(batch) < s.maxBatch {
			linger.Reset(s.linger)
		gather:
			for len(batch) < s.maxBatch {
				select {
				case o := <-s.ops:
					batch = append(batch, o)
				case <-linger.C:
					break gather
				}
			}
			if !linger.Stop() {
				select {
				case <-linger.C:
				default:
				}
			}
		}
		busy = len(batch) >= busyBatch
		s.nops.Add(uint64(len(batch)))
		for len(batch) > 0 {
			failed := s.runBatch(batch)
			if failed < 0 {
				break
			}
			batch = append(batch[:failed], batch[failed+1:]...)
		}
		clear(batch[:cap(batch)])
	}
}

// runBatch runs the ops in one transaction and answers them. When an op
// fails after writing, it answers that op alone, rolls back, and returns
// its index for a rerun of the others.
func (s *Store) runBatch(batch []*op) int {
	tx, err := s.db.Begin(true)
	if err != nil {
		answerAll(batch, fmt.Errorf("bolt: begin write: %w", err))
		return -1
	}
	now := s.now()
	dirty := false
	for i, o := range batch {
		wrote, err := o.fn(tx, now)
		if err != nil && wrote {
			_ = tx.Rollback()
			o.done <- err
			return i
		}
		o.err = err
		dirty = dirty || wrote
	}
	if !dirty {
		// Nothing to write: every answer rests on data an earlier batch
		// already put on disk.
		_ = tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		answerAll(batch, fmt.Errorf("bolt: commit batch: %w", err))
		return -1
	} else {
		s.batches.Add(1)
	}
	for _, o := range batch {
		o.done <- o.err
	}
	return -1
}

func answerAll(batch []*op, err error) {
	for _, o := range batch {
		o.done <- err
	}
}
