// Package memory is a bot.Store in process memory, for the terminal and for
// tests. Everything is lost when the process ends.
package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/supportbot/supportbot/bot"
)

var _ bot.Store = (*Store)(nil)

// Store keeps everything in maps behind one mutex.
type Store struct {
	mu        sync.Mutex
	now       func() time.Time
	closed    bool
	inbox     map[string]bot.Delivery
	done      map[string]time.Time // delivery id → expiry
	sessions  map[string]*session
	users     map[string]*user
	outbox    map[string][]bot.Outgoing
	leases    map[string]lease
	reminders map[string]bot.Reminder
}

type session struct {
	data    []byte
	version uint64
	user    string
	expires time.Time
}

type user struct {
	data    []byte
	convs   map[string]bool
	expires time.Time
}

type lease struct {
	owner string
	until time.Time
}

// New returns an empty store. now may be nil (time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:       now,
		inbox:     map[string]bot.Delivery{},
		done:      map[string]time.Time{},
		sessions:  map[string]*session{},
		users:     map[string]*user{},
		outbox:    map[string][]bot.Outgoing{},
		leases:    map[string]lease{},
		reminders: map[string]bot.Reminder{},
	}
}

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return bot.ErrStoreClosed
	}
	return nil
}

func (s *Store) isDone(id string, now time.Time) bool {
	exp, ok := s.done[id]
	if ok && now.After(exp) {
		delete(s.done, id)
		return false
	}
	return ok
}

// PutInbox implements bot.Store.
func (s *Store) PutInbox(_ context.Context, d bot.Delivery) (bot.InboxState, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if s.isDone(d.ID, s.now()) {
		return bot.InboxDone, nil
	}
	if _, ok := s.inbox[d.ID]; ok {
		return bot.InboxPending, nil
	}
	d.Data = append([]byte(nil), d.Data...)
	s.inbox[d.ID] = d
	return bot.InboxNew, nil
}

// Inbox implements bot.Store.
func (s *Store) Inbox(_ context.Context, limit int) ([]bot.Delivery, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]bot.Delivery, 0, len(s.inbox))
	for _, d := range s.inbox {
		d.Data = clone(d.Data)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) session(conv string, now time.Time) *session {
	ss := s.sessions[conv]
	if ss != nil && now.After(ss.expires) {
		delete(s.sessions, conv)
		return nil
	}
	return ss
}

func (s *Store) user(id string, now time.Time) *user {
	u := s.users[id]
	if u != nil && now.After(u.expires) {
		delete(s.users, id)
		return nil
	}
	return u
}

// Begin implements bot.Store.
func (s *Store) Begin(_ context.Context, l bot.Lease) (bot.Record, error) {
	if err := s.lock(); err != nil {
		return bot.Record{}, err
	}
	defer s.mu.Unlock()
	now := s.now()
	if cur, ok := s.leases[l.Conv]; ok && cur.owner != l.Owner && now.Before(cur.until) {
		return bot.Record{}, bot.ErrLocked
	}
	s.leases[l.Conv] = lease{owner: l.Owner, until: now.Add(l.TTL)}
	var rec bot.Record
	if ss := s.session(l.Conv, now); ss != nil {
		rec.Session, rec.Version = clone(ss.data), ss.version
	}
	if u := s.user(l.User, now); u != nil && u.data != nil {
		rec.User = clone(u.data)
	}
	for _, o := range s.outbox[l.Conv] {
		rec.Outbox = append(rec.Outbox, bot.Outgoing{Seq: o.Seq, Data: clone(o.Data)})
	}
	rec.Done = l.Delivery != "" && s.isDone(l.Delivery, now)
	return rec, nil
}

