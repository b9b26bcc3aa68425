package slack_test

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	slackbot "github.com/supportbot/supportbot/bot/slack"
)

// The app manifest asks for what the adapter uses, and nothing it does
// not: the events it reads, the scopes of the methods it calls, the slash
// command, interactivity, Socket Mode.
func TestAppManifest(t *testing.T) {
	data, err := os.ReadFile("../../deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				MessagesTab         bool `yaml:"messages_tab_enabled"`
				MessagesTabReadOnly bool `yaml:"messages_tab_read_only_enabled"`
			} `yaml:"app_home"`
			BotUser struct {
				DisplayName string `yaml:"display_name"`
			} `yaml:"bot_user"`
			SlashCommands []struct {
				Command     string `yaml:"command"`
				Description string `yaml:"description"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	scopes := m.OAuth.Scopes.Bot
	slices.Sort(scopes)
	want := []string{"app_mentions:read", "chat:write", "commands", "im:history", "im:read", "im:write", "users:read"}
	if !slices.Equal(scopes, want) {
		t.Errorf("bot scopes %v, want %v", scopes, want)
	}
	events := m.Settings.Events.BotEvents
	slices.Sort(events)
	if !slices.Equal(events, []string{"app_mention", "message.im"}) {
		t.Errorf("bot events %v", events)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != slackbot.SlashCommand || m.Features.SlashCommands[0].Description == "" {
		t.Errorf("slash commands %+v", m.Features.SlashCommands)
	}
	if !m.Settings.Interactivity.Enabled || !m.Settings.SocketMode {
		t.Error("interactivity and Socket Mode must be on")
	}
	if !m.Features.AppHome.MessagesTab || m.Features.AppHome.MessagesTabReadOnly {
		t.Error("users must be able to write to the bot in its Messages tab")
	}
	if m.Features.BotUser.DisplayName == "" {
		t.Error("no bot user")
	}
}
