package main

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration table and .env.example must list every
// setting the binary reads, with its flag and default.
func TestDocsListEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	// The table in the Configuration section.
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			name := strings.Trim(strings.Split(line, "|")[1], " `")
			if _, seen := rows[name]; !seen {
				rows[name] = line
			}
		}
	}
	for _, s := range settings {
		row, ok := rows[s.env]
		if !ok {
			t.Errorf("README has no table row for %s", s.env)
			continue
		}
		if s.flag != "" && !strings.Contains(row, "`-"+s.flag+"`") {
			t.Errorf("README row for %s does not name its flag -%s", s.env, s.flag)
		}
		if s.def != "" && !strings.Contains(row, "`"+s.def+"`") {
			t.Errorf("README row for %s does not give its default %s", s.env, s.def)
		}
		if !strings.Contains(string(env), s.env+"=") && !strings.Contains(string(env), "# "+s.env+"=") {
			t.Errorf(".env.example does not mention %s", s.env)
		}
	}
}
