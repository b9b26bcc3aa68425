package content

import (
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

// ref is a key the flow or the code uses, and where.
type ref struct {
	file string
	line int
	// slots fixed by the key's expansion ("answer.refund.phone" fixes
	// problem=refund, channel=phone), so sample data agrees with it.
	fixed map[string]string
}

// usedKeys lists every key the pack must have, with where it is used.
func (pk *Pack) usedKeys() map[string]ref {
	d := pk.Def
	used := map[string]ref{}
	top := ref{file: d.File, line: d.Line}
	for _, k := range d.RequiredKeys() {
		used[k] = top
	}
	for _, c := range d.Commands() {
		used[CommandKey(c)] = top
	}
	for _, k := range FrontEndKeys {
		used[k] = top
	}
	for _, l := range d.Languages {
		used[flows.LangLabel(l)] = top
	}
	values := d.SlotValues()
	for _, n := range d.Order {
		st := d.States[n]
		for _, k := range append([]string{st.Text}, st.Texts...) {
			for _, fixed := range combos(flows.KeySlots(k), values) {
				key := flows.ExpandKey(k, func(s string) string { return fixed[s] })
				if _, ok := used[key]; !ok {
					used[key] = ref{file: d.File, line: st.Line, fixed: fixed}
				}
			}
		}
		if st.Invalid != "" {
			used[st.Invalid] = ref{file: d.File, line: st.Line}
		}
		for _, c := range st.Choices {
			used[flows.ChoiceLabel(c.ID)] = ref{file: d.File, line: c.Line}
		}
	}
	return used
}

// combos lists every assignment of values to the named slots.
func combos(slots []string, values map[string][]string) []map[string]string {
	out := []map[string]string{{}}
	for _, s := range slots {
		var next []map[string]string
		for _, m := range out {
			for _, v := range values[s] {
				c := map[string]string{}
				for k, x := range m {
					c[k] = x
				}
				c[s] = v
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

func (pk *Pack) lint(p *problems) {
	d := pk.Def
	used := pk.usedKeys()
	langs := d.Languages

	// Keys missing in a language, and keys nothing uses.
	names := sortedKeys(used)
	for _, key := range names {
		r := used[key]
		var have *entry
		for _, l := range langs {
			if e := pk.texts[l][key]; e != nil {
				have = e
				break
			}
		}
		for _, l := range langs {
			if pk.texts[l][key] != nil {
				continue
			}
			if have != nil {
				p.add(have.file, have.line, "text %q is missing in %q", key, l)
			} else {
				p.add(r.file, r.line, "text %q is missing in %q", key, l)
			}
		}
	}
	for _, l := range langs {
		for _, key := range sortedKeys(pk.texts[l]) {
			e := pk.texts[l][key]
			if e.list != nil {
				if name, ok := strings.CutPrefix(key, "sources."); ok {
					if _, ok := used[name]; !ok {
						p.add(e.file, e.line, "sources for unknown text %q", name)
					}
					// Each entry is a page, or "none: why" where no official
					// page says it: the text must then say so too.
					for _, u := range e.list {
						if why, ok := strings.CutPrefix(u, "none:"); ok && strings.TrimSpace(why) != "" {
							continue
						}
						if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || strings.ContainsAny(u, " \t") {
							p.add(e.file, e.line, "source %q of %q is neither a web address nor \"none: <why>\"", u, name)
						}
					}
				} else if name, ok := strings.CutPrefix(key, "keywords."); ok {
					if _, ok := used[flows.ChoiceLabel(name)]; !ok {
						p.add(e.file, e.line, "keywords for unknown choice %q", name)
					}
				} else if name, _ := strings.CutPrefix(key, "intents."); name != "restart" && name != "help" {
					p.add(e.file, e.line, "unknown intent %q (want restart or help)", name)
				}
				continue
			}
			if _, ok := used[key]; !ok {
				p.add(e.file, e.line, "text %q is not used", key)
			}
		}
	}

	// Texts that state facts list the pages they come from, in every
	// language.
	for _, n := range d.Order {
		st := d.States[n]
		if !st.Sourced {
			continue
		}
		for _, k := range st.Texts {
			for _, fixed := range combos(flows.KeySlots(k), d.SlotValues()) {
				key := flows.ExpandKey(k, func(s string) string { return fixed[s] })
				for _, l := range langs {
					if e := pk.texts[l][SourcesKey(key)]; e == nil || len(e.list) == 0 {
						at := pk.texts[l][key]
						if at == nil {
							p.add(d.File, st.Line, "text %q states facts but has no sources in %q", key, l)
							continue
						}
						p.add(at.file, at.line, "text %q states facts but has no sources (%s) in %q", key, SourcesKey(key), l)
					}
				}
			}
		}
	}
	// A state shown in a language held by a slot: every value is a language.
	for _, n := range d.Order {
		st := d.States[n]
		if st.LangSlot == "" {
			continue
		}
		for _, v := range d.SlotValues()[st.LangSlot] {
			if !pk.hasLang(v) {
				p.add(d.File, st.Line, "state %q: slot %q can hold %q, which is not a language of the pack", n, st.LangSlot, v)
			}
		}
	}

	// Every text renders with sample data, with and without the optional
	// answers, and fits the platforms' limits.
	for _, l := range langs {
		for _, key := range sortedKeys(pk.texts[l]) {
			e := pk.texts[l][key]
			if e.list != nil {
				continue
			}
			r, isUsed := used[key]
			if !isUsed || e.bad {
				continue
			}
			if strings.HasPrefix(key, "buttons.") {
				if n := utf8.RuneCountInString(e.src); n > MaxLabel {
					p.add(e.file, e.line, "button label %q is %d characters, over %d", key, n, MaxLabel)
				}
				if strings.TrimSpace(e.src) == "" {
					p.add(e.file, e.line, "button label %q is empty", key)
				}
				continue
			}
			for _, data := range pk.samples(r.fixed) {
				out, err := pk.Render(l, key, data)
				if err != nil {
					p.add(e.file, e.line, "text %q does not render: %v", key, cleanTemplateErr(err))
					break
				}
				if line, msg := checkRendered(out); msg != "" {
					p.add(e.file, e.textLine(line), "text %q %s", key, msg)
					break
				}
			}
		}
	}

	// A synonym may belong to only one button of a question.
	for _, n := range d.Order {
		st := d.States[n]
		for _, l := range langs {
			owner := map[string]string{}
			for _, c := range st.Choices {
				for _, ph := range c.Keywords[l] {
					k := ph.String()
					if o, ok := owner[k]; ok && o != c.ID {
						at := pk.texts[l]["keywords."+c.ID]
						if at == nil {
							at = pk.texts[l][flows.ChoiceLabel(c.ID)]
						}
						p.add(at.file, at.line, "in state %q, %q is claimed by both %q and %q", n, k, o, c.ID)
						continue
					}
					owner[k] = c.ID
				}
			}
		}
	}
}

// checkRendered finds what must never reach a user, and on which line of
// the text (1-based).
func checkRendered(out string) (int, string) {
	switch {
	case strings.TrimSpace(markup.Strip(out)) == "":
		return 1, "renders empty"
	case strings.Contains(out, "<no value>"):
		return 1, "renders <no value>"
	case strings.Contains(out, "{{") || strings.Contains(out, "}}"):
		return 1, "renders template braces"
	}
	var ce *markup.CheckError
	if err := markup.Check(out); errors.As(err, &ce) {
		return ce.Line, ce.Msg
	}
	if n := utf8.RuneCountInString(markup.Render(markup.Plain{}, out)); n > MaxText {
		return 1, "is " + itoa(n) + " characters, over " + itoa(MaxText)
	}
	return 0, ""
}

// samples returns template data: every optional answer given, the longest
// answers a step accepts, and none.
func (pk *Pack) samples(fixed map[string]string) []Data {
	values := pk.Def.SlotValues()
	full, long, empty := Data{KeepDays: "30"}, Data{KeepDays: "30"}, Data{KeepDays: "1"}
	for _, sd := range pk.Def.Slots {
		v := sd.Sample
		if vs := values[sd.Name]; len(vs) > 0 {
			v = vs[0]
		}
		if f, ok := fixed[sd.Name]; ok {
			v = f
		}
		if v == "" {
			v = "sample answer"
		}
		if len(values[sd.Name]) > 0 {
			// Choice slots hold our own ids and are set wherever they are used.
			full[sd.Name], long[sd.Name], empty[sd.Name] = v, v, v
			continue
		}
		full[sd.Name], empty[sd.Name] = markup.Literal(v), ""
		long[sd.Name] = markup.Literal(v)
		if n := pk.maxAnswer(sd.Name); n > 0 {
			long[sd.Name] = markup.Literal(strings.Repeat("wxyz ", n/5+1)[:n])
		}
	}
	// Lists and case summaries: a case number and a list of two cases.
	for _, d := range []Data{full, long, empty} {
		item := map[string]string{"id": "3", "closed": ""}
		for _, f := range pk.Def.CaseFields {
			if v, ok := d[f].(string); ok {
				item[f] = v
			}
		}
		closed := map[string]string{}
		for k, v := range item {
			closed[k] = v
		}
		closed["id"], closed["closed"] = "4", "yes"
		d["id"], d["closed"] = "3", ""
		d["items"] = []map[string]string{item, closed}
	}
	return []Data{full, long, empty}
}

func (pk *Pack) hasLang(l string) bool {
	for _, x := range pk.Def.Languages {
		if x == l {
			return true
		}
	}
	return false
}

// maxAnswer is the longest free-text answer a slot can hold, or 0 when a
// pattern with a format bounds it (an order number).
func (pk *Pack) maxAnswer(slot string) int {
	n := 0
	for _, name := range pk.Def.Order {
		st := pk.Def.States[name]
		if st.Kind != flows.Ask || st.Slot != slot {
			continue
		}
		switch v := st.Validate; {
		case v == nil:
			n = max(n, flows.DefaultMaxAnswer)
		case v.MaxLen > 0:
			n = max(n, v.MaxLen)
		case v.Format == "" && !v.Date:
			n = max(n, flows.MaxInput)
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
