package slacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var clock atomic.Int64

// NewTS returns a fresh message timestamp for a user's message.
func NewTS() string {
	n := clock.Add(1)
	return fmt.Sprintf("%d.%06d", 1600000000+n/1000000, n%1000000)
}

var eventSeq atomic.Int64

// NewEventID returns a fresh event id.
func NewEventID() string { return "Ev" + strconv.FormatInt(eventSeq.Add(1), 36) + "X" }

// EventCallback wraps an inner event as the Events API sends it (also the
// payload of a Socket Mode events_api envelope).
func EventCallback(team, eventID string, inner map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": "legacy", "team_id": team, "api_app_id": AppID, "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": inner,
		"authorizations": []map[string]any{{"team_id": team, "user_id": BotUser, "is_bot": true}},
	})
	return b
}

// URLVerification is the challenge Slack sends when the events URL is set.
func URLVerification(challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"token": "legacy", "challenge": challenge, "type": "url_verification"})
	return b
}

// IMMessage is a message a user sends the bot in their DM.
func IMMessage(team, user, channel, text, ts string) map[string]any {
	return map[string]any{"type": "message", "channel": channel, "user": user, "text": text,
		"ts": ts, "event_ts": ts, "channel_type": "im", "team": team, "client_msg_id": "c" + ts}
}

// FileShare is a DM with only a file in it.
func FileShare(team, user, channel, ts string) map[string]any {
	m := IMMessage(team, user, channel, "", ts)
	m["subtype"] = "file_share"
	m["files"] = []map[string]any{{"id": "F1", "name": "photo.png", "mimetype": "image/png"}}
	return m
}

// BotMessage is a message by a bot (ourselves when botID is BotID).
func BotMessage(channel, text, ts, botID string) map[string]any {
	return map[string]any{"type": "message", "subtype": "bot_message", "channel": channel, "text": text,
		"ts": ts, "bot_id": botID, "channel_type": "im"}
}

// EditedMessage is the message_changed event of an edit in a DM.
func EditedMessage(user, channel, text, ts string) map[string]any {
	return map[string]any{"type": "message", "subtype": "message_changed", "channel": channel,
		"channel_type": "im", "ts": NewTS(), "hidden": true,
		"message": map[string]any{"type": "message", "user": user, "text": text, "ts": ts,
			"edited": map[string]any{"user": user, "ts": NewTS()}}}
}

// Mention is an app_mention in a channel: "<@BOT> text". thread is the
// thread it was written in ("" at the top level).
func Mention(team, user, channel, text, ts, thread string) map[string]any {
	m := map[string]any{"type": "app_mention", "user": user, "channel": channel,
		"text": "<@" + BotUser + "> " + text, "ts": ts, "event_ts": ts, "team": team}
	if thread != "" {
		m["thread_ts"] = thread
	}
	return m
}

// Command is a slash command's fields (form values over HTTP, a JSON
// object over Socket Mode).
type Command struct {
	Team, Channel, ChannelName, User, Text, ResponseURL, TriggerID string
	Name                                                           string // default "/support"
}

// NewCommand fills in a command with a fresh trigger id and response_url.
func (s *Server) NewCommand(team, channel, user, text string) Command {
	name := "general"
	if strings.HasPrefix(channel, "D") {
		name = "directmessage"
	}
	return Command{Team: team, Channel: channel, ChannelName: name, User: user, Text: text,
		ResponseURL: s.NewResponseURL(channel, nil), TriggerID: "trig" + strconv.FormatInt(s.ids.Add(1), 10),
		Name: "/support"}
}

// Form is the command as Slack posts it to /slack/commands.
func (c Command) Form() url.Values {
	return url.Values{
		"token": {"legacy"}, "team_id": {c.Team}, "team_domain": {"fake"}, "channel_id": {c.Channel},
		"channel_name": {c.ChannelName}, "user_id": {c.User}, "user_name": {strings.ToLower(c.User)},
		"command": {c.Name}, "text": {c.Text}, "api_app_id": {AppID}, "is_enterprise_install": {"false"},
		"response_url": {c.ResponseURL}, "trigger_id": {c.TriggerID},
	}
}

// JSON is the command as a Socket Mode slash_commands payload.
func (c Command) JSON() []byte {
	m := map[string]string{}
	for k, v := range c.Form() {
		m[k] = v[0]
	}
	b, _ := json.Marshal(m)
	return b
}

// Press builds the block_actions payload of user pressing the button of m
// with the given label.
func (s *Server) Press(m Message, label, user, team string) ([]byte, error) {
	for _, bt := range m.Buttons() {
		if bt.Label == label {
			return s.PressButton(m, bt, user, team), nil
		}
	}
	var labels []string
	for _, bt := range m.Buttons() {
		labels = append(labels, bt.Label)
	}
	return nil, errors.New("slacktest: no button " + strconv.Quote(label) + " on the message; it has " + strings.Join(labels, ", "))
}

// PressButton builds the block_actions payload of a press of bt on m.
func (s *Server) PressButton(m Message, bt Button, user, team string) []byte {
	actionTS := NewTS()
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": m.Ephemeral}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	respURL := s.NewResponseURL(m.Channel, &m)
	msg := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "blocks": m.Blocks, "bot_id": BotID, "user": BotUser}
	if m.ThreadTS != "" {
		msg["thread_ts"] = m.ThreadTS
	}
	p := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": team, "domain": "fake"},
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "team_id": team},
		"api_app_id": AppID, "token": "legacy", "container": container,
		"trigger_id":   "trig" + strconv.FormatInt(s.ids.Add(1), 10),
		"channel":      map[string]any{"id": m.Channel, "name": "x"},
		"response_url": respURL,
		"actions": []map[string]any{{"action_id": bt.ActionID, "block_id": bt.BlockID,
			"text":  map[string]any{"type": "plain_text", "text": bt.Label, "emoji": true},
			"value": bt.Value, "type": "button", "action_ts": actionTS}},
		"state": map[string]any{"values": map[string]any{}},
	}
	if !m.Ephemeral {
		p["message"] = msg
	}
	b, _ := json.Marshal(p)
	return b
}
