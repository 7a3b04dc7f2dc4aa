package render_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify/render"
)

func TestShorten(t *testing.T) {
	tests := []struct {
		in         string
		max        int
		runes, u16 string
	}{
		{"hello", 5, "hello", "hello"},
		{"hello world", 7, "hello…", "hello…"}, // the space before the cut goes
		{"a\n\nbcdef", 4, "a…", "a…"},
		{"🚨🚨🚨", 3, "🚨🚨🚨", "🚨…"}, // two UTF-16 units each
		{"🚨🚨🚨", 2, "🚨…", "…"},
		{"abc", 0, "", ""},
		{"", 0, "", ""},
	}
	for _, tt := range tests {
		if got := render.Shorten(tt.in, tt.max); got != tt.runes || utf8.RuneCountInString(got) > max(tt.max, 0) {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.runes)
		}
		if got := render.ShortenUTF16(tt.in, tt.max); got != tt.u16 || render.UTF16Len(got) > max(tt.max, 0) {
			t.Errorf("ShortenUTF16(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.u16)
		}
	}
	if n := render.UTF16Len("aç🚨"); n != 4 {
		t.Errorf("UTF16Len = %d, want 4", n)
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{{"héllo", 2, "hé"}, {"héllo", 5, "héllo"}, {"héllo", 9, "héllo"}, {"abc", 0, ""}} {
		if got := render.Cut(tt.in, tt.n); got != tt.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestScrub(t *testing.T) {
	// Credentials redacted, lines joined, space trimmed.
	got := render.Scrub(" Authorization:\nBearer abcdefghijklmnop0123456789 ")
	if strings.Contains(got, "abcdefghijklmnop0123456789") || strings.ContainsAny(got, "\n") || got != strings.TrimSpace(got) {
		t.Errorf("Scrub = %q", got)
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://x.example/a b":  "https://x.example/a%20b",
		"http://x.example":       "http://x.example",
		"https://u:p@x.example/": "",
		"javascript:alert(1)":    "",
		"/relative":              "",
		"":                       "",
		"https://x.example/" + strings.Repeat("a", 2000): "",
	} {
		if got := render.SafeURL(in); got != want {
			t.Errorf("SafeURL(%.40q) = %q, want %q", in, got, want)
		}
	}
}

func TestTicket(t *testing.T) {
	tk := render.Ticket{Clean: render.Scrub, Shorten: render.Shorten, MaxValue: 40}
	alerts := []*alert.Alert{
		nil,
		{Rule: alert.Rule{ID: "a.low", Title: "Low one", Severity: alert.SeverityLow}, Summary: "first"},
		{Rule: alert.Rule{ID: "a.high", Severity: alert.SeverityHigh}, Summary: "two\nlines"},
		{Rule: alert.Rule{ID: "a.high2", Title: "Later high", Severity: alert.SeverityHigh}},
	}
	if got := tk.Title(alerts, nil, 100); got != "[HIGH] a.high: two lines" {
		t.Errorf("Title = %q", got)
	}
	if got := tk.Title(nil, map[string]string{"rule": "r1", "cluster": "prod"}, 100); got != "[VIGIA] cluster=prod, rule=r1" {
		t.Errorf("Title without alerts = %q", got)
	}
	if got := tk.Title(alerts[1:2], nil, 8); got != "[LOW] L…" {
		t.Errorf("short Title = %q", got)
	}
	for sev, want := range map[string]string{"critical": "CRITICAL", "weird": "WEIRD", "": "UNKNOWN", " \n": "UNKNOWN"} {
		if got := tk.Severity(sev); got != want {
			t.Errorf("Severity(%q) = %q, want %q", sev, got, want)
		}
	}
	if got := tk.Labels(map[string]string{"k": strings.Repeat("v", 100)}); utf8.RuneCountInString(got) != 40 || !strings.HasPrefix(got, "k=vvv") {
		t.Errorf("Labels = %q", got)
	}
}

func TestFacts(t *testing.T) {
	a := &alert.Alert{
		Entity:  alert.Entity{Identity: "alice", Namespace: "payments", Pod: "api-1"},
		Context: alert.Context{Name: "db-creds", SourceIP: "10.0.0.1"},
	}
	w := render.WordsFor("pt-BR")
	got := map[string]string{}
	for _, f := range render.Facts(a, w) {
		got[f.Label] = f.Value
	}
	if got[w.Identity] != "alice" || got[w.Object] != "payments/db-creds" || got[w.SourceIP] != "10.0.0.1" || got[w.Pod] != "api-1" || got[w.Region] != "" {
		t.Errorf("Facts = %v", got)
	}
	if w.Identity != "Identidade" || render.WordsFor("en").Identity != "Identity" || render.WordsFor("").Identity != "Identity" {
		t.Error("WordsFor picks the wrong locale")
	}
	if render.Stamp(time.Time{}) != "—" || render.Stamp(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))) != "2026-01-02T02:04:05Z" {
		t.Error("Stamp")
	}
}
