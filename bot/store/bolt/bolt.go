// Package bolt is a bot.Store in one bbolt file, for a single process.
//
// Every mutating call (PutInbox, Commit, MarkSent, Finish, ClaimReminders,
// DeleteReminder) returns only once its change is on disk. They go through one writer goroutine that
// commits all calls waiting at that moment in one transaction (group
// commit), so many conversations share each fsync. Reads use read
// transactions and never wait for the writer.
//
// The file lock makes the process the file's only user, so leases live in
// memory: a restart frees them, which is right because the process that
// held them is gone.
//
// Reminders are kept until delivered, cancelled or forgotten (they have no
// TTL), with two indexes: by due time, which ClaimReminders walks from the
// oldest, and by user, which Forget walks. Claims run in the writer, one
// at a time, so each due reminder goes to one caller. An unreadable
// reminder record is deleted when a claim comes to it.
//
// An unreadable session record (a damaged file, a foreign write) is handed
// to the Dispatcher as it is, as the session bytes of version 0: the
// Dispatcher cannot decode it, starts the conversation again with a note,
// and its commit from version 0 replaces the record. An unreadable user
// record is handed over the same way (the Dispatcher reads it as empty).
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/supportbot/supportbot/bot"
)

var _ bot.Store = (*Store)(nil)

// Options configures a Store. Zero values take the defaults.
type Options struct {
	// Now is the clock for expiries and leases; default time.Now.
	Now func() time.Time
	// SweepEvery is how often expired sessions, user records and done ids
	// are deleted from the file; default 10 minutes, negative never (call
	// Sweep). Reads ignore expired records anyway; sweeping frees space.
	SweepEvery time.Duration
	// LockTimeout is how long Open waits for the file lock held by another
	// process; default 1 s.
	LockTimeout time.Duration
	// MaxBatch caps the calls one transaction commits; default 4096.
	MaxBatch int
	// Linger is how long the writer waits for more calls to share a
	// commit while the store is busy (the last commit carried several
	// calls); default 1 ms, negative never.
	Linger time.Duration
}

// ErrInUse is what Open returns (wrapped) when another process holds the
// file.
var ErrInUse = errors.New("bolt: database file is in use by another process")

type inUseError struct {
	path    string
	timeout time.Duration
}

func (e *inUseError) Error() string {
	return fmt.Sprintf("bolt: %s is in use by another supportbot process (lock not acquired in %s)", e.path, e.timeout)
}

func (e *inUseError) Unwrap() error { return ErrInUse }

// Store is a bot.Store on a bbolt file.
type Store struct {
	db       *bbolt.DB
	now      func() time.Time
	ops      chan *op
	maxBatch int
	linger   time.Duration

	closeMu sync.RWMutex // held shared by every call, exclusively by Close
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup // the writer and the sweeper

	leaseMu sync.Mutex
	leases  map[string]lease

	batches atomic.Uint64
	nops    atomic.Uint64
}

type lease struct {
	owner string
	until time.Time
}

// Open opens or creates the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepEvery == 0 {
		opts.SweepEvery = 10 * time.Minute
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Linger == 0 {
		opts.Linger = time.Millisecond
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt at open instead of written at every
		// commit: fewer pages per fsync.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &inUseError{path: path, timeout: opts.LockTimeout}
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		switch f := meta.Get([]byte("format")); {
		case f == nil:
			return meta.Put([]byte("format"), []byte{recordFormat})
		case len(f) != 1 || f[0] != recordFormat:
			return fmt.Errorf("the file has store format %x; this supportbot reads format %d", f, recordFormat)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		now:      opts.Now,
		ops:      make(chan *op, opts.MaxBatch),
		maxBatch: opts.MaxBatch,
		linger:   opts.Linger,
		quit:     make(chan struct{}),
		leases:   map[string]lease{},
	}
	s.wg.Add(1)
	go s.writer()
	if opts.SweepEvery > 0 {
		s.wg.Add(1)
		go s.sweeper(opts.SweepEvery)
	}
	return s, nil
}

