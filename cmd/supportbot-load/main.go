// Command supportbot-load measures the bot end to end against a fake
// platform: many chats run whole conversations, and it reports updates
// answered per second, latency percentiles, lost and duplicated replies,
// and the bot's peak memory and CPU per update.
//
//	supportbot-load <mode> [flags]
//	supportbot-load telegram -chats 1000 -duration 20s -baseline
//
// Each platform is a mode, registered by its own file in an init function
// (telegram.go, slack.go); what they share (statistics, /proc readers,
// starting the bot binary) is in common.go.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// modes maps a mode name to its entry point, which parses its own flags.
var modes = map[string]func(args []string) error{}

func main() {
	if len(os.Args) < 2 || modes[os.Args[1]] == nil {
		usage()
		os.Exit(2)
	}
	if err := modes[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "supportbot-load %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	names := make([]string, 0, len(modes))
	for n := range modes {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: supportbot-load <mode> [flags]\nmodes: %s\n"+
		"run supportbot-load <mode> -h for a mode's flags\n", strings.Join(names, ", "))
}
