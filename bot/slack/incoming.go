package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/flows"
)

// KeyMovedToDM is the content key of the ephemeral note /support shows in a
// channel: the conversation goes on in a direct message. Every pack has it
// (lint checks), so no sentence lives in Go code.
const KeyMovedToDM = content.KeyMovedToDM

// inbound is one delivery from Slack, parsed but not yet accepted.
type inbound struct {
	kind  string // for Obs.Received: message, button, command, other
	order string // deliveries with the same order key are accepted in turn
	team  string
	user  string
	u     bot.Update
	// A slash command: the conversation is the user's DM with the bot,
	// which may need conversations.open; cmdChannel is where it was typed.
	command    bool
	cmdChannel string
	// A conversation outside the DM: the DM is its home (reminders go
	// there), when conversations.open answers in time.
	needHome bool
}

// ackBody is what a slash command's acknowledgement shows the user.
type ackBody struct {
	ResponseType string `json:"response_type,omitempty"`
	Text         string `json:"text"`
}

// Keys. Conversations are team + channel + thread + user.
func convKey(team, channel, thread, user string) string {
	return "slack:" + team + ":" + channel + ":" + thread + ":" + user
}

func userKey(team, user string) string { return "slack:" + team + ":" + user }

// splitConv reads a conversation key back.
func splitConv(conv string) (team, channel, thread, user string, ok bool) {
	p := strings.Split(conv, ":")
	if len(p) != 5 || p[0] != Platform {
		return "", "", "", "", false
	}
	return p[1], p[2], p[3], p[4], true
}

// Routes: "c:<channel>:<thread_ts>" posts into a channel (and thread);
// "u:<response_url>" answers an ephemeral message.
func channelRoute(channel, thread string) string { return "c:" + channel + ":" + thread }

type route struct {
	channel, thread, url string
}

func parseRoute(r, conv string) (route, bool) {
	switch {
	case strings.HasPrefix(r, "c:"):
		ch, th, ok := strings.Cut(r[2:], ":")
		return route{channel: ch, thread: th}, ok && ch != ""
	case strings.HasPrefix(r, "u:"):
		return route{url: r[2:]}, len(r) > 2
	case r == "":
		_, ch, th, _, ok := splitConv(conv)
		return route{channel: ch, thread: th}, ok && ch != ""
	}
	return route{}, false
}

// msgRef is Update.Ref of a button press: the pressed message, and its
// sections, so a Collapse can show them again without the buttons.
type msgRef struct {
	Channel  string   `json:"c,omitempty"`
	TS       string   `json:"ts,omitempty"`
	URL      string   `json:"u,omitempty"` // ephemeral: its response_url
	Sections []string `json:"s,omitempty"`
}

// key names the message for the adapter's memory of what it shows.
func (r msgRef) key() string {
	if r.URL != "" {
		return "u:" + r.URL
	}
	return r.Channel + "/" + r.TS
}

func (r msgRef) encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func parseRef(s string) (msgRef, bool) {
	var r msgRef
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, false
	}
	return r, r.URL != "" || (r.Channel != "" && r.TS != "")
}

// fromEvent reads an Events API callback. nil: nothing for us.
func (b *Bot) fromEvent(ev *slackevents.EventsAPIEvent) *inbound {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb.EventID == "" {
		return nil
	}
	team := ev.TeamID
	if team == "" {
		team = cb.TeamID
	}
	id := "slack:" + cb.EventID
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.MessageEvent:
		return b.fromMessage(team, id, e)
	case *slackevents.AppMentionEvent:
		return b.fromMention(team, id, e)
	}
	return nil
}

