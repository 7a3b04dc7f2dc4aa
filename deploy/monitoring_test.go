package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/telemetry"
)

// exposedMetrics starts Vigia's telemetry, records every metric once and
// scrapes /metrics: the names and label names Prometheus really sees (the
// exporter adds _total to counters), not a list kept by hand.
func exposedMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	m, err := telemetry.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	m.Consumed("k8s-audit", "k8s_audit")
	m.Normalized("k8s_audit", 1)
	m.Failed("k8s_audit", "not_json")
	m.DeadLettered("not_json")
	m.Sent("soc-slack")
	m.SendFailed("soc-slack")
	m.Commit(true)
	m.Lag("k8s-audit", 0, 3)
	if err := m.ObserveRules(func() telemetry.RuleStats {
		return func(yield func(string, uint64, uint64, uint64)) { yield("k8s-pod-exec-attach", 2, 1, 0) }
	}); err != nil {
		t.Fatal(err)
	}
	im, err := m.Ingest("k8s-audit")
	if err != nil {
		t.Fatal(err)
	}
	im.Request(200, 1024)
	im.Produced(3, 900)
	im.Truncated(1)
	im.Dropped("too_large", 1)
	im.Inflight(1024)
	dm, err := m.Delivery(func(_ context.Context, observe func(string, int64)) { observe("soc-slack", 2) })
	if err != nil {
		t.Fatal(err)
	}
	dm.Suppressed("soc-slack", "silenced")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	// name{label="v",...} value
	sample := regexp.MustCompile(`(?m)^(vigia_[a-z_]+)(?:\{([^}]*)\})? `)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	out := map[string]map[string]bool{}
	for _, s := range sample.FindAllStringSubmatch(string(body), -1) {
		if out[s[1]] == nil {
			out[s[1]] = map[string]bool{}
		}
		for _, l := range label.FindAllStringSubmatch(s[2], -1) {
			out[s[1]][l[1]] = true
		}
	}
	if len(out) < 5 {
		t.Fatalf("scraped only %d vigia metrics:\n%s", len(out), body)
	}
	return out
}

// Labels Prometheus attaches to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true}

var (
	metricRE   = regexp.MustCompile(`\bvigia_[a-z_]+`)
	selectorRE = regexp.MustCompile(`\b(vigia_[a-z_]+)\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// checkPromQL checks one expression against the exposed metrics: every
// vigia_ metric exists, every label it is filtered or grouped by exists on
// the metrics of the expression, brackets balance. It returns the vigia
// metrics referenced.
func checkPromQL(t *testing.T, where, expr string, exposed map[string]map[string]bool) []string {
	t.Helper()
	names := metricRE.FindAllString(expr, -1)
	known := maps.Clone(targetLabels)
	for _, n := range names {
		if _, ok := exposed[n]; !ok {
			t.Errorf("%s: metric %s does not exist (exposed: %v)", where, n, slices.Sorted(maps.Keys(exposed)))
			continue
		}
		maps.Copy(known, exposed[n])
	}
	for _, s := range selectorRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range matcherRE.FindAllStringSubmatch(s[2], -1) {
			if !exposed[s[1]][l[1]] && !targetLabels[l[1]] {
				t.Errorf("%s: %s has no label %q", where, s[1], l[1])
			}
		}
	}
	if len(names) > 0 {
		for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !known[l] {
					t.Errorf("%s: grouping by %q, a label none of %v has", where, l, names)
				}
			}
		}
	}
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range expr {
		switch r {
		case '(', '[', '{':
			depth[r]++
		case ')', ']', '}':
			if depth[pairs[r]]--; depth[pairs[r]] < 0 {
				t.Errorf("%s: unbalanced %q in %s", where, r, expr)
			}
		}
	}
	for r, n := range depth {
		if n != 0 {
			t.Errorf("%s: unbalanced %q in %s", where, r, expr)
		}
	}
	return names
}

// dashboard is the part of a Grafana dashboard the test reads; the rest of
// the model is Grafana's and decoded loosely.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Definition string          `json:"definition"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type, UID string
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var legendLabelRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

func TestGrafanaDashboard(t *testing.T) {
	exposed := exposedMetrics(t)
	var d dashboard
	if err := json.Unmarshal(readFile(t, filepath.Join(root(t), "deploy", "grafana", "vigia-dashboard.json")), &d); err != nil {
		t.Fatalf("vigia-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("dashboard needs uid, title and schemaVersion: %q %q %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" {
			checkPromQL(t, "variable "+v.Name, v.Definition, exposed)
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one Prometheus")
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	type rect struct {
		title          string
		x0, y0, x1, y1 int
	}
	var rects []rect
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: duplicate id", where)
			}
			ids[p.ID] = true
			if p.Title == "" {
				t.Errorf("panel %d has no title", p.ID)
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			for _, r := range rects {
				if g.X < r.x1 && r.x0 < g.X+g.W && g.Y < r.y1 && r.y0 < g.Y+g.H {
					t.Errorf("%s overlaps %q", where, r.title)
				}
			}
			rects = append(rects, rect{p.Title, g.X, g.Y, g.X + g.W, g.Y + g.H})
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource must be the ${datasource} variable", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				names := checkPromQL(t, where, tg.Expr, exposed)
				for _, n := range names {
					used[n] = true
				}
				if !strings.Contains(tg.Expr, `job=~"$job"`) {
					t.Errorf("%s: %s ignores the $job variable", where, tg.Expr)
				}
				for _, l := range legendLabelRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !regexp.MustCompile(`\b` + l[1] + `\b`).MatchString(tg.Expr) {
						t.Errorf("%s: legend {{%s}} is not a label the query keeps", where, l[1])
					}
				}
			}
		}
	}
	walk(d.Panels)

	// Every metric Vigia exposes is on the dashboard.
	for name := range exposed {
		if !used[name] {
			t.Errorf("metric %s is on no panel", name)
		}
	}
}

