package metrics_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/supportbot/supportbot/bot"
)

// TestUpdateKindsCoverAdapters reads the adapters' sources for the kinds
// they report to Received, so a new kind cannot miss bot.UpdateKinds (and
// its series start at 0 only once its first update arrived). Kinds are
// either literals in the call or set, as literals, on the variables named
// in viaVar.
func TestUpdateKindsCoverAdapters(t *testing.T) {
	var (
		call = regexp.MustCompile(`\.Received\(\s*\w+,\s*([^)]+)\)`)
		lit  = regexp.MustCompile(`^"(\w+)"$`)
		// kind: "x" / kind = "x" / in.kind, in.u.Kind = "x", ...
		setKind = regexp.MustCompile(`\bkind\b[^"\n]*"(\w+)"`)
		// telegram's convert returns (update, kind, ok)
		retKind = regexp.MustCompile(`return \w+, "(\w+)", (?:true|false)`)
		viaVar  = map[string]bool{"kind": true, "in.kind": true}
	)
	found := map[string]string{} // kind → where
	calls := 0
	for _, dir := range []string{"../slack", "../telegram"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(src), -1) {
				calls++
				arg := strings.TrimSpace(m[1])
				if l := lit.FindStringSubmatch(arg); l != nil {
					found[l[1]] = f
				} else if !viaVar[arg] {
					t.Errorf("%s: Received(..., %s): cannot tell which kinds it reports; teach this test", f, arg)
				}
			}
			for _, re := range []*regexp.Regexp{setKind, retKind} {
				for _, m := range re.FindAllStringSubmatch(string(src), -1) {
					found[m[1]] = f
				}
			}
		}
	}
	if calls == 0 || len(found) == 0 {
		t.Fatalf("no Received calls or kinds found (%d calls); did the adapters move?", calls)
	}
	for k, f := range found {
		if !slices.Contains(bot.UpdateKinds, k) {
			t.Errorf("%s reports kind %q, which bot.UpdateKinds lacks", f, k)
		}
	}
	t.Logf("kinds the adapters report: %v", found)
}
