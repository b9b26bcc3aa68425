package slacktest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func button(id, label, value string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(id, value, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
}

func code(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// Each rule Slack enforces is enforced by the fake: one case per rule,
// through slack-go as the bot calls it.
func TestFakeRejectsWhatSlackRejects(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	api := slack.New(BotToken, slack.OptionAPIURL(s.APIURL))
	ctx := context.Background()
	post := func(opts ...slack.MsgOption) error {
		_, _, err := api.PostMessageContext(ctx, "D1", opts...)
		return err
	}
	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = section("x")
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"fine", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(section("hi"))), ""},
		{"empty text", post(slack.MsgOptionText("", false), slack.MsgOptionBlocks(section("hi"))), "no_text"},
		{"blank text", post(slack.MsgOptionText("  \n", false)), "no_text"},
		{"text over 40000", post(slack.MsgOptionText(strings.Repeat("a", 40001), false)), "msg_too_long"},
		{"over 50 blocks", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(many...)), "invalid_blocks"},
		{"section over 3000", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(section(strings.Repeat("ā", 3001)))), "invalid_blocks"},
		{"empty section", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(section(""))), "invalid_blocks"},
		{"button text over 75", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(
			slack.NewActionBlock("a", button("b", strings.Repeat("x", 76), "v")))), "invalid_blocks"},
		{"button value over 2000", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(
			slack.NewActionBlock("a", button("b", "ok", strings.Repeat("v", 2001))))), "invalid_blocks"},
		{"duplicate action_id", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(
			slack.NewActionBlock("a", button("b", "one", "1"), button("b", "two", "2")))), "invalid_blocks"},
		{"duplicate block_id", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(
			slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "a", false, false), nil, nil, slack.SectionBlockOptionBlockID("x")),
			slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "b", false, false), nil, nil, slack.SectionBlockOptionBlockID("x")))), "invalid_blocks"},
		{"over 25 buttons", post(slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(
			slack.NewActionBlock("a", func() []slack.BlockElement {
				var els []slack.BlockElement
				for i := range 26 {
					els = append(els, button(strings.Repeat("b", i+1), "x", "v"))
				}
				return els
			}()...))), "invalid_blocks"},
		{"blocks not JSON", post(slack.MsgOptionText("hi", false), slack.UnsafeMsgOptionEndpoint(s.APIURL+"chat.postMessage",
			func(v url.Values) { v.Set("blocks", "{not json") })), "invalid_blocks_format"},
		{"unknown ts for chat.update", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "D1", "1.000000", slack.MsgOptionText("hi", false))
			return err
		}(), "message_not_found"},
		{"wrong token", func() error {
			_, err := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL)).AuthTestContext(ctx)
			return err
		}(), "invalid_auth"},
		{"wrong app token", func() error {
			_, _, err := slack.New(BotToken, slack.OptionAPIURL(s.APIURL), slack.OptionAppLevelToken("xapp-wrong")).StartSocketModeContext(ctx)
			return err
		}(), "invalid_auth"},
	}
	for _, tc := range cases {
		if got := code(tc.err); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	s.FailChannel("C9", "channel_not_found")
	if _, _, err := api.PostMessageContext(ctx, "C9", slack.MsgOptionText("hi", false)); code(err) != "channel_not_found" {
		t.Errorf("a failing channel: %v", err)
	}
	s.RateLimit("chat.postMessage", 1, 3*time.Second)
	_, _, err := api.PostMessageContext(ctx, "D1", slack.MsgOptionText("hi", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Errorf("an injected 429: %v", err)
	}
	// A response_url takes 5 messages, then refuses.
	u := s.NewResponseURL("C1", nil)
	for i := range 6 {
		_, _, _, err := api.SendMessageContext(ctx, "", slack.MsgOptionResponseURL(u, "ephemeral"), slack.MsgOptionText("hi", false))
		if (err != nil) != (i == 5) {
			t.Errorf("response_url use %d: %v", i+1, err)
		}
	}
	// Only the fine post was kept.
	if n := len(s.Messages("D1", "")); n != 1 {
		t.Errorf("%d messages kept, want 1", n)
	}
}
