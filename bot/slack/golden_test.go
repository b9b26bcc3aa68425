package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/supportbot/supportbot/bot/slack/slacktest"
	"github.com/supportbot/supportbot/content/markup"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenPayloads pins the Block Kit payloads of a few messages: a
// question with buttons, a collapse, an answer with templates to copy
// (user text escaped), the last message with its buttons, and the same
// question in Latvian.
func TestGoldenPayloads(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := newWorld(t, "http", worldOpts{now: func() time.Time { return at }})
	w.fake.SetLocale("U2", "lv-LV")
	w.event(slacktest.IMMessage(team, "U1", "D1", "hi", slacktest.NewTS()))
	w.settle()
	m, _ := lastWithButtons(w.fake.Messages("D1", ""))
	w.press(m, "Get a refund", "U1")
	w.settle()
	w.event(slacktest.IMMessage(team, "U1", "D1", orderNo, slacktest.NewTS()))
	w.settle()
	w.event(slacktest.IMMessage(team, "U1", "D1", markup.SlackEscape("Box <arrived> crushed & wet, *twice*"), slacktest.NewTS()))
	w.settle()
	m, _ = lastWithButtons(w.fake.Messages("D1", ""))
	w.press(m, "E-mail", "U1")
	w.settle()
	w.event(slacktest.IMMessage(team, "U2", "D2", "sveiki", slacktest.NewTS()))
	w.settle()

	calls := w.fake.Calls("")
	var posts, updates []slacktest.Call
	for _, c := range calls {
		switch c.Method {
		case "chat.postMessage":
			if c.Form.Get("channel") == "D1" {
				posts = append(posts, c)
			}
		case "chat.update":
			updates = append(updates, c)
		}
	}
	var lv slacktest.Call
	for _, c := range calls {
		if c.Method == "chat.postMessage" && c.Form.Get("channel") == "D2" {
			lv = c
		}
	}
	if len(posts) != 10 || len(updates) != 2 {
		t.Fatalf("%d posts and %d updates, want 10 and 2", len(posts), len(updates))
	}
	golden(t, "question", posts[1])
	golden(t, "collapse", updates[0])
	golden(t, "answer_say", posts[7])
	golden(t, "answer_next", posts[9])
	golden(t, "question_lv", lv)
}

func golden(t *testing.T, name string, c slacktest.Call) {
	t.Helper()
	out := map[string]any{"method": c.Method}
	for k, v := range c.Form {
		if k == "blocks" {
			var blocks any
			if err := json.Unmarshal([]byte(v[0]), &blocks); err != nil {
				t.Fatalf("%s: blocks: %v", name, err)
			}
			out[k] = blocks
			continue
		}
		out[k] = v[0]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, buf.String())
	}
}
