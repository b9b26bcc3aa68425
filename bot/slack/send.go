package slack

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content/markup"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	MaxBlocks      = 50
	MaxSectionText = 3000
	MaxButtonText  = 75
	MaxButtonValue = 2000
	maxPerActions  = 25
	// maxMessageText caps the fallback text of one message; longer replies
	// become several messages.
	maxMessageText = 12000
)

// message is one chat message: fallback text and blocks, and a hash of
// what it shows (its text and buttons), to notice an edit that would
// change nothing.
type message struct {
	text    string
	blocks  []slack.Block
	hash    uint64
	buttons bool
}

// Send delivers a reply: a message (split when long, buttons on the last
// part) or a Collapse of the pressed message. It returns once Slack accepted
// everything, ctx ended, or Slack refused for good (ErrPermanent).
func (b *Bot) Send(ctx context.Context, r bot.Reply) error {
	if r.Kind == bot.Collapse {
		return b.collapse(ctx, r)
	}
	rt, ok := parseRoute(r.Route, r.Conv)
	if !ok {
		return fmt.Errorf("slack: send: unreadable route: %w", bot.ErrPermanent)
	}
	_, _, _, owner, _ := splitConv(r.Conv)
	msgs := layout(b.commandsFor(r.Text), r.Buttons, owner)
	if len(msgs) == 0 {
		return nil
	}
	// A split reply that failed half-way and is sent again here starts
	// after the parts Slack already has.
	var key string
	start := 0
	if len(msgs) > 1 {
		h := sha256.Sum256([]byte(r.Conv + "\x00" + r.Route + "\x00" + r.Text))
		key = string(h[:16])
		if v, ok := b.partial.Load(key); ok {
			start = v.(int)
		}
	}
	for i := start; i < len(msgs); i++ {
		var err error
		if i == 0 && r.Edit != "" {
			err = b.edit(ctx, r.Conv, r.Edit, msgs[0])
		} else {
			err = b.post(ctx, r.Conv, rt, msgs[i])
		}
		if err != nil {
			if key != "" {
				if errors.Is(err, bot.ErrPermanent) {
					b.partial.Delete(key)
				} else {
					b.partial.Store(key, i)
				}
			}
			return err
		}
	}
	if key != "" {
		b.partial.Delete(key)
	}
	return nil
}

// post sends one message to a channel (thread) or a response_url.
func (b *Bot) post(ctx context.Context, conv string, rt route, m message) error {
	if rt.url != "" {
		return b.call(ctx, "response_url", "="+rt.url, func(ctx context.Context) error {
			_, _, _, err := b.api.SendMessageContext(ctx, "",
				slack.MsgOptionResponseURL(rt.url, slack.ResponseTypeEphemeral),
				slack.MsgOptionText(m.text, false), slack.MsgOptionBlocks(m.blocks...))
			return err
		})
	}
	no := false
	body, err := json.Marshal(chatBody{Channel: rt.channel, ThreadTS: rt.thread, Text: m.text, Blocks: m.blocks,
		UnfurlLinks: &no, UnfurlMedia: &no})
	if err != nil {
		return fmt.Errorf("slack: chat.postMessage: %v: %w", err, bot.ErrPermanent)
	}
	var a apiAnswer
	err = b.call(ctx, "chat.postMessage", rt.channel, func(ctx context.Context) error {
		var err error
		a, err = b.apiPost(ctx, "chat.postMessage", body, m.buttons)
		return err
	})
	if err == nil && m.buttons && a.TS != "" {
		b.shown.note(conv, rt.channel+"/"+a.TS, m.hash, true)
	}
	return err
}

// chatBody is a chat.postMessage or chat.update request.
type chatBody struct {
	Channel     string        `json:"channel"`
	TS          string        `json:"ts,omitempty"`
	ThreadTS    string        `json:"thread_ts,omitempty"`
	Text        string        `json:"text"`
	Blocks      []slack.Block `json:"blocks"`
	UnfurlLinks *bool         `json:"unfurl_links,omitempty"`
	UnfurlMedia *bool         `json:"unfurl_media,omitempty"`
}

