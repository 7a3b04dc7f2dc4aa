package azure_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/azure"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

// azureFiles are the corpus files holding Azure records, with how many
// azure_activity events each must give. The AKS export holds only
// kube-audit records, which belong to the Kubernetes decoder.
var azureFiles = map[string]struct {
	events int
	// skipErrs, when set, is why errors of the file are not this
	// package's to fix.
	skipErrs string
}{
	"otrf-security-datasets/AADAuditEvents.json":          {events: 4},
	"sysdig-aks-audit-log/event.json":                     {},
	"sysdig-aks-audit-log/sample_KubeAuditLog_event.json": {},
	"sysdig-aks-audit-log/sample_EventHubs_event.json": {skipErrs: "one kube-audit record without the " +
		"{\"records\":[...]} envelope: Azure's Detect rejects kube-audit categories as it must, and only the " +
		"envelope routes them to the Kubernetes decoder"},
}

// TestCorpus normalizes the corpus's Azure files through the dispatcher,
// as the pipeline does: every Azure record gives an event with source,
// time, id, action, outcome and actor.
func TestCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	n, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range azureFiles {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			// The sysdig sample files start with a UTF-8 byte order mark,
			// which the dispatcher does not skip before parsing (reported);
			// their records are kube-audit, the Kubernetes decoder's.
			data = bytes.TrimPrefix(data, []byte("\ufeff"))
			evs, errs := n.Normalize(data, normalize.Meta{File: file})
			for _, err := range errs {
				if want.skipErrs != "" {
					t.Logf("%s: %v (%s)", file, err, want.skipErrs)
					continue
				}
				t.Errorf("%s: %v", file, err)
			}
			got := 0
			for _, ev := range evs {
				if ev.Source != event.SourceAzureActivity {
					continue
				}
				got++
				checkEvent(t, file, ev)
			}
			if got != want.events {
				t.Errorf("%s: %d Azure events, want %d", file, got, want.events)
			}
		})
	}
}

func checkEvent(t *testing.T, where string, ev *event.Event) {
	t.Helper()
	switch {
	case ev.Time.IsZero(), ev.ID == "", ev.Action == "", ev.Actor.Name == "", ev.Actor.Type == "", ev.Cloud.Provider != event.ProviderAzure:
		b, _ := json.Marshal(ev)
		t.Errorf("%s: incomplete event %s", where, b)
	}
	switch ev.Outcome {
	case event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeUnknown:
	default:
		t.Errorf("%s: outcome %q", where, ev.Outcome)
	}
}

// TestCorpusOtherSources: no record of another source's corpus file is
// taken for an Azure record.
func TestCorpusOtherSources(t *testing.T) {
	dir := corpus.Dir(t)
	checked := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if rel == "otrf-security-datasets/AADAuditEvents.json" || strings.HasSuffix(rel, "SOURCE.json") {
			return nil
		}
		if ext := filepath.Ext(path); ext != ".json" && ext != ".jsonl" && ext != ".log" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values(data) {
			checked++
			if azure.Detect(v) {
				t.Errorf("%s: a record of another source detected as Azure: %.200s", rel, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no records checked")
	}
	t.Logf("%d records of other sources checked", checked)
}

// values returns every object of a file: the file as one value, the
// elements of an array, the lines of JSON lines, and the records of
// envelopes ({"records":[...]}, {"Records":[...]}, {"items":[...]}).
func values(data []byte) []*fastjson.Value {
	var out []*fastjson.Value
	var add func(v *fastjson.Value)
	add = func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeArray:
			for _, it := range v.GetArray() {
				add(it)
			}
		case fastjson.TypeObject:
			out = append(out, v)
			for _, k := range []string{"records", "Records", "items"} {
				for _, it := range v.GetArray(k) {
					add(it)
				}
			}
		}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if v, err := new(fastjson.Parser).ParseBytes(data); err == nil {
		add(v)
		return out
	}
	for line := range bytes.Lines(data) {
		if v, err := new(fastjson.Parser).ParseBytes(line); err == nil {
			add(v)
		}
	}
	return out
}

// TestDispatcherFixtures runs the fixtures through the dispatcher:
// Event Hubs exports are unwrapped, kube-audit records go to the
// Kubernetes decoder, arrays and JSON lines are split.
func TestDispatcherFixtures(t *testing.T) {
	n, err := detect.New(detect.Auto, normalize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]struct{ azure, k8s, errs int }{
		"eventhubs_activity.json":    {azure: 5},
		"eventhubs_keyvault.json":    {azure: 2},
		"eventhubs_entra.json":       {azure: 4},
		"eventhubs_aks.json":         {azure: 1, k8s: 1},
		"rest_activity.json":         {azure: 1},
		"rest_list.json":             {azure: 1, errs: 2},
		"la_rows.jsonl":              {azure: 2},
		"graph_directoryaudits.json": {azure: 1},
		"graph_signins.json":         {azure: 1},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := n.Normalize(data, normalize.Meta{File: file})
		counts := map[string]int{}
		for _, ev := range evs {
			counts[ev.Source]++
			if ev.Source == event.SourceAzureActivity {
				checkEvent(t, file, ev)
			}
		}
		if counts[event.SourceAzureActivity] != want.azure || counts[event.SourceK8sAudit] != want.k8s || len(errs) != want.errs {
			t.Errorf("%s: %v events by source, errors %v; want %+v", file, counts, errs, want)
		}
	}
	// The AKS kube-audit record keeps the cluster name of its resource id.
	data, _ := os.ReadFile(filepath.Join("testdata", "eventhubs_aks.json"))
	evs, _ := n.Normalize(data, normalize.Meta{})
	for _, ev := range evs {
		if ev.K8s.Cluster != "aks-payments-prod" {
			t.Errorf("%s event: cluster %q", ev.Source, ev.K8s.Cluster)
		}
	}
}
