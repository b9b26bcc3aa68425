package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot"
	"github.com/supportbot/supportbot/bot/store/memory"
)

func TestRemindTime(t *testing.T) {
	riga, err := time.LoadLocation("Europe/Riga")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, riga)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		now  string
		in   time.Duration
		date string
		want string // Riga time
	}{
		{"2026-11-26 14:30", 24 * time.Hour, "", "2026-11-27 14:30"},
		{"2026-11-26 23:10", 24 * time.Hour, "", "2026-11-28 09:00"}, // 23:10 next day is late: the morning after
		{"2026-11-26 06:00", 48 * time.Hour, "", "2026-11-28 09:00"}, // too early: 09:00
		{"2026-11-26 19:59", 7 * 24 * time.Hour, "", "2026-12-03 19:59"},
		{"2026-11-26 12:00", 0, "2026-12-05", "2026-12-05 10:00"},
		{"2026-11-26 21:00", 0, "2026-11-26", "2026-11-27 09:00"}, // the promised day is today: an hour on, then morning
	}
	for _, tc := range tests {
		got := bot.RemindTime(at(tc.now).UTC(), riga, tc.in, tc.date).In(riga).Format("2006-01-02 15:04")
		if got != tc.want {
			t.Errorf("now %s in %v date %q: got %s, want %s", tc.now, tc.in, tc.date, got, tc.want)
		}
	}
}

// clock is a settable time for dispatchers and stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestReminderFiresOnce schedules a reminder through a conversation, moves
// the clock past it, and checks it is delivered once, also across a
// restart, and never after /forget.
func TestReminderFiresOnce(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	store := memory.New(clk.Now)
	cfg := bot.Config{Now: clk.Now, RemindEvery: 5 * time.Millisecond}
	h := start(t, store, cfg)
	ctx := context.Background()
	say := func(h *harness, text string) {
		t.Helper()
		kind := bot.KindText
		if strings.HasPrefix(text, "/") {
			kind = bot.KindCommand
			text = text[1:]
		}
		u := upd("rem", kind, text)
		u.User = "user-rem"
		if err := h.d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"bill", "1111 2222", "phone", "4", "1", "2"} { // remind → tomorrow → UTC
		say(h, s)
	}
	texts := h.rec.texts("rem")
	if last := texts[len(texts)-1]; last != "I'll remind you tomorrow." {
		t.Fatalf("not scheduled: %q", texts)
	}
	before := len(texts)
	time.Sleep(30 * time.Millisecond)
	if len(h.rec.texts("rem")) != before {
		t.Fatal("a reminder fired early")
	}
	// A restart before it is due: the reminder is in the store.
	h.stop()
	clk.Add(25 * time.Hour)
	h2 := start(t, store, cfg)
	waitFor(t, "the reminder", func() bool { return len(h2.rec.texts("rem")) >= 2 })
	time.Sleep(50 * time.Millisecond)
	got := h2.rec.texts("rem")
	if len(got) != 2 || !strings.Contains(got[0], "You asked about your bill") || got[1] != "Did you get it?" {
		t.Fatalf("reminder: %q", got)
	}
	for _, k := range store.Keys() {
		if strings.HasPrefix(k, "reminder:") {
			t.Errorf("delivered reminder still stored: %s", k)
		}
	}

	// Schedule another, then /forget: it never fires.
	for _, s := range []string{"3", "1", "/forget"} { // remind again → tomorrow; tz is known now
		say(h2, s)
	}
	n := len(h2.rec.texts("rem"))
	clk.Add(48 * time.Hour)
	time.Sleep(50 * time.Millisecond)
	if got := h2.rec.texts("rem"); len(got) != n {
		t.Fatalf("a forgotten user's reminder fired: %q", got[n:])
	}
	for _, k := range store.Keys() {
		// Done delivery ids stay (they name nobody); nothing else may.
		if !strings.HasPrefix(k, "done:") || strings.Contains(k, "user-rem") || strings.Contains(k, bot.ConvHash("user-rem")) {
			t.Errorf("left after /forget: %s", k)
		}
	}
}

// TestRemindersAcrossDispatchers runs two dispatchers on one store with a
// due reminder: it is delivered once.
func TestRemindersAcrossDispatchers(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	store := memory.New(clk.Now)
	ctx := context.Background()
	a := start(t, store, bot.Config{Now: clk.Now, RemindEvery: time.Millisecond})
	for _, s := range []string{"bill", "1111 2222", "phone", "4", "1", "2"} {
		u := upd("two", bot.KindText, s)
		u.User = "user-two"
		if err := a.d.Handle(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	b := start(t, store, bot.Config{Now: clk.Now, RemindEvery: time.Millisecond})
	base := len(a.rec.texts("two"))
	clk.Add(25 * time.Hour)
	waitFor(t, "the reminder", func() bool { return len(a.rec.texts("two"))-base+len(b.rec.texts("two")) >= 2 })
	time.Sleep(50 * time.Millisecond)
	if n := len(a.rec.texts("two")) - base + len(b.rec.texts("two")); n != 2 {
		t.Fatalf("reminder delivered %d messages, want 2 (once)", n)
	}
}
