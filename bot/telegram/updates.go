package telegram

import (
	"fmt"
	"strconv"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
)

// update is tgbotapi's Update with the fields v5.5.1 does not know yet
// (forum topics), read in one pass: the outer fields shadow the embedded
// ones of the same JSON name.
type update struct {
	UpdateID      int            `json:"update_id"`
	Message       *message       `json:"message,omitempty"`
	CallbackQuery *callbackQuery `json:"callback_query,omitempty"`
	// Everything else (edited messages, channel posts, ...) is ignored;
	// these say which it was, for metrics.
	EditedMessage *struct{} `json:"edited_message,omitempty"`
	ChannelPost   *struct{} `json:"channel_post,omitempty"`
}

type message struct {
	tgbotapi.Message
	ThreadID int  `json:"message_thread_id,omitempty"`
	IsTopic  bool `json:"is_topic_message,omitempty"`
	// Story is a forwarded story: content we cannot read.
	Story *struct{} `json:"story,omitempty"`
}

type callbackQuery struct {
	tgbotapi.CallbackQuery
	Message *message `json:"message,omitempty"`
}

// convert turns a Telegram update into the bot's, or reports that it is
// not for us (ok false). kind names it for metrics.
func (b *Bot) convert(up *update, self tgbotapi.User) (u bot.Update, kind string, ok bool) {
	u = bot.Update{ID: "tg:" + strconv.Itoa(up.UpdateID), Platform: Platform}
	switch {
	case up.CallbackQuery != nil:
		return b.convertCallback(u, up.CallbackQuery, self)
	case up.Message != nil:
		return b.convertMessage(u, up.Message, self)
	}
	return u, "ignored", false
}

func (b *Bot) convertCallback(u bot.Update, cq *callbackQuery, self tgbotapi.User) (bot.Update, string, bool) {
	m := cq.Message
	if cq.From == nil || m == nil || m.Chat == nil {
		// A button on an inline-mode message: not ours.
		return u, "ignored", false
	}
	chat := m.Chat.ID
	u.Kind = bot.KindButton
	u.Data = cq.Data
	u.Conv = convKey(chat, cq.From.ID)
	u.User = userKey(cq.From.ID)
	u.Lang = cq.From.LanguageCode
	u.Ref = strconv.FormatInt(chat, 10) + ":" + strconv.Itoa(m.MessageID)
	rt := route{chat: chat}
	if m.IsTopic {
		rt.thread = m.ThreadID
	}
	setHome(&u, cq.From.ID)
	if isGroup(m.Chat) {
		// In a group our messages answer the message of the person they
		// are for. A press by someone else must not collapse that
		// person's buttons: it gets them their own current question.
		if r := m.ReplyToMessage; r != nil && r.From != nil {
			if r.From.ID == cq.From.ID {
				rt.replyTo = r.MessageID
			} else {
				u.Ref = ""
			}
		}
	}
	u.Route = rt.String()
	return u, "button", true
}

func (b *Bot) convertMessage(u bot.Update, m *message, self tgbotapi.User) (bot.Update, string, bool) {
	if m.From == nil || m.From.IsBot || m.Chat == nil || m.Chat.Type == "channel" || m.SenderChat != nil {
		// Bots, channels and anonymous admins speaking for a chat.
		return u, "ignored", false
	}
	group := isGroup(m.Chat)
	text := m.Text
	addressed := !group
	var cmd, args string
	isCmd := false
	if name, a, ok := bot.ParseCommand(text); ok {
		target := commandTarget(text)
		switch {
		case target == "":
			isCmd = true
		case strings.EqualFold(target, self.UserName):
			isCmd, addressed = true, true
		default:
			if group {
				return u, "ignored", false // another bot's command
			}
			isCmd = true
		}
		cmd, args = name, a
	}
	if group && !addressed {
		if r := m.ReplyToMessage; r != nil && r.From != nil && r.From.ID == self.ID {
			addressed = true
		}
	}
	if group && !addressed && self.UserName != "" {
		if t, ok := stripMention(text, self.UserName); ok {
			addressed, text = true, t
		} else if _, ok := stripMention(m.Caption, self.UserName); ok {
			addressed = true
		}
	}
	if !addressed {
		return u, "ignored", false
	}
	var kind string
	switch {
	case isCmd:
		u.Kind, u.Command, u.Args = bot.KindCommand, cmd, args
		kind = "command"
	case m.Text != "":
		u.Kind, u.Text = bot.KindText, text
		kind = "message"
	case hasContent(m):
		u.Kind = bot.KindOther
		kind = "other"
	default:
		// A service message: someone joined, a title changed, ...
		return u, "ignored", false
	}
	chat := m.Chat.ID
	u.Conv = convKey(chat, m.From.ID)
	u.User = userKey(m.From.ID)
	u.Lang = m.From.LanguageCode
	rt := route{chat: chat}
	if m.IsTopic {
		rt.thread = m.ThreadID
	}
	if group {
		rt.replyTo = m.MessageID
	}
	setHome(&u, m.From.ID)
	u.Route = rt.String()
	return u, kind, true
}

