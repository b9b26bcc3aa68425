package memory_test

import (
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
	"github.com/supportbot/supportbot/bot/store/storetest"
)

// harness runs the suite on the reference store, with a fake clock.
type harness struct {
	clock *storetest.Clock
	s     *memory.Store
}

func (h *harness) Open(*testing.T) bot.Store {
	h.clock = storetest.NewClock()
	h.s = memory.New(h.clock.Now)
	return h.s
}

func (h *harness) Reopen(t *testing.T) bot.Store {
	t.Skip("the memory store keeps nothing across Close")
	return nil
}

func (h *harness) Keys(*testing.T) []string { return h.s.Keys() }

func (h *harness) Advance(d time.Duration) { h.clock.Advance(d) }

func TestStore(t *testing.T) {
	storetest.Run(t, &harness{})
}
