package containerlog_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/containerlog"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/replay"
)

// replayDir normalizes every file under dir as `vigia replay` would: the
// same reader, the auto-detecting dispatcher, the file name as metadata.
func replayDir(t *testing.T, dir string, o normalize.Options) (map[string][]*event.Event, []error) {
	t.Helper()
	n, err := detect.New(detect.Auto, o)
	if err != nil {
		t.Fatal(err)
	}
	files, err := replay.Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string][]*event.Event{}
	var errs []error
	for _, f := range files {
		if filepath.Base(f) == "SOURCE.json" {
			continue // the corpus's provenance, not a log
		}
		err := replay.Read(f, func(r replay.Record) error {
			if r.Err != nil {
				errs = append(errs, r.Err)
				return nil
			}
			evs, es := n.Normalize(r.Data, normalize.Meta{File: r.File})
			byFile[f] = append(byFile[f], evs...)
			for _, e := range es {
				errs = append(errs, &originError{r.Origin, e})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return byFile, errs
}

type originError struct {
	origin string
	err    error
}

func (e *originError) Error() string { return e.origin + ": " + e.err.Error() }
func (e *originError) Unwrap() error { return e.err }

// checkRequired checks the fields every container log event carries.
func checkRequired(t *testing.T, file string, evs []*event.Event) {
	t.Helper()
	for i, ev := range evs {
		var missing []string
		for name, empty := range map[string]bool{
			"source": ev.Source != event.SourceContainerLog, "time": ev.Time.IsZero(), "id": len(ev.ID) != 32,
			"action": ev.Action != "log", "outcome": ev.Outcome != "unknown", "actor.name": ev.Actor.Name == "" || ev.Actor.Name == "unknown",
			"actor.type": ev.Actor.Type != "workload", "k8s.pod": ev.K8s.Pod == "", "k8s.namespace": ev.K8s.Namespace == "",
			"k8s.container": ev.K8s.Container == "", "log.format": ev.Log.Format == "",
		} {
			if empty {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			t.Errorf("%s event %d: missing or wrong %s: %+v", file, i, strings.Join(missing, ", "), ev)
		}
	}
}

// TestCorpusFluentBit: docker json-file lines under kubelet-style file
// names (POD_NAMESPACE_CONTAINER.log, without the container id).
func TestCorpusFluentBit(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "fluent-bit-k8s-container-logs")
	byFile, errs := replayDir(t, dir, normalize.Options{Raw: true})
	for _, err := range errs {
		t.Error(err)
	}
	total := 0
	for f, evs := range byFile {
		checkRequired(t, f, evs)
		total += len(evs)
		name := strings.TrimSuffix(filepath.Base(f), ".log")
		parts := strings.Split(name, "_")
		for _, ev := range evs {
			if ev.K8s.Pod != parts[0] || ev.K8s.Namespace != parts[1] || ev.K8s.Container != parts[2] {
				t.Errorf("%s: pod %s/%s container %s", f, ev.K8s.Namespace, ev.K8s.Pod, ev.K8s.Container)
			}
			if ev.Log.Format != "docker" || (ev.Log.Stream != "stdout" && ev.Log.Stream != "stderr") || ev.Log.File != f {
				t.Errorf("%s: log %+v", f, ev.Log)
			}
			if strings.HasSuffix(ev.Message, "\n") || ev.Message == "" {
				t.Errorf("%s: message %q", f, ev.Message)
			}
			if ev.RawMap()["log"] != ev.Message {
				t.Errorf("%s: raw.log %q", f, ev.RawMap()["log"])
			}
		}
	}
	// 95 lines, each one event; core_uat-myapp-12345 ends without a newline
	// and is still a complete line.
	if total != 95 {
		t.Errorf("%d events, want 95", total)
	}
	if containerlog.Default.Pending() != 0 {
		t.Errorf("%d lines left pending", containerlog.Default.Pending())
	}
}

// TestCorpusCribl: Cribl Edge records (JSON lines, and the same records
// as a Cribl sample array), and the same lines rewritten as CRI lines in
// derived_cri/.
func TestCorpusCribl(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "cribl-k8s-container-logs")
	byFile, errs := replayDir(t, dir, normalize.Options{Cluster: "minikube"})
	for _, err := range errs {
		t.Error(err)
	}
	type line struct {
		time      time.Time
		container string
		message   string
	}
	var jsonl, array, cri []line
	var jsonlIDs, arrayIDs []string
	for f, evs := range byFile {
		checkRequired(t, f, evs)
		for _, ev := range evs {
			l := line{ev.Time, ev.K8s.Container, ev.Message}
			if ev.K8s.Cluster != "minikube" {
				t.Errorf("%s: cluster %q", f, ev.K8s.Cluster)
			}
			switch {
			case strings.HasSuffix(f, ".jsonl"):
				jsonl = append(jsonl, l)
				jsonlIDs = append(jsonlIDs, ev.ID)
				if ev.Log.Format != "cribl" || ev.K8s.Node != "minikube" || ev.K8s.Image == "" || len(ev.K8s.Labels) == 0 {
					t.Errorf("%s: %+v", f, ev)
				}
			case strings.HasSuffix(f, ".json"):
				array = append(array, l)
				arrayIDs = append(arrayIDs, ev.ID)
			default:
				cri = append(cri, l)
				if ev.Log.Format != "cri" || ev.Log.Stream != "stdout" {
					t.Errorf("%s: log %+v", f, ev.Log)
				}
				// derived_cri names its files NAMESPACE_POD_CONTAINER.log,
				// while the kubelet writes POD_NAMESPACE_CONTAINER: Vigia
				// follows the kubelet, so pod and namespace come out swapped
				// for these files (and only these).
				name := strings.Split(strings.TrimSuffix(filepath.Base(f), ".log"), "_")
				if ev.K8s.Pod != name[0] || ev.K8s.Namespace != name[1] || ev.K8s.Container != name[2] {
					t.Errorf("%s: pod %s/%s container %s", f, ev.K8s.Namespace, ev.K8s.Pod, ev.K8s.Container)
				}
			}
		}
	}
	if len(jsonl) != 100 || len(array) != 100 || len(cri) != 100 {
		t.Fatalf("events: %d jsonl, %d array, %d CRI; want 100 each", len(jsonl), len(array), len(cri))
	}
	// The array holds the same records: same events, same ids.
	if !slices.Equal(jsonlIDs, arrayIDs) {
		t.Error("the Cribl array and JSON lines give different ids")
	}
	// The CRI lines are the same lines: same times, containers and messages.
	cmp := func(a, b line) int {
		if c := a.time.Compare(b.time); c != 0 {
			return c
		}
		if c := strings.Compare(a.container, b.container); c != 0 {
			return c
		}
		return strings.Compare(a.message, b.message)
	}
	slices.SortFunc(jsonl, cmp)
	slices.SortFunc(cri, cmp)
	for i := range jsonl {
		if jsonl[i] != cri[i] {
			t.Errorf("line %d: jsonl %+v, CRI %+v", i, jsonl[i], cri[i])
			break
		}
	}
}

// TestCorpusOtherSourcesNotClaimed: no record of another source's corpus
// is taken for a container log line.
func TestCorpusOtherSourcesNotClaimed(t *testing.T) {
	root := corpus.Dir(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	decoded := 0
	defer func() {
		if decoded < 500 {
			t.Errorf("only %d events decoded from the other corpora", decoded)
		}
	}()
	for _, e := range entries {
		if !e.IsDir() || strings.Contains(e.Name(), "container-logs") {
			continue
		}
		byFile, _ := replayDir(t, filepath.Join(root, e.Name()), normalize.Options{})
		for f, evs := range byFile {
			decoded += len(evs)
			for _, ev := range evs {
				if ev.Source == event.SourceContainerLog {
					t.Errorf("%s: decoded as a container log line: %q", f, ev.Message)
					break
				}
			}
		}
	}
}

// TestCorpusJSONRoundTrip: events marshal to JSON (the alert payload path).
func TestCorpusJSONRoundTrip(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "cribl-k8s-container-logs", "derived_cri")
	byFile, _ := replayDir(t, dir, normalize.Options{})
	for f, evs := range byFile {
		for _, ev := range evs {
			if _, err := json.Marshal(ev); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// TestFixturesThroughDispatcher: every fixture, fed to the auto-detecting
// dispatcher as the pipeline would, comes out as container log events —
// no other source's detector claims them.
func TestFixturesThroughDispatcher(t *testing.T) {
	byFile, errs := replayDir(t, "testdata", normalize.Options{})
	for _, err := range errs {
		t.Error(err)
	}
	if len(byFile) < 7 {
		t.Fatalf("%d fixture files decoded", len(byFile))
	}
	for f, evs := range byFile {
		if len(evs) == 0 {
			t.Errorf("%s: no events", f)
		}
		for _, ev := range evs {
			if ev.Source != event.SourceContainerLog {
				t.Errorf("%s: decoded as %s", f, ev.Source)
			}
		}
	}
}
