package flows

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/looplab/fsm"
)

// InputKind says what the user did.
type InputKind uint8

const (
	InText     InputKind = iota + 1 // typed a message
	InButton                        // pressed a button; Input.Text holds its data
	InCommand                       // sent a command; Input.Command and Input.Text (the arguments)
	InResume                        // came back (a front end restarted): show where we are
	InOther                         // sent something we cannot read: a photo, a sticker, a file
	InReminder                      // a reminder the user asked for is due; Input.Case names its case
)

// Input is one thing the user did.
type Input struct {
	Kind    InputKind
	Text    string // the message, the button data or the command's arguments
	Command string // without the slash, lower case: "start", "help"
	// Lang is the platform's hint about the user's language, in any form
	// ("lv", "lv-LV", "LV"). UserLang is the user's own choice, which wins.
	Lang     string
	UserLang string
	// TZ is the user's time zone when known (an IANA name).
	TZ string
	// Cases are the user's saved cases (the case notebook), read-only.
	Cases []Case
	// Case is the case a reminder is about.
	Case int
	Now  time.Time
}

// Case is one saved case: the slots the flow's notebook keeps.
type Case struct {
	ID      int               `json:"id"`
	Fields  map[string]string `json:"f"`
	Closed  bool              `json:"closed,omitempty"`
	Created int64             `json:"c"`
	Updated int64             `json:"u"`
}

// Remind asks the front end to come back later: after In, or on Date
// (YYYY-MM-DD, in the user's time zone), about case Case.
type Remind struct {
	In   time.Duration
	Date string
	Case int
}

// Feedback is a "this worked / this didn't" on a text.
type Feedback struct {
	Key     string // the expanded content key of the text
	Verdict string // Worked or Didnt
}

// Output is one message to show: a content key and its buttons.
type Output struct {
	Key     string // content key with its slots filled in
	Buttons []Button
	// Lang, when set, renders this output in another language than the
	// turn's (a draft in English for a Latvian user).
	Lang string
	// Edit replaces the message whose button was pressed, instead of
	// sending a new one.
	Edit bool
	// Data adds template data (one case's fields); Items is a list for
	// templates that range over it (the user's cases).
	Data  map[string]string
	Items []map[string]string
}

// Button is one button of a message.
type Button struct {
	Label string // content key of the label
	Data  string // payload, at most MaxButtonData bytes
}

// Outcome says, for logs and metrics, how a turn went.
type Outcome string

const (
	Moved       Outcome = "moved"       // the conversation went to a step
	Stale       Outcome = "stale"       // a button from another step or a forged payload
	Unmatched   Outcome = "unmatched"   // text we could not match to a choice
	Invalid     Outcome = "invalid"     // an answer that failed validation
	BadInput    Outcome = "bad_input"   // empty, too long, unreadable
	Commanded   Outcome = "command"     // a command ran
	Unknown     Outcome = "unknown_cmd" // a command we do not know
	Reset       Outcome = "reset"       // the flow changed under the session
	Unsupported Outcome = "unsupported" // a message we cannot read
	Failed      Outcome = "failed"      // the front end could not run the turn
	Throttled   Outcome = "throttled"   // the user sent too much too fast
)

// Result is what a turn produced.
type Result struct {
	Session Session // the next session; zero after Forget
	Outputs []Output
	Lang    string // the language to render in
	// Forget asks the front end to delete everything stored about the user.
	Forget bool
	// SetLang is a language the user chose, to keep as their preference.
	SetLang string
	// Pressed reports a button press: the message it was on can lose its
	// buttons. Chosen is the label key of the accepted choice, if any.
	Pressed bool
	Chosen  string
	// From and To are the states before and after. Choices lists the
	// choices accepted this turn (several when a command jumped ahead) and
	// Entered the states entered, in order; metrics count the funnel
	// from them.
	From, To string
	Choices  []Chosen
	Entered  []string
	Outcome  Outcome

	// SaveCase is a case to save (new or updated) in the user's notebook.
	SaveCase *Case
	// SetTZ is a time zone the user chose, to keep.
	SetTZ string
	// Remind schedules a reminder.
	Remind *Remind
	// Feedback is a "this worked / this didn't".
	Feedback *Feedback
}

// Chosen is a choice accepted in a state.
type Chosen struct {
	State, Choice string
}

