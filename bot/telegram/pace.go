package telegram

import (
	"context"
	"sync"
	"time"
)

// minChatBurst is the per-chat burst: one turn's messages (an answer is
// five) go out back to back, and the pace applies to the next turns.
const minChatBurst = 10

// pacer keeps outgoing messages under Telegram's limits before Telegram
// has to say so: a token bucket for the bot in all, one per chat, and a
// per-chat pause after a 429.
type pacer struct {
	mu        sync.Mutex
	global    *bucket // nil when off
	chatRate  float64 // 0: off
	chatBurst float64
	chats     map[int64]*bucket
	sweepAt   time.Time
}

type bucket struct {
	rate, burst float64 // rate 0: no token accounting, only blocked
	tokens      float64
	last        time.Time
	blocked     time.Time // a 429 said: nothing before this
}

func newPacer(rate, chatRate float64) *pacer {
	p := &pacer{chatRate: chatRate, chatBurst: max(minChatBurst, chatRate), chats: map[int64]*bucket{}}
	if rate > 0 {
		burst := max(1, rate)
		p.global = &bucket{rate: rate, burst: burst, tokens: burst}
	}
	return p
}

// reserve takes a token and returns when it may be used.
func (b *bucket) reserve(now time.Time) time.Time {
	at := now
	if b.rate > 0 {
		if !b.last.IsZero() && now.After(b.last) {
			b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		}
		if now.After(b.last) {
			b.last = now
		}
		b.tokens--
		if b.tokens < 0 {
			at = now.Add(time.Duration(-b.tokens / b.rate * float64(time.Second)))
		}
	}
	if at.Before(b.blocked) {
		at = b.blocked
	}
	return at
}

// idle reports whether the bucket holds nothing worth keeping.
func (b *bucket) idle(now time.Time) bool {
	if now.Before(b.blocked) {
		return false
	}
	return b.rate == 0 || b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}

// wait blocks until one more message may go to chat (0: no chat).
func (p *pacer) wait(ctx context.Context, chat int64) error {
	p.mu.Lock()
	now := time.Now()
	at := now
	if p.global != nil {
		at = p.global.reserve(now)
	}
	if chat != 0 {
		b := p.chats[chat]
		if b == nil && p.chatRate > 0 {
			b = &bucket{rate: p.chatRate, burst: p.chatBurst, tokens: p.chatBurst, last: now}
			p.chats[chat] = b
		}
		if b != nil {
			if t := b.reserve(now); t.After(at) {
				at = t
			}
		}
	}
	p.sweep(now)
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
	return nil
}

// block holds back everything for chat until t (after a 429).
func (p *pacer) block(chat int64, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.chats[chat]
	if b == nil {
		b = &bucket{rate: p.chatRate, burst: p.chatBurst, tokens: p.chatBurst, last: time.Now()}
		p.chats[chat] = b
	}
	if t.After(b.blocked) {
		b.blocked = t
	}
}

// sweep forgets idle chats now and then, so the map does not grow with
// every chat ever seen.
func (p *pacer) sweep(now time.Time) {
	if len(p.chats) < 1024 || now.Before(p.sweepAt) {
		return
	}
	for id, b := range p.chats {
		if b.idle(now) {
			delete(p.chats, id)
		}
	}
	p.sweepAt = now.Add(time.Minute)
}
