package flows

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/looplab/fsm"
)

// Kind is the kind of a step. Go code implements these few kinds; everything
// else about a flow is data.
type Kind string

const (
	// Choose shows a question with buttons; typed text is matched against
	// the buttons' labels and keywords.
	Choose Kind = "choose"
	// Ask asks for free text, validates it and stores it in a slot. It may
	// have buttons too (Skip).
	Ask Kind = "ask"
	// Answer shows one or more texts, then follow-up buttons.
	Answer Kind = "answer"
)

// Reserved event names. Choice ids may not use them.
const (
	EventAnswer  = "answer"       // an Ask step received a valid answer
	EventKnown   = "known_case"   // an Ask step's answer matches a saved case
	EventRestart = "restart"      // back to the start, from anywhere
	EventRemind  = "reminder_due" // a reminder fired, from anywhere
)

// Feedback verdicts a choice can record.
const (
	Worked = "worked"
	Didnt  = "didnt"
)

// MaxButtonData is the largest button payload, in bytes: Telegram's
// callback_data limit.
const MaxButtonData = 64

// Definition is one compiled flow.
type Definition struct {
	ID        string   // the pack id, e.g. "amazon"
	Version   int      // structure version, stored in sessions
	Start     string   // first state
	Languages []string // first is the default
	Slots     []SlotDef
	States    map[string]*State
	Order     []string // state names in file order
	File      string   // where the flow was defined, for messages
	Line      int

	// Intents are whole-message phrases per language that work in every
	// state: "restart" and "help". Normalised phrases.
	Intents map[string]map[string][]Phrase

	// Reminder is the state a fired reminder leads to; "" when the flow
	// has no reminders.
	Reminder string
	// CaseFields are the slots a saved case keeps (the case notebook), and
	// CaseSlot the slot holding the current case's number.
	CaseFields []string
	CaseSlot   string
	// DueSlot holds the date the company promised (YYYY-MM-DD), for a
	// reminder "on the promised date".
	DueSlot string
	// TZSlot holds the user's time zone (an IANA name).
	TZSlot string

	byState   map[string]fsm.Events // per-state event subsets, for cheap rebuilds
	callbacks fsm.Callbacks
}

// SlotDef declares a slot: what the user told us.
type SlotDef struct {
	Name   string
	Sample string // a typical answer, for checking templates
	Line   int
}

// State is one step of a flow.
type State struct {
	Name string
	Kind Kind
	// Text is the content key of the question (Choose, Ask) or the
	// follow-up prompt (Answer). Keys may name slots in braces:
	// "answer.{problem}.{channel}.steps".
	Text string
	// Texts are the keys an Answer shows before its prompt.
	Texts   []string
	Choices []*Choice
	// Ask steps.
	Slot     string
	Validate *Validator
	Invalid  string // content key shown when validation fails
	Next     string // state after a valid answer
	// Known, for an Ask step, is where an answer goes when it matches the
	// same slot of one of the user's open cases (the case is loaded).
	Known string
	// Edit makes the state's message replace the one whose button was
	// pressed, so one message follows the user (the live-call companion).
	Edit bool
	// LangSlot names a slot whose value is the language of the state's
	// texts (a draft in English for a Latvian user).
	LangSlot string
	// SaveCase saves the current case when the state is entered;
	// CloseCase closes it.
	SaveCase  bool
	CloseCase bool
	// Schedule names the slot holding when to remind ("24h", "48h",
	// "168h" or "promised"); entering the state schedules the reminder.
	Schedule string
	// Sourced states state facts: lint requires a list of source pages
	// (sources.<key>) for each of their texts, in every language.
	Sourced bool
	// Set sets slots on entering the state (a rung remembers it was
	// reached).
	Set  map[string]string
	Line int
}

// Choice is one button.
type Choice struct {
	ID    string
	Next  string
	Set   map[string]string // slots set when chosen
	Reset bool              // clear every slot first
	// Routes send the choice elsewhere depending on a slot; the first that
	// matches wins, Next is the default.
	Routes []Route
	// Feedback records "worked" or "didnt" for the state's first text.
	Feedback string
	Line     int
	// Keywords per language: phrases that select this choice when typed.
	// The button's label is always one of them.
	Keywords map[string][]Phrase
}