// Content keys the engine itself uses. Every pack must have them.
const (
	KeyGreeting       = "greeting"
	KeyHelp           = "help"
	KeyPrivacy        = "privacy"
	KeyRestarted      = "restarted"
	KeyStale          = "note.stale"
	KeyFlowChanged    = "note.flow_changed"
	KeyEmpty          = "input.empty"
	KeyTooLong        = "input.too_long"
	KeyUnreadable     = "input.unreadable"
	KeyUnmatched      = "input.unmatched"
	KeyInvalid        = "input.invalid"
	KeyUnsupported    = "input.unsupported"
	KeyUnknownCommand = "command.unknown"
	KeyLangChoose     = "language.choose"
	KeyLangSet        = "language.set"
	KeyLangUnknown    = "language.unknown"
	KeyForgotten      = "forget.done"
	KeyGeneric        = "errors.generic"
	KeySlowDown       = "errors.slow_down"
)

// Keys of the case notebook, needed when a flow has one.
const (
	KeyCasesList   = "cases.list"   // ranges over .items
	KeyCasesNone   = "cases.none"   // no case saved yet
	KeyCaseSummary = "case.summary" // one case: its fields, .id
	KeyCaseUnknown = "case.unknown" // /case N with no such case
)

// EngineKeys lists the keys above; a pack without one of them fails lint.
var EngineKeys = []string{
	KeyGreeting, KeyHelp, KeyPrivacy, KeyRestarted, KeyStale, KeyFlowChanged, KeyEmpty,
	KeyTooLong, KeyUnreadable, KeyUnmatched, KeyInvalid, KeyUnsupported, KeyUnknownCommand,
	KeyLangChoose, KeyLangSet, KeyLangUnknown, KeyForgotten, KeyGeneric, KeySlowDown,
}

// Commands the engine understands, without their slash.
var Commands = []string{"start", "help", "reset", "language", "forget", "privacy"}

// CaseCommands are the notebook's commands, for flows that have one.
var CaseCommands = []string{"cases", "case"}

// RequiredKeys lists the keys the engine may show for this flow.
func (d *Definition) RequiredKeys() []string {
	keys := append([]string{}, EngineKeys...)
	if len(d.CaseFields) > 0 {
		keys = append(keys, KeyCasesList, KeyCasesNone, KeyCaseSummary, KeyCaseUnknown)
	}
	return keys
}

// Commands lists the commands of this flow.
func (d *Definition) Commands() []string {
	if len(d.CaseFields) > 0 {
		return append(append([]string{}, Commands...), CaseCommands...)
	}
	return Commands
}

// MaxInput is the longest message the engine reads, in characters.
const MaxInput = 1000

// DefaultMaxAnswer caps a free-text answer whose step sets no limit.
const DefaultMaxAnswer = 300

// LangLabel is the content key of the button that picks a language.
func LangLabel(lang string) string { return "buttons.lang_" + lang }

// ChoiceLabel is the content key of a choice's button label.
func ChoiceLabel(id string) string { return "buttons." + id }

// Engine runs turns of one compiled flow. It is safe for concurrent use.
type Engine struct {
	def *Definition
}

// NewEngine returns an engine for a compiled flow.
func NewEngine(def *Definition) (*Engine, error) {
	if def == nil || def.byState == nil {
		return nil, errors.New("flows: definition not compiled")
	}
	return &Engine{def: def}, nil
}

// Definition returns the engine's flow.
func (e *Engine) Definition() *Definition { return e.def }

// Handle runs one turn: a pure function of the session and the input.
func (e *Engine) Handle(s Session, in Input) Result {
	t := &turn{def: e.def, in: in, s: s}
	if len(s.Slots) > 0 {
		// Copy, so the caller's session is never changed.
		t.s.Slots = append(make([]Slot, 0, len(s.Slots)+2), s.Slots...)
	}
	t.res.From = s.State
	t.run()
	t.res.Session = t.s
	t.res.To = t.s.State
	t.res.Lang = t.lang
	if t.res.Forget {
		t.res.Session = Session{}
		t.res.To = ""
	}
	return t.res
}

// Failure is the turn a front end shows when it could not run one: a kind
// "please try again", with the session unchanged.
func (e *Engine) Failure(s Session, in Input) Result {
	lang := e.pickLang(s, in)
	return Result{Session: s, Lang: lang, From: s.State, To: s.State, Outcome: Failed,
		Outputs: []Output{{Key: KeyGeneric}}}
}

// SlowDown is the turn a front end shows once to a user who sends too much
// too fast; the session is unchanged.
func (e *Engine) SlowDown(s Session, in Input) Result {
	lang := e.pickLang(s, in)
	return Result{Session: s, Lang: lang, From: s.State, To: s.State, Outcome: Throttled,
		Outputs: []Output{{Key: KeySlowDown}}}
}

