package flows_test

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/supportbot/supportbot/content"
	"github.com/supportbot/supportbot/content/markup"
	"github.com/supportbot/supportbot/flows"
)

// FuzzEngine feeds any sequence of inputs to the engine (on the shipped pack
// and on the test pack) and renders every reply: no panic, no empty reply,
// nothing over the platforms' limits.
//
//	go test ./flows -run '^$' -fuzz FuzzEngine -fuzztime 2m
func FuzzEngine(f *testing.F) {
	packs := []*content.Pack{loadTestPack(f)}
	if p, err := content.Shipped(); err == nil {
		packs = append(packs, p)
	} else {
		f.Fatalf("shipped pack: %v", err)
	}
	seeds := []string{
		"t2\x00tskip\x00tskip\x00t1",
		"b0\x00b1\x00b0\x00b2\x00b0",
		"c/start refund_phone\x00b1\x00b0",
		"clanguage lv\x00t2\x00t123-1234567-1234567\x00tthe box was empty\x00t3\x00b0",
		"t\xff\xfe\x00t\x00o\x00r\x00cforget\x00b0",
		"tstart over\x00thelp\x00cfrob x y\x00t99\x00traw:9zzzz.refund",
		"tbill\x00t11112222\x00tphone\x00b\x02\x00tMaria\x00t5.12.\x00ccases\x00ccase 1\x00m\x01\x00b\x00",
		"toutage\x00tskip\x00temail\x00b\x03\x00b\x00\x00b\x00\x00b\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range packs {
			var s flows.Session
			var last flows.Result
			var cases []flows.Case
			at := time.Unix(1790000000, 0)
			for i, chunk := range bytes.Split(data, []byte{0}) {
				if i > 40 {
					break
				}
				in := toInput(chunk, last)
				at = at.Add(time.Second)
				in.Now, in.Cases = at, cases
				res := p.Engine.Handle(s, in)
				if in.Kind != flows.InReminder || len(res.Outputs) > 0 {
					checkRenders(t, p, res)
				}
				if c := res.SaveCase; c != nil {
					cases = saveCase(cases, *c)
				}
				s, last = res.Session, res
				// The stored form must always read back.
				if !s.IsZero() {
					b, _ := s.MarshalBinary()
					var back flows.Session
					if err := back.UnmarshalBinary(b); err != nil || !sameSession(back, s) {
						t.Fatalf("session does not round-trip: %+v", s)
					}
				}
			}
		}
	})
}

// toInput reads one fuzz chunk: a kind byte, then text. For "b" the text
// picks a button of the last reply by number, so fuzzing reaches deep steps.
func toInput(chunk []byte, last flows.Result) flows.Input {
	if len(chunk) == 0 {
		return flows.Input{Kind: flows.InText}
	}
	rest := string(chunk[1:])
	switch chunk[0] {
	case 'b':
		var btns []flows.Button
		for _, o := range last.Outputs {
			btns = append(btns, o.Buttons...)
		}
		if len(btns) == 0 {
			return flows.Input{Kind: flows.InButton, Text: rest}
		}
		n := 0
		if len(rest) > 0 {
			n = int(rest[0])
		}
		return flows.Input{Kind: flows.InButton, Text: btns[n%len(btns)].Data}
	case 'c':
		name, args, _ := bytes.Cut(chunk[1:], []byte(" "))
		return flows.Input{Kind: flows.InCommand, Command: string(bytes.TrimPrefix(name, []byte("/"))), Text: string(args)}
	case 'r':
		return flows.Input{Kind: flows.InResume}
	case 'o':
		return flows.Input{Kind: flows.InOther}
	case 'l':
		return flows.Input{Kind: flows.InText, Text: rest, Lang: rest}
	case 'u':
		return flows.Input{Kind: flows.InButton, Text: rest}
	case 'm':
		n := 0
		if len(rest) > 0 {
			n = int(rest[0]) % 4
		}
		return flows.Input{Kind: flows.InReminder, Case: n}
	}
	return flows.Input{Kind: flows.InText, Text: rest}
}

func checkRenders(t *testing.T, p *content.Pack, res flows.Result) {
	t.Helper()
	if len(res.Outputs) == 0 {
		t.Fatalf("no reply")
	}
	data := p.Data(&res.Session)
	for _, o := range res.Outputs {
		lang := res.Lang
		if o.Lang != "" {
			lang = o.Lang
		}
		out, err := p.Render(lang, o.Key, p.With(data, o.Data, o.Items))
		if err != nil {
			t.Fatalf("render %s/%s: %v", lang, o.Key, err)
		}
		plain := markup.Render(markup.Plain{}, out)
		if len(bytes.TrimSpace([]byte(plain))) == 0 {
			t.Fatalf("empty reply for %s", o.Key)
		}
		// Lint renders every text with the longest answers a step accepts,
		// so no reply may exceed the limit whatever the user typed.
		if n := utf8.RuneCountInString(plain); n > content.MaxText {
			t.Fatalf("reply %s is %d characters", o.Key, n)
		}
		for _, b := range o.Buttons {
			label, err := p.Text(res.Lang, b.Label)
			if err != nil || label == "" || utf8.RuneCountInString(label) > content.MaxLabel {
				t.Fatalf("label %s: %q %v", b.Label, label, err)
			}
			if len(b.Data) == 0 || len(b.Data) > flows.MaxButtonData {
				t.Fatalf("button data %q", b.Data)
			}
		}
	}
}

func saveCase(cases []flows.Case, c flows.Case) []flows.Case {
	for i := range cases {
		if cases[i].ID == c.ID {
			cases[i] = c
			return cases
		}
	}
	return append(cases, c)
}
