// Package redis is a bot.Store on Redis, which several replicas of the bot
// can share.
//
// Every method is one Lua script, so it costs one round trip and its checks
// and writes are atomic against the other replicas: the version check and
// the done ids of Commit, the lease of Begin. Sessions and user records
// expire by Redis TTLs, renewed by each commit; done ids and leases are
// keys with their own TTL. Calls made at the same moment are sent together
// (go-redis autopipelining; see Options.NoAutoPipeline).
//
// Keys, all under "<prefix>:", ids verbatim:
//
//	session:<conv>   string: version (8 bytes, big-endian), then the session
//	user:<user>      hash: "d" the user data, "c:<conv>" one per conversation
//	outbox:<conv>    list: seq (8 bytes, big-endian), then the reply
//	inbox:<id>       string: at (12 bytes), conv, then the update
//	inbox-order      sorted set: at (12 bytes) + id, oldest first
//	done:<id>        "1", with the DeliveryTTL
//	lease:<conv>     the owner, with the lease's TTL
//	reminder:<id>    hash: "a" at (12 bytes), "u" user, "k" key, "d" the update
//	reminder-order   sorted set: at (12 bytes) + id, the next due first
//	reminders:<user> set: the ids of the user's reminders, which Forget follows
//
// Reminders have no TTL: they stay until delivered (DeleteReminder),
// cancelled or forgotten. ClaimReminders is a script over the order: it
// takes the members due and moves them to now+lease in one step.
//
// go-redis retries a command, or a whole pipeline, after a network error,
// so a script may run twice. Each is safe to repeat: a repeated Commit
// answers ErrConflict (the Dispatcher reloads, finds the delivery done and
// sends the stored replies), a repeated PutInbox answers pending, a
// repeated ClaimReminders finds nothing (what the first run took is due
// again after the lease), and the others are idempotent.
//
// It needs Redis 6.2 or later (GETDEL), and one Redis, not a cluster: the
// scripts follow the per-user index and the inbox order to keys they were
// not given.
package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/supportbot/supportbot/bot"
)

var _ bot.Store = (*Store)(nil)

// DefaultPrefix starts every key unless the URL's ?prefix= says otherwise.
const DefaultPrefix = "supportbot"

// Options configures a Store. Zero values take the defaults.
type Options struct {
	// Prefix overrides the URL's ?prefix= (default DefaultPrefix).
	Prefix string
	// PoolSize is the number of connections; default 64. Without
	// autopipelining a call holds a connection for its round trip, so this
	// bounds the calls in flight.
	PoolSize int
	// NoAutoPipeline sends every call in its own round trip. By default
	// calls made at the same moment (many conversations, one replica) share
	// one write and one read: Redis spends far less on system calls, which
	// on a small machine nearly doubles the turns per second. A call's
	// context is then only checked before it is queued (go-redis runs the
	// batch on its own context; read and write timeouts still apply), so
	// PutInbox, which a platform waits on, waits for it beside its context.
	NoAutoPipeline bool
}

// Store is a bot.Store on Redis.
type Store struct {
	rdb *goredis.Client
	run goredis.Scripter // rdb, or its autopipeliner
	// pipelined says run is the autopipeliner, which does not give up a
	// queued call when its context ends.
	pipelined bool
	prefix    string // with the trailing ":"
	password  string // only to keep it out of error messages
	closed    atomic.Bool

	order    string // the inbox order key
	remOrder string // the reminder order key
}

