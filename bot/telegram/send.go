package telegram

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/telegram/internal/tghtml"
	"github.com/supportbot/supportbot/content/markup"
)

// maxText is Telegram's limit on a message, in characters after entity
// parsing (counted here, as Telegram does, in UTF-16 code units).
const maxText = 4096

// convState is what we know about one conversation's messages on screen,
// since this process started.
type convState struct {
	chat  int64
	kb    int // the message whose buttons can still be pressed; 0: none
	floor int // the first message sent here by this process: below it we know nothing
	// last is the last message sent or edited, with a hash of its content,
	// so an edit that changes nothing is not sent.
	last     int
	lastHash uint64
	// kbText is the text of the message with live buttons, as sent, so a
	// collapse can show the choice under it.
	kbText string
	kbHTML bool
	used   time.Time
}

// Send delivers one reply and returns once Telegram accepted it. It waits
// out 429s and retries server and network errors for as long as ctx
// allows; an error wrapping bot.ErrPermanent means retrying cannot help
// (the user blocked the bot, the chat is gone).
func (b *Bot) Send(ctx context.Context, r bot.Reply) error {
	rt, err := parseRoute(r.Route)
	if err != nil {
		return fmt.Errorf("%w: %w", err, bot.ErrPermanent)
	}
	// Calls wait until Run has connected: until then the token is not
	// known to work.
	if _, err := b.waitAPI(ctx); err != nil {
		return err
	}
	switch {
	case r.Kind == bot.Collapse:
		return b.collapse(ctx, r)
	case r.Edit != "":
		return b.edit(ctx, rt, r)
	}
	return b.send(ctx, rt, r)
}

// collapse removes the buttons of the message a button was pressed on.
// When this process sent that message, so knows its text, the choice is
// shown under it ("✓ Get a refund") in the same call; otherwise only the
// buttons go. An edit we know would change nothing is not sent.
func (b *Bot) collapse(ctx context.Context, r bot.Reply) error {
	chat, msg, err := parseRef(r.Edit)
	if err != nil {
		return fmt.Errorf("%w: %w", err, bot.ErrPermanent)
	}
	if b.knownBare(r.Conv, chat, msg) {
		return nil
	}
	if r.Chosen != "" {
		if p, ok := b.keyboardText(r.Conv, chat, msg); ok {
			if done, err := b.showChoice(ctx, r.Conv, chat, msg, p, r.Chosen); done {
				return err
			}
		}
	}
	if err := b.removeKeyboard(ctx, chat, msg); err != nil {
		return err
	}
	b.dropKeyboard(r.Conv, chat, msg)
	return nil
}

// showChoice edits the pressed message to its text with the chosen label
// under it, and no buttons. It reports false when that cannot be done (too
// long, refused), so the caller just removes the buttons.
func (b *Bot) showChoice(ctx context.Context, conv string, chat int64, msg int, p part, label string) (bool, error) {
	np := part{html: p.html}
	if p.html {
		np.text = p.text + "\n\n✓ <b>" + html.EscapeString(label) + "</b>"
		if n, _, err := tghtml.Check(np.text); err != nil || n > maxText {
			return false, nil
		}
	} else {
		np.text = p.text + "\n\n✓ " + label
		if tghtml.Len(np.text) > maxText {
			return false, nil
		}
	}
	params := tgbotapi.Params{"chat_id": itoa64(chat), "message_id": strconv.Itoa(msg), "text": np.text,
		"disable_web_page_preview": "true"}
	if np.html {
		params["parse_mode"] = tgbotapi.ModeHTML
	}
	_, err := b.call(ctx, "editMessageText", params, retryPolicy{chat: chat, paced: true})
	var e *apiError
	switch {
	case err == nil || (errors.As(err, &e) && e.notModified()):
		b.noteEdited(conv, chat, msg, false, contentHash(np, nil), np)
		return true, nil
	case errors.As(err, &e) && e.goneMessage():
		b.dropKeyboard(conv, chat, msg)
		return true, nil
	case errors.As(err, &e) && e.class == bot.CallPermanent:
		return true, nil // blocked: the message that follows reports it
	case errors.As(err, &e) && e.class == bot.CallClientError:
		return false, nil // refused as written: just remove the buttons
	}
	return true, fmt.Errorf("telegram: collapse: %w", err)
}

// removeKeyboard edits a message's buttons away. A message that has none
// already, or is gone, is fine.
func (b *Bot) removeKeyboard(ctx context.Context, chat int64, msg int) error {
	p := tgbotapi.Params{"chat_id": itoa64(chat), "message_id": strconv.Itoa(msg)}
	_, err := b.call(ctx, "editMessageReplyMarkup", p, retryPolicy{chat: chat, paced: true})
	var e *apiError
	if err == nil || (errors.As(err, &e) && (e.notModified() || e.goneMessage())) {
		return nil
	}
	if errors.As(err, &e) && e.class == bot.CallPermanent {
		return nil // blocked: the message that follows reports it
	}
	return fmt.Errorf("telegram: remove buttons: %w", err)
}

