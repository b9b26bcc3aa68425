package main

import (
	"github.com/supportbot/supportbot/bot/telegram"
)

// newTelegram builds the Telegram platform from TELEGRAM_* settings. It
// does no network I/O: the adapter connects in Run, and retries there.
func newTelegram(d *deps) (platform, error) {
	c := d.cfg.Telegram
	return telegram.New(telegram.Config{
		Token:         c.Token,
		APIURL:        c.APIURL,
		WebhookURL:    c.WebhookURL,
		WebhookSecret: c.WebhookSecret,
		Rate:          c.Rate,
		ChatRate:      c.ChatRate,
		Pack:          d.pack,
		In:            d.in,
		Log:           d.log,
		Obs:           d.obs,
	})
}