func (e *Engine) pickLang(s Session, in Input) string {
	if l := e.def.lang(in.UserLang); l != "" {
		return l
	}
	if l := e.def.lang(s.Lang); l != "" {
		return l
	}
	if l := e.def.lang(in.Lang); l != "" {
		return l
	}
	return e.def.Languages[0]
}

// lang returns the pack's language for a tag such as "lv-LV", or "".
func (d *Definition) lang(tag string) string {
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	tag = strings.ToLower(strings.TrimSpace(tag))
	for _, l := range d.Languages {
		if l == tag {
			return l
		}
	}
	return ""
}

type turn struct {
	def   *Definition
	in    Input
	s     Session
	res   Result
	lang  string
	quiet bool // entering states shows nothing (while jumping ahead)
}

func (t *turn) say(key string) { t.res.Outputs = append(t.res.Outputs, Output{Key: key}) }

func (t *turn) run() {
	d := t.def
	t.lang = (&Engine{def: d}).pickLang(t.s, t.in)
	now := t.in.Now.Unix()
	fresh := t.s.State == ""
	if fresh {
		t.s = Session{Flow: d.ID, Version: d.Version, State: d.Start, Nonce: seedNonce(t.in.Now), Created: now}
		t.res.Entered = append(t.res.Entered, d.Start)
	} else if t.s.Flow != d.ID || d.States[t.s.State] == nil {
		// The pack changed under this conversation and its step is gone:
		// start again, and say why. Text-only edits never get here.
		t.s = Session{Flow: d.ID, Version: d.Version, State: d.Start, Nonce: t.s.Nonce + 1, Created: now}
		t.s.Lang = t.lang
		t.s.Updated = now
		t.res.Outcome = Reset
		t.res.Entered = append(t.res.Entered, d.Start)
		t.say(KeyFlowChanged)
		t.show(d.Start, true)
		return
	}
	t.s.Lang = t.lang
	t.s.Updated = now
	if d.TZSlot != "" && t.in.TZ != "" && t.s.Get(d.TZSlot) != t.in.TZ {
		t.s.set(d.TZSlot, t.in.TZ)
	}
	if t.in.Kind == InReminder {
		t.reminded()
		return
	}
	if fresh {
		t.first()
		return
	}
	switch t.in.Kind {
	case InCommand:
		t.command()
	case InButton:
		t.button()
	case InText:
		t.text()
	case InResume:
		t.res.Outcome = Moved
		t.show(t.s.State, false)
	default:
		t.res.Outcome = Unsupported
		t.say(KeyUnsupported)
		t.show(t.s.State, false)
	}
}

// first handles the first input of a new conversation: a greeting, and the
// input itself when it already picks a choice.
func (t *turn) first() {
	switch t.in.Kind {
	case InCommand:
		if t.in.Command == "start" || t.in.Command == "reset" {
			if t.jump() {
				return
			}
			t.res.Outcome = Moved
			t.say(KeyGreeting)
			t.show(t.s.State, true)
			return
		}
		t.command()
		return
	case InText:
		if text, ok := Clean(t.in.Text); ok && text != "" && runeCount(text) <= MaxInput {
			if c := t.match(t.def.States[t.s.State], text); c != nil {
				t.say(KeyGreeting)
				t.apply(c)
				return
			}
		}
	case InButton:
		// Nothing pressed in a conversation that is gone (expired or
		// forgotten) can act, except choosing a language.
		t.res.Pressed = true
		if lang, ok := parseLangData(t.in.Text); ok && t.def.lang(lang) != "" {
			t.setLang(t.def.lang(lang))
			return
		}
		t.res.Outcome = Stale
		t.say(KeyStale)
		t.show(t.s.State, true)
		return
	case InOther:
		t.res.Outcome = Unsupported
		t.say(KeyUnsupported)
		t.show(t.s.State, true)
		return
	}
	t.res.Outcome = Moved
	t.say(KeyGreeting)
	t.show(t.s.State, true)
}