// Route is a conditional destination: when Slot holds Value ("" matches an
// empty slot), go to Next.
type Route struct {
	Slot, Value, Next string
}

// Phrase is a normalised keyword: its words, stemmed.
type Phrase []string

// Validator checks and normalises a free-text answer.
type Validator struct {
	Name    string
	Pattern *regexp.Regexp
	// Format, when set, rewrites a match (regexp.Expand syntax: "$1-$2").
	Format string
	// MaxLen caps the answer, in characters.
	MaxLen int
	// Date accepts a calendar date (2026-12-05, 5.12.2026, 5.12., 5/12)
	// and keeps it as YYYY-MM-DD. A date without a year is this year's,
	// unless that was more than two months ago: then next year's.
	Date bool
	Line int
}

// Check validates s and returns its normal form; now places dates without
// a year.
func (v *Validator) Check(s string, now time.Time) (string, bool) {
	if v.MaxLen > 0 && runeCount(s) > v.MaxLen {
		return "", false
	}
	if v.Date {
		return parseDate(s, now)
	}
	if v.Pattern == nil {
		return s, true
	}
	m := v.Pattern.FindStringSubmatchIndex(s)
	if m == nil {
		return "", false
	}
	if v.Format == "" {
		return s, true
	}
	return string(v.Pattern.ExpandString(nil, v.Format, s, m)), true
}

// Problem is one thing wrong with a flow, with its place.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Problems is a list of problems; as an error it reads as the first one,
// with a count of the rest.
type Problems []Problem

func (ps Problems) Error() string {
	if len(ps) == 0 {
		return "no problems"
	}
	if len(ps) == 1 {
		return ps[0].String()
	}
	return fmt.Sprintf("%s (and %d more problems)", ps[0], len(ps)-1)
}

// Sort orders problems by file and line.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

