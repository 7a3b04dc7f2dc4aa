package k8saudit_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/replay"
)

// corpusDirs are the public samples of Kubernetes audit logs.
var corpusDirs = []string{"falco-k8s-audit-traces", "audit2rbac-demo", "sysdig-aks-audit-log"}

// notAudit are corpus files that hold no audit events: licence, upstream
// metadata, Falco's expected results and the CloudTrail records Falco's
// traces ship beside the audit ones.
func notAudit(rel string) bool {
	base := filepath.Base(rel)
	return base == "SOURCE.json" || base == "expected_detections_by_trace.json" ||
		strings.HasPrefix(rel, filepath.Join("falco-k8s-audit-traces", "cloudtrail"))
}

// malformed are the corpus files that must fail, with the reason.
var malformed = map[string]string{
	filepath.Join("falco-k8s-audit-traces", "fal_01_003.json"): `deliberately malformed upstream: {"kind": 0}`,
}

type corpusRecord struct {
	rel  string // file, relative to the corpus
	rec  replay.Record
	data []byte
}

// corpusRecords reads every record of the Kubernetes audit corpus files,
// as vigia replay does.
func corpusRecords(t testing.TB) []corpusRecord {
	t.Helper()
	dir := corpus.Dir(t)
	var paths []string
	for _, d := range corpusDirs {
		paths = append(paths, filepath.Join(dir, d))
	}
	files, err := replay.Files(paths)
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusRecord
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		if notAudit(rel) {
			continue
		}
		err := replay.Read(f, func(rec replay.Record) error {
			out = append(out, corpusRecord{rel: rel, rec: rec, data: rec.Data})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestCorpus normalizes every Kubernetes audit record of the public
// samples through format detection: each event has a source, time, id,
// action and actor, except in the documented malformed file.
func TestCorpus(t *testing.T) {
	recs := corpusRecords(t)
	n, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	perDir := map[string]int{}
	failedMalformed := map[string]bool{}
	for _, r := range recs {
		if r.rec.Err != nil {
			t.Errorf("%s: %v", r.rec.Origin, r.rec.Err)
			continue
		}
		evs, errs := n.Normalize(r.data, normalize.Meta{File: r.rec.File})
		if why, ok := malformed[r.rel]; ok {
			if len(errs) == 0 {
				t.Errorf("%s: accepted, but it should fail (%s)", r.rec.Origin, why)
			}
			failedMalformed[r.rel] = true
			continue
		}
		for _, err := range errs {
			t.Errorf("%s: %v", r.rec.Origin, err)
		}
		for _, ev := range evs {
			perDir[strings.Split(r.rel, string(filepath.Separator))[0]]++
			if ev.Source != event.SourceK8sAudit || ev.Time.IsZero() || ev.ID == "" || ev.Action == "" || ev.Actor.Name == "" || ev.Actor.Type == "" || ev.Outcome == "" {
				t.Errorf("%s: incomplete event: source=%q time=%v id=%q action=%q actor=%q/%q outcome=%q",
					r.rec.Origin, ev.Source, ev.Time, ev.ID, ev.Action, ev.Actor.Name, ev.Actor.Type, ev.Outcome)
			}
			if ev.RawMap() == nil {
				t.Errorf("%s: no raw event", r.rec.Origin)
			}
		}
	}
	for f := range malformed {
		if !failedMalformed[f] {
			t.Errorf("%s: the malformed sample was not read", f)
		}
	}
	// Falco's 51 traces are there twice (one file each, and all together);
	// audit2rbac has 37 events; the AKS export 22 + 1 + 1.
	for d, min := range map[string]int{"falco-k8s-audit-traces": 100, "audit2rbac-demo": 37, "sysdig-aks-audit-log": 24} {
		if perDir[d] < min {
			t.Errorf("%s: only %d events, want at least %d", d, perDir[d], min)
		}
	}
	t.Logf("events per folder: %v", perDir)
}