func (t *turn) command() {
	t.res.Outcome = Commanded
	args := strings.Fields(t.in.Text)
	switch t.in.Command {
	case "start":
		if t.jump() {
			return
		}
		if strings.TrimSpace(t.in.Text) != "" && t.s.State != t.def.Start {
			// Words that match nothing: say so, and go on where we were.
			t.unknownCommand()
			return
		}
		t.restart(KeyGreeting)
	case "reset":
		t.restart(KeyRestarted)
	case "help":
		t.say(KeyHelp)
		t.show(t.s.State, false)
	case "privacy":
		t.say(KeyPrivacy)
		t.show(t.s.State, false)
	case "language":
		if len(args) == 0 {
			out := Output{Key: KeyLangChoose}
			for _, l := range t.def.Languages {
				out.Buttons = append(out.Buttons, Button{Label: LangLabel(l), Data: langData(l)})
			}
			t.res.Outputs = append(t.res.Outputs, out)
			return
		}
		if l := t.def.lang(args[0]); l != "" {
			t.setLang(l)
			return
		}
		t.res.Outcome = Unknown
		t.say(KeyLangUnknown)
		t.show(t.s.State, false)
	case "forget":
		t.res.Forget = true
		t.say(KeyForgotten)
	case "cases":
		if len(t.def.CaseFields) == 0 {
			t.unknownCommand()
			return
		}
		t.listCases()
		t.show(t.s.State, false)
	case "case":
		if len(t.def.CaseFields) == 0 {
			t.unknownCommand()
			return
		}
		t.showCase(args)
		t.show(t.s.State, false)
	default:
		t.unknownCommand()
	}
}

func (t *turn) unknownCommand() {
	t.res.Outcome = Unknown
	t.say(KeyUnknownCommand)
	t.show(t.s.State, false)
}

func (t *turn) setLang(l string) {
	t.res.Outcome = Commanded
	t.lang = l
	t.s.Lang = l
	t.res.SetLang = l
	t.say(KeyLangSet)
	t.show(t.s.State, false)
}

// restart goes back to the start with nothing remembered, keeping the
// language, and says key first.
func (t *turn) restart(key string) {
	t.res.Outcome = Moved
	t.s.Slots = nil
	t.say(key)
	t.fire(EventRestart)
}

// jump applies a command's words to successive steps ("/start refund_phone",
// "/support refund phone"), as far as they go. At a step that asks for text,
// a word that is a valid answer fills it and anything else skips it. It
// reports false, changing nothing, when no word matched.
func (t *turn) jump() bool {
	words := strings.FieldsFunc(t.in.Text, func(r rune) bool { return r == ' ' || r == '_' || r == '\t' })
	if len(words) == 0 {
		return false
	}
	// Words that lead nowhere ("/support hlep") must not cost the user
	// their conversation: keep what was there to put it back.
	keep, keepRes, n := t.s, t.res, len(words)
	t.res.Outcome = Moved
	t.quiet = true
	t.s.Slots = nil
	if t.s.State != t.def.Start {
		t.fire(EventRestart)
	}
	for len(words) > 0 {
		st := t.def.States[t.s.State]
		if st.Kind == Ask {
			// Only a structured answer (an order number, a date) is taken
			// from the words; a free-text step would swallow the next word.
			if v, ok := st.check(words[0], t.in.Now); ok && st.structured() {
				t.s.set(st.Slot, v)
				words = words[1:]
				t.fire(EventAnswer)
				continue
			}
			skip := st.skipChoice()
			if skip == nil {
				break
			}
			t.apply(skip)
			continue
		}
		if st.Kind == Answer {
			break
		}
		c, n := t.matchPrefix(st, words)
		if c == nil {
			break
		}
		words = words[n:]
		t.apply(c)
	}
	t.quiet = false
	if len(words) == n {
		t.s, t.res = keep, keepRes
		return false
	}
	t.show(t.s.State, true)
	return true
}

// structured reports whether an Ask step takes a shaped answer.
func (st *State) structured() bool {
	return st.Validate != nil && (st.Validate.Pattern != nil || st.Validate.Date)
}

// matchPrefix finds the choice whose id or keyword matches the longest run of
// leading words, in the user's language first, then in any language of the
// pack ("/support atmaksa e-pasts" works for everyone).
func (t *turn) matchPrefix(st *State, words []string) (*Choice, int) {
	for n := min(len(words), 4); n > 0; n-- {
		p := MakePhrase(strings.Join(words[:n], " "))
		if len(p) == 0 {
			continue
		}
		var found *Choice
		for _, c := range st.Choices {
			if Normalize(c.ID) == Normalize(strings.Join(words[:n], " ")) {
				found = c
				break
			}
			for _, kw := range t.keywords(c) {
				if kw.Equal(p) {
					found = c
				}
			}
		}
		if found == nil {
			for _, l := range t.def.Languages {
				for _, c := range st.Choices {
					for _, kw := range c.Keywords[l] {
						if found == nil && kw.Equal(p) {
							found = c
						}
					}
				}
			}
		}
		if found != nil {
			return found, n
		}
	}
	return nil, 0
}