// send posts a new message, split at paragraphs when it is too long; the
// buttons go on the last part. The previous message's buttons are removed
// first, so only the current question's can be pressed.
func (b *Bot) send(ctx context.Context, rt route, r bot.Reply) error {
	if err := b.clearOldKeyboard(ctx, r.Conv, 0); err != nil {
		return err
	}
	parts := renderParts(r.Text)
	if len(parts) == 0 {
		return fmt.Errorf("telegram: empty reply: %w", bot.ErrPermanent)
	}
	for i, p := range parts {
		params := messageParams(rt, p, i == 0)
		last := i == len(parts)-1
		if last && len(r.Buttons) > 0 {
			params["reply_markup"] = jsonParam(keyboard(r.Buttons))
		}
		resp, err := b.call(ctx, "sendMessage", params, retryPolicy{chat: rt.chat, paced: true})
		if err != nil {
			return fmt.Errorf("telegram: send: %w", err)
		}
		id := resp.messageID
		var h uint64
		if last {
			h = contentHash(p, r.Buttons)
		}
		b.noteSent(r.Conv, rt.chat, id, last && len(r.Buttons) > 0, h, p)
	}
	return nil
}

// edit replaces a message's text and buttons in place (editMessageText).
// Should the message be gone, the reply is sent as a new one.
func (b *Bot) edit(ctx context.Context, rt route, r bot.Reply) error {
	chat, msg, err := parseRef(r.Edit)
	if err != nil {
		return fmt.Errorf("%w: %w", err, bot.ErrPermanent)
	}
	parts := renderParts(r.Text)
	if len(parts) == 0 {
		return fmt.Errorf("telegram: empty reply: %w", bot.ErrPermanent)
	}
	var buttons []bot.Button
	if len(parts) == 1 {
		buttons = r.Buttons
	}
	h := contentHash(parts[0], buttons)
	if !b.sameContent(r.Conv, chat, msg, h) {
		if err := b.clearOldKeyboard(ctx, r.Conv, msg); err != nil {
			return err
		}
		p := parts[0]
		params := tgbotapi.Params{"chat_id": itoa64(chat), "message_id": strconv.Itoa(msg), "text": p.text,
			"disable_web_page_preview": "true"}
		if p.html {
			params["parse_mode"] = tgbotapi.ModeHTML
		}
		if len(buttons) > 0 {
			params["reply_markup"] = jsonParam(keyboard(buttons))
		}
		_, err := b.call(ctx, "editMessageText", params, retryPolicy{chat: chat, paced: true})
		var e *apiError
		switch {
		case err == nil || (errors.As(err, &e) && e.notModified()):
			b.noteEdited(r.Conv, chat, msg, len(buttons) > 0, h, p)
		case errors.As(err, &e) && e.goneMessage():
			return b.send(ctx, rt, r)
		default:
			return fmt.Errorf("telegram: edit: %w", err)
		}
	}
	if len(parts) == 1 {
		return nil
	}
	for i, p := range parts[1:] {
		params := messageParams(rt, p, false)
		last := i == len(parts)-2
		if last && len(r.Buttons) > 0 {
			params["reply_markup"] = jsonParam(keyboard(r.Buttons))
		}
		resp, err := b.call(ctx, "sendMessage", params, retryPolicy{chat: rt.chat, paced: true})
		if err != nil {
			return fmt.Errorf("telegram: send: %w", err)
		}
		b.noteSent(r.Conv, rt.chat, resp.messageID, last && len(r.Buttons) > 0, 0, p)
	}
	return nil
}

// clearOldKeyboard removes the buttons still live in the conversation
// (except on keep, the message about to be edited), once.
func (b *Bot) clearOldKeyboard(ctx context.Context, conv string, keep int) error {
	chat, kb := b.liveKeyboard(conv)
	if kb == 0 || kb == keep {
		return nil
	}
	if err := b.removeKeyboard(ctx, chat, kb); err != nil {
		return err
	}
	b.dropKeyboard(conv, chat, kb)
	return nil
}

// part is one message's text: HTML, or plain when a hard cut broke the
// markup.
type part struct {
	text string
	html bool
}

