package main

import (
	"strings"

	slackbot "github.com/supportbot/supportbot/bot/slack"
)

// newSlack builds the Slack platform: Socket Mode when SLACK_APP_TOKEN is
// set, HTTP mode (POST /slack/events, /slack/commands, /slack/interactivity
// on ADDR) otherwise.
func newSlack(d *deps) (platform, error) {
	c := d.cfg.Slack
	b, err := slackbot.New(slackbot.Config{
		BotToken:      c.BotToken,
		AppToken:      c.AppToken,
		SigningSecret: c.SigningSecret,
		APIURL:        c.APIURL,
		ChannelRate:   c.ChannelRate,
		Pack:          d.pack,
		In:            d.in,
		Log:           d.log,
		Obs:           d.obs,
	})
	if err != nil {
		return nil, &configError{"SLACK", strings.TrimPrefix(err.Error(), "slack: ")}
	}
	return b, nil
}