func (t *turn) keywords(c *Choice) []Phrase { return c.Keywords[t.lang] }

func (t *turn) button() {
	t.res.Pressed = true
	if lang, ok := parseLangData(t.in.Text); ok {
		if t.def.lang(lang) != "" {
			t.setLang(t.def.lang(lang))
			return
		}
	}
	nonce, id, ok := parseData(t.in.Text)
	c := t.def.States[t.s.State].choice(id)
	if !ok || nonce != t.s.Nonce || c == nil {
		t.res.Outcome = Stale
		t.say(KeyStale)
		t.show(t.s.State, false)
		return
	}
	t.apply(c)
}

func (t *turn) text() {
	text, ok := Clean(t.in.Text)
	st := t.def.States[t.s.State]
	switch {
	case !ok:
		t.bad(KeyUnreadable)
		return
	case text == "":
		t.bad(KeyEmpty)
		return
	case runeCount(text) > MaxInput:
		t.bad(KeyTooLong)
		return
	}
	p := MakePhrase(text)
	for _, kw := range t.def.Intents[t.lang]["restart"] {
		if kw.Equal(p) {
			t.restart(KeyRestarted)
			return
		}
	}
	for _, kw := range t.def.Intents[t.lang]["help"] {
		if kw.Equal(p) {
			t.res.Outcome = Commanded
			t.say(KeyHelp)
			t.show(t.s.State, false)
			return
		}
	}
	if c := t.match(st, text); c != nil {
		t.apply(c)
		return
	}
	if st.Kind != Ask {
		t.res.Outcome = Unmatched
		t.say(KeyUnmatched)
		t.show(t.s.State, false)
		return
	}
	v, ok := st.check(text, t.in.Now)
	if !ok {
		t.res.Outcome = Invalid
		key := st.Invalid
		if key == "" {
			key = KeyInvalid
		}
		t.say(key)
		t.show(t.s.State, false)
		return
	}
	t.res.Outcome = Moved
	t.s.set(st.Slot, v)
	if st.Known != "" {
		if c := t.findCase(st.Slot, v); c != nil {
			t.loadCase(c, false)
			t.fire(EventKnown)
			return
		}
	}
	t.fire(EventAnswer)
}

func (t *turn) bad(key string) {
	t.res.Outcome = BadInput
	t.say(key)
	t.show(t.s.State, false)
}

// match finds the choice typed text picks: a bare number 1..n, or a keyword.
// At an Ask step only a whole-message keyword counts, so an answer that
// happens to contain "skip" is still an answer.
func (t *turn) match(st *State, text string) *Choice {
	if n, ok := ordinal(text); ok {
		if n >= 1 && n <= len(st.Choices) {
			return st.Choices[n-1]
		}
		if st.Kind != Ask {
			return nil
		}
	}
	p := MakePhrase(text)
	if len(p) == 0 {
		return nil
	}
	// An exact keyword wins; otherwise the choice with the longest keyword
	// found in the text, if no other choice has one as long.
	var found *Choice
	best, many := 0, false
	for _, c := range st.Choices {
		for _, kw := range t.keywords(c) {
			if kw.Equal(p) {
				return c
			}
			if st.Kind == Ask || !kw.In(p) {
				continue
			}
			switch {
			case len(kw) > best:
				found, best, many = c, len(kw), false
			case len(kw) == best && found != c:
				many = true
			}
		}
	}
	if many {
		return nil
	}
	return found
}

func (t *turn) apply(c *Choice) {
	t.res.Outcome = Moved
	t.res.Chosen = ChoiceLabel(c.ID)
	t.res.Choices = append(t.res.Choices, Chosen{t.s.State, c.ID})
	if c.Feedback != "" {
		st := t.def.States[t.s.State]
		key := st.Text
		if len(st.Texts) > 0 {
			key = st.Texts[0]
		}
		t.res.Feedback = &Feedback{Key: t.expand(key), Verdict: c.Feedback}
	}
	if c.Reset {
		// Start over forgets the conversation, not the user's time zone.
		tz := t.s.Get(t.def.TZSlot)
		t.s.Slots = nil
		if tz != "" {
			t.s.set(t.def.TZSlot, tz)
		}
	}
	for k, v := range c.Set {
		t.s.set(k, v)
		if k == t.def.TZSlot {
			t.res.SetTZ = v
		}
	}
	event := c.ID
	for i, r := range c.Routes {
		if t.s.Get(r.Slot) == r.Value {
			event = routeEvent(c.ID, i)
			break
		}
	}
	t.fire(event)
}

