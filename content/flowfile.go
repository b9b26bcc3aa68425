package content

import (
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/supportbot/supportbot/flows"
)

// parseFlow reads a pack's flow.yaml into a flows.Definition, keeping lines.
func parseFlow(p *problems, file string, data []byte) (*flows.Definition, string) {
	root := parseYAML(p, file, data)
	if root == nil {
		return nil, ""
	}
	if root.Kind != yaml.MappingNode {
		p.add(file, root.Line, "flow.yaml must be a mapping")
		return nil, ""
	}
	d := &flows.Definition{File: file, Line: root.Line, States: map[string]*flows.State{}}
	name := ""
	validators := map[string]*flows.Validator{}
	var statesNode *yaml.Node
	for _, kv := range pairs(root) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "id":
			d.ID = scalar(p, file, v, "id")
		case "name":
			name = scalar(p, file, v, "name")
		case "version":
			n, err := strconv.Atoi(scalar(p, file, v, "version"))
			if err != nil || n < 1 {
				p.add(file, v.Line, "version must be a whole number from 1")
			}
			d.Version = n
		case "languages":
			d.Languages = strings_(p, file, v, "languages")
		case "slots":
			// A list of names, or a mapping of names to {sample: ...}.
			if v.Kind == yaml.SequenceNode {
				for _, s := range v.Content {
					d.Slots = append(d.Slots, flows.SlotDef{Name: scalar(p, file, s, "a slot"), Line: s.Line})
				}
				break
			}
			for _, s := range pairs(v) {
				sd := flows.SlotDef{Name: s[0].Value, Line: s[0].Line}
				for _, f := range pairs(s[1]) {
					if f[0].Value != "sample" {
						p.add(file, f[0].Line, "slot %q: unknown field %q", sd.Name, f[0].Value)
						continue
					}
					sd.Sample = scalar(p, file, f[1], "sample")
				}
				d.Slots = append(d.Slots, sd)
			}
		case "start":
			d.Start = scalar(p, file, v, "start")
		case "validators":
			for _, vv := range pairs(v) {
				validators[vv[0].Value] = parseValidator(p, file, vv[0].Value, vv[1])
			}
		case "states":
			statesNode = v
		case "reminder":
			d.Reminder = scalar(p, file, v, "reminder")
		case "timezone_slot":
			d.TZSlot = scalar(p, file, v, "timezone_slot")
		case "case":
			for _, kv := range pairs(v) {
				switch kv[0].Value {
				case "fields":
					d.CaseFields = strings_(p, file, kv[1], "case fields")
				case "slot":
					d.CaseSlot = scalar(p, file, kv[1], "case slot")
				case "due":
					d.DueSlot = scalar(p, file, kv[1], "case due slot")
				default:
					p.add(file, kv[0].Line, "case: unknown field %q", kv[0].Value)
				}
			}
		default:
			p.add(file, k.Line, "unknown field %q", k.Value)
		}
	}
	if d.ID == "" {
		p.add(file, root.Line, "the pack has no id")
	}
	if statesNode == nil {
		p.add(file, root.Line, "the flow has no states")
		return d, name
	}
	for _, kv := range pairs(statesNode) {
		st := parseState(p, file, kv[0].Value, kv[1], validators)
		if d.States[st.Name] != nil {
			p.add(file, kv[0].Line, "state %q is defined twice", st.Name)
			continue
		}
		d.States[st.Name] = st
		d.Order = append(d.Order, st.Name)
	}
	return d, name
}

