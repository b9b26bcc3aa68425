package storetest

import (
	"sync"
	"time"
)

// Clock is a fake clock for harnesses whose store takes a now function.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at a fixed, arbitrary instant.
func NewClock() *Clock { return &Clock{t: time.Unix(1_800_000_000, 0)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
