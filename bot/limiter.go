package bot

import (
	"sync"
	"time"
)

type verdict uint8

const (
	allowed   verdict = iota
	firstOver         // the first message over the limit: say "slow down" once
	overLimit         // the rest: dropped and counted
)

// limiter counts each user's messages in fixed windows.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	users map[string]*bucket
	swept time.Time
}

type bucket struct {
	start time.Time
	n     int
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, users: map[string]*bucket{}}
}

func (l *limiter) allow(user string, now time.Time) verdict {
	if l.max <= 0 {
		return allowed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.window {
		for k, b := range l.users {
			if now.Sub(b.start) >= l.window {
				delete(l.users, k)
			}
		}
		l.swept = now
	}
	b := l.users[user]
	if b == nil || now.Sub(b.start) >= l.window {
		b = &bucket{start: now}
		l.users[user] = b
	}
	b.n++
	switch {
	case b.n <= l.max:
		return allowed
	case b.n == l.max+1:
		return firstOver
	}
	return overLimit
}