// view runs a read transaction unless the store is closed.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return bot.ErrStoreClosed
	}
	return s.db.View(fn)
}

// PutInbox implements bot.Store.
func (s *Store) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	key := idKey(d.ID)
	val := encodeInbox(d.At, d.Conv, d.Data)
	at := append(atKey(d.At, len(d.ID)), d.ID...)
	var st bot.InboxState
	err := s.do(ctx, func(tx *bbolt.Tx, now time.Time) (bool, error) {
		if isDone(tx.Bucket(bDone).Get(key), now) {
			st = bot.InboxDone
			return false, nil
		}
		inbox := tx.Bucket(bInbox)
		if inbox.Get(key) != nil {
			st = bot.InboxPending
			return false, nil
		}
		st = bot.InboxNew
		if err := inbox.Put(key, val); err != nil {
			return true, err
		}
		return true, tx.Bucket(bInboxAt).Put(at, empty)
	})
	if err != nil {
		return 0, wrap("put inbox", err)
	}
	return st, nil
}

// Inbox implements bot.Store.
func (s *Store) Inbox(ctx context.Context, limit int) ([]bot.Delivery, error) {
	var out []bot.Delivery
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		inbox := tx.Bucket(bInbox)
		c := tx.Bucket(bInboxAt).Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			if len(k) < 12 {
				continue
			}
			id := string(k[12:])
			raw := inbox.Get(idKey(id))
			if raw == nil {
				continue
			}
			d := bot.Delivery{ID: id, At: parseAt(k)}
			if _, conv, data, ok := decodeInbox(raw); ok {
				d.Conv, d.Data = conv, clone(data)
			} else {
				d.Data = clone(raw) // the Dispatcher drops what it cannot read
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("inbox", err)
	}
	return out, nil
}

// Begin implements bot.Store.
func (s *Store) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	if err := ctx.Err(); err != nil {
		return bot.Record{}, err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return bot.Record{}, bot.ErrStoreClosed
	}
	now := s.now()
	s.leaseMu.Lock()
	if cur, ok := s.leases[l.Conv]; ok && cur.owner != l.Owner && now.Before(cur.until) {
		s.leaseMu.Unlock()
		return bot.Record{}, bot.ErrLocked
	}
	s.leases[l.Conv] = lease{owner: l.Owner, until: now.Add(l.TTL)}
	s.leaseMu.Unlock()

	var rec bot.Record
	conv := idKey(l.Conv)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if raw := tx.Bucket(bSessions).Get(conv); raw != nil {
			if r, ok := decodeSession(raw); !ok {
				rec.Session = clone(raw)
			} else if !expired(r.exp, now) {
				rec.Session, rec.Version = clone(r.data), r.version
			}
		}
		if raw := tx.Bucket(bUsers).Get(idKey(l.User)); raw != nil {
			if exp, data, ok := decodeUser(raw); !ok {
				rec.User = clone(raw)
			} else if !expired(exp, now) {
				rec.User = clone(data)
			}
		}
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.Seek(conv); k != nil && bytes.HasPrefix(k, conv); k, v = c.Next() {
			seq, data := decodeOutgoing(v)
			rec.Outbox = append(rec.Outbox, bot.Outgoing{Seq: seq, Data: clone(data)})
		}
		rec.Done = l.Delivery != "" && isDone(tx.Bucket(bDone).Get(idKey(l.Delivery)), now)
		return nil
	})
	if err != nil {
		return bot.Record{}, wrap("begin", err)
	}
	return rec, nil
}