// fromMessage: a direct message starts or continues the DM conversation.
// Channel messages are ignored (mentions arrive as app_mention), and so are
// bots (ourselves included), edits and every subtype but a file share.
func (b *Bot) fromMessage(team, id string, e *slackevents.MessageEvent) *inbound {
	if e.ChannelType != slackevents.ChannelTypeIM || e.User == "" || e.BotID != "" {
		return nil
	}
	if e.User == b.botUser() || (e.Message != nil && e.Message.BotID != "") {
		return nil
	}
	switch e.SubType {
	case "", "file_share":
	default:
		return nil
	}
	if e.Message != nil && e.Message.Edited != nil {
		return nil
	}
	b.dms.put(team+":"+e.User, e.Channel, 24*time.Hour)
	in := &inbound{kind: "message", order: team + ":" + e.User, team: team, user: e.User}
	in.u = bot.Update{
		ID: id, Kind: bot.KindText,
		Conv: convKey(team, e.Channel, "", e.User), User: userKey(team, e.User),
		Route: channelRoute(e.Channel, ""),
	}
	in.u.HomeConv, in.u.HomeRoute = in.u.Conv, in.u.Route // the DM is home
	if text := cleanText(e.Text, b.botUser(), false); text != "" {
		in.u.Text = text
	} else {
		in.kind, in.u.Kind = "other", bot.KindOther // files only, or nothing we can read
	}
	return in
}

// fromMention: a mention in a channel is answered in a thread under it,
// which is its own conversation.
func (b *Bot) fromMention(team, id string, e *slackevents.AppMentionEvent) *inbound {
	if e.User == "" || e.BotID != "" || e.User == b.botUser() || e.Edited != nil {
		return nil
	}
	if strings.HasPrefix(e.Channel, "D") {
		return nil // a DM: its message event carries it
	}
	thread := e.ThreadTimeStamp
	if thread == "" {
		thread = e.TimeStamp
	}
	in := &inbound{kind: "message", order: team + ":" + e.User, team: team, user: e.User, needHome: true}
	in.u = bot.Update{
		ID: id, Kind: bot.KindText,
		Conv: convKey(team, e.Channel, thread, e.User), User: userKey(team, e.User),
		Route: channelRoute(e.Channel, thread),
	}
	if text := cleanText(e.Text, b.botUser(), true); text != "" {
		in.u.Text = text
	} else {
		in.u.Kind = bot.KindResume // just "@bot": show where we are
	}
	return in
}

// fromCommand: /support goes on in the user's DM with the bot. Its words
// are an engine command ("help", "language lv") or, otherwise, words to jump
// ahead with ("refund phone").
func (b *Bot) fromCommand(sc *slack.SlashCommand, raw []byte) *inbound {
	if sc.UserID == "" || sc.TeamID == "" {
		return nil
	}
	id := sc.TriggerID
	if id == "" {
		h := sha256.Sum256(raw)
		id = "h" + hex.EncodeToString(h[:12])
	}
	in := &inbound{kind: "command", order: sc.TeamID + ":" + sc.UserID, team: sc.TeamID, user: sc.UserID,
		command: true, cmdChannel: sc.ChannelID}
	in.u = bot.Update{ID: "slack:cmd:" + id, User: userKey(sc.TeamID, sc.UserID)}
	in.u.Kind, in.u.Command, in.u.Args = parseCommandText(sc.Text, b.commands)
	return in
}

// parseCommandText maps the words after /support to one of the flow's
// commands ("help", "language lv", "case 2"), or else to words to jump
// ahead with ("refund phone").
func parseCommandText(text string, commands []string) (bot.Kind, string, string) {
	text = cleanText(text, "", false)
	first, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	if first == "" {
		return bot.KindResume, "", ""
	}
	name := strings.ToLower(strings.TrimPrefix(first, "/"))
	if slices.Contains(commands, name) {
		return bot.KindCommand, name, strings.TrimSpace(rest)
	}
	return bot.KindCommand, "start", strings.TrimSpace(text)
}

