package flows

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold maps letters with diacritics to their base letter, so "atmaksa" and
// "ātmaksā" or "šodien" and "sodien" compare equal. Latvian first, then the
// common Western European letters.
var fold = map[rune]rune{
	'ā': 'a', 'č': 'c', 'ē': 'e', 'ģ': 'g', 'ī': 'i', 'ķ': 'k', 'ļ': 'l', 'ņ': 'n',
	'š': 's', 'ū': 'u', 'ž': 'z', 'ō': 'o', 'ŗ': 'r',
	'á': 'a', 'à': 'a', 'â': 'a', 'ä': 'a', 'ã': 'a', 'å': 'a',
	'é': 'e', 'è': 'e', 'ê': 'e', 'ë': 'e', 'í': 'i', 'ì': 'i', 'î': 'i', 'ï': 'i',
	'ó': 'o', 'ò': 'o', 'ô': 'o', 'ö': 'o', 'õ': 'o', 'ú': 'u', 'ù': 'u', 'û': 'u', 'ü': 'u',
	'ç': 'c', 'ñ': 'n', 'ß': 's', 'ł': 'l', 'ś': 's', 'ź': 'z', 'ż': 'z', 'ć': 'c', 'ń': 'n',
	'ą': 'a', 'ę': 'e', 'ė': 'e', 'į': 'i', 'ų': 'u', 'ý': 'y', 'ř': 'r', 'ě': 'e', 'ů': 'u',
}

// Normalize lower-cases s, removes diacritics, turns everything that is not a
// letter or digit into a space and collapses spaces.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for _, r := range s {
		r = unicode.ToLower(r)
		if f, ok := fold[r]; ok {
			r = f
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// endings are removed from words longer than the ending plus three letters,
// longest first: Latvian case endings (after folding) and English plurals
// and verb forms. It is crude on purpose: it only has to make "atmaksu" meet
// "atmaksa" and "refunds" meet "refund".
var endings = []string{
	"ajam", "iem", "ies", "ing", "am", "em", "im", "um", "as", "ai", "os", "us",
	"es", "is", "ed", "ij", "a", "u", "s", "i", "e", "o",
}

// Stem reduces a normalised word to its stem.
func Stem(w string) string {
	for _, e := range endings {
		if len(w) >= len(e)+3 && strings.HasSuffix(w, e) {
			return w[:len(w)-len(e)]
		}
	}
	return w
}

// MakePhrase normalises and stems a keyword or an input.
func MakePhrase(s string) Phrase {
	words := strings.Fields(Normalize(s))
	for i, w := range words {
		words[i] = Stem(w)
	}
	return words
}

// Equal reports whether two phrases are the same.
func (p Phrase) Equal(q Phrase) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// In reports whether p occurs in q as a run of consecutive words.
func (p Phrase) In(q Phrase) bool {
	if len(p) == 0 {
		return false
	}
	for i := 0; i+len(p) <= len(q); i++ {
		ok := true
		for j := range p {
			if q[i+j] != p[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// String joins the words.
func (p Phrase) String() string { return strings.Join(p, " ") }

// ordinal reads a bare number such as "2", "2." or " 2) ".
func ordinal(s string) (int, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".)")
	if s == "" || len(s) > 2 {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// Clean makes user text safe to keep: it reports invalid UTF-8, drops
// control and private-use characters (the renderer uses private-use
// characters to mark user text) and trims surrounding space. Newlines and
// tabs become spaces: answers are one line.
func Clean(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isPrivate(r) || r == '\u200b' || r == '\ufeff' {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimSpace(s), true
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isPrivate(r) || r == '\u200b' || r == '\ufeff':
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " "), true
}

func isPrivate(r rune) bool { return r >= 0xe000 && r <= 0xf8ff }

func runeCount(s string) int { return utf8.RuneCountInString(s) }

// hasWord reports whether s has at least one letter or digit.
func hasWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
