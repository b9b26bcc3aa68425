package flows

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The case notebook and reminders: a case is the slots listed in the flow's
// case fields, kept per user by the front end (Input.Cases in, Result.SaveCase
// out), so the engine stays a pure function.

// caseID is the current case's number, 0 when none.
func (t *turn) caseID() int {
	n, _ := strconv.Atoi(t.s.Get(t.def.CaseSlot))
	return n
}

// findCase returns the most recent open case whose slot holds value.
func (t *turn) findCase(slot, value string) *Case {
	var best *Case
	for i := range t.in.Cases {
		c := &t.in.Cases[i]
		if c.Closed || c.Fields[slot] != value {
			continue
		}
		if best == nil || c.Updated > best.Updated {
			best = c
		}
	}
	return best
}

func (t *turn) caseByID(id int) *Case {
	for i := range t.in.Cases {
		if t.in.Cases[i].ID == id {
			return &t.in.Cases[i]
		}
	}
	return nil
}

// loadCase puts a saved case into the session's slots. Unless overwrite,
// what the user has just told us (the problem they picked) stays.
func (t *turn) loadCase(c *Case, overwrite bool) {
	for _, f := range t.def.CaseFields {
		if overwrite || t.s.Get(f) == "" {
			t.s.set(f, c.Fields[f])
		}
	}
	t.s.set(t.def.CaseSlot, strconv.Itoa(c.ID))
}

// saveCase records the current case (a new one gets the next number).
func (t *turn) saveCase(closed bool) {
	if len(t.def.CaseFields) == 0 {
		return
	}
	id := t.caseID()
	if id == 0 {
		if closed {
			return
		}
		for _, c := range t.in.Cases {
			id = max(id, c.ID)
		}
		id++
		t.s.set(t.def.CaseSlot, strconv.Itoa(id))
	}
	c := &Case{ID: id, Fields: make(map[string]string, len(t.def.CaseFields)), Closed: closed,
		Created: t.in.Now.Unix(), Updated: t.in.Now.Unix()}
	if old := t.caseByID(id); old != nil {
		c.Created = old.Created
	}
	for _, f := range t.def.CaseFields {
		c.Fields[f] = t.s.Get(f)
	}
	t.res.SaveCase = c
}

// Overdue is the value schedule gives the reminder slot when the user
// asked for "the promised date" and that date has passed on the user's
// calendar: the reminder comes tomorrow instead, and texts can tell the
// two apart.
const Overdue = "overdue"

// schedule asks for a reminder about the current case, saving it first.
func (t *turn) schedule(slot string) {
	t.saveCase(false)
	r := &Remind{Case: t.caseID(), In: 24 * time.Hour}
	switch v := t.s.Get(slot); v {
	case "promised", Overdue:
		due := t.s.Get(t.def.DueSlot)
		switch {
		case due == "":
		case due < localDate(t.in.Now, t.s.Get(t.def.TZSlot)):
			// The promise is already broken: a reminder "on" that date
			// would fire at once while the reply named a past day.
			// Tomorrow, and the texts can say why.
			t.s.set(slot, Overdue)
		default:
			r.In, r.Date = 0, due
			t.s.set(slot, "promised")
		}
	default:
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			r.In = d
		}
	}
	t.res.Remind = r
}

// localDate is now's date in the time zone named tz, or in UTC when tz is
// empty or unknown.
func localDate(now time.Time, tz string) string {
	loc := zone(tz)
	if loc == nil {
		loc = time.UTC
	}
	return now.In(loc).Format(time.DateOnly)
}

// zones caches time.LoadLocation, which reads the zone database: once per
// zone and process, not on every turn.
var zones sync.Map // name → *time.Location

func zone(name string) *time.Location {
	if name == "" {
		return nil
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, loc)
	return loc
}

// reminded handles a reminder: the case is loaded and the flow's reminder
// state asks how it went. A reminder whose case is gone or closed shows
// nothing.
func (t *turn) reminded() {
	c := t.caseByID(t.in.Case)
	if t.def.Reminder == "" || c == nil || c.Closed {
		t.res.Outcome = Moved
		return
	}
	t.res.Outcome = Moved
	t.loadCase(c, true)
	t.fire(EventRemind)
}

// caseData is a case's fields as template data, with its number.
func (t *turn) caseData(c *Case) map[string]string {
	m := make(map[string]string, len(c.Fields)+2)
	for _, f := range t.def.CaseFields {
		m[f] = c.Fields[f]
	}
	m["id"] = strconv.Itoa(c.ID)
	if c.Closed {
		m["closed"] = "yes"
	} else {
		m["closed"] = ""
	}
	return m
}

func (t *turn) listCases() {
	t.res.Outcome = Commanded
	if len(t.in.Cases) == 0 {
		t.say(KeyCasesNone)
		return
	}
	cs := append([]Case(nil), t.in.Cases...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	out := Output{Key: KeyCasesList}
	for i := range cs {
		out.Items = append(out.Items, t.caseData(&cs[i]))
	}
	t.res.Outputs = append(t.res.Outputs, out)
}

func (t *turn) showCase(args []string) {
	t.res.Outcome = Commanded
	n := 0
	if len(args) > 0 {
		n, _ = strconv.Atoi(strings.TrimPrefix(args[0], "#"))
	}
	c := t.caseByID(n)
	if c == nil {
		t.say(KeyCaseUnknown)
		return
	}
	t.res.Outputs = append(t.res.Outputs, Output{Key: KeyCaseSummary, Data: t.caseData(c)})
}