// press is what the adapter reads from a block_actions interaction. HTTP
// mode decodes it straight from the payload (slack-go's full
// InteractionCallback costs several times more); Socket Mode converts the
// callback slack-go already parsed.
type press struct {
	Type        string `json:"type"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	ActionTS    string `json:"action_ts"`
	User        struct {
		ID     string `json:"id"`
		TeamID string `json:"team_id"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID   string `json:"channel_id"`
		MessageTS   string `json:"message_ts"`
		ThreadTS    string `json:"thread_ts"`
		IsEphemeral bool   `json:"is_ephemeral"`
	} `json:"container"`
	Message struct {
		TS       string       `json:"ts"`
		ThreadTS string       `json:"thread_ts"`
		Blocks   []pressBlock `json:"blocks"`
	} `json:"message"`
	Actions []pressAction `json:"actions"`
}

// pressBlock is a block of the pressed message: only section texts matter.
type pressBlock struct {
	Type string `json:"type"`
	Text *struct {
		Text string `json:"text"`
	} `json:"text"`
}

type pressAction struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Value    string `json:"value"`
	ActionTS string `json:"action_ts"`
}

// pressOf converts slack-go's callback.
func pressOf(ic *slack.InteractionCallback) *press {
	p := &press{Type: string(ic.Type), TriggerID: ic.TriggerID, ResponseURL: ic.ResponseURL, ActionTS: ic.ActionTs}
	p.User.ID, p.User.TeamID = ic.User.ID, ic.User.TeamID
	p.Team.ID, p.Channel.ID = ic.Team.ID, ic.Channel.ID
	p.Container.ChannelID, p.Container.MessageTS = ic.Container.ChannelID, ic.Container.MessageTs
	p.Container.ThreadTS, p.Container.IsEphemeral = ic.Container.ThreadTs, ic.Container.IsEphemeral
	p.Message.TS, p.Message.ThreadTS = ic.Message.Timestamp, ic.Message.ThreadTimestamp
	for _, t := range sectionTexts(ic.Message.Blocks) {
		bl := pressBlock{Type: "section", Text: &struct {
			Text string `json:"text"`
		}{t}}
		p.Message.Blocks = append(p.Message.Blocks, bl)
	}
	for _, a := range ic.ActionCallback.BlockActions {
		if a != nil {
			p.Actions = append(p.Actions, pressAction{Type: string(a.Type), ActionID: a.ActionID,
				BlockID: a.BlockID, Value: a.Value, ActionTS: a.ActionTs})
		}
	}
	return p
}

// fromInteraction: a button press. The pressed message collapses (Ref)
// unless someone else's conversation owns it.
func (b *Bot) fromInteraction(ic *press) *inbound {
	if ic.Type != string(slack.InteractionTypeBlockActions) || ic.User.ID == "" {
		return nil
	}
	var act *pressAction
	for i := range ic.Actions {
		if ic.Actions[i].Type == string(slack.METButton) {
			act = &ic.Actions[i]
			break
		}
	}
	if act == nil {
		return nil
	}
	team := ic.Team.ID
	if team == "" {
		team = ic.User.TeamID
	}
	user := ic.User.ID
	channel := ic.Container.ChannelID
	if channel == "" {
		channel = ic.Channel.ID
	}
	if team == "" || channel == "" {
		return nil
	}
	thread := ic.Container.ThreadTS
	if thread == "" {
		thread = ic.Message.ThreadTS
	}
	dm := strings.HasPrefix(channel, "D")
	if dm {
		thread = "" // a DM is one conversation
	}
	ts := act.ActionTS
	if ts == "" {
		ts = ic.ActionTS
	}
	// A press has no event id: team, user and action_ts name it. They go
	// in keyed with the bot's token, since delivery ids outlive /forget
	// (they keep a late retry from being answered) and must not lead back
	// to the user, even for someone who knows the user's id.
	mac := hmac.New(sha256.New, b.pressKey)
	mac.Write([]byte(team + ":" + user + ":" + ts))
	id := "slack:act:" + hex.EncodeToString(mac.Sum(nil)[:16])
	if ts == "" {
		id = "slack:act:" + ic.TriggerID
	}
	in := &inbound{kind: "button", order: team + ":" + user, team: team, user: user, needHome: !dm}
	in.u = bot.Update{
		ID: id, Kind: bot.KindButton, Data: act.Value,
		Conv: convKey(team, channel, thread, user), User: userKey(team, user),
		Route: channelRoute(channel, thread),
	}
	if dm {
		in.u.HomeConv, in.u.HomeRoute = in.u.Conv, in.u.Route
	}
	ephemeral := ic.Container.IsEphemeral
	if ephemeral && ic.ResponseURL != "" {
		in.u.Route = "u:" + ic.ResponseURL
	}
	if owner, ok := strings.CutPrefix(act.BlockID, "a:"); !ok || ownerOf(owner) == user {
		var ref msgRef
		for _, bl := range ic.Message.Blocks {
			if bl.Type == "section" && bl.Text != nil && bl.Text.Text != "" {
				ref.Sections = append(ref.Sections, bl.Text.Text)
			}
		}
		msgTS := ic.Container.MessageTS
		if msgTS == "" {
			msgTS = ic.Message.TS
		}
		if ephemeral {
			ref.URL = ic.ResponseURL
		} else {
			ref.Channel, ref.TS = channel, msgTS
		}
		if ref.URL != "" || ref.TS != "" {
			in.u.Ref = ref.encode()
		}
	}
	return in
}

