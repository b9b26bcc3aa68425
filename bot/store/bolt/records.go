package bolt

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"
)

// Buckets. Every id in a key is length-prefixed (see idKey), so an empty id
// is a valid key and no id is a prefix of another's keys.
var (
	bMeta      = []byte("meta")      // "format" → recordFormat
	bSessions  = []byte("sessions")  // conv → session record
	bUsers     = []byte("users")     // user → user record
	bUserConvs = []byte("userconvs") // user+conv → "": the per-user index Forget walks
	bOutbox    = []byte("outbox")    // conv+counter → seq+reply, in the order committed
	bInbox     = []byte("inbox")     // delivery → inbox record
	bInboxAt   = []byte("inboxat")   // at+delivery → "": the inbox, oldest first
	bDone      = []byte("done")      // delivery → expiry
	// Reminders never expire: they go when delivered, cancelled or forgotten.
	bReminders  = []byte("reminders")  // reminder id → reminder record
	bReminderAt = []byte("reminderat") // at+reminder id → "": due ones first
	bUserRems   = []byte("userrems")   // user+reminder id → "": the index Forget walks
	allBuckets  = [][]byte{bMeta, bSessions, bUsers, bUserConvs, bOutbox, bInbox, bInboxAt, bDone,
		bReminders, bReminderAt, bUserRems}
)

// recordFormat is the first byte of session, user and inbox records, and
// the file's format in the meta bucket.
const recordFormat = 1

var empty = []byte{}

// idKey is an id as a key: uvarint length, then the id. Uvarints are
// prefix-free, so the keys of one conversation (idKey+counter) never
// share a prefix with another conversation's.
func idKey(id string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen16+len(id))
	b = binary.AppendUvarint(b, uint64(len(id)))
	return append(b, id...)
}

// joinKey is idKey(a) followed by b, with room for extra bytes.
func joinKey(a []byte, b string, extra int) []byte {
	k := make([]byte, 0, len(a)+len(b)+extra)
	return append(append(k, a...), b...)
}

// deadline is now+ttl in unix nanoseconds, clamped to what int64 holds.
func deadline(now time.Time, ttl time.Duration) int64 {
	t := now.Add(ttl)
	switch {
	case t.Year() >= 2262:
		return math.MaxInt64
	case t.Year() <= 1677:
		return math.MinInt64
	}
	return t.UnixNano()
}

// expired is the memory store's rule: a record lives while now ≤ expiry.
func expired(exp int64, now time.Time) bool { return deadline(now, 0) > exp }

func putExpiry(b []byte, exp int64) { binary.BigEndian.PutUint64(b, uint64(exp)) }
func getExpiry(b []byte) int64      { return int64(binary.BigEndian.Uint64(b)) }

// A session record is format, expiry, uvarint version, user, then the
// session bytes. The expiry is at a fixed offset so the writer can set it
// without re-encoding.
func encodeSession(version uint64, user string, data []byte) []byte {
	b := make([]byte, 9, 9+binary.MaxVarintLen64+binary.MaxVarintLen16+len(user)+len(data))
	b[0] = recordFormat
	b = binary.AppendUvarint(b, version)
	b = binary.AppendUvarint(b, uint64(len(user)))
	b = append(b, user...)
	return append(b, data...)
}

type sessionRecord struct {
	exp     int64
	version uint64
	user    string
	data    []byte // aliases the record
}

func decodeSession(b []byte) (r sessionRecord, ok bool) {
	if len(b) < 9 || b[0] != recordFormat {
		return r, false
	}
	r.exp = getExpiry(b[1:9])
	b = b[9:]
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return r, false
	}
	r.version, b = v, b[n:]
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return r, false
	}
	r.user, r.data = string(b[n:n+int(l)]), b[n+int(l):]
	return r, true
}

// liveVersion is the version a commit must match: 0 when there is no
// session, it expired, or its record is unreadable (the Dispatcher then
// starts the conversation again, and its commit replaces the record).
func liveVersion(raw []byte, now time.Time) uint64 {
	r, ok := decodeSession(raw)
	if !ok || expired(r.exp, now) {
		return 0
	}
	return r.version
}

