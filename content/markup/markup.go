// Package markup is the small text format of content packs, and its
// renderings for each front end.
//
// A text is lines. A line holding only ``` opens or closes a block meant to
// be copied as it is (a phrasing template). Blank lines separate paragraphs.
// Inside a line, *bold* marks emphasis. Text a user gave us is wrapped in
// LitOpen and LitClose by the renderer of templates, and nothing inside is
// read as markup, so a user's "*" or "<" never formats anything.
package markup

import (
	"fmt"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Literal markers: private-use characters, which user input never contains
// (flows.Clean removes them).
const (
	LitOpen  = '\ue000'
	LitClose = '\ue001'
)

// Literal wraps user text so renderers show it as it is.
func Literal(s string) string {
	if s == "" {
		return ""
	}
	return string(LitOpen) + s + string(LitClose)
}

// BlockKind is a paragraph or a block to copy.
type BlockKind int

const (
	Para BlockKind = iota
	Pre
)

// Block is a paragraph (lines of inline text) or a preformatted block.
type Block struct {
	Kind  BlockKind
	Lines []string // source lines, literal markers included
}

// Span is a run of inline text with one style.
type Span struct {
	Text string
	Bold bool
	User bool // came from the user: show exactly
}

// Parse splits a text into blocks. It never fails: Check reports the
// mistakes a content author can make.
func Parse(text string) []Block {
	var blocks []Block
	var cur *Block
	inPre := false
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "```" {
			if inPre {
				inPre = false
				cur = nil
				continue
			}
			inPre = true
			blocks = append(blocks, Block{Kind: Pre})
			cur = &blocks[len(blocks)-1]
			continue
		}
		if inPre {
			cur.Lines = append(cur.Lines, line)
			continue
		}
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if cur == nil {
			blocks = append(blocks, Block{Kind: Para})
			cur = &blocks[len(blocks)-1]
		}
		cur.Lines = append(cur.Lines, strings.TrimRight(line, " \t"))
	}
	return blocks
}

// CheckError is a markup mistake on one line of a text (1-based).
type CheckError struct {
	Line int
	Msg  string
}

func (e *CheckError) Error() string { return fmt.Sprintf("line %d of the text %s", e.Line, e.Msg) }

// Check reports markup mistakes: an unclosed ``` block, an unpaired * on a
// line, unbalanced literal markers. The error is a *CheckError.
func Check(text string) error {
	open, last := 0, 1
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "```" {
			open ^= 1
			if open == 1 {
				last = i + 1
			}
			continue
		}
		if open == 1 {
			continue
		}
		if n := strings.Count(outsideLiterals(line), "*"); n%2 != 0 {
			return &CheckError{i + 1, "has an unpaired *"}
		}
		if strings.Count(line, string(LitOpen)) != strings.Count(line, string(LitClose)) {
			return &CheckError{i + 1, "has unbalanced user-text markers"}
		}
	}
	if open == 1 {
		return &CheckError{last, "opens a ``` block that is not closed"}
	}
	return nil
}

