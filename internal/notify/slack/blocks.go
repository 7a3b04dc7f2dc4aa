package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Slack Block Kit limits, in characters. Lengths are counted here in UTF-16
// code units, which is never less than the number of runes, so a text that
// fits here fits Slack however it counts.
const (
	maxHeader = 150  // header block text
	maxText   = 3000 // any text object
	maxField  = 2000 // one section field
	maxFields = 10   // fields per section
	maxBlocks = 50   // blocks per message

	maxValue    = 400 // one event-derived value in a field; 4 lines fit maxField
	maxStep     = 1000
	maxFallback = 3000 // fallback text; Slack's limit is 40000, notifications show far less
	maxURL      = 1500
)

// empty stands for a missing value: Slack rejects empty text objects.
const empty = "—"

const ellipsis = "…"

type badge struct{ emoji, label string }

var badges = map[string]badge{
	alert.SeverityCritical: {":red_circle:", "CRITICAL"},
	alert.SeverityHigh:     {":large_orange_circle:", "HIGH"},
	alert.SeverityMedium:   {":large_yellow_circle:", "MEDIUM"},
	alert.SeverityLow:      {":large_blue_circle:", "LOW"},
	alert.SeverityInfo:     {":white_circle:", "INFO"},
}

func severityBadge(sev string) badge {
	if b, ok := badges[sev]; ok {
		return b
	}
	label := []rune(strings.TrimSpace(strings.ToUpper(clean(sev))))
	if len(label) == 0 {
		return badge{":grey_question:", "UNKNOWN"}
	}
	return badge{":grey_question:", string(label[:min(len(label), 20)])}
}

// Blocks builds the Block Kit message for a: header (severity and rule
// title), summary, who/what/where/when fields, tags, the runbook's first
// steps with a link to it, and a footer with rule id and dedup key.
//
// rb may be nil (runbook not loaded): the alert's runbook title and path are
// shown without steps. runbookBaseURL may be empty: the path is shown as
// code instead of a link. firstSteps <= 0 shows no steps.
func Blocks(a *alert.Alert, rb *runbook.Runbook, runbookBaseURL string, firstSteps int) []slack.Block {
	if a == nil {
		return nil
	}
	b := severityBadge(a.Rule.Severity)
	prefix := b.emoji + " " + escape(b.label) + ": "
	title := a.Rule.Title
	if strings.TrimSpace(title) == "" {
		title = a.Rule.ID
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
			prefix+text(title, maxHeader-units(prefix)), true, false)),
		slack.NewSectionBlock(mrkdwn(summary(a.Summary, maxText)), nil, nil),
		slack.NewSectionBlock(nil, fields(a), nil),
	}
	if len(a.Rule.Tags) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(tags(a.Rule.Tags))))
	}
	if s := runbookText(a, rb, runbookBaseURL, firstSteps); s != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(s), nil, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("",
		mrkdwn("rule "+code(a.Rule.ID, 200)),
		mrkdwn("dedup "+code(a.DedupKey, 200)),
		mrkdwn("alert "+code(a.ID, 200)),
	))
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	return blocks
}

// FallbackText is the message's top-level text, shown in notifications and
// by clients that cannot render blocks: "[SEVERITY] title: summary".
func FallbackText(a *alert.Alert) string {
	if a == nil {
		return empty
	}
	title := a.Rule.Title
	if strings.TrimSpace(title) == "" {
		title = a.Rule.ID
	}
	s := "[" + severityBadge(a.Rule.Severity).label + "] " + title + ": " + a.Summary
	return summary(s, maxFallback)
}

// mrkdwn returns a verbatim mrkdwn text object: Slack applies the
// formatting we write but does not auto-link URLs, channel names or
// mentions found in the text.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func fields(a *alert.Alert) []*slack.TextBlockObject {
	object := a.Context.Name
	if object != "" && a.Entity.Namespace != "" {
		object = a.Entity.Namespace + "/" + object
	}
	what := []string{
		line("action", a.Context.Action),
		line("resource", a.Context.Resource),
		line("object", object),
	}
	if a.Context.Outcome != "" {
		what = append(what, line("outcome", a.Context.Outcome))
	}
	when := empty
	if !a.Time.IsZero() {
		when = a.Time.UTC().Format(time.RFC3339)
	}
	fs := []string{
		field("Who",
			line("identity", a.Entity.Identity),
			line("source IP", a.Context.SourceIP),
			line("user agent", a.Context.UserAgent)),
		field("What", what...),
		field("Where",
			line("cluster", a.Context.Cluster),
			line("namespace", a.Entity.Namespace),
			line("pod", a.Entity.Pod)),
		field("When", when, line("source", a.Context.Source)),
	}
	out := make([]*slack.TextBlockObject, 0, min(len(fs), maxFields))
	for _, f := range fs[:min(len(fs), maxFields)] {
		out = append(out, mrkdwn(f))
	}
	return out
}

