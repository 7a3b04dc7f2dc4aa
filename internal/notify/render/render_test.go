package render_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify/render"
	"github.com/vigia-dev/vigia/internal/runbook"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"ção ção", 4, "ção…"},
		{"🚨🚨🚨", 2, "🚨…"},
		{"🚨🚨🚨", 3, "🚨🚨🚨"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"", 3, ""},
	}
	for _, tt := range tests {
		got := render.Truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > max(tt.max, 0) {
			t.Errorf("Truncate(%q, %d) = %q: invalid or too long", tt.in, tt.max, got)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  alice\n\tbob\r\n", "alice  bob"},
		{"al\xffice", "al\uFFFDice"},
		{"exe.\u202Etxt", "exe.txt"},
		{"curl -u admin:hunter2@x https://u:p4ssw0rd@host/", "curl -u admin:hunter2@x https://u:[REDACTED]@host/"},
	}
	for _, tt := range tests {
		if got := render.Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := render.Clean("Authorization: Bearer abcdef123456"); strings.Contains(got, "abcdef123456") || !strings.Contains(got, "[REDACTED]") {
		t.Errorf("bearer token kept: %q", got)
	}
	if got := render.Text("password=hunter2 and more text", 20); strings.Contains(got, "hunter2") || utf8.RuneCountInString(got) > 20 {
		t.Errorf("Text = %q", got)
	}
}

func TestJoinURL(t *testing.T) {
	tests := []struct{ base, path, want string }{
		{"https://git.example/vigia/blob/main/", "runbooks/k8s/x.md", "https://git.example/vigia/blob/main/runbooks/k8s/x.md"},
		{"https://git.example/vigia/blob/main", "runbooks/k8s/x.md", "https://git.example/vigia/blob/main/runbooks/k8s/x.md"},
		{"https://git.example/", "/runbooks/x.md", "https://git.example/runbooks/x.md"},
		{"", "runbooks/x.md", ""},
		{"https://git.example/", "", ""},
		{"git.example/", "runbooks/x.md", ""},
		{"javascript:alert(1)//", "x.md", ""},
	}
	for _, tt := range tests {
		if got := render.JoinURL(tt.base, tt.path); got != tt.want {
			t.Errorf("JoinURL(%q, %q) = %q, want %q", tt.base, tt.path, got, tt.want)
		}
	}
}

const (
	english    = "# Exec into a pod\n\n## Triage\n\n1. First.\n2. Second\n   continued.\n3. Third.\n4. Fourth.\n\n## Containment\n- Isolate.\n"
	portuguese = "# Exec em um pod\n\n## Triage (Triagem)\n\n1. Primeiro.\n2. Segundo.\n\n## Containment\n- Isole.\n"
)

func books(t *testing.T, withTranslation bool) *runbook.Library {
	t.Helper()
	lib := runbook.NewLibrary()
	add := func(path, md string) {
		rb, err := runbook.Parse(path, []byte(md))
		if err != nil {
			t.Fatal(err)
		}
		lib.Add(rb)
	}
	add("runbooks/k8s/exec.md", english)
	if withTranslation {
		add("runbooks/pt-BR/k8s/exec.md", portuguese)
	}
	return lib
}

func TestRunbookFor(t *testing.T) {
	a := &alert.Alert{Runbook: alert.Runbook{Path: "runbooks/k8s/exec.md", Title: "Exec (from the rule)"}}
	base := "https://git.example/vigia/blob/main/"
	tests := []struct {
		name   string
		books  *runbook.Library
		locale string
		steps  int
		want   render.Runbook
	}{
		{"english", books(t, true), "", 3, render.Runbook{
			Title: "Exec into a pod", Path: "runbooks/k8s/exec.md", URL: base + "runbooks/k8s/exec.md",
			Steps: []string{"First.", "Second continued.", "Third."},
		}},
		{"pt-BR", books(t, true), "pt-BR", 3, render.Runbook{
			Title: "Exec em um pod", Path: "runbooks/pt-BR/k8s/exec.md", URL: base + "runbooks/pt-BR/k8s/exec.md",
			Steps: []string{"Primeiro.", "Segundo."}, Localized: true,
		}},
		{"pt-BR without translation", books(t, false), "pt-BR", 1, render.Runbook{
			Title: "Exec into a pod", Path: "runbooks/k8s/exec.md", URL: base + "runbooks/k8s/exec.md", Steps: []string{"First."},
		}},
		{"not loaded", nil, "pt-BR", 3, render.Runbook{
			Title: "Exec (from the rule)", Path: "runbooks/k8s/exec.md", URL: base + "runbooks/k8s/exec.md",
		}},
		{"no steps", books(t, true), "", 0, render.Runbook{
			Title: "Exec into a pod", Path: "runbooks/k8s/exec.md", URL: base + "runbooks/k8s/exec.md",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render.RunbookFor(a, tt.books, tt.locale, base, tt.steps)
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
	if got := render.RunbookFor(&alert.Alert{}, books(t, true), "", base, 3); got.Path != "" || got.URL != "" || got.Title != "" {
		t.Errorf("alert without runbook: %#v", got)
	}
	if got := render.RunbookFor(a, nil, "", "", 3); got.URL != "" {
		t.Errorf("no base URL yet a link: %q", got.URL)
	}
}

func TestATTACK(t *testing.T) {
	for _, tt := range []struct{ tag, id, url, tactic string }{
		{"attack.t1611", "T1611", "https://attack.mitre.org/techniques/T1611/", ""},
		{"attack.t1552.007", "T1552.007", "https://attack.mitre.org/techniques/T1552/007/", ""},
		{"T1609", "T1609", "https://attack.mitre.org/techniques/T1609/", ""},
		{"attack.privilege_escalation", "", "", "Privilege Escalation"},
		{"attack.g0032", "", "", ""},
		{"attack.t161", "", "", ""},
		{"t1611x", "", "", ""},
		{"cis.5.2.1", "", "", ""},
		{"<!channel>", "", "", ""},
	} {
		tech, ok := render.ParseTechnique(tt.tag)
		if ok != (tt.id != "") || tech.ID != tt.id || tech.URL != tt.url {
			t.Errorf("ParseTechnique(%q) = %+v, %v", tt.tag, tech, ok)
		}
		if got := render.Tactic(tt.tag); got != tt.tactic {
			t.Errorf("Tactic(%q) = %q, want %q", tt.tag, got, tt.tactic)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("ção 🚨 \xff", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1000
		got := render.Truncate(render.Clean(s), n)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		if c := utf8.RuneCountInString(got); c > max(n, 0) {
			t.Fatalf("%d runes, max %d", c, n)
		}
	})
}

func BenchmarkText(b *testing.B) {
	s := strings.Repeat("alice@example.com opened a shell in payments/api-7d9f ção ", 20)
	b.ReportAllocs()
	for b.Loop() {
		_ = render.Text(s, 255)
	}
}

func ExampleRunbookFor() {
	lib := runbook.NewLibrary()
	for path, md := range map[string]string{
		"runbooks/k8s/exec.md":       "# Exec into a pod\n## Triage\n1. Confirm who ran it.\n2. Check the pod.\n",
		"runbooks/pt-BR/k8s/exec.md": "# Exec em um pod\n## Triage (Triagem)\n1. Confirme quem executou.\n2. Verifique o pod.\n",
	} {
		rb, _ := runbook.Parse(path, []byte(md))
		lib.Add(rb)
	}
	a := &alert.Alert{Runbook: alert.Runbook{Path: "runbooks/k8s/exec.md"}}
	rb := render.RunbookFor(a, lib, "pt-BR", "https://github.com/ORG/vigia/blob/main/", 1)
	fmt.Println(rb.Title)
	fmt.Println(rb.URL)
	fmt.Println(rb.Steps)
	// Output:
	// Exec em um pod
	// https://github.com/ORG/vigia/blob/main/runbooks/pt-BR/k8s/exec.md
	// [Confirme quem executou.]
}

func ExampleText() {
	fmt.Println(render.Text("kubectl exec by alice\n--password=hunter2 ção ção ção", 40))
	// Output:
	// kubectl exec by alice --password=[REDAC…
}
