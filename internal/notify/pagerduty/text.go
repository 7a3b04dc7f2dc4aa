package pagerduty

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// DedupKey returns the dedup_key of a group: "vigia-" and the first 32 hex
// digits of the group key (of its SHA-256 when the key is not hex), so
// every event of the group, from any replica and after any restart, lands
// on the same PagerDuty alert.
func DedupKey(groupKey string) string {
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
