package content

import (
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/supportbot/supportbot/flows"
)

// problems collects lint findings with their file and line.
type problems struct{ list flows.Problems }

func (p *problems) add(file string, line int, format string, a ...any) {
	p.list = append(p.list, flows.Problem{File: file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses a file into its document node, turning yaml's error into
// a file:line problem.
func parseYAML(p *problems, file string, data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		p.add(file, line, "YAML: %s", msg)
		return nil
	}
	if len(doc.Content) == 0 {
		p.add(file, 1, "the file is empty")
		return nil
	}
	return doc.Content[0]
}

// resolve follows a YAML alias (*name) to its anchor.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs iterates a mapping node's key/value pairs in file order.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], resolve(n.Content[i+1])})
	}
	return out
}

// scalar reads a scalar value, reporting a problem for anything else.
func scalar(p *problems, file string, n *yaml.Node, what string) string {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		p.add(file, n.Line, "%s must be a single value", what)
		return ""
	}
	return n.Value
}

func strings_(p *problems, file string, n *yaml.Node, what string) []string {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.add(file, n.Line, "%s must be a list", what)
		return nil
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, scalar(p, file, c, what))
	}
	return out
}
