// Package tghtml reads text in Telegram's HTML parse mode the way the Bot
// API does: it checks the tags (only those Telegram allows, well nested),
// decodes the entities, and measures what is left, in the UTF-16 code units
// Telegram counts. The adapter uses it as a last check before sending; the
// fake Bot API uses it to refuse what Telegram would refuse.
package tghtml

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// allowed lists the tags Telegram's HTML mode knows, with the attributes
// each may carry ("" for none).
var allowed = map[string]map[string]bool{
	"b": nil, "strong": nil, "i": nil, "em": nil, "u": nil, "ins": nil,
	"s": nil, "strike": nil, "del": nil, "tg-spoiler": nil,
	"span":       {"class": true},
	"a":          {"href": true},
	"code":       {"class": true},
	"pre":        nil,
	"blockquote": {"expandable": true},
	"tg-emoji":   {"emoji-id": true},
}

// Parse checks s and returns its visible text. The error reads like
// Telegram's ("can't parse entities: ...").
func Parse(s string) (string, error) {
	var out strings.Builder
	out.Grow(len(s))
	_, _, err := walk(s, &out)
	if err != nil {
		return "", err
	}
	return out.String(), nil
}

// Check checks s and returns the length of its visible text, in UTF-16
// code units, and whether that text is blank, without building it.
func Check(s string) (n int, blank bool, err error) { return walk(s, nil) }

// walk reads s, writing the visible text to out when it is not nil, and
// returns its length in UTF-16 code units and whether it is all space.
func walk(s string, out *strings.Builder) (int, bool, error) {
	n, blank := 0, true
	text := func(t string) {
		if out != nil {
			out.WriteString(t)
		}
		n += Len(t)
		if blank && strings.TrimSpace(t) != "" {
			blank = false
		}
	}
	var stack []string
	i := 0
	for i < len(s) {
		c := s[i]
		switch c {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return 0, false, fmt.Errorf("can't parse entities: unclosed start tag at byte offset %d", i)
			}
			tag := s[i+1 : i+end]
			if strings.HasPrefix(tag, "/") {
				name := strings.ToLower(strings.TrimSpace(tag[1:]))
				if len(stack) == 0 {
					return 0, false, fmt.Errorf("can't parse entities: unexpected end tag at byte offset %d", i)
				}
				if top := stack[len(stack)-1]; top != name {
					return 0, false, fmt.Errorf("can't parse entities: unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, top, name)
				}
				stack = stack[:len(stack)-1]
			} else {
				name, attrs, err := splitTag(tag)
				if err != nil {
					return 0, false, fmt.Errorf("can't parse entities: %v at byte offset %d", err, i)
				}
				spec, ok := allowed[name]
				if !ok {
					return 0, false, fmt.Errorf("can't parse entities: unsupported start tag \"%s\" at byte offset %d", name, i)
				}
				for a := range attrs {
					if !spec[a] {
						return 0, false, fmt.Errorf("can't parse entities: unsupported attribute \"%s\" of tag \"%s\" at byte offset %d", a, name, i)
					}
				}
				if name == "span" && attrs["class"] != "tg-spoiler" {
					return 0, false, fmt.Errorf("can't parse entities: tag \"span\" must have class \"tg-spoiler\" at byte offset %d", i)
				}
				if len(stack) > 0 {
					top := stack[len(stack)-1]
					if top == "code" || (top == "pre" && name != "code") {
						return 0, false, fmt.Errorf("can't parse entities: tag \"%s\" is not allowed inside \"%s\" at byte offset %d", name, top, i)
					}
				}
				stack = append(stack, name)
			}
			i += end + 1
		case '&':
			end := strings.IndexByte(s[i:], ';')
			if end < 0 || end > 10 {
				return 0, false, fmt.Errorf("can't parse entities: character & at byte offset %d does not start an entity", i)
			}
			r, ok := entity(s[i+1 : i+end])
			if !ok {
				return 0, false, fmt.Errorf("can't parse entities: unsupported HTML entity \"%s\" at byte offset %d", s[i:i+end+1], i)
			}
			text(string(r))
			i += end + 1
		default:
			// Text up to the next tag or entity (a bare '>' is text).
			j := i + 1
			for j < len(s) && s[j] != '<' && s[j] != '&' {
				j++
			}
			text(s[i:j])
			i = j
		}
	}
	if len(stack) > 0 {
		return 0, false, fmt.Errorf("can't parse entities: can't find end tag corresponding to start tag \"%s\"", stack[len(stack)-1])
	}
	return n, blank, nil
}

func splitTag(tag string) (string, map[string]string, error) {
	tag = strings.TrimSpace(tag)
	name, rest, _ := strings.Cut(tag, " ")
	name = strings.ToLower(name)
	if name == "" {
		return "", nil, fmt.Errorf("empty tag")
	}
	attrs := map[string]string{}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		key, after, hasEq := strings.Cut(rest, "=")
		if !hasEq {
			// A bare attribute such as "expandable".
			k, more, _ := strings.Cut(rest, " ")
			attrs[strings.ToLower(k)] = ""
			rest = strings.TrimSpace(more)
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimSpace(after)
		var val string
		if strings.HasPrefix(after, `"`) || strings.HasPrefix(after, `'`) {
			q := after[:1]
			j := strings.Index(after[1:], q)
			if j < 0 {
				return "", nil, fmt.Errorf("unclosed attribute value")
			}
			val, rest = after[1:1+j], strings.TrimSpace(after[2+j:])
		} else {
			val, rest, _ = strings.Cut(after, " ")
			rest = strings.TrimSpace(rest)
		}
		attrs[key] = val
	}
	return name, attrs, nil
}

func entity(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	}
	if strings.HasPrefix(name, "#x") || strings.HasPrefix(name, "#X") {
		n, err := strconv.ParseUint(name[2:], 16, 32)
		return rune(n), err == nil && utf8.ValidRune(rune(n))
	}
	if strings.HasPrefix(name, "#") {
		n, err := strconv.ParseUint(name[1:], 10, 32)
		return rune(n), err == nil && utf8.ValidRune(rune(n))
	}
	return 0, false
}

// Len is the length Telegram counts: UTF-16 code units.
func Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
