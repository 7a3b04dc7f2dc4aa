package servicenow

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
)

// Field lengths of the incident table's default dictionary. ServiceNow
// runs on the JVM and measures strings in UTF-16 code units, never fewer
// than the runes, so a text that fits here fits however it is counted.
// (The instance truncates longer values silently.)
const (
	maxShort       = 160  // short_description
	maxText        = 4000 // description, work_notes, close_notes
	maxCorrelation = 100  // correlation_id, correlation_display

	maxValue   = 300 // one event-derived value
	maxSummary = 1000
	maxStep    = 600
)

const ellipsis = "…"

// Dedup returns a group's stable identity, the record's correlation_id:
// "vigia-" and the first 32 hex digits of the group key (of its SHA-256
// when the key is not hex).
func Dedup(groupKey string) string {
	if len(groupKey) >= 32 && isHex(groupKey[:32]) {
		return "vigia-" + strings.ToLower(groupKey[:32])
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "vigia-" + hex.EncodeToString(sum[:16])
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// codeTag matches ServiceNow's [code]...[/code] journal markup, which
// renders its content as HTML when the instance allows it
// (glide.ui.security.allow_codetag): event-derived text must never carry
// it.
var codeTag = regexp.MustCompile(`(?i)\[\s*/?\s*code\s*\]`)

// clean makes event-derived text safe to send: credentials redacted,
// invalid UTF-8 replaced, control characters and line breaks turned into
// spaces, bidirectional controls dropped, [code] tags defused, surrounding
// space trimmed.
func clean(s string) string {
	// A second redaction: joining lines can complete a pattern
	// ("Authorization:\nBearer x").
	s = redact.String(render.Clean(s))
	for codeTag.MatchString(s) {
		s = codeTag.ReplaceAllStringFunc(s, func(m string) string {
			return strings.NewReplacer("[", "(", "]", ")").Replace(m)
		})
	}
	return strings.TrimSpace(s)
}

// truncate shortens s to at most max UTF-16 units on a rune boundary,
// marking the cut with "…".
func truncate(s string, max int) string {
	if units(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		c := utf16.RuneLen(r)
		if c < 0 {
			c = 1
		}
		if n+c > max-1 {
			break
		}
		b.WriteRune(r)
		n += c
	}
	return strings.TrimRight(b.String(), " \n") + ellipsis
}

// units is the length of s in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		if c := utf16.RuneLen(r); c > 0 {
			n += c
		} else {
			n++
		}
	}
	return n
}

// window is how much of a value beyond what is shown gets cleaned: enough
// for any credential that starts in the shown part to be recognised whole
// (and redacted), while a huge field costs no more than this.
const window = 2048

// cut returns at most n runes of s, without a mark: a bound on the work,
// not the shown length.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// value cleans and truncates an event-derived value.
func value(s string, max int) string { return truncate(clean(cut(s, max+window)), max) }
