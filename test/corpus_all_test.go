package test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

// corpusFailures lists every file of the public corpus, or one record of
// it ("path:line"), that yields no event or an error, as
// "<reasons>: <why>", reasons being the comma-separated normalize.Reason
// of its errors, "unreadable" for a record or file replay cannot read, or
// "no_event" for a record that yields neither. TestCorpusAll keeps it true both ways: an
// unlisted failure fails the test, and so does a listed one that no longer
// fails or fails for another reason.
var corpusFailures = map[string]string{
	"README.md": "not_json: the corpus's own README",

	"audit2rbac-demo/LICENSE":                      "not_json: upstream license text",
	"audit2rbac-demo/SOURCE.json":                  "unknown_format: provenance of the copy (repo, commit, paths, license)",
	"cribl-aws-cloudtrail-sample/LICENSE":          "not_json: upstream license text",
	"cribl-aws-cloudtrail-sample/SOURCE.json":      "unknown_format: provenance of the copy",
	"cribl-k8s-container-logs/README.md":           "not_json: upstream README of the Cribl pack",
	"cribl-k8s-container-logs/SOURCE.json":         "unknown_format: provenance of the copy",
	"cribl-k8s-container-logs/samples.yml":         "not_json: Cribl sample index (YAML)",
	"falco-k8s-audit-traces/LICENSE":               "not_json: upstream license text",
	"falco-k8s-audit-traces/SOURCE.json":           "unknown_format: provenance of the copy",
	"fluent-bit-k8s-container-logs/LICENSE":        "not_json: upstream license text",
	"fluent-bit-k8s-container-logs/SOURCE.json":    "unknown_format: provenance of the copy",
	"gcp-security-analytics-fixtures/LICENSE":      "not_json: upstream license text",
	"gcp-security-analytics-fixtures/SOURCE.json":  "unknown_format: provenance of the copy",
	"otrf-security-datasets/LICENSE":               "not_json: upstream license text",
	"otrf-security-datasets/SOURCE.json":           "unknown_format: provenance of the copy",
	"stratus-red-team-detonation-logs/LICENSE":     "not_json: upstream license text",
	"stratus-red-team-detonation-logs/NOTICE":      "not_json: upstream notice text",
	"stratus-red-team-detonation-logs/SOURCE.json": "unknown_format: provenance of the copy",
	"sysdig-aks-audit-log/LICENSE":                 "not_json: upstream license text",
	"sysdig-aks-audit-log/SOURCE.json":             "unknown_format: provenance of the copy",

	"falco-k8s-audit-traces/expected_detections_by_trace.json":              "unknown_format: Falco's expected detections per trace, not a log",
	"falco-k8s-audit-traces/falco_k8s_audit_tests.yaml.expected_detections": "not_json: Falco's test definitions (YAML), not a log",
	"falco-k8s-audit-traces/fal_01_003.json":                                `unknown_format: deliberately malformed trace ({"kind": 0})`,
	"gcp-security-analytics-fixtures/google.cloud.loadbalancing.type.LoadBalancerLogEntry-Spring4Shell.json": "unknown_format: " +
		"a load balancer request log (jsonPayload), not an audit log",
	"gcp-security-analytics-fixtures/google.cloud.loadbalancing.type.LoadBalancerLogEntry-handledbyIAP.json": "unknown_format: " +
		"a load balancer request log (jsonPayload), not an audit log",
	"gcp-security-analytics-fixtures/google.compute.googleapis.com.vpc_flows.json": "unknown_format: a VPC flow log, not an audit log",
	"otrf-security-datasets/AWS_S3_HoneyBucketLogs.csv":                            "not_json: S3 honey-bucket access alerts as CSV, not CloudTrail JSON",
	"otrf-security-datasets/raw/AADAuditEvents.Zip":                                "not_json: zip archive of AADAuditEvents.json (replay reads gzip, not zip)",
	"otrf-security-datasets/raw/aws_s3_honeybucketlogs.zip":                        "not_json: zip archive of the CSV, read as text lines",
	"otrf-security-datasets/raw/ec2_proxy_s3_exfiltration.zip":                     "not_json: zip archive of the CloudTrail JSON lines, read as text lines",
	"otrf-security-datasets/raw/SDAWS-200914011940.yaml":                           "not_json: dataset metadata (YAML)",
	"otrf-security-datasets/raw/SDAWS-2202181000.yaml":                             "not_json: dataset metadata (YAML)",
}

