package markup_test

import (
	"testing"

	"github.com/supportbot/supportbot/content/markup"
)

func TestCommands(t *testing.T) {
	names := []string{"help", "reset", "case", "cases", "language", "forget"}
	for _, tc := range []struct{ in, want string }{
		{"type /help.", "type /support help."},
		{"/cases lists them; /case 2 shows one", "/support cases lists them; /support case 2 shows one"},
		{"(/language lv) or “/reset”", "(/support language lv) or “/support reset”"},
		{"/forget\n/help", "/support forget\n/support help"},
		// Not commands: unknown names, longer words, addresses, dates, paths.
		{"/start /helpful /help_me", "/start /helpful /help_me"},
		{"https://example.com/help and 5/12 and a/reset and ./help", "https://example.com/help and 5/12 and a/reset and ./help"},
		// User text is shown as it is.
		{"you wrote " + markup.Literal("/reset now") + ", see /help", "you wrote " + markup.Literal("/reset now") + ", see /support help"},
		{"no slash at all", "no slash at all"},
	} {
		if got := markup.Commands(tc.in, names, "/support"); got != tc.want {
			t.Errorf("Commands(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
