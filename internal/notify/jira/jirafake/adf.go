package jirafake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ADF node and mark types the fake accepts: those Jira supports in issue
// fields and comments, minus media, tables and extensions (no Vigia text
// uses them).
var (
	blockNodes  = []string{"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule"}
	inlineNodes = []string{"text", "hardBreak", "mention", "emoji", "inlineCard"}
	markTypes   = []string{"strong", "em", "code", "link", "strike", "underline", "textColor", "subsup"}
	nodeKeys    = []string{"type", "content", "attrs", "marks", "text"}
)

// ValidateADF checks that raw is an Atlassian Document Format document the
// way Jira's v3 API does: a {"type":"doc","version":1,"content":[...]}
// object whose nodes nest legally, with non-empty text nodes and legal mark
// combinations (code only with link; link with an href). It returns the
// problems found, each with the path of the offending node.
func ValidateADF(raw json.RawMessage) []string {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return []string{"Operation value must be an Atlassian Document (see the Atlassian Document Format)"}
	}
	var v adfValidator
	if doc["type"] != "doc" {
		v.problem("", "the root node must be of type doc")
	}
	if version, ok := doc["version"].(float64); !ok || version != 1 {
		v.problem("", "version must be 1")
	}
	for k := range doc {
		if k != "type" && k != "version" && k != "content" {
			v.problem("", "unexpected property %q on doc", k)
		}
	}
	content, ok := doc["content"].([]any)
	if !ok {
		v.problem("", "doc needs a content array")
	}
	for i, c := range content {
		v.block(fmt.Sprintf("/content/%d", i), c)
	}
	return v.problems
}

type adfValidator struct{ problems []string }

func (v *adfValidator) problem(at, format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...)+" at "+at)
}

// node checks the keys common to all nodes and returns the node's type.
func (v *adfValidator) node(at string, x any) (map[string]any, string) {
	n, ok := x.(map[string]any)
	if !ok {
		v.problem(at, "a node must be an object")
		return nil, ""
	}
	for k := range n {
		if !slices.Contains(nodeKeys, k) {
			v.problem(at, "unexpected property %q", k)
		}
	}
	typ, _ := n["type"].(string)
	return n, typ
}

func (v *adfValidator) children(at string, n map[string]any, required bool) []any {
	c, ok := n["content"]
	if !ok {
		if required {
			v.problem(at, "content is required")
		}
		return nil
	}
	list, ok := c.([]any)
	if !ok {
		v.problem(at, "content must be an array")
		return nil
	}
	if required && len(list) == 0 {
		v.problem(at, "content must not be empty")
	}
	return list
}

func (v *adfValidator) block(at string, x any) {
	n, typ := v.node(at, x)
	if n == nil {
		return
	}
	if _, ok := n["text"]; ok {
		v.problem(at, "text is only allowed on text nodes")
	}
	if _, ok := n["marks"]; ok && typ != "paragraph" && typ != "heading" && typ != "codeBlock" {
		v.problem(at, "marks are not allowed on %s", typ)
	}
	switch typ {
	case "paragraph":
		for i, c := range v.children(at, n, false) {
			v.inline(fmt.Sprintf("%s/content/%d", at, i), c)
		}
	case "heading":
		attrs, _ := n["attrs"].(map[string]any)
		if l, ok := attrs["level"].(float64); !ok || l < 1 || l > 6 || l != float64(int(l)) {
			v.problem(at, "heading needs attrs.level from 1 to 6")
		}
		for i, c := range v.children(at, n, false) {
			v.inline(fmt.Sprintf("%s/content/%d", at, i), c)
		}
	case "bulletList", "orderedList":
		if attrs, ok := n["attrs"].(map[string]any); ok && typ == "orderedList" {
			if o, ok := attrs["order"]; ok {
				if f, ok := o.(float64); !ok || f < 0 || f != float64(int(f)) {
					v.problem(at, "attrs.order must be a non-negative integer")
				}
			}
		} else if _, has := n["attrs"]; has {
			v.problem(at, "%s takes no attrs", typ)
		}
		for i, c := range v.children(at, n, true) {
			p := fmt.Sprintf("%s/content/%d", at, i)
			item, ityp := v.node(p, c)
			if item == nil {
				continue
			}
			if ityp != "listItem" {
				v.problem(p, "a list may only contain listItem nodes, got %q", ityp)
				continue
			}
			for j, ic := range v.children(p, item, true) {
				q := fmt.Sprintf("%s/content/%d", p, j)
				_, ctyp := v.node(q, ic)
				switch {
				case j == 0 && ctyp != "paragraph" && ctyp != "codeBlock" && ctyp != "mediaSingle":
					v.problem(q, "a listItem must start with a paragraph, got %q", ctyp)
				case ctyp != "paragraph" && ctyp != "bulletList" && ctyp != "orderedList" && ctyp != "codeBlock":
					v.problem(q, "%q is not allowed in a listItem", ctyp)
				}
				v.block(q, ic)
			}
		}
	case "codeBlock":
		for i, c := range v.children(at, n, false) {
			p := fmt.Sprintf("%s/content/%d", at, i)
			t, ttyp := v.node(p, c)
			if t == nil {
				continue
			}
			if ttyp != "text" {
				v.problem(p, "a codeBlock may only contain text")
			}
			if _, ok := t["marks"]; ok {
				v.problem(p, "text in a codeBlock takes no marks")
			}
			v.inline(p, c)
		}
	case "blockquote":
		for i, c := range v.children(at, n, true) {
			v.block(fmt.Sprintf("%s/content/%d", at, i), c)
		}
	case "rule":
	default:
		if slices.Contains(inlineNodes, typ) {
			v.problem(at, "inline node %q where a block node is expected", typ)
		} else {
			v.problem(at, "unknown or unsupported node type %q", typ)
		}
	}
}

