package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/supportbot/supportbot/flows"
)

// Reminders fire at a sensible local hour: between these, in the user's
// time zone.
const (
	remindFrom = 9
	remindTo   = 20
	remindAt   = 10 // the hour for "on the promised date"
)

func reminderID(user string, caseID int) string { return user + "|" + strconv.Itoa(caseID) }

// reminder turns the engine's Remind into a stored reminder: the time in
// the user's zone, moved into 09:00–20:00, and the update to deliver then,
// addressed to the user's private conversation with the bot.
func (d *Dispatcher) reminder(u *Update, res *flows.Result, userTZ, tz string) (Reminder, bool) {
	if tz == "" {
		tz = userTZ
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		loc = time.UTC
	}
	at := RemindTime(d.cfg.Now(), loc, res.Remind.In, res.Remind.Date)
	fire := Update{
		Platform: u.Platform, Conv: u.Conv, User: u.User, Route: u.Route,
		Kind: KindReminder, Case: res.Remind.Case, Lang: res.Lang, TZ: u.TZ,
		HomeConv: u.HomeConv, HomeRoute: u.HomeRoute,
	}
	if u.HomeConv != "" {
		fire.Conv, fire.Route = u.HomeConv, u.HomeRoute
	}
	// The delivery id outlives /forget (done ids keep a late copy from
	// being answered), so it is random: nothing in it leads back to the
	// user. It is stored with the reminder, so every replica that fires
	// this reminder uses the same one.
	var id [12]byte
	_, _ = rand.Read(id[:])
	fire.ID = "rem:" + hex.EncodeToString(id[:])
	fire.At = at
	data, err := encodeUpdate(&fire)
	if err != nil {
		return Reminder{}, false
	}
	return Reminder{ID: reminderID(u.User, res.Remind.Case), User: u.User, At: at, Key: fire.ID, Data: data}, true
}

// RemindTime is when a reminder "in" a duration, or on a date, fires: at a
// sensible local hour in loc. A time that falls at night moves to the next
// morning (or back to the evening before, if that is still ahead).
func RemindTime(now time.Time, loc *time.Location, in time.Duration, date string) time.Time {
	local := now.In(loc)
	var at time.Time
	if date != "" {
		day, err := time.ParseInLocation("2006-01-02", date, loc)
		if err == nil {
			at = time.Date(day.Year(), day.Month(), day.Day(), remindAt, 0, 0, 0, loc)
			if at.Before(now) {
				// A promised date that is today or past: in an hour, clamped.
				at = local.Add(time.Hour)
			}
		}
	}
	if at.IsZero() {
		at = local.Add(in)
	}
	switch h := at.Hour(); {
	case h < remindFrom:
		at = time.Date(at.Year(), at.Month(), at.Day(), remindFrom, 0, 0, 0, loc)
	case h >= remindTo:
		at = time.Date(at.Year(), at.Month(), at.Day()+1, remindFrom, 0, 0, 0, loc)
	}
	return at.UTC()
}

// fireReminders delivers the reminders that are due: each is claimed (so
// one process takes it), accepted like any update (the inbox makes it
// exactly once), then deleted.
func (d *Dispatcher) fireReminders(ctx context.Context) {
	store := d.cfg.Store
	now := d.cfg.Now()
	rs, err := store.ClaimReminders(ctx, now, d.cfg.Lease, 100)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Log.Warn("reminders: cannot claim due reminders", "err", err)
		}
		return
	}
	for _, r := range rs {
		u, err := decodeUpdate(r.Data)
		if err != nil {
			d.cfg.Log.Error("reminders: unreadable reminder, dropping it", "err", err)
			_ = store.DeleteReminder(ctx, r.ID, r.Key)
			continue
		}
		u.At = now
		if err := d.Accept(ctx, u); err != nil {
			// It comes back after the lease.
			d.cfg.Log.Warn("reminders: cannot deliver; will retry", "err", err)
			continue
		}
		// One left behind is claimed again after the lease and dropped as
		// a done delivery; the instrumented store counts the failure.
		_ = store.DeleteReminder(ctx, r.ID, r.Key)
	}
}
