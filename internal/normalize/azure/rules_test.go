package azure_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// root is the project root, where detections/ and runbooks/ live.
const root = "../../.."

func loadAzureRules(t *testing.T) *rule.Set {
	t.Helper()
	set, err := rule.Load([]string{filepath.Join(root, "detections", "lists"), filepath.Join(root, "detections", "azure")}, rule.Options{Root: root, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestAzureRules runs the tests written inside every Azure rule and
// checks that every alert they raise renders a summary without holes.
func TestAzureRules(t *testing.T) {
	set := loadAzureRules(t)
	if len(set.Rules) < 6 {
		t.Errorf("%d Azure rules, want at least 6", len(set.Rules))
	}
	for _, r := range set.Rules {
		if r.Source != event.SourceAzureActivity {
			t.Errorf("%s: source %q", r.ID, r.Source)
		}
		if !strings.HasPrefix(r.ID, "azure-") {
			t.Errorf("%s: id without the azure- prefix", r.ID)
		}
	}
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) { t.Errorf("%s on %s: %v", r.ID, e.ID, err) }
	n, _ := detect.New(event.SourceAzureActivity, normalize.Options{Raw: true})
	for _, res := range set.RunTests(nil) {
		if res.Err != nil {
			t.Errorf("%s: %s: %v", res.Rule.ID, res.Test.Name, res.Err)
			continue
		}
		if !res.Test.Match {
			continue
		}
		evs, _ := n.Normalize(res.Test.Event, normalize.Meta{})
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				if a.Rule.ID == res.Rule.ID && (strings.Contains(a.Summary, " ? ") || strings.HasSuffix(a.Summary, " ?")) {
					t.Errorf("%s: %s: summary has a hole: %s", res.Rule.ID, res.Test.Name, a.Summary)
				}
			}
		}
	}
}

// TestAzureRunbooks checks every Azure runbook and its Brazilian
// Portuguese translation: required sections in order, the same headings,
// three triage steps to show in alerts.
func TestAzureRunbooks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "runbooks", "azure", "*.md"))
	if len(files) == 0 {
		t.Fatal("no Azure runbooks")
	}
	for _, f := range files {
		name := filepath.Base(f)
		en, err := runbook.Load(root, "runbooks/azure/"+name)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := runbook.Load(root, "runbooks/pt-BR/azure/"+name)
		if err != nil {
			t.Errorf("%s: no Brazilian Portuguese runbook: %v", name, err)
			continue
		}
		for _, rb := range []*runbook.Runbook{en, pt} {
			if err := rb.Check(); err != nil {
				t.Error(err)
			}
			if len(rb.FirstSteps(3)) < 3 {
				t.Errorf("%s: fewer than 3 triage steps", rb.Path)
			}
		}
		if len(en.Sections) != len(pt.Sections) {
			t.Errorf("%s: %d sections in English, %d in Portuguese", name, len(en.Sections), len(pt.Sections))
			continue
		}
		for i := range en.Sections {
			if !strings.HasPrefix(pt.Sections[i].Heading, en.Sections[i].Heading) {
				t.Errorf("%s: section %d is %q in English, %q in Portuguese", name, i, en.Sections[i].Heading, pt.Sections[i].Heading)
			}
		}
	}
}

// TestCorpusAlerts replays the corpus's Entra ID audit export: the two rows
// of the certificates-and-secrets update (one directory event, exported
// twice by the lab's query) raise the credential rule, the tenant-wide
// delegated grant of Mail.ReadWrite raises the consent rule, and the
// application update around them raises nothing.
func TestCorpusAlerts(t *testing.T) {
	set := loadAzureRules(t)
	dir := corpus.Dir(t)
	n, _ := detect.New(detect.Auto, normalize.Options{Raw: set.UsesRaw()})
	ev := set.NewEvaluator()
	ev.OnError = func(r *rule.Rule, e *event.Event, err error) { t.Errorf("%s on %s: %v", r.ID, e.ID, err) }
	for rel, want := range map[string]map[string]int{
		"otrf-security-datasets/AADAuditEvents.json": {"azure-entra-app-credential-added": 2, "azure-entra-consent-risky-permissions": 1},
		"sysdig-aks-audit-log/event.json":            {},
	} {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := n.Normalize(data, normalize.Meta{File: rel})
		got := map[string]int{}
		for _, e := range evs {
			for _, a := range ev.Eval(nil, e) {
				t.Logf("%s: %s", a.Rule.ID, a.Summary)
				got[a.Rule.ID]++
			}
		}
		for id, c := range want {
			if got[id] != c {
				t.Errorf("%s: %s fired %d times, want %d", rel, id, got[id], c)
			}
		}
		for id, c := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: %s fired %d times, want none", rel, id, c)
			}
		}
	}
}