func (v *adfValidator) inline(at string, x any) {
	n, typ := v.node(at, x)
	if n == nil {
		return
	}
	if !slices.Contains(inlineNodes, typ) {
		v.problem(at, "%q is not an inline node", typ)
		return
	}
	if _, ok := n["content"]; ok {
		v.problem(at, "inline nodes have no content")
	}
	switch typ {
	case "text":
		s, ok := n["text"].(string)
		if !ok || s == "" {
			v.problem(at, "text nodes need a non-empty text")
		}
		v.marks(at, n["marks"])
	case "mention":
		attrs, _ := n["attrs"].(map[string]any)
		if id, _ := attrs["id"].(string); id == "" {
			v.problem(at, "mention needs attrs.id")
		}
	default:
		if _, ok := n["text"]; ok {
			v.problem(at, "text is only allowed on text nodes")
		}
	}
}

func (v *adfValidator) marks(at string, x any) {
	if x == nil {
		return
	}
	list, ok := x.([]any)
	if !ok {
		v.problem(at, "marks must be an array")
		return
	}
	seen := map[string]bool{}
	for i, m := range list {
		p := fmt.Sprintf("%s/marks/%d", at, i)
		mark, ok := m.(map[string]any)
		if !ok {
			v.problem(p, "a mark must be an object")
			continue
		}
		typ, _ := mark["type"].(string)
		if !slices.Contains(markTypes, typ) {
			v.problem(p, "unknown mark type %q", typ)
			continue
		}
		if seen[typ] {
			v.problem(p, "duplicate mark %q", typ)
		}
		seen[typ] = true
		if typ == "link" {
			attrs, _ := mark["attrs"].(map[string]any)
			if href, _ := attrs["href"].(string); href == "" {
				v.problem(p, "link needs attrs.href")
			}
		}
	}
	if seen["code"] {
		for t := range seen {
			if t != "code" && t != "link" {
				v.problem(at, "the code mark combines only with link, not %q", t)
			}
		}
	}
}

// ADFText returns the text of an ADF document: text nodes concatenated,
// blocks separated by newlines. Mentions show as "@id".
func ADFText(raw json.RawMessage) string {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(x any)
	walk = func(x any) {
		n, ok := x.(map[string]any)
		if !ok {
			return
		}
		switch n["type"] {
		case "text":
			s, _ := n["text"].(string)
			b.WriteString(s)
		case "mention":
			attrs, _ := n["attrs"].(map[string]any)
			id, _ := attrs["id"].(string)
			b.WriteString("@" + id)
		case "hardBreak":
			b.WriteString("\n")
		}
		if c, ok := n["content"].([]any); ok {
			for _, x := range c {
				walk(x)
			}
		}
		switch n["type"] {
		case "paragraph", "heading", "codeBlock":
			b.WriteString("\n")
		}
	}
	walk(doc)
	return b.String()
}

// ADFNodes returns the types of every node and mark in an ADF document,
// depth first ("doc", "paragraph", "text", "mark:code", ...).
func ADFNodes(raw json.RawMessage) []string {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(x any)
	walk = func(x any) {
		n, ok := x.(map[string]any)
		if !ok {
			return
		}
		t, _ := n["type"].(string)
		out = append(out, t)
		if ms, ok := n["marks"].([]any); ok {
			for _, m := range ms {
				if mm, ok := m.(map[string]any); ok {
					mt, _ := mm["type"].(string)
					out = append(out, "mark:"+mt)
				}
			}
		}
		if c, ok := n["content"].([]any); ok {
			for _, x := range c {
				walk(x)
			}
		}
	}
	walk(doc)
	return out
}
