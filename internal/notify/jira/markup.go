package jira

import (
	"encoding/json"
	"strings"

	"github.com/vigia-dev/vigia/internal/notify/render"
)

// adfNode is an Atlassian Document Format node: the rich-text format of
// Jira Cloud's REST API v3. Only the nodes and marks Jira supports in
// issue fields and comments are produced: doc, paragraph, heading,
// bulletList, orderedList, listItem and text with the code, strong and
// link marks (code combines only with link).
type adfNode struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []*adfNode     `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []adfMark      `json:"marks,omitempty"`
}

type adfMark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// adf renders blocks as an ADF document. Text is carried as text nodes, so
// nothing in it is interpreted: an attacker-chosen name cannot become a
// mention, a link or a macro.
func adf(blocks []block) *adfNode {
	doc := &adfNode{Type: "doc", Version: 1, Content: []*adfNode{}}
	for _, b := range blocks {
		switch b.kind {
		case paragraph, heading:
			if len(b.items) == 0 {
				continue
			}
			inline := adfInline(b.items[0])
			if len(inline) == 0 {
				continue
			}
			n := &adfNode{Type: "paragraph", Content: inline}
			if b.kind == heading {
				n.Type, n.Attrs = "heading", map[string]any{"level": 3}
			}
			doc.Content = append(doc.Content, n)
		case bullets, numbered:
			l := &adfNode{Type: "bulletList"}
			if b.kind == numbered {
				l.Type = "orderedList"
			}
			for _, item := range b.items {
				inline := adfInline(item)
				if len(inline) == 0 {
					continue
				}
				l.Content = append(l.Content, &adfNode{Type: "listItem", Content: []*adfNode{{Type: "paragraph", Content: inline}}})
			}
			if len(l.Content) > 0 {
				doc.Content = append(doc.Content, l)
			}
		}
	}
	return doc
}

func adfInline(spans []span) []*adfNode {
	var out []*adfNode
	for _, s := range spans {
		if s.text == "" {
			continue // ADF forbids empty text nodes
		}
		n := &adfNode{Type: "text", Text: s.text}
		switch {
		case s.href != "":
			n.Marks = append(n.Marks, adfMark{Type: "link", Attrs: map[string]any{"href": s.href}})
			if s.code {
				n.Marks = append(n.Marks, adfMark{Type: "code"})
			}
		case s.code:
			n.Marks = append(n.Marks, adfMark{Type: "code"})
		case s.strong:
			n.Marks = append(n.Marks, adfMark{Type: "strong"})
		}
		out = append(out, n)
	}
	return out
}

// adfSize is the length of the serialized document, as Jira limits it.
func adfSize(doc *adfNode) int {
	b, _ := json.Marshal(doc)
	return render.UTF16Len(string(b))
}

// wikiSpecial are the characters that mean something in Jira wiki markup:
// text effects (*_-+^~??), macros ({code}, {color}), links and mentions
// ([url], [~user]), tables (|), images (!img!) and numbered lists (#).
// The renderer escapes HTML itself.
const wikiSpecial = "{}[]|*_-+^~?#!"

// escapeWiki makes text inert in wiki markup by escaping every special
// character with a backslash. A backslash itself cannot be escaped (a
// doubled one is a line break), so it is shown as U+FF3C, a look-alike.
func escapeWiki(s string) string {
	if !strings.ContainsAny(s, wikiSpecial+"\\") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\\':
			r = '\uFF3C'
		case strings.ContainsRune(wikiSpecial, r):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wikiURL makes a URL safe inside [text|url].
var wikiURL = strings.NewReplacer("|", "%7C", "]", "%5D", "[", "%5B", " ", "%20", "{", "%7B", "}", "%7D")

// wiki renders blocks as Jira wiki markup (REST API v2). Every text is
// escaped; lines always start with our own markup or text we escaped.
func wiki(blocks []block) string {
	var b strings.Builder
	for _, bl := range blocks {
		switch bl.kind {
		case paragraph, heading:
			if len(bl.items) == 0 {
				continue
			}
			line := wikiInline(bl.items[0])
			if line == "" {
				continue
			}
			if bl.kind == heading {
				b.WriteString("h3. ")
			}
			b.WriteString(line)
			b.WriteString("\n\n")
		case bullets, numbered:
			marker := "* "
			if bl.kind == numbered {
				marker = "# "
			}
			n := 0
			for _, item := range bl.items {
				line := wikiInline(item)
				if line == "" {
					continue
				}
				b.WriteString(marker + line + "\n")
				n++
			}
			if n > 0 {
				b.WriteString("\n")
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func wikiInline(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		if s.text == "" {
			continue
		}
		t := escapeWiki(s.text)
		switch {
		case s.href != "":
			b.WriteString("[" + t + "|" + wikiURL.Replace(s.href) + "]")
		case s.code && strings.TrimSpace(s.text) != "":
			b.WriteString("{{" + t + "}}")
		case s.strong && strings.TrimSpace(s.text) != "":
			b.WriteString("*" + strings.TrimSpace(t) + "*")
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}