// Compile checks the structure of a flow and builds its FSM events. It
// reports every structural problem it finds: unknown states, reserved or
// duplicate choice ids, states that cannot be reached from the start or
// cannot reach an answer, slots used before they are certainly set.
func (d *Definition) Compile() Problems {
	var ps Problems
	add := func(line int, format string, a ...any) {
		ps = append(ps, Problem{d.File, line, fmt.Sprintf(format, a...)})
	}
	if len(d.Languages) == 0 {
		add(d.Line, "no languages declared")
	}
	slots := map[string]bool{}
	for _, s := range d.Slots {
		slots[s.Name] = true
	}
	if d.States[d.Start] == nil {
		add(d.Line, "start state %q does not exist", d.Start)
	}
	if d.Reminder != "" && d.States[d.Reminder] == nil {
		add(d.Line, "reminder state %q does not exist", d.Reminder)
	}
	for _, f := range append(append([]string{}, d.CaseFields...), d.CaseSlot, d.TZSlot, d.DueSlot) {
		if f != "" && !slots[f] {
			add(d.Line, "case or time-zone slot %q is not declared", f)
		}
	}
	if len(d.CaseFields) > 0 && d.CaseSlot == "" {
		add(d.Line, "a case notebook needs case.slot: the slot holding the case number")
	}
	for _, name := range d.Order {
		st := d.States[name]
		seen := map[string]bool{}
		switch st.Kind {
		case Choose, Answer:
			if len(st.Choices) == 0 {
				add(st.Line, "state %q: %s steps need at least one choice", name, st.Kind)
			}
		case Ask:
			if st.Slot == "" {
				add(st.Line, "state %q: an ask step needs a slot", name)
			} else if !slots[st.Slot] {
				add(st.Line, "state %q: unknown slot %q", name, st.Slot)
			}
			if d.States[st.Next] == nil {
				add(st.Line, "state %q: next state %q does not exist", name, st.Next)
			}
		default:
			add(st.Line, "state %q: unknown kind %q (want choose, ask or answer)", name, st.Kind)
		}
		if st.Text == "" {
			add(st.Line, "state %q: no text", name)
		}
		if st.Known != "" {
			if st.Kind != Ask || d.States[st.Known] == nil || len(d.CaseFields) == 0 {
				add(st.Line, "state %q: known needs an ask step, an existing state and a case notebook", name)
			}
		}
		for _, sl := range []string{st.LangSlot, st.Schedule} {
			if sl != "" && !slots[sl] {
				add(st.Line, "state %q: unknown slot %q", name, sl)
			}
		}
		for k := range st.Set {
			if !slots[k] {
				add(st.Line, "state %q: sets unknown slot %q", name, k)
			}
		}
		if (st.SaveCase || st.CloseCase) && len(d.CaseFields) == 0 {
			add(st.Line, "state %q: saves a case, but the flow has no case notebook", name)
		}
		for _, c := range st.Choices {
			switch {
			case c.ID == EventAnswer || c.ID == EventRestart || c.ID == EventKnown || c.ID == EventRemind:
				add(c.Line, "state %q: choice id %q is reserved", name, c.ID)
			case !validID(c.ID):
				add(c.Line, "state %q: choice id %q must be lower-case letters, digits and _", name, c.ID)
			case seen[c.ID]:
				add(c.Line, "state %q: choice %q appears twice", name, c.ID)
			}
			seen[c.ID] = true
			if d.States[c.Next] == nil {
				add(c.Line, "state %q: choice %q leads to unknown state %q", name, c.ID, c.Next)
			}
			for k := range c.Set {
				if !slots[k] {
					add(c.Line, "state %q: choice %q sets unknown slot %q", name, c.ID, k)
				}
			}
			for _, r := range c.Routes {
				if !slots[r.Slot] || d.States[r.Next] == nil {
					add(c.Line, "state %q: choice %q: route on slot %q to %q: unknown slot or state", name, c.ID, r.Slot, r.Next)
				}
			}
			if c.Feedback != "" && c.Feedback != Worked && c.Feedback != Didnt {
				add(c.Line, "state %q: choice %q: feedback must be %q or %q", name, c.ID, Worked, Didnt)
			}
			if n := len(encodeData(maxNonce, c.ID)); n > MaxButtonData {
				add(c.Line, "state %q: button data for %q is %d bytes, over Telegram's %d", name, c.ID, n, MaxButtonData)
			}
		}
	}
	if len(ps) > 0 {
		ps.Sort()
		return ps
	}
	ps = append(ps, d.checkGraph()...)
	ps = append(ps, d.checkSlotsSet()...)
	d.build()
	ps.Sort()
	return ps
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// edges lists each state's successors, restart excluded.
func (d *Definition) edges(name string) []string {
	st := d.States[name]
	var out []string
	for _, c := range st.Choices {
		out = append(out, c.Next)
		for _, r := range c.Routes {
			out = append(out, r.Next)
		}
	}
	if st.Kind == Ask {
		out = append(out, st.Next)
	}
	if st.Known != "" {
		out = append(out, st.Known)
	}
	return out
}

func (d *Definition) checkGraph() Problems {
	var ps Problems
	reach := map[string]bool{d.Start: true}
	queue := []string{d.Start}
	if d.Reminder != "" {
		reach[d.Reminder] = true
		queue = append(queue, d.Reminder)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range d.edges(n) {
			if !reach[m] {
				reach[m] = true
				queue = append(queue, m)
			}
		}
	}
	// States that can reach an answer: fixpoint over reversed edges.
	toAnswer := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range d.Order {
			if toAnswer[n] {
				continue
			}
			ok := d.States[n].Kind == Answer
			for _, m := range d.edges(n) {
				ok = ok || toAnswer[m]
			}
			if ok {
				toAnswer[n] = true
				changed = true
			}
		}
	}
	for _, n := range d.Order {
		st := d.States[n]
		if !reach[n] {
			ps = append(ps, Problem{d.File, st.Line, fmt.Sprintf("state %q cannot be reached from the start %q", n, d.Start)})
		}
		if !toAnswer[n] {
			ps = append(ps, Problem{d.File, st.Line, fmt.Sprintf("state %q cannot reach an answer", n)})
		}
	}
	return ps
}