// A user record is format, expiry, a has-data flag, then the data.
func encodeUser(exp int64, data []byte) []byte {
	b := make([]byte, 10, 10+len(data))
	b[0] = recordFormat
	putExpiry(b[1:9], exp)
	if data != nil {
		b[9] = 1
	}
	return append(b, data...)
}

func decodeUser(b []byte) (exp int64, data []byte, ok bool) {
	if len(b) < 10 || b[0] != recordFormat || b[9] > 1 {
		return 0, nil, false
	}
	if b[9] == 1 {
		data = b[10:]
	}
	return getExpiry(b[1:9]), data, true
}

// An outbox value is the reply's seq, then its bytes.
func encodeOutgoing(seq uint64, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	binary.BigEndian.PutUint64(b, seq)
	return append(b, data...)
}

// decodeOutgoing reads an outbox value; a damaged one has seq 0, so the
// Dispatcher's MarkSent of what it cannot read removes it.
func decodeOutgoing(b []byte) (uint64, []byte) {
	if len(b) < 8 {
		return 0, b
	}
	return binary.BigEndian.Uint64(b), b[8:]
}

// atKey orders by time: seconds with the sign bit flipped, then
// nanoseconds, both big-endian, so bytes sort as times do (zero time too).
func atKey(at time.Time, extra int) []byte {
	b := make([]byte, 12, 12+extra)
	binary.BigEndian.PutUint64(b, uint64(at.Unix())^1<<63)
	binary.BigEndian.PutUint32(b[8:], uint32(at.Nanosecond()))
	return b
}

func parseAt(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)^1<<63), int64(binary.BigEndian.Uint32(b[8:])))
}

// An inbox record is format, at (as atKey), conv, then the update.
func encodeInbox(at time.Time, conv string, data []byte) []byte {
	b := make([]byte, 1, 1+12+binary.MaxVarintLen16+len(conv)+len(data))
	b[0] = recordFormat
	b = append(b, atKey(at, 0)...)
	b = binary.AppendUvarint(b, uint64(len(conv)))
	b = append(b, conv...)
	return append(b, data...)
}

func decodeInbox(b []byte) (at time.Time, conv string, data []byte, ok bool) {
	if len(b) < 13 || b[0] != recordFormat {
		return at, "", nil, false
	}
	at, b = parseAt(b[1:13]), b[13:]
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return at, "", nil, false
	}
	return at, string(b[n : n+int(l)]), b[n+int(l):], true
}

// A reminder record is format, at (as atKey), user, key, then the update.
func encodeReminder(at time.Time, user, key string, data []byte) []byte {
	b := make([]byte, 1, 1+12+2*binary.MaxVarintLen16+len(user)+len(key)+len(data))
	b[0] = recordFormat
	b = append(b, atKey(at, 0)...)
	b = binary.AppendUvarint(b, uint64(len(user)))
	b = append(b, user...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, data...)
}

type reminderRecord struct {
	at        []byte // atKey; aliases the record
	user, key string
	data      []byte // aliases the record
}

func decodeReminder(b []byte) (r reminderRecord, ok bool) {
	if len(b) < 13 || b[0] != recordFormat {
		return r, false
	}
	r.at, b = b[1:13], b[13:]
	for _, s := range []*string{&r.user, &r.key} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return r, false
		}
		*s, b = string(b[n:n+int(l)]), b[n+int(l):]
	}
	r.data = b
	return r, true
}

// isDone reads a done value. A damaged one counts as done: answering a
// message twice is worse than keeping an id too long.
func isDone(v []byte, now time.Time) bool {
	if v == nil {
		return false
	}
	return len(v) != 8 || !expired(getExpiry(v), now)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// printable shows a key for Keys: ids as they are, other bytes as \xNN.
func printable(k []byte) string {
	var b strings.Builder
	for _, c := range k {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			b.WriteByte(c)
		} else {
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(c)|0x100, 16)[1:])
		}
	}
	return b.String()
}