// edit replaces the message ref names with m: chat.update, or the
// response_url of an ephemeral message. An edit to what this process last
// made the message show is not sent: it would change nothing (a second tap
// on a step that is already shown).
func (b *Bot) edit(ctx context.Context, conv, refStr string, m message) error {
	ref, ok := parseRef(refStr)
	if !ok {
		return fmt.Errorf("slack: edit: unreadable message reference: %w", bot.ErrPermanent)
	}
	key := ref.key()
	if b.shown.same(conv, key, m.hash) {
		return nil
	}
	var err error
	if ref.URL != "" {
		err = b.call(ctx, "response_url", "="+ref.URL, func(ctx context.Context) error {
			_, _, _, err := b.api.SendMessageContext(ctx, "",
				slack.MsgOptionReplaceOriginal(ref.URL),
				slack.MsgOptionText(m.text, false), slack.MsgOptionBlocks(m.blocks...))
			return err
		})
	} else {
		body, jerr := json.Marshal(chatBody{Channel: ref.Channel, TS: ref.TS, Text: m.text, Blocks: m.blocks})
		if jerr != nil {
			return fmt.Errorf("slack: chat.update: %v: %w", jerr, bot.ErrPermanent)
		}
		err = b.call(ctx, "chat.update", "upd:"+ref.Channel, func(ctx context.Context) error {
			_, err := b.apiPost(ctx, "chat.update", body, false)
			return err
		})
	}
	if err == nil {
		b.shown.note(conv, key, m.hash, m.buttons)
	}
	return err
}

// collapse shows the pressed message again without its buttons, with the
// chosen label in a context line. A message this process already
// collapsed is left as it is: a press on it came from a client showing it
// as it was, and collapsing it again would only drop the choice shown.
func (b *Bot) collapse(ctx context.Context, r bot.Reply) error {
	ref, ok := parseRef(r.Edit)
	if !ok {
		return fmt.Errorf("slack: collapse: unreadable message reference: %w", bot.ErrPermanent)
	}
	if b.shown.bare(r.Conv, ref.key()) {
		return nil
	}
	m, ok := collapsed(ref.Sections, r.Chosen)
	if !ok {
		return nil // nothing we could show instead
	}
	return b.edit(ctx, r.Conv, r.Edit, m)
}

// collapsed is the pressed message without buttons.
func collapsed(sections []string, chosen string) (message, bool) {
	var m message
	for i, s := range sections {
		if len(m.blocks) >= MaxBlocks-1 {
			break
		}
		s = truncate(s, MaxSectionText)
		m.blocks = append(m.blocks, section("s"+strconv.Itoa(i), s))
	}
	m.text = strings.Join(sections, "\n\n")
	if chosen != "" {
		line := "✓ *" + markup.SlackEscape(chosen) + "*"
		m.blocks = append(m.blocks, slack.NewContextBlock("c", slack.NewTextBlockObject(slack.MarkdownType, line, false, false)))
		if m.text == "" {
			m.text = line
		}
	}
	m.text = truncate(m.text, maxMessageText)
	h := fnv.New64a()
	h.Write([]byte(m.text))
	h.Write([]byte{0, 1})
	h.Write([]byte(chosen))
	m.hash = h.Sum64()
	return m, m.text != ""
}

// layout renders a reply into messages: text in sections of at most
// MaxSectionText characters, at most MaxBlocks blocks a message, buttons on
// the last one. Every message has fallback text.
func layout(text string, buttons []bot.Button, owner string) []message {
	pieces := markup.Split(markup.SlackMrkdwn{}, text, MaxSectionText)
	actions := actionBlocks(buttons, owner)
	maxSections := MaxBlocks - max(len(actions), 1)
	var msgs []message
	var cur []string
	n := 0
	flush := func() {
		m := message{text: strings.Join(cur, "\n\n")}
		for i, p := range cur {
			m.blocks = append(m.blocks, section("s"+strconv.Itoa(i), p))
		}
		m.hash = hashOf(m.text, nil)
		msgs = append(msgs, m)
		cur, n = nil, 0
	}
	for _, p := range pieces {
		l := utf8.RuneCountInString(p)
		if len(cur) > 0 && (len(cur) >= maxSections || n+2+l > maxMessageText) {
			flush()
		}
		cur = append(cur, p)
		n += l + 2
	}
	if len(cur) > 0 {
		flush()
	}
	if len(actions) > 0 {
		if len(msgs) == 0 {
			labels := make([]string, len(buttons))
			for i, bt := range buttons {
				labels[i] = markup.SlackEscape(bt.Label)
			}
			msgs = append(msgs, message{text: strings.Join(labels, " · ")})
		}
		last := &msgs[len(msgs)-1]
		last.blocks = append(last.blocks, actions...)
		last.hash, last.buttons = hashOf(last.text, buttons), true
	}
	return msgs
}