// setHome names the person's private chat with the bot (its id is
// theirs) as where their reminders go, for every update: a reminder about
// their case is theirs alone, even when the case began in a group.
func setHome(u *bot.Update, user int64) {
	u.HomeConv = convKey(user, user)
	u.HomeRoute = strconv.FormatInt(user, 10)
}

func isGroup(c *tgbotapi.Chat) bool { return c.Type == "group" || c.Type == "supergroup" }

func convKey(chat, user int64) string {
	return "tg:" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(user, 10)
}

func userKey(user int64) string { return "tg:" + strconv.FormatInt(user, 10) }

// commandTarget returns the bot a "/cmd@name" command names, or "".
func commandTarget(text string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	_, target, _ := strings.Cut(first, "@")
	return target
}

// stripMention finds "@name" (any case, as a whole word) in text and
// returns the text without it.
func stripMention(text, name string) (string, bool) {
	if text == "" {
		return text, false
	}
	lower := strings.ToLower(text)
	at := "@" + strings.ToLower(name)
	for from := 0; ; {
		i := strings.Index(lower[from:], at)
		if i < 0 {
			return text, false
		}
		i += from
		end := i + len(at)
		if (i == 0 || !usernameByte(lower[i-1])) && (end == len(lower) || !usernameByte(lower[end])) {
			out := strings.TrimSpace(text[:i] + " " + text[end:])
			out = strings.Join(strings.Fields(out), " ")
			return strings.TrimLeft(out, ",:; "), true
		}
		from = end
	}
}

func usernameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// hasContent reports a message with something in it we cannot read (a
// photo, a sticker, a voice note), as opposed to a service message.
func hasContent(m *message) bool {
	return m.Photo != nil || m.Sticker != nil || m.Voice != nil || m.Video != nil || m.VideoNote != nil ||
		m.Audio != nil || m.Document != nil || m.Animation != nil || m.Contact != nil || m.Location != nil ||
		m.Venue != nil || m.Poll != nil || m.Dice != nil || m.Game != nil || m.Invoice != nil ||
		m.Story != nil || m.Caption != ""
}

// route is where replies go: Update.Route, as "chat[:t<thread>][:r<msg>]".
type route struct {
	chat    int64
	thread  int // forum topic
	replyTo int // in groups: the message of the person being answered
}

func (r route) String() string {
	s := strconv.FormatInt(r.chat, 10)
	if r.thread != 0 {
		s += ":t" + strconv.Itoa(r.thread)
	}
	if r.replyTo != 0 {
		s += ":r" + strconv.Itoa(r.replyTo)
	}
	return s
}

func parseRoute(s string) (route, error) {
	parts := strings.Split(s, ":")
	var r route
	var err error
	if r.chat, err = strconv.ParseInt(parts[0], 10, 64); err != nil || r.chat == 0 {
		return r, fmt.Errorf("telegram: bad route %q", s)
	}
	for _, p := range parts[1:] {
		if len(p) < 2 {
			return r, fmt.Errorf("telegram: bad route %q", s)
		}
		n, err := strconv.Atoi(p[1:])
		if err != nil {
			return r, fmt.Errorf("telegram: bad route %q", s)
		}
		switch p[0] {
		case 't':
			r.thread = n
		case 'r':
			r.replyTo = n
		default:
			return r, fmt.Errorf("telegram: bad route %q", s)
		}
	}
	return r, nil
}

// parseRef reads Update.Ref, "chat:message".
func parseRef(s string) (int64, int, error) {
	c, m, ok := strings.Cut(s, ":")
	chat, err1 := strconv.ParseInt(c, 10, 64)
	msg, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || msg <= 0 {
		return 0, 0, fmt.Errorf("telegram: bad message reference %q", s)
	}
	return chat, msg, nil
}