// fire runs one FSM event, on an FSM rebuilt from the session's state with
// only the events that leave it.
func (t *turn) fire(event string) {
	f := fsm.NewFSM(t.s.State, t.def.byState[t.s.State], t.def.callbacks)
	err := f.Event(context.Background(), event, t)
	var same fsm.NoTransitionError
	if errors.As(err, &same) {
		// A step that leads to itself: enter callbacks do not run for it.
		t.entered(t.s.State)
		return
	}
	if err != nil {
		// Compile guarantees every event here; reaching this is a bug.
		panic(fmt.Sprintf("flows: event %q in state %q: %v", event, t.s.State, err))
	}
}

// entered records that the conversation moved to a state.
func (t *turn) entered(state string) {
	t.res.Entered = append(t.res.Entered, state)
	t.s.State = state
	t.s.Version = t.def.Version
	t.s.Nonce++
	st := t.def.States[state]
	for k, v := range st.Set {
		t.s.set(k, v)
	}
	if st.SaveCase {
		t.saveCase(false)
	}
	if st.CloseCase {
		t.saveCase(true)
	}
	if st.Schedule != "" {
		t.schedule(st.Schedule)
	}
	if !t.quiet {
		t.show(state, true)
	}
}

// show adds a state's messages: its question with buttons, or for an Answer
// its texts (when full) and then its prompt with the follow-up buttons.
func (t *turn) show(state string, full bool) {
	st := t.def.States[state]
	if st.Kind == Answer && full {
		lang := ""
		if st.LangSlot != "" {
			lang = t.def.lang(t.s.Get(st.LangSlot))
		}
		for _, k := range st.Texts {
			t.res.Outputs = append(t.res.Outputs, Output{Key: t.expand(k), Lang: lang})
		}
	}
	out := Output{Key: t.expand(st.Text), Buttons: make([]Button, 0, len(st.Choices))}
	out.Edit = st.Edit && t.in.Kind == InButton && len(st.Texts) == 0
	for _, c := range st.Choices {
		out.Buttons = append(out.Buttons, Button{Label: ChoiceLabel(c.ID), Data: encodeData(t.s.Nonce, c.ID)})
	}
	t.res.Outputs = append(t.res.Outputs, out)
}

func (t *turn) expand(key string) string {
	return ExpandKey(key, t.s.Get)
}

func (st *State) choice(id string) *Choice {
	for _, c := range st.Choices {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// skipChoice is the choice that leaves an Ask step without an answer.
func (st *State) skipChoice() *Choice {
	for _, c := range st.Choices {
		if c.Next == st.Next {
			return c
		}
	}
	if len(st.Choices) > 0 {
		return st.Choices[0]
	}
	return nil
}

// check validates a free-text answer for an Ask step.
func (st *State) check(text string, now time.Time) (string, bool) {
	if !hasWord(text) {
		return "", false
	}
	if st.Validate == nil {
		return text, runeCount(text) <= DefaultMaxAnswer
	}
	return st.Validate.Check(text, now)
}

// Button data is "<nonce base 36>.<choice id>", or "L.<lang>" for a language
// button, which is safe to press at any time.

const maxNonce = ^uint32(0)

func encodeData(nonce uint32, id string) string {
	var buf [48]byte
	b := strconv.AppendUint(buf[:0], uint64(nonce), 36)
	b = append(b, '.')
	b = append(b, id...)
	return string(b)
}

func parseData(s string) (uint32, string, bool) {
	i := strings.IndexByte(s, '.')
	if i <= 0 || i > 7 || len(s) > MaxButtonData || !validID(s[i+1:]) {
		return 0, "", false
	}
	n, err := strconv.ParseUint(s[:i], 36, 32)
	if err != nil {
		return 0, "", false
	}
	return uint32(n), s[i+1:], true
}

func langData(l string) string { return "L." + l }

func parseLangData(s string) (string, bool) {
	if !strings.HasPrefix(s, "L.") || len(s) > 10 {
		return "", false
	}
	return s[2:], true
}

// seedNonce starts a new session's nonce from the clock, so buttons left
// over from a forgotten conversation do not match a new one.
func seedNonce(now time.Time) uint32 {
	x := uint64(now.UnixNano())
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return uint32(x)
}
