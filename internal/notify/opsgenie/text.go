package opsgenie

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Alias returns the alias of a group's Opsgenie alert: "vigia-" and the
// first 32 hex digits of the group key (of its SHA-256 when the key is not
// hex), so every request of the group, from any replica and after any
// restart, reaches the same Opsgenie alert.
func Alias(groupKey string) string {
	k := strings.ToLower(groupKey)
	if len(k) < 32 || strings.ContainsFunc(k[:32], func(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }) {
		h := sha256.Sum256([]byte(groupKey))
		k = hex.EncodeToString(h[:])
	}
	return "vigia-" + k[:32]
}

// text is render.Text: event-derived free text, credentials redacted, on
// one line, at most max runes.
func text(s string, max int) string { return render.Text(s, max) }

// truncate is render.Truncate: at most max runes, cut on a rune boundary
// and marked with "…".
func truncate(s string, max int) string { return render.Truncate(s, max) }

// runbookInfo is the runbook of a notification, localized.
type runbookInfo struct {
	Title string   `json:"title,omitempty"`
	Path  string   `json:"path,omitempty"`
	URL   string   `json:"url,omitempty"`
	Steps []string `json:"first_steps,omitempty"`
}

// runbookFor returns a's runbook in locale (the English original when
// there is no translation): its title, path, link and first steps, each
// bounded.
func runbookFor(a *alert.Alert, books *runbook.Library, locale, baseURL string, steps int) runbookInfo {
	rb := render.RunbookFor(a, books, locale, baseURL, steps)
	info := runbookInfo{Title: text(rb.Title, maxValue), Path: text(rb.Path, maxValue), URL: rb.URL}
	for _, s := range rb.Steps {
		info.Steps = append(info.Steps, text(s, maxStep))
	}
	return info
}

// block is text for multi-line fields (description, notes): like text,
// but line breaks are kept.
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
	return truncate(strings.TrimSpace(s), max)
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
