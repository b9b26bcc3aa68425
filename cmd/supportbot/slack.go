package main

import "errors"

// newSlack builds the Slack platform.
func newSlack(d *deps) (platform, error) {
	return nil, errors.New("SLACK_BOT_TOKEN: Slack support is not built yet")
}