// checkSlotsSet proves that every slot named in a state's keys is set on
// every path into that state, by a forward must-analysis over the graph.
func (d *Definition) checkSlotsSet() Problems {
	all := map[string]bool{}
	for _, s := range d.Slots {
		all[s.Name] = true
	}
	// in[n] = slots certainly set on entering n; nil means not yet known (top).
	in := map[string]map[string]bool{d.Start: {}}
	caseSet := map[string]bool{}
	for _, f := range d.CaseFields {
		caseSet[f] = true
	}
	if d.CaseSlot != "" {
		caseSet[d.CaseSlot] = true
	}
	meet := func(n string, set map[string]bool) bool {
		cur, ok := in[n]
		if !ok {
			in[n] = set
			return true
		}
		changed := false
		for k := range cur {
			if !set[k] {
				delete(cur, k)
				changed = true
			}
		}
		return changed
	}
	copySet := func(m map[string]bool) map[string]bool {
		out := make(map[string]bool, len(m))
		for k := range m {
			out[k] = true
		}
		return out
	}
	if d.Reminder != "" {
		// A reminder loads its case; a case was saved after the user chose
		// its problem and channel.
		meet(d.Reminder, copySet(caseSet))
	}
	for changed := true; changed; {
		changed = false
		for _, n := range d.Order {
			cur, ok := in[n]
			if !ok {
				continue
			}
			st := d.States[n]
			cur = copySet(cur)
			for k := range st.Set {
				cur[k] = true
			}
			for _, c := range st.Choices {
				out := map[string]bool{}
				if !c.Reset {
					for k := range cur {
						out[k] = true
					}
				}
				for k := range c.Set {
					out[k] = true
				}
				for _, r := range c.Routes {
					if meet(r.Next, copySet(out)) {
						changed = true
					}
				}
				if meet(c.Next, out) {
					changed = true
				}
			}
			if st.Known != "" {
				out := copySet(cur)
				for k := range caseSet {
					out[k] = true
				}
				if meet(st.Known, out) {
					changed = true
				}
			}
			if st.Kind == Ask {
				out := map[string]bool{}
				for k := range cur {
					out[k] = true
				}
				// An Ask with a skip may leave its slot empty, so it does not count.
				if meet(st.Next, out) {
					changed = true
				}
			}
		}
	}
	// Restart leads to the start with nothing set, which the start's {} covers.
	var ps Problems
	for _, n := range d.Order {
		st := d.States[n]
		have := in[n]
		for _, key := range append([]string{st.Text}, st.Texts...) {
			for _, slot := range KeySlots(key) {
				switch {
				case !all[slot]:
					ps = append(ps, Problem{d.File, st.Line, fmt.Sprintf("state %q: key %q names unknown slot %q", n, key, slot)})
				case !have[slot]:
					ps = append(ps, Problem{d.File, st.Line, fmt.Sprintf("state %q: key %q needs slot %q, which is not set on every path here", n, key, slot)})
				}
			}
		}
	}
	return ps
}

