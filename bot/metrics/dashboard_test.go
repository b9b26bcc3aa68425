package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/supportbot/supportbot/bot/metrics"
	"github.com/supportbot/supportbot/content"
)

// TestDashboardQueriesExist fails when the Grafana dashboard queries a
// series the bot does not export (a renamed metric, a typo).
func TestDashboardQueriesExist(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana/supportbot.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	p, err := content.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(p.Def, "v", "c")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		have[n] = true
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			have[n+suffix] = true
		}
	}
	name := regexp.MustCompile(`supportbot_[a-z_]+`)
	queries := 0
	for _, panel := range dash.Panels {
		for _, tg := range panel.Targets {
			queries++
			for _, n := range name.FindAllString(tg.Expr, -1) {
				if !have[n] {
					t.Errorf("panel %q queries %s, which the bot does not export", panel.Title, n)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d queries found; is the dashboard's structure what the test expects?", queries)
	}
	if !strings.Contains(string(data), "supportbot_funnel_entered_total") {
		t.Error("the dashboard has no funnel")
	}
}