// Open connects to the Redis at url, redis://[:password@]host:port/db or
// rediss:// for TLS, with an optional ?prefix=NAME, and checks that it
// answers.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	o, prefix, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if opts.Prefix != "" {
		prefix = opts.Prefix
	}
	switch {
	case opts.PoolSize > 0:
		o.PoolSize = opts.PoolSize
	case o.PoolSize == 0: // not set in the URL either
		o.PoolSize = 64
	}
	o.DisableIdentity = true // no CLIENT SETINFO: one round trip fewer per connection, no error on older servers
	s := &Store{
		rdb:      goredis.NewClient(o),
		prefix:   prefix + ":",
		password: o.Password,
	}
	s.order = s.prefix + "inbox-order"
	s.remOrder = s.prefix + "reminder-order"
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		_ = s.rdb.Close()
		return nil, s.wrap("cannot reach "+o.Addr, err)
	}
	s.run = s.rdb
	if !opts.NoAutoPipeline {
		// Full duplex: one held connection, commands written while replies
		// are read. Measured here it beat go-redis's half-duplex default
		// by about 10 % (Redis, not the client, is the limit).
		cfg := goredis.DefaultBlockingAutoPipelineOptions()
		cfg.FullDuplex = true
		ap, err := s.rdb.AutoPipelineWithOptions(cfg)
		if err != nil {
			_ = s.rdb.Close()
			return nil, fmt.Errorf("redis: autopipeline: %w", err)
		}
		s.run, s.pipelined = ap, true
	}
	return s, nil
}

// parseURL reads the store URL. Its errors never repeat the URL, which may
// hold a password.
func parseURL(raw string) (*goredis.Options, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", errors.New("redis: the store URL cannot be parsed (want redis://[:password@]host:port/db[?prefix=name])")
	}
	q := u.Query()
	prefix := q.Get("prefix")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	q.Del("prefix")
	u.RawQuery = q.Encode()
	o, err := goredis.ParseURL(u.String())
	if err != nil {
		pw, _ := u.User.Password()
		return nil, "", fmt.Errorf("redis: store URL: %s", redact(err.Error(), pw))
	}
	return o, prefix, nil
}

// Key names. Ids go in verbatim: Redis keys are binary-safe.
func (s *Store) key(kind, id string) string { return s.prefix + kind + ":" + id }

// ms is a TTL for PX and PEXPIRE: whole milliseconds, rounded up, at least
// 1 (Redis refuses 0; an expiry of "now" is gone a millisecond later).
func ms(d time.Duration) string {
	if d <= time.Millisecond {
		return "1"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// seqBytes is a seq or version as 8 big-endian bytes.
func seqBytes(seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

// atKey orders by time: seconds with the sign bit flipped, then
// nanoseconds, both big-endian, so bytes sort as times do.
func atKey(at time.Time) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(at.Unix())^1<<63)
	binary.BigEndian.PutUint32(b[8:], uint32(at.Nanosecond()))
	return b
}

func parseAt(b string) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64([]byte(b[:8]))^1<<63), int64(binary.BigEndian.Uint32([]byte(b[8:12]))))
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return bot.ErrStoreClosed
	}
	return ctx.Err()
}

// PutInbox implements bot.Store.
func (s *Store) PutInbox(ctx context.Context, d bot.Delivery) (bot.InboxState, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	// The entry starts with the order key's time, so Finish can find the
	// order member from the entry alone.
	at := atKey(d.At)
	entry := make([]byte, 0, 12+binary.MaxVarintLen16+len(d.Conv)+len(d.Data))
	entry = append(entry, at...)
	entry = binary.AppendUvarint(entry, uint64(len(d.Conv)))
	entry = append(append(entry, d.Conv...), d.Data...)
	run := func() (int, error) {
		return putInbox.Run(ctx, s.run,
			[]string{s.key("done", d.ID), s.key("inbox", d.ID), s.order},
			entry, string(at)+d.ID).Int()
	}
	var st int
	var err error
	if s.pipelined && ctx.Done() != nil {
		st, err = await(ctx, run)
	} else {
		st, err = run()
	}
	if err != nil {
		return 0, s.wrap("put inbox", err)
	}
	return bot.InboxState(st), nil
}