// renderParts renders content markup as Telegram HTML, in pieces that fit
// one message each.
func renderParts(text string) []part {
	limit := maxText
	for try := 0; ; try++ {
		pieces := markup.Split(markup.TelegramHTML{}, text, limit)
		out := make([]part, 0, len(pieces))
		over := 0
		for _, s := range pieces {
			p := part{text: s, html: true}
			n, blank, err := tghtml.Check(s)
			if err != nil {
				// A cut inside a tag: send that piece as plain text.
				p = part{text: plainText(s)}
				n, blank = tghtml.Len(p.text), strings.TrimSpace(p.text) == ""
			}
			if blank {
				continue
			}
			if n > maxText {
				over = max(over, n-maxText)
			}
			out = append(out, p)
		}
		if over == 0 || try == 5 || limit <= 256 {
			return out
		}
		limit = max(256, limit-over-64) // astral characters count twice
	}
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

func plainText(s string) string { return html.UnescapeString(tagRE.ReplaceAllString(s, "")) }

// messageParams are sendMessage's parameters for one part. Only the first
// part of a reply answers the person's message in a group.
func messageParams(rt route, p part, first bool) tgbotapi.Params {
	params := tgbotapi.Params{"chat_id": itoa64(rt.chat), "text": p.text, "disable_web_page_preview": "true"}
	if p.html {
		params["parse_mode"] = tgbotapi.ModeHTML
	}
	params.AddNonZero("message_thread_id", rt.thread)
	if first && rt.replyTo != 0 {
		params.AddNonZero("reply_to_message_id", rt.replyTo)
		params["allow_sending_without_reply"] = "true"
	}
	return params
}

// keyboard lays buttons out one per row: labels stay readable on a phone.
func keyboard(bs []bot.Button) tgbotapi.InlineKeyboardMarkup {
	rows := make([][]tgbotapi.InlineKeyboardButton, len(bs))
	for i, bt := range bs {
		rows[i] = tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData(bt.Label, bt.Data))
	}
	return tgbotapi.NewInlineKeyboardMarkup(rows...)
}

func contentHash(p part, bs []bot.Button) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p.text))
	if p.html {
		h.Write([]byte{1})
	}
	for _, bt := range bs {
		h.Write([]byte{0})
		h.Write([]byte(bt.Label))
		h.Write([]byte{0})
		h.Write([]byte(bt.Data))
	}
	return h.Sum64()
}

// The conversation states. Send is called for one conversation at a time,
// but for many at once, so the map and its entries are behind convMu.

func (b *Bot) state(conv string, chat int64, now time.Time) *convState {
	st := b.convs[conv]
	if st == nil || st.chat != chat {
		st = &convState{chat: chat}
		b.convs[conv] = st
	}
	st.used = now
	if len(b.convs) > 10000 && now.After(b.sweep) {
		for k, s := range b.convs {
			if now.Sub(s.used) > time.Hour {
				delete(b.convs, k)
			}
		}
		b.sweep = now.Add(time.Minute)
	}
	return st
}

// knownBare reports a message we know has no buttons: one this process
// sent in the conversation that is not the one with live buttons.
func (b *Bot) knownBare(conv string, chat int64, msg int) bool {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	st := b.convs[conv]
	return st != nil && st.chat == chat && st.floor != 0 && msg >= st.floor && msg != st.kb
}

func (b *Bot) liveKeyboard(conv string) (int64, int) {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	if st := b.convs[conv]; st != nil {
		return st.chat, st.kb
	}
	return 0, 0
}

// keyboardText is the text of msg, when it is the message with live
// buttons and this process sent it.
func (b *Bot) keyboardText(conv string, chat int64, msg int) (part, bool) {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	st := b.convs[conv]
	if st == nil || st.chat != chat || st.kb != msg || st.kbText == "" {
		return part{}, false
	}
	return part{text: st.kbText, html: st.kbHTML}, true
}

func (b *Bot) dropKeyboard(conv string, chat int64, msg int) {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	if st := b.convs[conv]; st != nil && st.chat == chat && st.kb == msg {
		st.kb, st.kbText = 0, ""
	}
}

func (b *Bot) noteSent(conv string, chat int64, msg int, buttons bool, h uint64, p part) {
	if msg == 0 {
		return
	}
	b.convMu.Lock()
	defer b.convMu.Unlock()
	st := b.state(conv, chat, time.Now())
	if st.floor == 0 || msg < st.floor {
		st.floor = msg
	}
	if buttons {
		st.kb, st.kbText, st.kbHTML = msg, p.text, p.html
	}
	st.last, st.lastHash = msg, h
}

func (b *Bot) noteEdited(conv string, chat int64, msg int, buttons bool, h uint64, p part) {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	st := b.state(conv, chat, time.Now())
	switch {
	case buttons:
		st.kb, st.kbText, st.kbHTML = msg, p.text, p.html
	case st.kb == msg:
		st.kb, st.kbText = 0, ""
	}
	st.last, st.lastHash = msg, h
}

func (b *Bot) sameContent(conv string, chat int64, msg int, h uint64) bool {
	b.convMu.Lock()
	defer b.convMu.Unlock()
	st := b.convs[conv]
	return st != nil && st.chat == chat && st.last == msg && st.lastHash == h && h != 0
}