// field joins a bold label and lines; the lines' values are bounded by
// maxValue, so the result fits maxField.
func field(label string, lines ...string) string {
	return "*" + label + "*\n" + strings.Join(lines, "\n")
}

func line(label, value string) string { return label + ": " + code(value, maxValue) }

func tags(ts []string) string {
	var b strings.Builder
	b.WriteString("tags:")
	n := units(b.String())
	for _, t := range ts {
		c := " " + code(t, 100)
		if n+units(c)+2 > maxText {
			b.WriteString(" " + ellipsis)
			break
		}
		b.WriteString(c)
		n += units(c)
	}
	return b.String()
}

func runbookText(a *alert.Alert, rb *runbook.Runbook, baseURL string, firstSteps int) string {
	path, title := a.Runbook.Path, a.Runbook.Title
	if rb != nil {
		path = rb.Path
		if rb.Title != "" {
			title = rb.Title
		}
	}
	if path == "" && title == "" {
		return ""
	}
	if strings.TrimSpace(title) == "" {
		title = path
	}
	head := "*Runbook:* " + text(title, 300)
	if u := runbookURL(baseURL, path); u != "" {
		head = "*Runbook:* <" + u + "|" + text(title, 300) + ">"
	} else if path != "" {
		head += " " + code(path, 500)
	}
	if rb == nil || firstSteps <= 0 {
		return head
	}
	var b strings.Builder
	b.WriteString(head)
	n := units(head)
	for i, s := range rb.FirstSteps(firstSteps) {
		num := fmt.Sprintf("\n%d. ", i+1)
		st := step(s)
		if n+units(num)+units(st) > maxText {
			// Not enough room for the formatted step: fall back to a
			// truncated plain one, which cannot break a link or code span.
			if rest := maxText - n - units(num); rest > 10 {
				b.WriteString(num + text(s, rest))
			}
			break
		}
		b.WriteString(num + st)
		n += units(num) + units(st)
	}
	return b.String()
}

// runbookURL joins base and path, making the result safe inside <url|text>.
func runbookURL(base, path string) string {
	if base == "" || path == "" {
		return ""
	}
	if !strings.HasSuffix(base, "/") && !strings.HasPrefix(path, "/") {
		base += "/"
	}
	u := urlEscaper.Replace(base + path)
	if units(u) > maxURL {
		return ""
	}
	return u
}

var urlEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20", "\n", "", "\r", "", "\t", "",
)

var (
	mdBold = regexp.MustCompile(`\*\*([^*\n]+)\*\*`)
	mdLink = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^\s()|<>]+)\)`)
)

// step renders a runbook list item (trusted markdown) as mrkdwn: escaped,
// **bold** as *bold*, [text](https://...) as a link.
func step(s string) string {
	s = text(s, maxStep)
	s = mdBold.ReplaceAllString(s, "*$1*")
	return mdLink.ReplaceAllString(s, "<$2|$1>")
}

// summary renders free text (the alert summary) for a mrkdwn object:
// cleaned, backticks replaced so it cannot open code spans, escaped and
// truncated to max.
func summary(s string, max int) string {
	return text(strings.ReplaceAll(s, "`", "'"), max)
}

// code renders an identifier (user, pod, IP, ...) as inline code, so that
// mrkdwn formatting in it is inert: backticks are replaced, the rest is
// escaped and truncated so the result, backticks included, fits max.
// Empty values render as "—".
func code(s string, max int) string {
	s = strings.TrimSpace(clean(strings.ReplaceAll(s, "`", "'")))
	if s == "" {
		return empty
	}
	return "`" + fit(s, max-2) + "`"
}

// text cleans, escapes and truncates s to max; empty text renders as "—".
func text(s string, max int) string {
	s = clean(s)
	if strings.TrimSpace(s) == "" {
		return empty
	}
	return fit(s, max)
}

// clean replaces invalid UTF-8 with U+FFFD, control characters and line
// breaks with spaces and drops bidirectional controls, which could make a name
// display as another.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' '):
			return ' '
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape escapes the three characters Slack gives meaning to in text.
func escape(s string) string { return escaper.Replace(s) }

// fit escapes s and, when the result is longer than max units, truncates it
// on a rune boundary (never inside an escape) and appends "…".
func fit(s string, max int) string {
	e := escape(s)
	if units(e) <= max {
		return e
	}
	if max < 1 {
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
		c := units(piece)
		if n+c > max-1 {
			break
		}
		b.WriteString(piece)
		n += c
	}
	return b.String() + ellipsis
}

// units is the length of s in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
