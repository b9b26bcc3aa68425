// Package content loads and checks content packs: one folder per company
// with the flow (flow.yaml) and one folder of texts per language. Every
// sentence the bot sends lives in a pack.
package content

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

//go:embed amazon
var shipped embed.FS

// ShippedPack is the folder of the pack built into the binary.
const ShippedPack = "amazon"

// Shipped loads the pack built into the binary.
func Shipped() (*Pack, error) { return Load(shipped, ShippedPack) }

// ShippedFS is the embedded file system, for lint and graph.
func ShippedFS() fs.FS { return shipped }

// Limits every text must respect: one Slack section, one Telegram message.
const (
	MaxText  = 3000
	MaxLabel = 40
)

// KeyMovedToDM is the note Slack's /support shows in a channel before the
// conversation goes on in a direct message.
const KeyMovedToDM = "note.moved_to_dm"

// FrontEndKeys are keys the front ends use besides the engine's.
var FrontEndKeys = []string{KeyMovedToDM}

// CommandKey is the content key of a command's description (Telegram's
// command menu).
func CommandKey(name string) string { return "commands." + name }

// SourcesKey is the key listing the pages a sourced text's facts come from.
func SourcesKey(key string) string { return "sources." + key }

// Pack is a loaded, checked content pack.
type Pack struct {
	ID     string
	Name   string
	Def    *flows.Definition
	Engine *flows.Engine
	texts  map[string]map[string]*entry // lang → key → text
	// keepDays is how many days of inactivity the store keeps a
	// conversation (SESSION_TTL), for texts that promise it: {{.keep_days}}.
	keepDays string
	// userSlots are the slots filled with the user's own text; choice
	// slots hold our ids and are compared in templates, so stay bare.
	userSlots map[string]bool
}

type entry struct {
	src   string
	list  []string // keywords and intents
	tmpl  *template.Template
	file  string
	line  int  // the key's line
	block bool // a block scalar: the text starts on the next line
	bad   bool // its template does not parse
}

// textLine is the file line of the text's nth line (1-based).
func (e *entry) textLine(n int) int {
	if e.block {
		return e.line + n
	}
	return e.line
}

// Data is what templates see: every slot of the flow, user text marked so
// renderers show it as it is; "items" for lists.
type Data map[string]any

// Data builds template data from a session.
func (p *Pack) Data(s *flows.Session) Data {
	d := make(Data, len(p.Def.Slots)+1)
	d[KeepDays] = p.retention()
	for _, sd := range p.Def.Slots {
		v := s.Get(sd.Name)
		if p.userSlots[sd.Name] {
			v = markup.Literal(v)
		}
		d[sd.Name] = v
	}
	return d
}

// With returns data with an output's extra fields and list added (a saved
// case, the list of cases), user text marked.
func (p *Pack) With(d Data, fields map[string]string, items []map[string]string) Data {
	if fields == nil && items == nil {
		return d
	}
	out := make(Data, len(d)+len(fields)+1)
	for k, v := range d {
		out[k] = v
	}
	for k, v := range fields {
		out[k] = p.mark(k, v)
	}
	if items != nil {
		list := make([]map[string]string, len(items))
		for i, it := range items {
			m := make(map[string]string, len(it))
			for k, v := range it {
				m[k] = p.mark(k, v)
			}
			list[i] = m
		}
		out["items"] = list
	}
	return out
}

func (p *Pack) mark(slot, v string) string {
	if p.userSlots[slot] {
		return markup.Literal(v)
	}
	return v
}

// ErrNoText is returned for a key the pack does not have.
var ErrNoText = errors.New("content: no such text")

// Render renders a text in a language. A key the pack lacks is an error,
// never an empty string.
func (p *Pack) Render(lang, key string, data Data) (string, error) {
	e := p.texts[lang][key]
	if e == nil {
		return "", fmt.Errorf("%w: %s/%s", ErrNoText, lang, key)
	}
	if e.tmpl == nil {
		return e.src, nil
	}
	var b strings.Builder
	b.Grow(len(e.src) + 64)
	if err := e.tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("content: render %s/%s: %w", lang, key, err)
	}
	return b.String(), nil
}

// Text returns a text that has no template actions (labels, notes).
func (p *Pack) Text(lang, key string) (string, error) {
	return p.Render(lang, key, nil)
}

// Has reports whether a language has a key.
func (p *Pack) Has(lang, key string) bool { return p.texts[lang][key] != nil }

