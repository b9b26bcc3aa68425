package flows_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/supportbot/supportbot/content"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestMermaid(t *testing.T) {
	shipped, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*content.Pack{"northwind.mmd": loadTestPack(t), "amazon.mmd": shipped} {
		m, err := p.Def.Mermaid()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, m)
	}
}
