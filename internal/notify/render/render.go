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
	"unicode/utf16"
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

// Scrub is Clean with a second redaction after the lines are joined,
// which can complete a pattern ("Authorization:\nBearer x").
func Scrub(s string) string { return strings.TrimSpace(redact.String(Clean(s))) }

// Window is how much of a value beyond what is shown is worth cleaning:
// enough for any credential that starts in the shown part to be
// recognised whole (and redacted), while a huge field costs no more than
// this. Clean Cut(s, max+Window), then truncate to max.
const Window = 2048

// Cut returns at most n runes of s, without a mark: a bound on the work,
// not the shown length.
func Cut(s string, n int) string {
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

// Shorten is Truncate for texts that may end a cut in white space (a
// Markdown body): the cut text loses trailing spaces and line breaks
// before the Ellipsis.
func Shorten(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return shorten(s, max, func(rune) int { return 1 })
}

// UTF16Len is the length of s in UTF-16 code units, how Java (Jira,
// ServiceNow) and JavaScript count a string's length. It is never less
// than the number of runes, so a text that fits in UTF-16 units fits
// however it is counted.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// ShortenUTF16 is Shorten measuring max in UTF-16 code units.
func ShortenUTF16(s string, max int) string {
	if UTF16Len(s) <= max {
		return s
	}
	return shorten(s, max, utf16.RuneLen)
}

// shorten cuts s, longer than max, on a rune boundary so that with the
// Ellipsis it measures at most max.
func shorten(s string, max int, size func(rune) int) string {
	if max < 1 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		c := size(r)
		if n+c > max-1 {
			break
		}
		b.WriteRune(r)
		n += c
	}
	return strings.TrimRight(b.String(), " \n") + Ellipsis
}

// RuleTitle is the title of a's rule, or its id when the title is empty,
// as Text of at most max runes; "" for a nil alert.
func RuleTitle(a *alert.Alert, max int) string {
	if a == nil {
		return ""
	}
	if t := Text(a.Rule.Title, max); t != "" {
		return t
	}
	return Text(a.Rule.ID, max)
}

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

// SafeURL returns raw re-encoded when it is an absolute http(s) URL
// without credentials and of at most 2000 bytes, "" otherwise: a link a
// receiver may show. Escaping it for a markup is the receiver's job.
func SafeURL(raw string) string {
	if raw == "" || len(raw) > 2000 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
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

// Brief is a runbook as the JSON payloads of PagerDuty, Opsgenie and the
// webhook carry it: every text cleaned and bounded.
type Brief struct {
	Title string   `json:"title,omitempty"`
	Path  string   `json:"path,omitempty"`
	URL   string   `json:"url,omitempty"`
	Steps []string `json:"first_steps,omitempty"`
}

// Brief returns rb with its title and path as Text of at most maxValue
// runes and each step as Text of at most maxStep runes.
func (rb Runbook) Brief(maxValue, maxStep int) Brief {
	b := Brief{Title: Text(rb.Title, maxValue), Path: Text(rb.Path, maxValue), URL: rb.URL}
	for _, s := range rb.Steps {
		b.Steps = append(b.Steps, Text(s, maxStep))
	}
	return b
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
