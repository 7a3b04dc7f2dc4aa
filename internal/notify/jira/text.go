package jira

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf16"

	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/redact"
)

// Jira's limits. Jira runs on the JVM and measures strings in UTF-16 code
// units, which is never less than the number of runes, so a text that fits
// here fits however it is counted.
const (
	maxSummary = 255   // issue summary
	maxLabel   = 255   // one label
	maxDoc     = 32767 // description or comment (the serialized ADF in v3)

	maxValue = 500  // one event-derived value
	maxText  = 2000 // the alert summary paragraph
	maxStep  = 1000 // one runbook step
	maxURL   = 2000
)

const ellipsis = "…"

// Dedup returns a group's stable identity for Jira: "vigia-" and the first
// 32 hex digits of the group key (of its SHA-256 when the key is not hex).
// It is the label and is searched for when the group's state was
// lost.
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

// clean makes event-derived text safe to show: credentials redacted,
// invalid UTF-8 replaced, control characters and line breaks turned into
// spaces, bidirectional controls (which can make a name display as
// another) dropped, and surrounding space trimmed.
func clean(s string) string {
	// A second redaction: joining lines can complete a pattern
	// ("Authorization:\nBearer x").
	return strings.TrimSpace(redact.String(render.Clean(s)))
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
		if n+c > max-1 {
			break
		}
		b.WriteRune(r)
		n += c
	}
	return strings.TrimRight(b.String(), " ") + ellipsis
}

// units is the length of s in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
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