// hashOf is what a message shows: its text and its buttons.
func hashOf(text string, buttons []bot.Button) uint64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	for _, bt := range buttons {
		h.Write([]byte{0})
		h.Write([]byte(bt.Label))
		h.Write([]byte{0})
		h.Write([]byte(bt.Data))
	}
	return h.Sum64()
}

// shownMessages remembers, per conversation, what this process last made
// its messages show: the message with buttons it last posted or edited
// (and a hash of its text and buttons), and the last few it left without
// buttons.
type shownMessages struct {
	mu    sync.Mutex
	m     map[string]*shownConv
	sweep time.Time
}

type shownConv struct {
	key  string // channel/ts, or u:<response_url>; "" for none
	hash uint64
	bare [4]string // ring of messages left without buttons
	next int
	used time.Time
}

// note records that key now shows hash, with or without buttons.
func (s *shownMessages) note(conv, key string, hash uint64, buttons bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*shownConv{}
	}
	if len(s.m) > 10_000 && now.After(s.sweep) {
		for k, v := range s.m {
			if now.Sub(v.used) > time.Hour {
				delete(s.m, k)
			}
		}
		s.sweep = now.Add(time.Minute)
	}
	c := s.m[conv]
	if c == nil {
		c = &shownConv{}
		s.m[conv] = c
	}
	c.used = now
	if buttons {
		c.key, c.hash = key, hash
		for i := range c.bare {
			if c.bare[i] == key {
				c.bare[i] = ""
			}
		}
		return
	}
	if c.key == key {
		c.key = ""
	}
	c.bare[c.next] = key
	c.next = (c.next + 1) % len(c.bare)
}

// same reports whether key is the conversation's message with buttons and
// shows hash.
func (s *shownMessages) same(conv, key string, hash uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[conv]
	return c != nil && c.key == key && c.hash == hash
}

// bare reports whether this process left key without buttons.
func (s *shownMessages) bare(conv, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[conv]
	return c != nil && slices.Contains(c.bare[:], key)
}

// actionBlocks lays buttons out, maxPerActions a block. The first block id
// names the conversation's user, so a press by someone else does not
// collapse the owner's message.
func actionBlocks(buttons []bot.Button, owner string) []slack.Block {
	var out []slack.Block
	var els []slack.BlockElement
	flush := func() {
		id := "a:" + owner
		if len(out) > 0 {
			id += ":" + strconv.Itoa(len(out))
		}
		out = append(out, slack.NewActionBlock(id, els...))
		els = nil
	}
	n := 0
	for _, bt := range buttons {
		if bt.Data == "" || len(bt.Data) > MaxButtonValue {
			continue // cannot be sent; the engine never makes such data
		}
		label := truncate(bt.Label, MaxButtonText)
		if strings.TrimSpace(label) == "" {
			label = "·"
		}
		els = append(els, slack.NewButtonBlockElement("b"+strconv.Itoa(n), bt.Data,
			slack.NewTextBlockObject(slack.PlainTextType, label, true, false)))
		n++
		if len(els) == maxPerActions {
			flush()
		}
	}
	if len(els) > 0 {
		flush()
	}
	return out
}

func section(id, text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil,
		slack.SectionBlockOptionBlockID(id))
}

// truncate cuts s to at most n characters, ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// renderPlainMrkdwn renders a content text for Slack in one piece.
func (b *Bot) renderPlainMrkdwn(t string) string {
	return markup.Render(markup.SlackMrkdwn{}, b.commandsFor(t))
}

// SlashCommand is the app's one slash command (deploy/slack-app-manifest.yaml).
const SlashCommand = "/support"

// commandsFor rewrites the commands a text names for Slack, where they are
// words after the one slash command: "/cases" is "/support cases". A
// "/cases" typed in Slack is refused by the client as an unknown command.
func (b *Bot) commandsFor(t string) string { return markup.Commands(t, b.commands, SlashCommand) }