// await runs call and waits for it or for ctx, whichever ends first.
// PutInbox is the write a platform waits on: under autopipelining go-redis
// cannot abandon a queued call, so in an outage the acknowledgement would
// wait out every retry instead of failing at its deadline (the platform
// then redelivers). A call abandoned here may still land later: the
// redelivery then finds the entry pending and runs it once (or recovery
// does), as for any entry nobody is working on. The goroutine ends when
// go-redis gives up, so an outage holds at most one per delivery attempt;
// in normal operation it costs about a microsecond per update, included
// in the benchmark figures.
func await[T any](ctx context.Context, call func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Inbox implements bot.Store.
func (s *Store) Inbox(ctx context.Context, limit int) ([]bot.Delivery, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	last := -1
	if limit > 0 {
		last = limit - 1
	}
	res, err := inbox.Run(ctx, s.run, []string{s.order}, s.prefix+"inbox:", last).StringSlice()
	if err != nil {
		return nil, s.wrap("inbox", err)
	}
	out := make([]bot.Delivery, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		member, entry := res[i], res[i+1]
		if len(member) < 12 {
			continue
		}
		d := bot.Delivery{ID: member[12:], At: parseAt(member)}
		if conv, data, ok := decodeEntry(entry); ok {
			d.Conv, d.Data = conv, data
		} else {
			d.Data = []byte(entry) // the Dispatcher drops what it cannot read
		}
		out = append(out, d)
	}
	return out, nil
}

func decodeEntry(e string) (conv string, data []byte, ok bool) {
	if len(e) < 13 {
		return "", nil, false
	}
	b := []byte(e[12:])
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}

// Begin implements bot.Store.
func (s *Store) Begin(ctx context.Context, l bot.Lease) (bot.Record, error) {
	if err := s.check(ctx); err != nil {
		return bot.Record{}, err
	}
	ttl := "0"
	if l.TTL > 0 {
		ttl = ms(l.TTL)
	}
	res, err := begin.Run(ctx, s.run,
		[]string{s.key("lease", l.Conv), s.key("session", l.Conv), s.key("user", l.User), s.key("outbox", l.Conv), s.key("done", l.Delivery)},
		l.Owner, ttl, flag(l.Delivery != "")).Slice()
	if err != nil {
		return bot.Record{}, s.wrap("begin", err)
	}
	if len(res) == 1 {
		return bot.Record{}, bot.ErrLocked
	}
	if len(res) != 5 {
		return bot.Record{}, fmt.Errorf("redis: begin: unexpected reply of %d values", len(res))
	}
	var rec bot.Record
	if v, ok := res[1].(string); ok {
		if len(v) < 8 {
			// Unreadable: handed over as version 0, so the Dispatcher
			// starts again and its commit from 0 replaces it.
			rec.Session = []byte(v)
		} else {
			rec.Version, rec.Session = binary.BigEndian.Uint64([]byte(v[:8])), []byte(v[8:])
		}
	}
	if u, ok := res[2].(string); ok {
		rec.User = []byte(u)
	}
	rec.Done = res[3] == int64(1)
	out, _ := res[4].([]any)
	for _, o := range out {
		e, _ := o.(string)
		if len(e) < 8 {
			rec.Outbox = append(rec.Outbox, bot.Outgoing{Data: []byte(e)})
			continue
		}
		rec.Outbox = append(rec.Outbox, bot.Outgoing{Seq: binary.BigEndian.Uint64([]byte(e[:8])), Data: []byte(e[8:])})
	}
	return rec, nil
}

// Commit implements bot.Store.
func (s *Store) Commit(ctx context.Context, c bot.Commit) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var sess []byte
	if c.Session != nil {
		sess = make([]byte, 8, 8+len(c.Session))
		binary.BigEndian.PutUint64(sess, c.Version+1)
		sess = append(sess, c.Session...)
	}
	args := make([]any, 0, 14+len(c.Outbox)+len(c.Cancel)+5*len(c.Reminders))
	args = append(args,
		seqBytes(c.Version), flag(c.Forget), flag(c.Delivery != ""),
		flag(c.Session != nil), sess,
		flag(c.UserData != nil), c.UserData,
		ms(c.SessionTTL), ms(c.DeliveryTTL),
		s.prefix, c.Conv,
		len(c.Outbox), len(c.Cancel), len(c.Reminders))
	for _, o := range c.Outbox {
		e := make([]byte, 8, 8+len(o.Data))
		binary.BigEndian.PutUint64(e, o.Seq)
		args = append(args, append(e, o.Data...))
	}
	for _, id := range c.Cancel {
		args = append(args, id)
	}
	for _, r := range c.Reminders {
		args = append(args, r.ID, r.User, atKey(r.At), r.Key, r.Data)
	}
	ok, err := commit.Run(ctx, s.run,
		[]string{s.key("session", c.Conv), s.key("done", c.Delivery), s.key("user", c.User), s.key("outbox", c.Conv),
			s.key("reminders", c.User), s.remOrder},
		args...).Int()
	if err != nil {
		return s.wrap("commit", err)
	}
	if ok != 1 {
		return bot.ErrConflict
	}
	return nil
}

