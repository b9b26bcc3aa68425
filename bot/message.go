package bot

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/supportbot/supportbot/flows"
)

// Kind says what an incoming update is.
type Kind uint8

const (
	KindText     Kind = iota + 1 // a typed message
	KindButton                   // a button press; Data holds its payload
	KindCommand                  // a command; Command and Args
	KindResume                   // the front end (re)opened: show where we are
	KindOther                    // a photo, sticker, file: nothing we can read
	KindReminder                 // a reminder the user asked for is due (Case names it)
)

// Update is one incoming message, button press or command, in platform-
// neutral form.
type Update struct {
	// ID identifies the delivery for de-duplication: "tg:<update_id>",
	// "slack:<event_id>". Redeliveries carry the same id.
	ID       string `json:"id"`
	Platform string `json:"p"`
	Conv     string `json:"c"` // conversation key, e.g. "tg:<chat>:<user>"
	User     string `json:"u"` // user key, e.g. "tg:<user>"
	Kind     Kind   `json:"k"`
	Text     string `json:"t,omitempty"`
	Data     string `json:"d,omitempty"`  // button payload
	Command  string `json:"cm,omitempty"` // without slash, lower case
	Args     string `json:"a,omitempty"`
	Lang     string `json:"l,omitempty"` // the platform's language hint
	// LangExplicit makes Lang the user's choice for this update (the
	// terminal's -lang flag), above a stored preference.
	LangExplicit bool   `json:"le,omitempty"`
	Route        string `json:"r,omitempty"` // adapter's note on where replies go
	Ref          string `json:"f,omitempty"` // the message a pressed button was on
	// TZ is the user's time zone when the platform knows it (Slack).
	TZ string `json:"tz,omitempty"`
	// HomeConv and HomeRoute address the user's private conversation with
	// the bot (their DM), where reminders go; empty means this one.
	HomeConv  string `json:"hc,omitempty"`
	HomeRoute string `json:"hr,omitempty"`
	// Case is the case a reminder is about.
	Case int       `json:"cs,omitempty"`
	At   time.Time `json:"at"`
	// Throttled marks the first update over the user's rate: it gets one
	// "please slow down" instead of a turn.
	Throttled bool `json:"th,omitempty"`
}

// ReplyKind says what to do with a reply.
type ReplyKind uint8

const (
	// Message sends Text with Buttons (or edits Edit, when set).
	Message ReplyKind = iota
	// Collapse removes the buttons from the message Edit refers to, and
	// shows which one was chosen (Chosen) when there is one.
	Collapse
)

// Button is one button of a reply.
type Button struct {
	Label string `json:"l"`
	Data  string `json:"d"`
}

// Reply is one outgoing message, in platform-neutral form. Text is content
// markup (see content/markup): adapters render and split it.
type Reply struct {
	Kind     ReplyKind `json:"k,omitempty"`
	Platform string    `json:"p"`
	Conv     string    `json:"c"`
	Route    string    `json:"r,omitempty"`
	Lang     string    `json:"l,omitempty"`
	Text     string    `json:"t,omitempty"`
	Buttons  []Button  `json:"b,omitempty"`
	Edit     string    `json:"e,omitempty"`
	Chosen   string    `json:"ch,omitempty"`
	// Reminder marks a reply that a fired reminder produced.
	Reminder bool `json:"rm,omitempty"`
}

func encodeUpdate(u *Update) ([]byte, error) { return json.Marshal(u) }

func decodeUpdate(b []byte) (Update, error) {
	var u Update
	err := json.Unmarshal(b, &u)
	return u, err
}

func encodeReply(r *Reply) ([]byte, error) { return json.Marshal(r) }

// DecodeReply reads a reply from the outbox.
func DecodeReply(b []byte) (Reply, error) {
	var r Reply
	err := json.Unmarshal(b, &r)
	return r, err
}

// UserData is what we keep per user across conversations.
type UserData struct {
	Lang  string       `json:"lang,omitempty"` // chosen with /language
	TZ    string       `json:"tz,omitempty"`   // chosen when asked (Telegram)
	Cases []flows.Case `json:"cases,omitempty"`
}

// maxCases bounds the notebook: the oldest closed cases go first.
const maxCases = 50

// saveCase puts c into the notebook, replacing the case with its number.
func (u *UserData) saveCase(c flows.Case) {
	for i := range u.Cases {
		if u.Cases[i].ID == c.ID {
			u.Cases[i] = c
			return
		}
	}
	u.Cases = append(u.Cases, c)
	for len(u.Cases) > maxCases {
		drop := 0
		for i, x := range u.Cases {
			if x.Closed {
				drop = i
				break
			}
		}
		u.Cases = append(u.Cases[:drop], u.Cases[drop+1:]...)
	}
}

func decodeUser(b []byte) UserData {
	var u UserData
	if len(b) > 0 {
		_ = json.Unmarshal(b, &u) // an unreadable record is treated as empty
	}
	return u
}

// ParseCommand reads "/name args" (also "/name@bot args"). The name is
// lower-cased; it must be 1–32 letters, digits or _.
func ParseCommand(text string) (name, args string, ok bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "/") {
		return "", "", false
	}
	t = t[1:]
	name, args, _ = strings.Cut(t, " ")
	name, _, _ = strings.Cut(name, "@")
	if name == "" || len(name) > 32 {
		return "", "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", "", false
		}
	}
	return strings.ToLower(name), strings.TrimSpace(args), true
}