// Languages lists the pack's languages, the default first.
func (p *Pack) Languages() []string { return p.Def.Languages }

// Load reads, compiles and checks the pack in dir. Any problem is an error:
// a flows.Problems listing every finding as file:line: message.
func Load(fsys fs.FS, dir string) (*Pack, error) {
	pk, ps := load(fsys, dir)
	if len(ps) > 0 {
		return nil, ps
	}
	return pk, nil
}

// Lint checks the pack in dir and returns every problem found.
func Lint(fsys fs.FS, dir string) flows.Problems {
	_, ps := load(fsys, dir)
	return ps
}

func load(fsys fs.FS, dir string) (*Pack, flows.Problems) {
	p := &problems{}
	flowFile := path.Join(dir, "flow.yaml")
	data, err := fs.ReadFile(fsys, flowFile)
	if err != nil {
		p.add(flowFile, 1, "cannot read the flow: %v", unwrapPath(err))
		return nil, p.list
	}
	def, name := parseFlow(p, flowFile, data)
	if def == nil {
		return nil, p.list
	}
	pk := &Pack{ID: def.ID, Name: name, Def: def, texts: map[string]map[string]*entry{}}
	for _, lang := range def.Languages {
		pk.texts[lang] = readTexts(p, fsys, path.Join(dir, lang))
	}
	if len(p.list) > 0 {
		p.list.Sort()
		return nil, p.list
	}
	for _, pr := range def.Compile() {
		p.list = append(p.list, pr)
	}
	if len(p.list) > 0 {
		p.list.Sort()
		return nil, p.list
	}
	pk.userSlots = map[string]bool{}
	values := def.SlotValues()
	for _, sd := range def.Slots {
		if len(values[sd.Name]) == 0 {
			pk.userSlots[sd.Name] = true
		}
	}
	pk.attachKeywords(p)
	pk.compileTemplates(p)
	pk.lint(p)
	p.list.Sort()
	if len(p.list) > 0 {
		return nil, p.list
	}
	eng, err := flows.NewEngine(def)
	if err != nil {
		p.add(flowFile, 1, "%v", err)
		return nil, p.list
	}
	pk.Engine = eng
	return pk, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readTexts reads every .yaml file of a language folder into flat keys.
func readTexts(p *problems, fsys fs.FS, dir string) map[string]*entry {
	out := map[string]*entry{}
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		p.add(dir, 1, "no text files (*.yaml) for this language")
		return out
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			p.add(f, 1, "cannot read: %v", unwrapPath(err))
			continue
		}
		root := parseYAML(p, f, data)
		if root == nil {
			continue
		}
		flatten(p, f, "", root, out)
	}
	return out
}

// flatten turns nested mappings into dotted keys. Lists are only allowed
// under keywords and intents.
func flatten(p *problems, file, prefix string, n *yaml.Node, out map[string]*entry) {
	switch n.Kind {
	case yaml.MappingNode:
		for _, kv := range pairs(n) {
			key := kv[0].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			flatten(p, file, key, kv[1], out)
		}
		return
	}
	if prev := out[prefix]; prev != nil {
		p.add(file, n.Line, "key %q is already defined at %s:%d", prefix, prev.file, prev.line)
		return
	}
	e := &entry{file: file, line: n.Line}
	isList := strings.HasPrefix(prefix, "keywords.") || strings.HasPrefix(prefix, "intents.") || strings.HasPrefix(prefix, "sources.")
	switch {
	case isList:
		e.list = strings_(p, file, n, prefix)
	case n.Kind == yaml.ScalarNode:
		e.src = strings.TrimRight(n.Value, "\n")
		e.block = n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	default:
		p.add(file, n.Line, "key %q must be text", prefix)
		return
	}
	out[prefix] = e
}

// attachKeywords gives every choice its phrases per language (its label and
// its keywords) and the flow its intents.
func (pk *Pack) attachKeywords(p *problems) {
	d := pk.Def
	d.Intents = map[string]map[string][]flows.Phrase{}
	for _, lang := range d.Languages {
		d.Intents[lang] = map[string][]flows.Phrase{}
		for key, e := range pk.texts[lang] {
			if name, ok := strings.CutPrefix(key, "intents."); ok {
				for _, s := range e.list {
					d.Intents[lang][name] = append(d.Intents[lang][name], flows.MakePhrase(s))
				}
			}
		}
	}
	for _, n := range d.Order {
		for _, c := range d.States[n].Choices {
			c.Keywords = map[string][]flows.Phrase{}
			for _, lang := range d.Languages {
				var ps []flows.Phrase
				if e := pk.texts[lang][flows.ChoiceLabel(c.ID)]; e != nil {
					ps = append(ps, flows.MakePhrase(e.src))
				}
				if e := pk.texts[lang]["keywords."+c.ID]; e != nil {
					for _, s := range e.list {
						if ph := flows.MakePhrase(s); len(ph) > 0 {
							ps = append(ps, ph)
						}
					}
				}
				c.Keywords[lang] = ps
			}
		}
	}
}

