package content_test

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/supportbot/supportbot/content"
)

var update = flag.Bool("update", false, "rewrite golden files")

// brokenPack is the test pack with one change: old replaced by new in file.
type brokenPack struct {
	name, file, old, new string
}

var broken = []brokenPack{
	{"yaml_error", "flow.yaml", "  topic:\n    kind: choose", "  topic:\n    kind: [choose"},
	{"unknown_state", "flow.yaml", "{id: phone, set: {via: phone}, next: answer}", "{id: phone, set: {via: phone}, next: anwser}"},
	{"missing_translation", "de/texts.yaml", "  via: Telefon oder E-Mail?\n", ""},
	{"unreachable_state", "flow.yaml", "{id: outage, set: {topic: outage}, next: account}", "{id: outage, set: {topic: outage}, next: account}\n  orphan:\n    kind: answer\n    text: answer.next\n    choices:\n      - {id: start_over, next: topic}"},
	{"dead_end", "flow.yaml", "{id: skip, next: via}", "{id: skip, next: loop}\n  loop:\n    kind: choose\n    text: ask.via\n    choices:\n      - {id: skip, next: loop}"},
	{"template_error", "en/texts.yaml", "{{if .account}}Say your account", "{{if .acount}}Say your account"},
	{"template_syntax", "de/texts.yaml", "{{if .account}} ({{.account}}){{end}}", "{{if .account}} ({{.account}}){{end"},
	{"synonym_clash", "en/texts.yaml", "phone: [phone, call]", "phone: [phone, call, mail]"},
	{"long_label", "de/texts.yaml", "outage: Ein Stromausfall", "outage: Ein Stromausfall mitten in der Nacht im ganzen Viertel"},
	{"long_text", "en/texts.yaml", "outage:\n    phone: Call", "outage:\n    phone: " + strings.Repeat("Call now. ", 310) + "Call"},
	{"long_button_data", "flow.yaml", "{id: email, set: {via: email}, next: answer}", "{id: email_with_an_extraordinarily_long_identifier_for_this_button_x, set: {via: email}, next: answer}"},
	{"unused_text", "en/texts.yaml", "greeting: Hello", "farewell: Bye\ngreeting: Hello"},
	{"slot_not_set", "flow.yaml", "      - answer.{topic}.{via}", "      - answer.{topic}.{via}\n      - extra.{account}"},
	{"unpaired_bold", "en/texts.yaml", "*Billing line:* call", "*Billing line: call"},
	{"rung_without_source", "de/texts.yaml", "  ladder.outage: [https://example.com/northwind/outages]\n", ""},
	{"source_not_an_address", "en/texts.yaml", "ladder.bill: [https://example.com/northwind/billing]", "ladder.bill: [our own knowledge]"},
	{"draft_language_not_in_pack", "flow.yaml", "{id: draft_de, set: {draftlang: de}, next: draft}", "{id: draft_de, set: {draftlang: fr}, next: draft}"},
}

// packFS copies the test pack into memory, applying one change.
func packFS(t *testing.T, b brokenPack) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	root := filepath.Join("testdata", "northwind")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata", path)
		rel = filepath.ToSlash(rel)
		if rel == "northwind/"+b.file {
			if !strings.Contains(string(data), b.old) {
				t.Fatalf("%s: %q not found in %s", b.name, b.old, rel)
			}
			data = []byte(strings.Replace(string(data), b.old, b.new, 1))
		}
		m[rel] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLintGolden pins lint's exact file:line output for broken packs.
func TestLintGolden(t *testing.T) {
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			ps := content.Lint(packFS(t, b), "northwind")
			if len(ps) == 0 {
				t.Fatal("lint found nothing")
			}
			var out strings.Builder
			for _, p := range ps {
				out.WriteString(p.String() + "\n")
			}
			golden(t, filepath.Join("lint", b.name+".golden"), out.String())
			// Load refuses the pack with the first problem.
			if _, err := content.Load(packFS(t, b), "northwind"); err == nil || !strings.HasPrefix(err.Error(), ps[0].String()) {
				t.Errorf("Load error %v, want it to start with %v", err, ps[0])
			}
		})
	}
}

func TestTestPackIsClean(t *testing.T) {
	if ps := content.Lint(os.DirFS("testdata"), "northwind"); len(ps) > 0 {
		t.Fatalf("test pack: %v", ps)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
