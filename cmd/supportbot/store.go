package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
)

// openStore opens the store STORE names. Errors name the problem, never a
// password.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (bot.Store, error) {
	switch {
	case cfg.Store == "memory":
		return memory.New(nil), nil
	}
	return nil, fmt.Errorf("%s stores are not available in this build", storeKind(cfg.Store))
}