func (pk *Pack) compileTemplates(p *problems) {
	for _, lang := range pk.Def.Languages {
		for key, e := range pk.texts[lang] {
			if e.list != nil || !strings.Contains(e.src, "{{") {
				continue
			}
			t, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs(lang)).Parse(e.src)
			if err != nil {
				e.bad = true
				p.add(e.file, e.line, "text %q: template: %v", key, cleanTemplateErr(err))
				continue
			}
			e.tmpl = t
			for _, f := range templateFields(t.Tree.Root) {
				if !pk.hasSlot(f.name) {
					e.bad = true
					p.add(e.file, e.textLine(f.line), "text %q: {{.%s}} is not a slot of the flow (slots: %s)", key, f.name, pk.slotNames())
				}
			}
		}
	}
}

// KeepDays is the template field with how many days of inactivity a
// conversation is kept: what /privacy promises must follow SESSION_TTL.
const KeepDays = "keep_days"

// SetRetention tells the pack how long the store keeps an idle
// conversation, in whole days (rounded up); the default is 30, the
// store's. Call it before the pack is used.
func (pk *Pack) SetRetention(d time.Duration) {
	days := max(1, int((d+24*time.Hour-1)/(24*time.Hour)))
	pk.keepDays = strconv.Itoa(days)
}

func (pk *Pack) retention() string {
	if pk.keepDays == "" {
		return "30"
	}
	return pk.keepDays
}

// hasSlot reports whether templates may read a field: a slot, keep_days,
// or the fields of case summaries and lists (id, closed, items).
func (pk *Pack) hasSlot(name string) bool {
	if name == KeepDays {
		return true
	}
	if name == "id" || name == "closed" || name == "items" {
		return len(pk.Def.CaseFields) > 0
	}
	for _, s := range pk.Def.Slots {
		if s.Name == name {
			return true
		}
	}
	return false
}

func (pk *Pack) slotNames() string {
	var names []string
	for _, s := range pk.Def.Slots {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

type field struct {
	name string
	line int // line within the text, 1-based
}

// templateFields lists the {{.name}} fields a template reads.
func templateFields(n parse.Node) []field {
	var out []field
	var walk func(parse.Node, int)
	walk = func(n parse.Node, line int) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c, line)
			}
		case *parse.ActionNode:
			walk(n.Pipe, n.Line)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c, line)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a, line)
			}
		case *parse.FieldNode:
			out = append(out, field{n.Ident[0], line})
		case *parse.IfNode:
			walk(n.Pipe, n.Line)
			walk(n.List, n.Line)
			walk(n.ElseList, n.Line)
		case *parse.WithNode:
			walk(n.Pipe, n.Line)
			walk(n.List, n.Line)
			walk(n.ElseList, n.Line)
		case *parse.RangeNode:
			walk(n.Pipe, n.Line)
			walk(n.List, n.Line)
			walk(n.ElseList, n.Line)
		}
	}
	walk(n, 1)
	return out
}

func cleanTemplateErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "template: ") && i >= 0 {
		s = s[i+2:]
		if j := strings.Index(s, ": "); j >= 0 {
			s = s[j+2:]
		}
	}
	return s
}

// templateFuncs are the functions texts may call, for their language:
// {{plural .keep_days "day" "days"}} is "30 days", "1 day". Latvian uses
// the singular for numbers ending in 1 but not 11 ("21 dienu").
func templateFuncs(lang string) template.FuncMap {
	one := func(n int) bool { return n == 1 }
	if lang == "lv" {
		one = func(n int) bool { return n%10 == 1 && n%100 != 11 }
	}
	return template.FuncMap{
		"plural": func(n, singular, plural string) string {
			v, err := strconv.Atoi(n)
			if err == nil && one(v) {
				return n + " " + singular
			}
			return n + " " + plural
		},
	}
}