// Commit implements bot.Store.
func (s *Store) Commit(_ context.Context, c bot.Commit) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.now()
	var cur uint64
	if ss := s.session(c.Conv, now); ss != nil {
		cur = ss.version
	}
	if cur != c.Version || (c.Delivery != "" && s.isDone(c.Delivery, now)) {
		return bot.ErrConflict
	}
	if c.Forget {
		s.forget(c.User)
	}
	if c.Delivery != "" {
		s.done[c.Delivery] = now.Add(c.DeliveryTTL)
	}
	exp := now.Add(c.SessionTTL)
	if c.Session != nil {
		s.sessions[c.Conv] = &session{data: clone(c.Session), version: c.Version + 1, user: c.User, expires: exp}
	} else {
		delete(s.sessions, c.Conv)
	}
	u := s.user(c.User, now)
	if c.Session != nil || c.UserData != nil {
		if u == nil {
			u = &user{convs: map[string]bool{}}
			s.users[c.User] = u
		}
		if c.Session != nil {
			u.convs[c.Conv] = true
		}
		if c.UserData != nil {
			u.data = clone(c.UserData)
		}
		u.expires = exp
	} else if u != nil {
		u.expires = exp
	}
	for _, o := range c.Outbox {
		s.outbox[c.Conv] = append(s.outbox[c.Conv], bot.Outgoing{Seq: o.Seq, Data: clone(o.Data)})
	}
	for _, id := range c.Cancel {
		delete(s.reminders, id)
	}
	for _, r := range c.Reminders {
		r.Data = clone(r.Data)
		s.reminders[r.ID] = r
	}
	return nil
}

// ClaimReminders implements bot.Store.
func (s *Store) ClaimReminders(_ context.Context, now time.Time, lease time.Duration, limit int) ([]bot.Reminder, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var due []bot.Reminder
	for _, r := range s.reminders {
		if !r.At.After(now) {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].At.Before(due[j].At) })
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	for i, r := range due {
		r.At = now.Add(lease)
		s.reminders[r.ID] = r
		due[i].Data = clone(r.Data)
	}
	return due, nil
}

// DeleteReminder implements bot.Store.
func (s *Store) DeleteReminder(_ context.Context, id, key string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if r, ok := s.reminders[id]; ok && r.Key == key {
		delete(s.reminders, id)
	}
	return nil
}

// forget deletes every session of the user, their outboxes, record and
// reminders.
func (s *Store) forget(id string) {
	u := s.users[id]
	if u == nil {
		u = &user{}
	}
	for conv := range u.convs {
		delete(s.sessions, conv)
		delete(s.outbox, conv)
	}
	delete(s.users, id)
	for rid, r := range s.reminders {
		if r.User == id {
			delete(s.reminders, rid)
		}
	}
}

// MarkSent implements bot.Store.
func (s *Store) MarkSent(_ context.Context, conv string, seqs ...uint64) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, seq := range seqs {
		s.markSent(conv, seq)
	}
	return nil
}

func (s *Store) markSent(conv string, seq uint64) {
	box := s.outbox[conv]
	for i, o := range box {
		if o.Seq == seq {
			box = append(box[:i:i], box[i+1:]...)
			break
		}
	}
	if len(box) == 0 {
		delete(s.outbox, conv)
	} else {
		s.outbox[conv] = box
	}
}

// Finish implements bot.Store.
func (s *Store) Finish(_ context.Context, conv, delivery, owner string, sent ...uint64) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, seq := range sent {
		s.markSent(conv, seq)
	}
	if delivery != "" {
		delete(s.inbox, delivery)
	}
	if l, ok := s.leases[conv]; ok && l.owner == owner {
		delete(s.leases, conv)
	}
	return nil
}

// Ping implements bot.Store.
func (s *Store) Ping(context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close implements bot.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Keys lists what the store holds, for tests that prove /forget leaves
// nothing behind (done delivery ids stay, so they must not name a user).
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.sessions {
		out = append(out, "session:"+k)
	}
	for k := range s.users {
		out = append(out, "user:"+k)
	}
	for k := range s.outbox {
		out = append(out, "outbox:"+k)
	}
	for k := range s.inbox {
		out = append(out, "inbox:"+k)
	}
	for k := range s.reminders {
		out = append(out, "reminder:"+k)
	}
	for k := range s.done {
		out = append(out, "done:"+k)
	}
	sort.Strings(out)
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