// corpusSources is the source every event of a corpus path must have,
// by path prefix (the longest prefix wins).
var corpusSources = map[string]string{
	"audit2rbac-demo/":                           event.SourceK8sAudit,
	"cribl-aws-cloudtrail-sample/":               event.SourceCloudTrail,
	"cribl-k8s-container-logs/":                  event.SourceContainerLog,
	"falco-k8s-audit-traces/":                    event.SourceK8sAudit,
	"falco-k8s-audit-traces/cloudtrail/":         event.SourceCloudTrail,
	"fluent-bit-k8s-container-logs/":             event.SourceContainerLog,
	"gcp-security-analytics-fixtures/":           event.SourceGCPAudit,
	"otrf-security-datasets/":                    event.SourceCloudTrail,
	"otrf-security-datasets/AADAuditEvents.json": event.SourceAzureActivity,
	"stratus-red-team-detonation-logs/":          event.SourceCloudTrail,
	"sysdig-aks-audit-log/":                      event.SourceK8sAudit,
}

func corpusSource(rel string) string {
	best := ""
	for p := range corpusSources {
		if strings.HasPrefix(rel, p) && len(p) > len(best) {
			best = p
		}
	}
	return corpusSources[best]
}

// recordingResolver sees every event the processor evaluates, flushed
// container log lines included, before resolution.
type recordingResolver struct {
	next pipeline.Resolver
	evs  []*event.Event
}

func (r *recordingResolver) Resolve(ctx context.Context, evs []*event.Event) error {
	r.evs = append(r.evs, evs...)
	return r.next.Resolve(ctx, evs)
}