func outsideLiterals(line string) string {
	var b strings.Builder
	in := false
	for _, r := range line {
		switch {
		case r == LitOpen:
			in = true
		case r == LitClose:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Spans splits one line into styled runs.
func Spans(line string) []Span {
	var out []Span
	var b strings.Builder
	bold, user := false, false
	flush := func() {
		if b.Len() > 0 {
			out = append(out, Span{Text: b.String(), Bold: bold, User: user})
			b.Reset()
		}
	}
	for _, r := range line {
		switch {
		case r == LitOpen:
			flush()
			user = true
		case r == LitClose:
			flush()
			user = false
		case r == '*' && !user:
			flush()
			bold = !bold
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return out
}

// Strip removes the literal markers from pre-formatted text and user text.
func Strip(s string) string {
	if !strings.ContainsAny(s, string([]rune{LitOpen, LitClose})) {
		return s
	}
	return strings.NewReplacer(string(LitOpen), "", string(LitClose), "").Replace(s)
}

// Renderer turns blocks into one platform's text.
type Renderer interface {
	Block(Block) string
	Sep() string // between blocks
}

// Render renders a whole text.
func Render(r Renderer, text string) string {
	blocks := Parse(text)
	parts := make([]string, len(blocks))
	for i, b := range blocks {
		parts[i] = r.Block(b)
	}
	return strings.Join(parts, r.Sep())
}

// Split renders a text into messages of at most limit characters each,
// breaking between blocks, then between lines, and only as a last resort
// inside a line.
func Split(r Renderer, text string, limit int) []string {
	var pieces []string
	for _, b := range Parse(text) {
		s := r.Block(b)
		if utf8.RuneCountInString(s) <= limit {
			pieces = append(pieces, s)
			continue
		}
		// Too long for one message: one block per line, then hard cuts.
		for _, line := range b.Lines {
			ls := r.Block(Block{Kind: b.Kind, Lines: []string{line}})
			for utf8.RuneCountInString(ls) > limit {
				cut := cutAt(ls, limit)
				pieces = append(pieces, ls[:cut])
				ls = ls[cut:]
			}
			pieces = append(pieces, ls)
		}
	}
	var out []string
	var cur strings.Builder
	n := 0
	for _, p := range pieces {
		pn := utf8.RuneCountInString(p)
		sep := utf8.RuneCountInString(r.Sep())
		if n > 0 && n+sep+pn > limit {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteString(r.Sep())
			n += sep
		}
		cur.WriteString(p)
		n += pn
	}
	if n > 0 {
		out = append(out, cur.String())
	}
	return out
}

// cutAt finds a byte offset at most limit runes in, preferring a space.
func cutAt(s string, limit int) int {
	i, count := 0, 0
	lastSpace := -1
	for j, r := range s {
		if count == limit {
			break
		}
		if r == ' ' {
			lastSpace = j
		}
		i = j + utf8.RuneLen(r)
		count++
	}
	if lastSpace > i/2 {
		return lastSpace + 1
	}
	return i
}

// Plain renders for a terminal: no markup, copy blocks indented.
type Plain struct {
	// Bold and Reset wrap bold text on a terminal that shows it ("" when
	// output is not a terminal).
	Bold, Reset string
}

func (p Plain) Sep() string { return "\n\n" }

func (p Plain) Block(b Block) string {
	var out strings.Builder
	for i, line := range b.Lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		if b.Kind == Pre {
			out.WriteString("    ")
			out.WriteString(Strip(line))
			continue
		}
		for _, s := range Spans(line) {
			if s.Bold && p.Bold != "" {
				out.WriteString(p.Bold + s.Text + p.Reset)
				continue
			}
			out.WriteString(s.Text)
		}
	}
	return out.String()
}

// TelegramHTML renders for Telegram's HTML parse mode: everything escaped,
// bold as <b>, copy blocks as <pre>.
type TelegramHTML struct{}

func (TelegramHTML) Sep() string { return "\n\n" }

func (TelegramHTML) Block(b Block) string {
	var out strings.Builder
	if b.Kind == Pre {
		out.WriteString("<pre>")
		for i, line := range b.Lines {
			if i > 0 {
				out.WriteByte('\n')
			}
			out.WriteString(html.EscapeString(Strip(line)))
		}
		out.WriteString("</pre>")
		return out.String()
	}
	for i, line := range b.Lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		for _, s := range Spans(line) {
			t := html.EscapeString(s.Text)
			if s.Bold {
				t = "<b>" + t + "</b>"
			}
			out.WriteString(t)
		}
	}
	return out.String()
}

// SlackMrkdwn renders for Slack: &, < and > escaped, bold as *x*, copy
// blocks as ``` code blocks.
type SlackMrkdwn struct{}

func (SlackMrkdwn) Sep() string { return "\n\n" }

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackEscape escapes text for Slack mrkdwn.
func SlackEscape(s string) string { return slackEscaper.Replace(s) }

func (SlackMrkdwn) Block(b Block) string {
	var out strings.Builder
	if b.Kind == Pre {
		out.WriteString("```\n")
		for i, line := range b.Lines {
			if i > 0 {
				out.WriteByte('\n')
			}
			// A user's ``` would end the block early.
			out.WriteString(strings.ReplaceAll(SlackEscape(Strip(line)), "```", "ʼʼʼ"))
		}
		out.WriteString("\n```")
		return out.String()
	}
	for i, line := range b.Lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		for _, s := range Spans(line) {
			t := SlackEscape(s.Text)
			if s.Bold && strings.TrimSpace(t) != "" {
				t = "*" + t + "*"
			}
			out.WriteString(t)
		}
	}
	return out.String()
}

// Commands rewrites the commands a text mentions ("/cases", "/case 2") for
// a front end that reaches them another way: Slack has one slash command,
// so "/cases" becomes "/support cases" there. Only a slash that starts a
// word and one of names followed by a word boundary count, so addresses
// and dates ("5/12") stay as they are; user text is left alone.
func Commands(text string, names []string, prefix string) string {
	if !strings.Contains(text, "/") {
		return text
	}
	var b strings.Builder
	user := false
	last := 0
	prev := rune(' ')
	for i, r := range text {
		switch {
		case r == LitOpen:
			user = true
		case r == LitClose:
			user = false
		case r == '/' && !user && !wordRune(prev) && !strings.ContainsRune("/:.-", prev):
			if name := commandAt(text[i+1:], names); name != "" {
				b.WriteString(text[last:i])
				b.WriteString(prefix)
				b.WriteByte(' ')
				last = i + 1
			}
		}
		prev = r
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// commandAt is the name in names that s starts with, up to a word boundary.
func commandAt(s string, names []string) string {
	n := 0
	for n < len(s) && (s[n] >= 'a' && s[n] <= 'z') {
		n++
	}
	if n == 0 {
		return ""
	}
	if r, _ := utf8.DecodeRuneInString(s[n:]); n < len(s) && wordRune(r) {
		return ""
	}
	for _, name := range names {
		if s[:n] == name {
			return name
		}
	}
	return ""
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
