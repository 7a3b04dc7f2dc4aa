package opsgenie

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
)

// block is text for multi-line fields (description, notes): like
// render.Text, but line breaks are kept.
func block(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\r' || unicode.Is(unicode.Bidi_Control, r):
			return -1
		case unicode.IsControl(r) || unicode.IsSpace(r) && r != ' ':
			return ' '
		}
		return r
	}, strings.ToValidUTF8(redact.String(s), "\uFFFD"))
	return render.Truncate(strings.TrimSpace(s), max)
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// fitHTML escapes s for Opsgenie's HTML-rendered fields (message,
// description, notes) and cuts the result to at most max runes, never
// inside an entity or a UTF-8 sequence, marking a cut with "…".
func fitHTML(s string, max int) string {
	e := htmlEscaper.Replace(s)
	if utf8.RuneCountInString(e) <= max {
		return e
	}
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		c := utf8.RuneCountInString(piece)
		if n+c > max-1 {
			break
		}
		b.WriteString(piece)
		n += c
	}
	return b.String() + "…"
}