// ownerOf reads the user from an actions block id's tail ("U1" or "U1:2").
func ownerOf(s string) string {
	o, _, _ := strings.Cut(s, ":")
	return o
}

// sectionTexts lists the section texts of a message.
func sectionTexts(bs slack.Blocks) []string {
	var out []string
	for _, bl := range bs.BlockSet {
		if s, ok := bl.(*slack.SectionBlock); ok && s.Text != nil && s.Text.Text != "" {
			out = append(out, s.Text.Text)
		}
	}
	return out
}

// cleanText turns Slack's message text into what the user typed: our own
// mention removed (always when it leads a mention), links and other
// mentions shown as their labels, &amp; &lt; &gt; unescaped.
func cleanText(s, self string, mention bool) string {
	if !strings.ContainsAny(s, "<&") {
		return strings.TrimSpace(s)
	}
	var out strings.Builder
	out.Grow(len(s))
	first := true
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			out.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:i])
		tok := s[i+1 : i+j]
		s = s[i+j+1:]
		lead := first && strings.TrimSpace(out.String()) == ""
		first = false
		target, label, hasLabel := strings.Cut(tok, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			id := target[1:]
			if id == self || (self == "" && mention && lead) {
				continue // "@bot, refund": the mention is not part of the answer
			}
			if hasLabel {
				out.WriteString("@" + strings.TrimPrefix(label, "@"))
			} else {
				out.WriteString("@" + id)
			}
		case strings.HasPrefix(target, "#"):
			if hasLabel {
				out.WriteString("#" + label)
			} else {
				out.WriteString(target)
			}
		case strings.HasPrefix(target, "!"):
			if hasLabel {
				out.WriteString(label)
			} else {
				out.WriteString("@" + strings.TrimPrefix(strings.SplitN(target[1:], "^", 2)[0], "@"))
			}
		default: // a link
			if hasLabel {
				out.WriteString(label)
			} else {
				out.WriteString(strings.TrimPrefix(target, "mailto:"))
			}
		}
	}
	return strings.TrimSpace(unescaper.Replace(out.String()))
}

