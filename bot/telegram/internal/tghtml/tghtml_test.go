package tghtml

import "testing"

func TestParse(t *testing.T) {
	good := map[string]string{
		"plain":                       "plain",
		"<b>bold</b> &amp; &lt;x&gt;": "bold & <x>",
		"a > b":                       "a > b",
		`<pre><code class="language-go">x</code></pre>`: "x",
		`<a href="https://e.com/?a=1&amp;b=2">l</a>`:    "l",
		"&#128512;&#x41;":                   "😀A",
		`<span class="tg-spoiler">s</span>`: "s",
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
		n, blank, err := Check(in)
		if err != nil || n != Len(want) || blank {
			t.Errorf("Check(%q) = %d, %v, %v", in, n, blank, err)
		}
	}
	for _, bad := range []string{"<div>", "<b>", "</b>", "<b><i></b></i>", "&", "&nbsp;", "a < b", "<pre><i>x</i></pre>", `<b class="x">y</b>`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if _, blank, _ := Check("<b> \n </b>"); !blank {
		t.Error("blank text not reported")
	}
	if Len("a😀") != 3 {
		t.Error("Len counts UTF-16 code units")
	}
}
