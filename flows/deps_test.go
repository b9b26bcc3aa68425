package flows_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine and the content stay independent of the front ends: no
// platform SDK, no bot/ package, in what flows or content import.
func TestNoFrontEndImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../flows/...", "../content/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/supportbot/supportbot/bot",
		"github.com/slack-go/",
		"github.com/go-telegram-bot-api/",
		"go.etcd.io/bbolt",
		"github.com/redis/",
		"github.com/prometheus/",
		"net/http",
	}
	pkgs := strings.Fields(string(out))
	if !strings.Contains(string(out), "github.com/looplab/fsm") {
		t.Fatalf("go list did not list the engine's own dependencies: %v", pkgs)
	}
	for _, pkg := range pkgs {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("flows or content depends on %s", pkg)
			}
		}
	}
}
