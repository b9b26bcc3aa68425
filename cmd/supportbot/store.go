package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/bolt"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/store/redis"
)

// openStore opens the store STORE names. Errors name the problem, never a
// password.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (bot.Store, error) {
	switch s := cfg.Store; {
	case s == "memory":
		return memory.New(nil), nil
	case strings.HasPrefix(s, "bolt:"):
		return bolt.Open(strings.TrimPrefix(s, "bolt:"), bolt.Options{})
	case strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://"):
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return redis.Open(ctx, s, redis.Options{})
	}
	return nil, fmt.Errorf("unknown store %q", storeKind(cfg.Store))
}
