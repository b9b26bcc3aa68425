package main

import "errors"

// newTelegram builds the Telegram platform.
func newTelegram(d *deps) (platform, error) {
	return nil, errors.New("TELEGRAM_BOT_TOKEN: Telegram support is not built yet")
}
