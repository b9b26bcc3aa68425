package bot_test

import (
	"testing"

	"github.com/supportbot/supportbot/bot"
)

func mustJSON(t *testing.T, u bot.Update) []byte {
	t.Helper()
	b, err := bot.EncodeUpdate(u)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