var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// deliver finishes an inbound (the user's locale and time zone; for a
// command, and for a channel's conversation, the DM, which is where the
// user's reminders go) and records it with the acceptor. It returns what
// the acknowledgement should show the user (slash commands), and an error
// when the update was not recorded, so Slack must not be acknowledged.
func (b *Bot) deliver(ctx context.Context, in *inbound) (*ackBody, error) {
	b.obs.Received(Platform, in.kind)
	var dm string
	var dmErr error
	var wg sync.WaitGroup
	if in.command || in.needHome {
		wg.Go(func() { dm, dmErr = b.dmChannel(ctx, in.team, in.user) })
	}
	p := b.profile(ctx, in.team, in.user)
	wg.Wait()
	in.u.Platform = Platform
	in.u.Lang, in.u.TZ = p.locale, p.tz
	var ack *ackBody
	switch {
	case in.command:
		lang := b.packLang(in.u.Lang)
		if dmErr != nil {
			b.log.Warn("slack: cannot open the DM for /support", "err", errCode(dmErr))
			text, _ := b.cfg.Pack.Text(lang, flows.KeyGeneric)
			return &ackBody{ResponseType: "ephemeral", Text: b.renderPlainMrkdwn(text)}, nil
		}
		in.u.Conv = convKey(in.team, dm, "", in.user)
		in.u.Route = channelRoute(dm, "")
		in.u.HomeConv, in.u.HomeRoute = in.u.Conv, in.u.Route
		if in.cmdChannel != dm {
			ack = &ackBody{ResponseType: "ephemeral", Text: b.movedToDM(lang)}
		}
	case in.needHome && dmErr == nil:
		in.u.HomeConv = convKey(in.team, dm, "", in.user)
		in.u.HomeRoute = channelRoute(dm, "")
	}
	if err := b.cfg.In.Accept(ctx, in.u); err != nil {
		return nil, err
	}
	return ack, nil
}

// packLang maps a Slack locale to one of the pack's languages.
func (b *Bot) packLang(locale string) string {
	langs := b.cfg.Pack.Languages()
	tag, _, _ := strings.Cut(strings.ReplaceAll(locale, "_", "-"), "-")
	tag = strings.ToLower(tag)
	if slices.Contains(langs, tag) {
		return tag
	}
	if len(langs) > 0 {
		return langs[0]
	}
	return "en"
}

func (b *Bot) movedToDM(lang string) string {
	t, err := b.cfg.Pack.Text(lang, KeyMovedToDM)
	if err != nil {
		// Lint makes this unreachable; the DM itself still follows.
		b.cfg.Log.Error("content: missing text", "key", KeyMovedToDM, "lang", lang)
	}
	return b.renderPlainMrkdwn(t)
}

// userProfile is what users.info tells us about a user.
type userProfile struct {
	locale string // "lv-LV"
	tz     string // "Europe/Riga"
}

// profile is the user's Slack locale and time zone, cached; empty when
// unknown.
func (b *Bot) profile(ctx context.Context, team, user string) userProfile {
	key := team + ":" + user
	if v, ok := b.locales.get(key); ok {
		l, tz, _ := strings.Cut(v, "\x00")
		return userProfile{locale: l, tz: tz}
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.LookupTimeout)
	defer cancel()
	var u *slack.User
	err := b.call(ctx, "users.info", "", func(ctx context.Context) error {
		var err error
		u, err = b.api.GetUserInfoContext(ctx, user)
		return err
	})
	if err != nil || u == nil {
		b.log.Debug("slack: no profile for a user", "err", errCode(err))
		b.locales.put(key, "", time.Minute) // try again later, not on every message
		return userProfile{}
	}
	b.locales.put(key, u.Locale+"\x00"+u.TZ, b.cfg.LocaleTTL)
	return userProfile{locale: u.Locale, tz: u.TZ}
}

// dmChannel is the user's DM channel with the bot (conversations.open).
func (b *Bot) dmChannel(ctx context.Context, team, user string) (string, error) {
	key := team + ":" + user
	if ch, ok := b.dms.get(key); ok {
		return ch, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.LookupTimeout)
	defer cancel()
	var ch *slack.Channel
	err := b.call(ctx, "conversations.open", "", func(ctx context.Context) error {
		var err error
		ch, _, _, err = b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
		return err
	})
	if err != nil {
		return "", err
	}
	if ch == nil || ch.ID == "" {
		return "", errNoChannel
	}
	b.dms.put(key, ch.ID, 24*time.Hour)
	return ch.ID, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoChannel = constError("slack: conversations.open returned no channel")