// Commit implements bot.Store.
func (s *Store) Commit(ctx context.Context, c bot.Commit) error {
	conv, user := idKey(c.Conv), idKey(c.User)
	var delivery []byte
	if c.Delivery != "" {
		delivery = idKey(c.Delivery)
	}
	var sess []byte
	if c.Session != nil {
		sess = encodeSession(c.Version+1, c.User, c.Session)
	}
	userData := clone(c.UserData)
	out := make([][]byte, len(c.Outbox))
	for i, o := range c.Outbox {
		out[i] = encodeOutgoing(o.Seq, o.Data)
	}
	cancel := make([][]byte, len(c.Cancel))
	for i, id := range c.Cancel {
		cancel[i] = idKey(id)
	}
	rems := make([]newReminder, len(c.Reminders))
	for i, r := range c.Reminders {
		rems[i] = encodeNewReminder(r)
	}
	err := s.do(ctx, func(tx *bbolt.Tx, now time.Time) (bool, error) {
		sessions, done := tx.Bucket(bSessions), tx.Bucket(bDone)
		if liveVersion(sessions.Get(conv), now) != c.Version {
			return false, bot.ErrConflict
		}
		if delivery != nil && isDone(done.Get(delivery), now) {
			return false, bot.ErrConflict
		}
		if c.Forget {
			if err := forget(tx, user); err != nil {
				return true, err
			}
		}
		if delivery != nil {
			v := make([]byte, 8)
			putExpiry(v, deadline(now, c.DeliveryTTL))
			if err := done.Put(delivery, v); err != nil {
				return true, err
			}
		}
		exp := deadline(now, c.SessionTTL)
		if sess != nil {
			putExpiry(sess[1:9], exp)
			if err := sessions.Put(conv, sess); err != nil {
				return true, err
			}
		} else if err := sessions.Delete(conv); err != nil {
			return true, err
		}
		if err := putUser(tx, user, conv, exp, sess != nil, userData, now); err != nil {
			return true, err
		}
		if len(out) > 0 {
			outbox := tx.Bucket(bOutbox)
			for _, v := range out {
				n, err := outbox.NextSequence()
				if err != nil {
					return true, err
				}
				k := binary.BigEndian.AppendUint64(joinKey(conv, "", 8), n)
				if err := outbox.Put(k, v); err != nil {
					return true, err
				}
			}
		}
		for _, id := range cancel {
			if _, err := deleteReminder(tx, id, nil); err != nil {
				return true, err
			}
		}
		for _, r := range rems {
			if err := putReminder(tx, r); err != nil {
				return true, err
			}
		}
		return true, nil
	})
	if err != nil {
		return wrap("commit", err)
	}
	return nil
}

// putUser is the memory store's rule for the user record: a commit with a
// session or user data creates it and indexes the conversation; any commit
// renews an existing one. An expired record starts afresh.
func putUser(tx *bbolt.Tx, user, conv []byte, exp int64, hasSession bool, data []byte, now time.Time) error {
	users := tx.Bucket(bUsers)
	var old []byte
	exists := false
	if raw := users.Get(user); raw != nil {
		oexp, odata, ok := decodeUser(raw)
		if ok && expired(oexp, now) {
			if err := deleteUser(tx, user); err != nil {
				return err
			}
		} else {
			exists, old = true, clone(odata)
		}
	}
	if !hasSession && data == nil && !exists {
		return nil
	}
	if data == nil {
		data = old
	}
	if err := users.Put(user, encodeUser(exp, data)); err != nil {
		return err
	}
	if hasSession {
		return tx.Bucket(bUserConvs).Put(joinKey(user, string(conv), 0), empty)
	}
	return nil
}

// forget deletes, through the user's indexes, their sessions, outboxes and
// reminders, then the indexes and the user record.
func forget(tx *bbolt.Tx, user []byte) error {
	if err := forgetReminders(tx, user); err != nil {
		return err
	}
	sessions := tx.Bucket(bSessions)
	var convs [][]byte
	c := tx.Bucket(bUserConvs).Cursor()
	for k, _ := c.Seek(user); k != nil && bytes.HasPrefix(k, user); k, _ = c.Next() {
		convs = append(convs, clone(k[len(user):]))
	}
	for _, conv := range convs {
		if err := sessions.Delete(conv); err != nil {
			return err
		}
		if err := deletePrefix(tx.Bucket(bOutbox), conv); err != nil {
			return err
		}
	}
	return deleteUser(tx, user)
}