// KeySlots returns the slot names a key template refers to, in order.
func KeySlots(key string) []string {
	var out []string
	for {
		i := strings.IndexByte(key, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(key[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, key[i+1:i+j])
		key = key[i+j+1:]
	}
}

// SlotValues lists, per slot, the values choices can set, sorted.
func (d *Definition) SlotValues() map[string][]string {
	seen := map[string]map[string]bool{}
	// Setting "" clears a slot; it is not one of its values (a slot only
	// ever cleared is still the user's free text).
	add := func(k, v string) {
		if v == "" {
			return
		}
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		seen[k][v] = true
	}
	for _, n := range d.Order {
		for k, v := range d.States[n].Set {
			add(k, v)
		}
		for _, c := range d.States[n].Choices {
			for k, v := range c.Set {
				add(k, v)
			}
		}
	}
	out := map[string][]string{}
	for k, vs := range seen {
		for v := range vs {
			out[k] = append(out[k], v)
		}
		sort.Strings(out[k])
	}
	return out
}

// ExpandKey fills a key template's {slot} references.
func ExpandKey(key string, slot func(string) string) string {
	if strings.IndexByte(key, '{') < 0 {
		return key
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(key, '{')
		j := strings.IndexByte(key, '}')
		if i < 0 || j < i {
			b.WriteString(key)
			return b.String()
		}
		b.WriteString(key[:i])
		b.WriteString(slot(key[i+1 : j]))
		key = key[j+1:]
	}
}

// build makes the FSM events: one event per choice, "answer" for Ask steps
// and "restart" from every state to the start. Each state keeps the subset of
// events leaving it, so rebuilding an FSM per message stays cheap.
func (d *Definition) build() {
	d.byState = make(map[string]fsm.Events, len(d.States))
	for _, n := range d.Order {
		st := d.States[n]
		var evs fsm.Events
		for _, c := range st.Choices {
			evs = append(evs, fsm.EventDesc{Name: c.ID, Src: []string{n}, Dst: c.Next})
			for i, r := range c.Routes {
				evs = append(evs, fsm.EventDesc{Name: routeEvent(c.ID, i), Src: []string{n}, Dst: r.Next})
			}
		}
		if st.Kind == Ask {
			evs = append(evs, fsm.EventDesc{Name: EventAnswer, Src: []string{n}, Dst: st.Next})
		}
		if st.Known != "" {
			evs = append(evs, fsm.EventDesc{Name: EventKnown, Src: []string{n}, Dst: st.Known})
		}
		evs = append(evs, fsm.EventDesc{Name: EventRestart, Src: []string{n}, Dst: d.Start})
		if d.Reminder != "" {
			evs = append(evs, fsm.EventDesc{Name: EventRemind, Src: []string{n}, Dst: d.Reminder})
		}
		d.byState[n] = evs
	}
	d.callbacks = fsm.Callbacks{
		// Callbacks only record: the turn passed as the event's argument
		// collects what entering the state shows.
		"enter_state": func(_ context.Context, e *fsm.Event) {
			e.Args[0].(*turn).entered(e.Dst)
		},
	}
}

// routeEvent names the event of a choice's ith route: "<choice>@<i>".
func routeEvent(id string, i int) string { return id + "@" + strconv.Itoa(i) }

// Events returns every FSM event of the flow (for graphs and tests).
func (d *Definition) Events() fsm.Events {
	var all fsm.Events
	for _, n := range d.Order {
		all = append(all, d.byState[n]...)
	}
	return all
}

// Mermaid renders the flow as a Mermaid stateDiagram, from a fresh FSM at the
// start state so the output is stable. "restart" leaves every state; it is
// left out so the picture shows the conversation.
func (d *Definition) Mermaid() (string, error) {
	var evs fsm.Events
	for _, e := range d.Events() {
		if e.Name != EventRestart && e.Name != EventRemind {
			evs = append(evs, e)
		}
	}
	f := fsm.NewFSM(d.Start, evs, nil)
	return fsm.VisualizeForMermaidWithGraphType(f, fsm.StateDiagram)
}

var dateForms = []*regexp.Regexp{
	regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`),            // 2026-12-05
	regexp.MustCompile(`^(\d{1,2})[./](\d{1,2})[./]?(\d{4})?\.?$`), // 5.12.2026, 5.12., 5/12
}

// parseDate reads the dates people type, day before month.
func parseDate(s string, now time.Time) (string, bool) {
	s = strings.TrimSpace(s)
	var y, m, d int
	if g := dateForms[0].FindStringSubmatch(s); g != nil {
		y, _ = strconv.Atoi(g[1])
		m, _ = strconv.Atoi(g[2])
		d, _ = strconv.Atoi(g[3])
	} else if g := dateForms[1].FindStringSubmatch(s); g != nil {
		d, _ = strconv.Atoi(g[1])
		m, _ = strconv.Atoi(g[2])
		y, _ = strconv.Atoi(g[3])
		if y == 0 {
			y = now.Year()
			if time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Before(now.AddDate(0, -2, 0)) {
				y++
			}
		}
	} else {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != m || y < 2000 || y > 2100 {
		return "", false // 31.2. or a year from another age
	}
	return t.Format("2006-01-02"), true
}