// TestCorpusAll replays every file of the public corpus as `vigia replay
// --format auto` does, through the real rule set: every event carries
// the fields every rule relies on and the source its folder holds, every
// failure is documented in corpusFailures, and no rule fails at runtime.
func TestCorpusAll(t *testing.T) {
	dir := corpus.Dir(t)
	ctx := context.Background()
	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	norm, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rec := &recordingResolver{next: resolve.New(resolve.NewMemory(1_000_000), resolve.Options{})}
	proc := &pipeline.Processor{Rules: rules, Resolver: rec, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	detect.Flush() // nothing left over from other tests

	type counts struct{ files, records, events, bad int }
	folders := map[string]*counts{}
	sources := map[string]int{}
	failed := map[string]string{} // documented key -> reasons seen
	undocumented := 0
	fail := func(key, origin, reason, detail string) {
		if _, ok := corpusFailures[key]; !ok {
			if _, ok = corpusFailures[origin]; ok {
				key = origin
			}
		}
		if _, ok := corpusFailures[key]; !ok {
			undocumented++
			if undocumented <= 30 {
				t.Errorf("%s: undocumented failure: %s: %s", origin, reason, detail)
			}
			return
		}
		if !strings.Contains(failed[key], reason) {
			failed[key] += reason + " "
		}
	}
	checkEvents := func(rel, origin string) int {
		evs := rec.evs
		rec.evs = nil
		want := corpusSource(rel)
		for _, ev := range evs {
			sources[ev.Source]++
			var missing []string
			if ev.Source == "" {
				missing = append(missing, "source")
			}
			if ev.Time.IsZero() {
				missing = append(missing, "time")
			}
			if ev.ID == "" {
				missing = append(missing, "id")
			}
			if ev.Action == "" {
				missing = append(missing, "action")
			}
			if ev.Actor.Name == "" {
				missing = append(missing, "actor.name")
			}
			if len(missing) > 0 {
				t.Errorf("%s: %s event %q without %s", origin, ev.Source, ev.ID, strings.Join(missing, ", "))
			}
			if ev.Source != want {
				t.Errorf("%s: event %s has source %s, want %s", origin, ev.ID, ev.Source, cmp.Or(want, "a source listed in corpusSources"))
			}
		}
		return len(evs)
	}

	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		folder, _, ok := strings.Cut(rel, "/")
		if !ok {
			folder = "."
		}
		c := folders[folder]
		if c == nil {
			c = &counts{}
			folders[folder] = c
		}
		c.files++
		var silent []string // records that yielded nothing yet: parts of a split line?
		err = replay.Read(path, func(r replay.Record) error {
			c.records++
			origin := rel + strings.TrimPrefix(r.Origin, path)
			if r.Err != nil {
				c.bad++
				fail(rel, origin, "unreadable", r.Err.Error())
				return nil
			}
			_, n, errs := proc.Process(ctx, norm, r.Data, normalize.Meta{File: r.File})
			if got := checkEvents(rel, origin); got != n {
				t.Errorf("%s: the processor counted %d events, the resolver saw %d", origin, n, got)
			}
			c.events += n
			if len(errs) > 0 {
				c.bad++
			}
			for _, err := range errs {
				fail(rel, origin, normalize.Reason(err), err.Error())
			}
			switch {
			case n > 0:
				silent = nil
			case len(errs) == 0:
				silent = append(silent, origin)
			}
			return nil
		})
		if err != nil {
			c.bad++
			fail(rel, rel, "unreadable", err.Error())
		}
		// Split container log lines whose last part never came.
		_, n := proc.FlushAlerts(ctx)
		c.events += checkEvents(rel, rel+" (flushed)")
		if n > 0 {
			silent = nil
		}
		for _, origin := range silent {
			c.bad++
			fail(rel, origin, "no_event", "yields neither an event nor an error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The table stays true: every entry still fails, for its reasons.
	for key, why := range corpusFailures {
		reasons, _, _ := strings.Cut(why, ":")
		want := strings.Split(reasons, ",")
		seen := strings.Fields(failed[key])
		slices.Sort(want)
		slices.Sort(seen)
		switch {
		case len(seen) == 0:
			t.Errorf("%s is documented as failing (%s) but no longer fails: remove it from corpusFailures", key, why)
		case !slices.Equal(seen, want):
			t.Errorf("%s is documented as failing with %v but fails with %v", key, want, seen)
		}
	}

	names := make([]string, 0, len(folders))
	for f := range folders {
		names = append(names, f)
	}
	sort.Strings(names)
	var total counts
	for _, f := range names {
		c := folders[f]
		t.Logf("%-36s %3d files %5d records %5d events %4d bad", f, c.files, c.records, c.events, c.bad)
		total.files += c.files
		total.records += c.records
		total.events += c.events
		total.bad += c.bad
	}
	t.Logf("%-36s %3d files %5d records %5d events %4d bad; events by source: %v", "total", total.files, total.records, total.events, total.bad, sources)
	for _, src := range event.Sources {
		if sources[src] == 0 {
			t.Errorf("no %s event in the whole corpus", src)
		}
	}

	// No rule fails at runtime on any of it.
	var fired []string
	for i, r := range rules.Rules {
		st := rules.Stats(i)
		if st.Errors > 0 {
			t.Errorf("rule %s (%s): %d runtime errors in %d evaluations", r.ID, r.File, st.Errors, st.Evaluations)
		}
		if st.Matches > 0 {
			fired = append(fired, fmt.Sprintf("%s=%d", r.ID, st.Matches))
		}
	}
	if t.Failed() && logs.Len() > 0 {
		t.Logf("processor log:\n%s", logs.String())
	}
	t.Logf("%d rules, matches: %s", len(rules.Rules), strings.Join(fired, " "))
}