// deleteUser deletes a user record and its index.
func deleteUser(tx *bbolt.Tx, user []byte) error {
	if err := tx.Bucket(bUsers).Delete(user); err != nil {
		return err
	}
	return deletePrefix(tx.Bucket(bUserConvs), user)
}

func deletePrefix(b *bbolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// MarkSent implements bot.Store.
func (s *Store) MarkSent(ctx context.Context, conv string, seqs ...uint64) error {
	err := s.do(ctx, func(tx *bbolt.Tx, _ time.Time) (bool, error) {
		return markSent(tx, conv, seqs)
	})
	if err != nil {
		return wrap("mark sent", err)
	}
	return nil
}

// markSent deletes the first outbox entry of each seq.
func markSent(tx *bbolt.Tx, conv string, seqs []uint64) (bool, error) {
	if len(seqs) == 0 {
		return false, nil
	}
	prefix := idKey(conv)
	wrote := false
	c := tx.Bucket(bOutbox).Cursor()
	for _, seq := range seqs {
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if got, _ := decodeOutgoing(v); got == seq {
				if err := c.Delete(); err != nil {
					return true, err
				}
				wrote = true
				break
			}
		}
	}
	return wrote, nil
}

// Finish implements bot.Store.
func (s *Store) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	var err error
	if delivery != "" || len(sent) > 0 {
		key := idKey(delivery)
		err = s.do(ctx, func(tx *bbolt.Tx, _ time.Time) (bool, error) {
			marked, err := markSent(tx, conv, sent)
			if err != nil || delivery == "" {
				return marked, err
			}
			inbox := tx.Bucket(bInbox)
			raw := inbox.Get(key)
			if raw == nil {
				return marked, nil
			}
			at, ok := inboxAtOf(tx, raw, delivery)
			if err := inbox.Delete(key); err != nil || !ok {
				return true, err
			}
			return true, tx.Bucket(bInboxAt).Delete(at)
		})
		err = wrap("finish", err)
	} else {
		err = s.view(ctx, func(*bbolt.Tx) error { return nil })
	}
	if errors.Is(err, bot.ErrStoreClosed) {
		return err
	}
	// The lease goes even when the write failed: the turn is over either way.
	s.leaseMu.Lock()
	if l, ok := s.leases[conv]; ok && l.owner == owner {
		delete(s.leases, conv)
	}
	s.leaseMu.Unlock()
	return err
}

// inboxAtOf finds the order key of an inbox entry, by scanning when the
// entry is too damaged to say.
func inboxAtOf(tx *bbolt.Tx, raw []byte, id string) ([]byte, bool) {
	if at, _, _, ok := decodeInbox(raw); ok {
		return append(atKey(at, len(id)), id...), true
	}
	c := tx.Bucket(bInboxAt).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) >= 12 && string(k[12:]) == id {
			return clone(k), true
		}
	}
	return nil, false
}

// Ping implements bot.Store.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.view(ctx, func(*bbolt.Tx) error { return nil }))
}

// Close implements bot.Store. It waits for calls in progress, stops the
// writer and the sweeper, and closes the file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.quit)
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// Stats counts the writer's work: Ops mutating calls were written in
// Batches transactions (one fsync each). Batches only counts transactions
// that wrote.
type Stats struct {
	Batches uint64
	Ops     uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Ops: s.nops.Load()}
}

// Keys lists every key in every bucket as "bucket/key" (ids as they are,
// other bytes as \xNN), for tests that prove /forget leaves nothing behind.
func (s *Store) Keys() ([]string, error) {
	var out []string
	var walk func(prefix string, b *bbolt.Bucket) error
	walk = func(prefix string, b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			name := prefix + "/" + printable(k)
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(name, nb)
				}
			}
			out = append(out, name)
			return nil
		})
	}
	err := s.view(context.Background(), func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return walk(printable(name), b)
		})
	})
	if err != nil {
		return nil, wrap("keys", err)
	}
	return out, nil
}

// wrap names the operation in an I/O error. The store's own answers
// (ErrConflict, ErrStoreClosed) and the context's are returned as they are.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, bot.ErrConflict) || errors.Is(err, bot.ErrStoreClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}