func parseValidator(p *problems, file, name string, n *yaml.Node) *flows.Validator {
	v := &flows.Validator{Name: name, Line: n.Line}
	for _, kv := range pairs(n) {
		k, val := kv[0], kv[1]
		switch k.Value {
		case "pattern":
			re, err := regexp.Compile(scalar(p, file, val, "pattern"))
			if err != nil {
				p.add(file, val.Line, "validator %q: bad pattern: %v", name, err)
				continue
			}
			v.Pattern = re
		case "format":
			v.Format = scalar(p, file, val, "format")
		case "date":
			v.Date = scalar(p, file, val, "date") == "true"
		case "max_len":
			n, err := strconv.Atoi(scalar(p, file, val, "max_len"))
			if err != nil || n < 1 {
				p.add(file, val.Line, "validator %q: max_len must be a positive number", name)
			}
			v.MaxLen = n
		default:
			p.add(file, k.Line, "validator %q: unknown field %q", name, k.Value)
		}
	}
	return v
}

func parseState(p *problems, file, name string, n *yaml.Node, validators map[string]*flows.Validator) *flows.State {
	st := &flows.State{Name: name, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(file, n.Line, "state %q must be a mapping", name)
		return st
	}
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "kind":
			st.Kind = flows.Kind(scalar(p, file, v, "kind"))
		case "text":
			st.Text = scalar(p, file, v, "text")
		case "texts":
			st.Texts = strings_(p, file, v, "texts")
		case "slot":
			st.Slot = scalar(p, file, v, "slot")
		case "validate":
			vn := scalar(p, file, v, "validate")
			if st.Validate = validators[vn]; st.Validate == nil {
				p.add(file, v.Line, "state %q: unknown validator %q", name, vn)
			}
		case "invalid":
			st.Invalid = scalar(p, file, v, "invalid")
		case "next":
			st.Next = scalar(p, file, v, "next")
		case "known":
			st.Known = scalar(p, file, v, "known")
		case "edit":
			st.Edit = scalar(p, file, v, "edit") == "true"
		case "lang":
			st.LangSlot = scalar(p, file, v, "lang")
		case "save_case":
			st.SaveCase = scalar(p, file, v, "save_case") == "true"
		case "close_case":
			st.CloseCase = scalar(p, file, v, "close_case") == "true"
		case "schedule":
			st.Schedule = scalar(p, file, v, "schedule")
		case "sourced":
			st.Sourced = scalar(p, file, v, "sourced") == "true"
		case "set":
			st.Set = slotValues(p, file, v)
		case "choices":
			for _, cn := range resolve(v).Content {
				st.Choices = append(st.Choices, parseChoice(p, file, name, resolve(cn)))
			}
		default:
			p.add(file, k.Line, "state %q: unknown field %q", name, k.Value)
		}
	}
	return st
}

func parseChoice(p *problems, file, state string, n *yaml.Node) *flows.Choice {
	c := &flows.Choice{Line: n.Line}
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "id":
			c.ID = scalar(p, file, v, "id")
		case "next":
			c.Next = scalar(p, file, v, "next")
		case "reset":
			c.Reset = scalar(p, file, v, "reset") == "true"
		case "feedback":
			c.Feedback = scalar(p, file, v, "feedback")
		case "routes":
			// - {slot: problem, value: service, next: ladder_chargeback}
			for _, rn := range resolve(v).Content {
				var r flows.Route
				for _, f := range pairs(rn) {
					switch f[0].Value {
					case "slot":
						r.Slot = scalar(p, file, f[1], "route slot")
					case "value":
						r.Value = scalar(p, file, f[1], "route value")
					case "next":
						r.Next = scalar(p, file, f[1], "route next")
					default:
						p.add(file, f[0].Line, "state %q: route: unknown field %q", state, f[0].Value)
					}
				}
				c.Routes = append(c.Routes, r)
			}
		case "set":
			c.Set = slotValues(p, file, v)
		default:
			p.add(file, k.Line, "state %q: choice: unknown field %q", state, k.Value)
		}
	}
	if c.ID == "" {
		p.add(file, n.Line, "state %q: a choice has no id", state)
	}
	return c
}

// slotValues reads a "set:" mapping of slots to values.
func slotValues(p *problems, file string, n *yaml.Node) map[string]string {
	m := map[string]string{}
	for _, kv := range pairs(n) {
		m[kv[0].Value] = scalar(p, file, kv[1], "a slot value")
	}
	return m
}