// MarkSent implements bot.Store.
func (s *Store) MarkSent(ctx context.Context, conv string, seqs ...uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, len(seqs))
	for i, q := range seqs {
		args[i] = seqBytes(q)
	}
	err := markSent.Run(ctx, s.run, []string{s.key("outbox", conv)}, args...).Err()
	return s.wrap("mark sent", err)
}

// Finish implements bot.Store.
func (s *Store) Finish(ctx context.Context, conv, delivery, owner string, sent ...uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 3+len(sent))
	args = append(args, flag(delivery != ""), delivery, owner)
	for _, q := range sent {
		args = append(args, seqBytes(q))
	}
	err := finish.Run(ctx, s.run,
		[]string{s.key("inbox", delivery), s.order, s.key("lease", conv), s.key("outbox", conv)},
		args...).Err()
	return s.wrap("finish", err)
}

// ClaimReminders implements bot.Store. It is one script, so of several
// replicas claiming at once one gets each reminder. A claim that go-redis
// runs again after a network error finds nothing more; what the first run
// took is due again after the lease.
func (s *Store) ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]bot.Reminder, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	res, err := claimReminders.Run(ctx, s.run, []string{s.remOrder},
		s.prefix, atKey(now.Add(time.Nanosecond)), atKey(now.Add(lease)), limit).StringSlice()
	if err != nil {
		return nil, s.wrap("claim reminders", err)
	}
	out := make([]bot.Reminder, 0, len(res)/4)
	for i := 0; i+3 < len(res); i += 4 {
		m := res[i]
		if len(m) < 12 {
			continue
		}
		out = append(out, bot.Reminder{ID: m[12:], At: parseAt(m), User: res[i+1], Key: res[i+2], Data: []byte(res[i+3])})
	}
	return out, nil
}

// DeleteReminder implements bot.Store.
func (s *Store) DeleteReminder(ctx context.Context, id, key string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := deleteReminder.Run(ctx, s.run, []string{s.key("reminder", id), s.remOrder}, s.prefix, id, key).Err()
	return s.wrap("delete reminder", err)
}

// Ping implements bot.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.wrap("ping", s.rdb.Ping(ctx).Err())
}

// Close implements bot.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.wrap("close", s.rdb.Close())
}

// Keys lists every key under the prefix, found with SCAN, for tests that
// prove /forget leaves nothing behind, and for operators.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var out []string
	iter := s.rdb.Scan(ctx, 0, globEscape(s.prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, s.wrap("keys", err)
	}
	return out, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wrap names the operation in an error from Redis and keeps the password
// out of it; errors.Is still sees the cause.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.ErrClosed) && s.closed.Load():
		return bot.ErrStoreClosed
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return &opError{op: op, msg: redact(err.Error(), s.password), err: err}
}

type opError struct {
	op, msg string
	err     error
}

func (e *opError) Error() string { return "redis: " + e.op + ": " + e.msg }
func (e *opError) Unwrap() error { return e.err }

func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}
