package flows

import (
	"encoding/binary"
	"errors"
	"time"
)

// Session is one conversation's state: where it is in its flow and what the
// user has told us. It is a value; the engine returns a new one each turn.
type Session struct {
	Flow    string // pack id of the flow
	Version int    // the flow's structure version when the session last moved
	State   string // "" for a conversation that has not started
	Lang    string
	// Nonce changes on every step. Buttons carry it, so a press on a button
	// from an earlier step is recognised as stale.
	Nonce   uint32
	Slots   []Slot
	Created int64 // unix seconds
	Updated int64
}

// Slot is one thing the user told us.
type Slot struct {
	Name, Value string
}

// Get returns a slot's value, or "".
func (s *Session) Get(name string) string {
	for _, sl := range s.Slots {
		if sl.Name == name {
			return sl.Value
		}
	}
	return ""
}

// Set sets a slot. The slice is copied first when shared is true, so a
// caller's Session is never changed behind its back.
func (s *Session) set(name, value string) {
	for i := range s.Slots {
		if s.Slots[i].Name == name {
			s.Slots[i].Value = value
			return
		}
	}
	s.Slots = append(s.Slots, Slot{name, value})
}

// IsZero reports whether the session has not started.
func (s *Session) IsZero() bool { return s.State == "" }

// Expired reports whether the session has been idle longer than ttl.
func (s *Session) Expired(now time.Time, ttl time.Duration) bool {
	return ttl > 0 && s.Updated > 0 && now.Unix()-s.Updated > int64(ttl/time.Second)
}

const sessionFormat = 1

// ErrBadSession is returned for a session record that cannot be read.
var ErrBadSession = errors.New("flows: unreadable session record")

// AppendBinary appends the compact binary form of s to b.
func (s *Session) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, sessionFormat)
	b = appendString(b, s.Flow)
	b = binary.AppendUvarint(b, uint64(s.Version))
	b = appendString(b, s.State)
	b = appendString(b, s.Lang)
	b = binary.AppendUvarint(b, uint64(s.Nonce))
	b = binary.AppendVarint(b, s.Created)
	b = binary.AppendVarint(b, s.Updated)
	b = binary.AppendUvarint(b, uint64(len(s.Slots)))
	for _, sl := range s.Slots {
		b = appendString(b, sl.Name)
		b = appendString(b, sl.Value)
	}
	return b, nil
}

// MarshalBinary encodes s compactly (a few dozen bytes plus the slots).
func (s *Session) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 64+16*len(s.Slots)))
}

// UnmarshalBinary decodes a session; any damage gives ErrBadSession.
func (s *Session) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if r.byte() != sessionFormat {
		return ErrBadSession
	}
	var out Session
	out.Flow = r.string()
	out.Version = int(r.uvarint())
	out.State = r.string()
	out.Lang = r.string()
	out.Nonce = uint32(r.uvarint())
	out.Created = r.varint()
	out.Updated = r.varint()
	n := r.uvarint()
	if n > 64 {
		return ErrBadSession
	}
	if n > 0 {
		out.Slots = make([]Slot, n)
		for i := range out.Slots {
			out.Slots[i].Name = r.string()
			out.Slots[i].Value = r.string()
		}
	}
	if r.bad || len(r.b) != 0 {
		return ErrBadSession
	}
	*s = out
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
