package servicenow

import (
	"regexp"
	"strings"

	"github.com/vigia-dev/vigia/internal/notify/render"
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
	s = render.Scrub(s)
	for codeTag.MatchString(s) {
		s = codeTag.ReplaceAllStringFunc(s, func(m string) string {
			return strings.NewReplacer("[", "(", "]", ")").Replace(m)
		})
	}
	return s
}
