package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/supportbot/supportbot/bot"
)

// A reminder is three entries written together: its record under its id,
// an order entry (at+id) that ClaimReminders walks from the oldest, and an
// entry in its user's index (user+id) that Forget walks.

// newReminder is a reminder encoded for putReminder, outside the writer.
type newReminder struct {
	id, user []byte // idKeys
	at       []byte // order key
	rec      []byte
}

func encodeNewReminder(r bot.Reminder) newReminder {
	return newReminder{
		id:   idKey(r.ID),
		user: idKey(r.User),
		at:   append(atKey(r.At, len(r.ID)), r.ID...),
		rec:  encodeReminder(r.At, r.User, r.Key, r.Data),
	}
}

// putReminder schedules a reminder, replacing a pending one with its id.
func putReminder(tx *bbolt.Tx, r newReminder) error {
	if _, err := deleteReminder(tx, r.id, nil); err != nil {
		return err
	}
	if err := tx.Bucket(bReminders).Put(r.id, r.rec); err != nil {
		return err
	}
	if err := tx.Bucket(bReminderAt).Put(r.at, empty); err != nil {
		return err
	}
	return tx.Bucket(bUserRems).Put(joinKey(r.user, string(r.id), 0), empty)
}

// deleteReminder deletes the reminder with the id (an idKey) and its index
// entries; with a key, only if it is still the reminder with that key (or
// its record is unreadable). It reports whether it deleted one.
func deleteReminder(tx *bbolt.Tx, id []byte, key *string) (bool, error) {
	rems := tx.Bucket(bReminders)
	raw := rems.Get(id)
	if raw == nil {
		return false, nil
	}
	r, ok := decodeReminder(raw)
	if ok && key != nil && r.key != *key {
		return false, nil
	}
	if !ok {
		// Too damaged to name its index entries: look for them.
		if err := rems.Delete(id); err != nil {
			return true, err
		}
		raw := rawID(id)
		if err := deleteWhere(tx.Bucket(bReminderAt), func(k []byte) bool {
			return len(k) >= 12 && bytes.Equal(k[12:], raw)
		}); err != nil {
			return true, err
		}
		return true, deleteWhere(tx.Bucket(bUserRems), func(k []byte) bool { return bytes.Equal(afterID(k), id) })
	}
	// Build the index keys before deleting: r aliases the record.
	at := append(append(make([]byte, 0, 12+len(id)), r.at...), rawID(id)...)
	user := idKey(r.user)
	if err := rems.Delete(id); err != nil {
		return true, err
	}
	if err := tx.Bucket(bReminderAt).Delete(at); err != nil {
		return true, err
	}
	return true, tx.Bucket(bUserRems).Delete(joinKey(user, string(id), 0))
}

// rawID is the id an idKey holds.
func rawID(k []byte) []byte {
	_, n := binary.Uvarint(k)
	if n <= 0 {
		return nil
	}
	return k[n:]
}

// afterID is what follows the idKey a key starts with.
func afterID(k []byte) []byte {
	l, n := binary.Uvarint(k)
	if n <= 0 || uint64(len(k)-n) < l {
		return nil
	}
	return k[n+int(l):]
}

func deleteWhere(b *bbolt.Bucket, match func(k []byte) bool) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if match(k) {
			keys = append(keys, clone(k))
		}
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// forgetReminders deletes every reminder of the user, through their index.
func forgetReminders(tx *bbolt.Tx, user []byte) error {
	var ids [][]byte
	c := tx.Bucket(bUserRems).Cursor()
	for k, _ := c.Seek(user); k != nil && bytes.HasPrefix(k, user); k, _ = c.Next() {
		ids = append(ids, clone(k[len(user):]))
	}
	for _, id := range ids {
		if _, err := deleteReminder(tx, id, nil); err != nil {
			return err
		}
	}
	// Entries whose reminder was already gone.
	return deletePrefix(tx.Bucket(bUserRems), user)
}

// ClaimReminders implements bot.Store. The writer runs one claim at a time,
// so of several claiming at once one gets each reminder.
func (s *Store) ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]bot.Reminder, error) {
	due := atKey(now, 0)
	later := atKey(now.Add(lease), 0)
	var out []bot.Reminder
	err := s.do(ctx, func(tx *bbolt.Tx, _ time.Time) (bool, error) {
		out = out[:0] // a rerun of the batch starts again
		rems, order := tx.Bucket(bReminders), tx.Bucket(bReminderAt)
		var stale [][]byte
		c := order.Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			if len(k) < 12 {
				stale = append(stale, clone(k))
				continue
			}
			if bytes.Compare(k[:12], due) > 0 {
				break
			}
			id := string(k[12:])
			r, ok := decodeReminder(rems.Get(idKey(id)))
			if !ok || !bytes.Equal(r.at, k[:12]) {
				// Its reminder is gone, moved or unreadable: drop the entry,
				// and an unreadable record with it.
				stale = append(stale, clone(k))
				continue
			}
			out = append(out, bot.Reminder{ID: id, User: r.user, At: parseAt(k), Key: r.key, Data: clone(r.data)})
		}
		for _, k := range stale {
			if err := order.Delete(k); err != nil {
				return true, err
			}
			if len(k) < 12 {
				continue
			}
			id := idKey(string(k[12:]))
			if raw := rems.Get(id); raw != nil {
				if _, ok := decodeReminder(raw); !ok {
					if _, err := deleteReminder(tx, id, nil); err != nil {
						return true, err
					}
				}
			}
		}
		for _, r := range out {
			id := idKey(r.ID)
			if err := order.Delete(append(atKey(r.At, len(r.ID)), r.ID...)); err != nil {
				return true, err
			}
			if err := order.Put(append(clone(later), r.ID...), empty); err != nil {
				return true, err
			}
			rec := encodeReminder(now.Add(lease), r.User, r.Key, r.Data)
			if err := rems.Put(id, rec); err != nil {
				return true, err
			}
		}
		return len(stale) > 0 || len(out) > 0, nil
	})
	if err != nil {
		return nil, wrap("claim reminders", err)
	}
	return out, nil
}

// DeleteReminder implements bot.Store.
func (s *Store) DeleteReminder(ctx context.Context, id, key string) error {
	k := idKey(id)
	err := s.do(ctx, func(tx *bbolt.Tx, _ time.Time) (bool, error) {
		return deleteReminder(tx, k, &key)
	})
	return wrap("delete reminder", err)
}
