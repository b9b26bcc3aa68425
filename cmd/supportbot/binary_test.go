package main_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// bin is the supportbot binary, built once for these tests.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "supportbot-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "supportbot")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBin runs the binary with stdin, a clean environment plus env, and
// returns stdout, stderr and the exit status.
func runBin(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
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
		t.Errorf("output differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestTerminalScriptedWalk(t *testing.T) {
	out, stderr, code := runBin(t, "2\nskip\nskip\n1\n", nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("control codes in piped output")
	}
	golden(t, "walk_en.txt", out)
	for _, want := range []string{"2) Get a refund", "+1 206 266 2992", "3) The agent can't help"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
}

func TestTerminalLatvian(t *testing.T) {
	out, stderr, code := runBin(t, "atmaksu\n123 1234567 1234567\nPrece atnāca salauzta\ne-pasts\n1\n", nil, "-lang", "lv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "walk_lv.txt", out)
	if !strings.Contains(out, "123-1234567-1234567") || !strings.Contains(out, "Prece atnāca salauzta") {
		t.Error("the answer is not filled in with the order number and the details")
	}
}

// /privacy promises what SESSION_TTL keeps, in each language's grammar.
func TestPrivacyFollowsSessionTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl, lang, want string
	}{
		{"", "en", "after 30 days without activity"},
		{"24h", "en", "after 1 day without activity"},
		{"7d", "lv", "Ja 7 dienas nekas nenotiek"},
		{"21d", "lv", "Ja 21 dienu nekas nenotiek"},
	} {
		out, stderr, code := runBin(t, "/privacy\n", []string{"SESSION_TTL=" + tc.ttl}, "-lang", tc.lang)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("SESSION_TTL=%q: /privacy does not say %q:\n%s", tc.ttl, tc.want, out)
		}
	}
}

func TestTerminalBadInput(t *testing.T) {
	long := strings.Repeat("x", 10000)
	in := strings.Join([]string{"", "   ", long, "\xff\xfe", "😡", "/frobnicate", "/language xx", "/help me now", "9", "3"}, "\n") + "\n"
	out, stderr, code := runBin(t, in, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"I didn't get any text there.",
		"That message is too long for me.",
		"I couldn't read that message",
		"Sorry, I didn't catch that.",
		"I don't know that command.",
		"I can speak English (/language en) or Latvian (/language lv).",
		"*How this works*",
	} {
		if !strings.Contains(out, strings.Trim(want, "*")) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// After all that, "3" still picks the third problem.
	if !strings.HasSuffix(strings.TrimSpace(out), "1) Skip") || !strings.Contains(out, "What is the order number?") {
		t.Errorf("the conversation did not go on after bad input:\n%s", out[len(out)-400:])
	}
}

func TestTerminalEOF(t *testing.T) {
	out, _, code := runBin(t, "", nil)
	if code != 0 || !strings.Contains(out, "What do you need help with?") {
		t.Fatalf("exit %d, out %q", code, out)
	}
}

func TestLint(t *testing.T) {
	out, stderr, code := runBin(t, "", nil, "lint")
	if code != 0 || out != "" || !strings.Contains(stderr, "ok") {
		t.Fatalf("lint of the shipped pack: exit %d\n%s%s", code, out, stderr)
	}
	// A broken copy of the test pack on disk: file:line problems, exit 1.
	dir := t.TempDir()
	copyDir(t, filepath.Join("..", "..", "content", "testdata", "northwind"), dir)
	texts := filepath.Join(dir, "de", "texts.yaml")
	data, _ := os.ReadFile(texts)
	os.WriteFile(texts, bytes.Replace(data, []byte("  via: Telefon oder E-Mail?\n"), nil, 1), 0o644)
	out, _, code = runBin(t, "", nil, "lint", dir)
	want := filepath.Join(dir, "en", "texts.yaml") + `:11: text "ask.via" is missing in "de"` + "\n"
	if code != 1 || out != want {
		t.Fatalf("lint DIR: exit %d, out %q, want %q", code, out, want)
	}
	// The same pack refuses to start, with one line naming the problem.
	_, stderr, code = runBin(t, "", []string{"CONTENT_DIR=" + dir})
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `texts.yaml:11: text "ask.via" is missing in "de"`) {
		t.Fatalf("start with a broken pack: exit %d, stderr %q", code, stderr)
	}
}

func TestGraph(t *testing.T) {
	out, stderr, code := runBin(t, "", nil, "graph")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "graph.txt", out)
}

func TestVersion(t *testing.T) {
	out, _, code := runBin(t, "", nil, "version")
	if code != 0 || !strings.HasPrefix(out, "supportbot ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestContentFlag(t *testing.T) {
	dir := filepath.Join("..", "..", "content", "testdata", "northwind")
	abs, _ := filepath.Abs(dir)
	out, stderr, code := runBin(t, "1\n", nil, "-content", abs, "-lang", "de")
	if code != 0 || !strings.Contains(out, "Hallo, hier ist der Helfer von Northwind Power.") || !strings.Contains(out, "Ihre 8-stellige Kundennummer?") {
		t.Fatalf("-content: exit %d\n%s%s", code, out, stderr)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With STORE set, the terminal's conversation survives the process: the
// second run shows the current question again instead of a new greeting.
func TestTerminalResumesStoredConversation(t *testing.T) {
	db := "bolt:" + filepath.Join(t.TempDir(), "chat.db")
	out, stderr, code := runBin(t, "2\n123 1234567 1234567\n", []string{"STORE=" + db})
	if code != 0 || !strings.Contains(out, "In one line, what is the refund for?") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runBin(t, "skip\n", []string{"STORE=" + db})
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "Hi! I help you") || !strings.HasPrefix(out, "In one line, what is the refund for?") {
		t.Fatalf("second run did not resume:\n%s", out)
	}
	if !strings.Contains(out, "How would you like to reach Amazon?") {
		t.Fatalf("second run did not go on:\n%s", out)
	}
}
