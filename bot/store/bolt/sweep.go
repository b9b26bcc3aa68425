package bolt

import (
	"context"
	"time"

	"go.etcd.io/bbolt"
)

// sweepChunk caps the keys one sweep transaction deletes, so a sweep never
// holds the writer long.
const sweepChunk = 1000

func (s *Store) sweeper(every time.Duration) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.quit
		cancel()
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			_, _ = s.Sweep(ctx) // reads skip expired records; the next sweep retries
		}
	}
}

// Sweep deletes expired sessions, user records (with their index) and
// done ids, and returns how many it deleted; it also forgets expired
// leases. The background sweeper calls it every Options.SweepEvery.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	n := 0
	now := s.now()
	s.leaseMu.Lock()
	for conv, l := range s.leases {
		if !now.Before(l.until) {
			delete(s.leases, conv)
		}
	}
	s.leaseMu.Unlock()
	for _, b := range []struct {
		name  []byte
		dead  func(v []byte, now time.Time) bool
		purge func(tx *bbolt.Tx, k []byte) error
	}{
		{bSessions, func(v []byte, now time.Time) bool {
			r, ok := decodeSession(v)
			return ok && expired(r.exp, now)
		}, func(tx *bbolt.Tx, k []byte) error { return tx.Bucket(bSessions).Delete(k) }},
		{bUsers, func(v []byte, now time.Time) bool {
			exp, _, ok := decodeUser(v)
			return ok && expired(exp, now)
		}, deleteUser},
		{bDone, func(v []byte, now time.Time) bool {
			return len(v) != 8 || expired(getExpiry(v), now)
		}, func(tx *bbolt.Tx, k []byte) error { return tx.Bucket(bDone).Delete(k) }},
	} {
		var from []byte
		for {
			var keys [][]byte
			var next []byte
			now := s.now()
			err := s.view(ctx, func(tx *bbolt.Tx) error {
				c := tx.Bucket(b.name).Cursor()
				k, v := c.First()
				if from != nil {
					k, v = c.Seek(from)
				}
				for ; k != nil; k, v = c.Next() {
					if len(keys) == sweepChunk {
						next = clone(k)
						break
					}
					if b.dead(v, now) {
						keys = append(keys, clone(k))
					}
				}
				return nil
			})
			if err != nil {
				return n, wrap("sweep", err)
			}
			if len(keys) > 0 {
				// Checked again in the writer: a commit may have renewed it.
				var deleted int
				err = s.do(ctx, func(tx *bbolt.Tx, now time.Time) (bool, error) {
					deleted = 0
					bk := tx.Bucket(b.name)
					for _, k := range keys {
						if v := bk.Get(k); v != nil && b.dead(v, now) {
							if err := b.purge(tx, k); err != nil {
								return true, err
							}
							deleted++
						}
					}
					return deleted > 0, nil
				})
				if err != nil {
					return n, wrap("sweep", err)
				}
				n += deleted
			}
			if next == nil {
				break
			}
			from = next
		}
	}
	return n, nil
}
