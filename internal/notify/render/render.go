// Package render holds the small text helpers every receiver needs to turn
// an alert into a page, a ticket or a chat message: credential scrubbing
// and one-line cleaning of event-derived text, rune-safe truncation, the
// runbook of an alert in the receiver's locale with its link and first
// triage steps, and ATT&CK technique links.
//
// It knows nothing of any destination's markup: a receiver escapes the
// results for its own format (Slack mrkdwn, Jira wiki, Markdown, …) and
// measures its own limits (in runes here; Slack counts UTF-16 units).
package render

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Ellipsis marks truncated text.
const Ellipsis = "…"

// Clean makes event-derived free text safe to show on one line:
// credentials are redacted (redact.String), invalid UTF-8 becomes U+FFFD,
// control characters and line breaks become spaces, bidirectional controls
// (which can make a name display as another) are dropped, and surrounding
// space is trimmed.
func Clean(s string) string {
	return strings.TrimSpace(OneLine(redact.String(s)))
}

// OneLine is Clean without the redaction and trimming, for trusted text
// (runbook steps) and text already redacted.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		case unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' '):
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// Truncate cuts s to at most max runes, never inside a UTF-8 sequence; a
// cut text ends in Ellipsis (counted in max). max <= 0 yields "".
func Truncate(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// Text is Truncate(Clean(s), max): the form of every event-derived value.
func Text(s string, max int) string { return Truncate(Clean(s), max) }

// JoinURL joins a base URL and a relative path ("runbooks/k8s/x.md") with
// exactly one "/" between them. It returns "" when either is empty or the
// base is not an absolute http(s) URL.
func JoinURL(base, path string) string {
	if base == "" || path == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/")
}

// Runbook is an alert's runbook as a receiver shows it.
type Runbook struct {
	// Title is the runbook's title in the locale (the alert's runbook
	// title when the runbook is not loaded).
	Title string
	// Path is the runbook's path, localized when a translation is loaded.
	Path string
	// URL is the full runbook's link ("" without a base URL).
	URL string
	// Steps are the first steps of its first section (Triage), trusted
	// markdown, one line each, at most the number asked for.
	Steps []string
	// Localized reports whether Path is a translation (not the English
	// original the alert names).
	Localized bool
}

// RunbookFor returns a's runbook in locale ("", "en" or one of
// runbook.Locales), falling back to the English original when there is no
// translation: its title, path, link under baseURL and first steps (at
// most steps). books may be nil: only the alert's title, path and link are
// known then. An alert without a runbook yields the zero Runbook.
func RunbookFor(a *alert.Alert, books *runbook.Library, locale, baseURL string, steps int) Runbook {
	if a == nil || (a.Runbook.Path == "" && a.Runbook.Title == "") {
		return Runbook{}
	}
	rb := Runbook{Title: a.Runbook.Title, Path: a.Runbook.Path}
	if a.Runbook.Path != "" {
		if book := books.Localized(a.Runbook.Path, locale); book != nil {
			rb.Path = book.Path
			rb.Localized = book.Path != a.Runbook.Path
			if book.Title != "" {
				rb.Title = book.Title
			}
			for _, s := range book.FirstSteps(max(steps, 0)) {
				rb.Steps = append(rb.Steps, strings.TrimSpace(OneLine(s)))
			}
		}
	}
	if strings.TrimSpace(rb.Title) == "" {
		rb.Title = rb.Path
	}
	rb.URL = JoinURL(baseURL, rb.Path)
	return rb
}

// Technique is a MITRE ATT&CK technique named by a rule tag.
type Technique struct {
	// ID is the technique id: "T1611" or "T1552.007".
	ID string
	// URL is its page on attack.mitre.org.
	URL string
}

var techniqueTag = regexp.MustCompile(`^(?i:attack\.)?[tT]([0-9]{4})(?:\.([0-9]{3}))?$`)

// ParseTechnique reads an ATT&CK technique from a rule tag in Sigma's
// spelling ("attack.t1552.007") or as an id ("T1611").
func ParseTechnique(tag string) (Technique, bool) {
	m := techniqueTag.FindStringSubmatch(strings.TrimSpace(tag))
	if m == nil {
		return Technique{}, false
	}
	t := Technique{ID: "T" + m[1], URL: "https://attack.mitre.org/techniques/T" + m[1] + "/"}
	if m[2] != "" {
		t.ID += "." + m[2]
		t.URL += m[2] + "/"
	}
	return t, true
}

// Tactic returns the ATT&CK tactic a Sigma tag names, in title case
// ("attack.privilege_escalation" → "Privilege Escalation"), or "" when the
// tag is not an attack.* tactic.
func Tactic(tag string) string {
	name, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(tag)), "attack.")
	if !ok || name == "" || techniqueTag.MatchString(tag) {
		return ""
	}
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' })
	for i, w := range words {
		if w == "" || strings.ContainsFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) {
			return ""
		}
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}