// ruleFile is a Prometheus rule file (the `spec` of a PrometheusRule).
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	alertNameRE   = regexp.MustCompile(`^Vigia[A-Z][A-Za-z]+$`)
	templateVarRE = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	headingRE     = regexp.MustCompile(`(?m)^#{2,4} +(\S+)\s*$`)
)

func TestPrometheusAlerts(t *testing.T) {
	exposed := exposedMetrics(t)
	repo := root(t)
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, filepath.Join(repo, "deploy", "prometheus", "vigia-alerts.yaml")))))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("vigia-alerts.yaml: %v", err)
	}
	// Alerts link to a section of docs/deploy.md named after them.
	headings := map[string]bool{}
	for _, h := range headingRE.FindAllStringSubmatch(string(readFile(t, filepath.Join(repo, "docs", "deploy.md"))), -1) {
		headings[strings.ToLower(strings.Trim(h[1], "`"))] = true
	}

	alerts := map[string]bool{}
	used := map[string]bool{}
	groups := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if !alertNameRE.MatchString(r.Alert) || r.Record != "" {
				t.Errorf("%q: want alerting rules named VigiaSomething", r.Alert)
			}
			if alerts[r.Alert] {
				t.Errorf("%s: repeated", where)
			}
			alerts[r.Alert] = true
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: empty expr", where)
			}
			for _, n := range checkPromQL(t, where, r.Expr, exposed) {
				used[n] = true
			}
			if d, err := time.ParseDuration(r.For); err != nil || d <= 0 {
				t.Errorf("%s: for %q: want a duration, so one bad scrape does not page", where, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: annotation %s is required", where, k)
				}
			}
			for k := range r.Annotations {
				if !slices.Contains([]string{"summary", "description", "runbook_url"}, k) {
					t.Errorf("%s: unexpected annotation %q", where, k)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/deploy.md#"+anchor) {
				t.Errorf("%s: runbook_url %q, want .../docs/deploy.md#%s", where, r.Annotations["runbook_url"], anchor)
			}
			if !headings[anchor] {
				t.Errorf("%s: docs/deploy.md has no heading %q for its runbook_url", where, r.Alert)
			}
			// $labels used in annotations survive the expression's aggregation.
			kept := map[string]bool{}
			for _, g := range groupingRE.FindAllStringSubmatch(r.Expr, -1) {
				for _, l := range strings.Split(g[1], ",") {
					kept[strings.TrimSpace(l)] = true
				}
			}
			if len(kept) == 0 {
				kept = maps.Clone(targetLabels)
				for _, n := range metricRE.FindAllString(r.Expr, -1) {
					maps.Copy(kept, exposed[n])
				}
			}
			for _, a := range r.Annotations {
				for _, v := range templateVarRE.FindAllStringSubmatch(a, -1) {
					if !kept[v[1]] {
						t.Errorf("%s: annotation uses $labels.%s, which the expression does not keep", where, v[1])
					}
				}
			}
		}
	}

	// What the alerts must cover.
	for _, m := range []string{"vigia_consumer_lag", "vigia_dead_letters_total", "vigia_alerts_failed_total", "vigia_rule_errors_total"} {
		if !used[m] {
			t.Errorf("no alert watches %s", m)
		}
	}
	var down bool
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			down = down || strings.Contains(r.Expr, "up{")
		}
	}
	if !down {
		t.Error("no alert fires when Prometheus cannot scrape Vigia (up == 0)")
	}
}
