package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
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
		// go-redis prints pool and dial errors itself; route them through
		// our log at debug (the store already reports failures it sees).
		goredis.SetLogger(redisLog{log})
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return redis.Open(ctx, s, redis.Options{})
	}
	return nil, fmt.Errorf("unknown store %q", storeKind(cfg.Store))
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
