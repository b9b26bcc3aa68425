package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// There is no container engine on our machines, so the Dockerfile and the
// compose file are checked statically.

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	var lastUser, lastStage string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages = append(stages, f[1])
			lastStage, lastUser = f[1], ""
		case "USER":
			lastUser = f[1]
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got stages %v", stages)
	}
	if !regexp.MustCompile(`^golang:1\.(2[6-9]|[3-9][0-9])`).MatchString(stages[0]) {
		t.Errorf("build stage %q: slack-go v0.35.0 needs Go >= 1.26", stages[0])
	}
	if lastUser == "" || lastUser == "root" || strings.HasPrefix(lastUser, "0") {
		t.Errorf("final stage %s runs as %q, want a non-root user", lastStage, lastUser)
	}
	s := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=", "-X main.commit=", "-X main.built=", "VOLUME /data", "STORE=bolt:/data/", "ENTRYPOINT [\"/supportbot\"]"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	gomod, _ := os.ReadFile("../../go.mod")
	if !regexp.MustCompile(`(?m)^go 1\.26`).Match(gomod) {
		t.Errorf("go.mod's go line does not match the build image")
	}
}

func TestCompose(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   any               `yaml:"depends_on"`
			Healthcheck map[string]any    `yaml:"healthcheck"`
			Profiles    []string          `yaml:"profiles"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	bot, ok := c.Services["supportbot"]
	if !ok || bot.Build == nil {
		t.Fatalf("no supportbot service built from the Dockerfile: %+v", c.Services)
	}
	if got := bot.Environment["STORE"]; got != "redis://redis:6379/0" {
		t.Errorf("supportbot STORE = %q", got)
	}
	if deps, _ := bot.DependsOn.(map[string]any); deps["redis"] == nil {
		t.Error("supportbot does not wait for a healthy redis")
	}
	if !contains(bot.Volumes, "data:/data") || c.Volumes["data"] == nil && !hasKey(c.Volumes, "data") {
		t.Errorf("supportbot volumes %v", bot.Volumes)
	}
	for _, secret := range []string{"TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} {
		if v, ok := bot.Environment[secret]; ok && v != "" && !strings.HasPrefix(v, "${") {
			t.Errorf("a secret is written into the compose file: %s", secret)
		}
	}
	redis, ok := c.Services["redis"]
	if !ok || !strings.HasPrefix(redis.Image, "redis:") || redis.Healthcheck == nil {
		t.Errorf("redis service: %+v", redis)
	}
	if !hasKey(c.Volumes, "redis") {
		t.Error("redis data has no named volume")
	}
	// docker compose --profile observe up adds Prometheus and Grafana, with
	// the dashboard provisioned.
	for _, name := range []string{"prometheus", "grafana"} {
		svc, ok := c.Services[name]
		if !ok || !contains(svc.Profiles, "observe") {
			t.Errorf("%s is not in the observe profile: %+v", name, svc)
		}
		for _, v := range svc.Volumes {
			host, _, _ := strings.Cut(v, ":")
			if _, err := os.Stat(filepath.Join("../..", host)); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, host)
			}
		}
	}
	if !contains(c.Services["grafana"].Volumes, "./deploy/grafana/supportbot.json:/var/lib/grafana/dashboards/supportbot.json:ro") {
		t.Error("grafana does not get the dashboard")
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }
