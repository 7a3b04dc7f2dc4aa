package gen

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/rule"
)

func TestTopics(t *testing.T) {
	ts := Topics()
	if len(ts) != len(event.Sources) {
		t.Fatalf("%d topics, want one per source (%d)", len(ts), len(event.Sources))
	}
	names := map[string]bool{}
	for _, tp := range ts {
		if _, err := detect.New(tp.Format, normalize.Options{}); err != nil {
			t.Errorf("topic %s: format %q is not one Vigia accepts: %v", tp.Name, tp.Format, err)
		}
		if tp.Source != tp.Format || names[tp.Name] {
			t.Errorf("topic %+v: want a distinct name and format == source", tp)
		}
		names[tp.Name] = true
	}
}

// TestStreamBundled checks a stream made from the bundled samples only, as
// in a user's clone.
func TestStreamBundled(t *testing.T) {
	checkStream(t, "")
}

// TestStreamPublic checks a stream made with the public sample logs too.
func TestStreamPublic(t *testing.T) {
	checkStream(t, corpus.Dir(t))
}

func checkStream(t *testing.T, samples string) {
	const n = 12_000
	start := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	opts := Options{Events: n, Seed: 42, AttackRatio: 0.02, Samples: samples, Start: start}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	for _, s := range event.Sources {
		quiet := st[s+"/benign"] + st[s+"/signal"] + st[s+"/near_miss"]
		if quiet == 0 || st[s+"/attack"] == 0 {
			t.Errorf("source %s: %d templates raising no alert and %d attack templates, want some of each", s, quiet, st[s+"/attack"])
		}
	}
	t.Logf("samples %s: templates %v", g.SampleSet(), st)

	rules, err := rule.Load([]string{"../../detections"}, rule.Options{Root: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	eval := rules.NewEvaluator()
	norms := map[string]normalize.Normalizer{}
	for _, tp := range Topics() {
		if norms[tp.Name], err = detect.New(tp.Format, normalize.Options{Raw: true}); err != nil {
			t.Fatal(err)
		}
	}

	ids := make(map[string]bool, n)
	perSource := map[string]int{}
	actors := map[string]int{}
	end := start.Add(g.Span())
	var latest time.Time
	alerted, attacks, disagree := 0, 0, 0
	var as []*alert.Alert
	for i := range n {
		m := g.Next()
		norm := norms[m.Topic]
		if norm == nil {
			t.Fatalf("message %d: topic %q is not one of Topics()", i, m.Topic)
		}
		evs, errs := norm.Normalize(m.Value, normalize.Meta{Topic: m.Topic})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("message %d (%s) normalizes to %d events and errors %v:\n%s", i, m.Topic, len(evs), errs, m.Value)
		}
		ev := evs[0]
		if ev.Source != m.Source {
			t.Fatalf("message %d: source %s, want %s", i, ev.Source, m.Source)
		}
		perSource[ev.Source]++
		if ids[ev.ID] {
			t.Fatalf("message %d: event id %q repeats:\n%s", i, ev.ID, m.Value)
		}
		ids[ev.ID] = true
		// Within the span (CloudTrail times are whole seconds, events
		// arrive up to 100 ms out of order) and never far behind the
		// newest so far.
		if ev.Time.Before(start.Add(-time.Second)) || ev.Time.After(end.Add(time.Second)) {
			t.Fatalf("message %d: time %s outside [%s, %s]", i, ev.Time, start, end)
		}
		if ev.Time.Before(latest.Add(-1100 * time.Millisecond)) {
			t.Fatalf("message %d: time %s more than 1.1s behind the newest %s", i, ev.Time, latest)
		}
		if ev.Time.After(latest) {
			latest = ev.Time
		}
		if ev.Actor.Name != "" {
			actors[ev.Actor.Name]++
		}
		as = eval.Eval(as[:0], ev)
		fired := slices.ContainsFunc(as, func(a *alert.Alert) bool { return !rules.Rule(a.Rule.ID).SignalOnly })
		if fired {
			alerted++
		}
		if m.Attack {
			attacks++
		}
		if fired != m.Attack {
			disagree++
		}
	}
	for _, s := range event.Sources {
		if perSource[s] == 0 {
			t.Errorf("no message of source %s in the stream", s)
		}
	}
	// Mix: each source near its share.
	for s, w := range DefaultMix {
		if got := float64(perSource[s]) / n; got < w*0.8 || got > w*1.2 {
			t.Errorf("source %s: %.3f of the stream, want about %.2f", s, got, w)
		}
	}
	frac := float64(alerted) / n
	if frac < opts.AttackRatio/2 || frac > opts.AttackRatio*2 {
		t.Errorf("%d of %d messages raised alerts (%.4f), want about the attack ratio %.3f", alerted, n, frac, opts.AttackRatio)
	}
	if disagree > n/200 {
		t.Errorf("%d messages' class (attack or benign) disagrees with the rules' verdict; want almost none", disagree)
	}
	// Identities: many, with a few very busy ones.
	counts := slices.Sorted(maps.Values(actors))
	slices.Reverse(counts)
	if len(actors) < 1000 {
		t.Errorf("%d distinct actors, want many", len(actors))
	}
	if counts[len(counts)/2]*20 > counts[0] {
		t.Errorf("busiest actor %d events, median %d: want a skew", counts[0], counts[len(counts)/2])
	}
	t.Logf("%d alerted (%.4f), %d attack draws, %d disagree, %d actors (busiest %d)", alerted, frac, attacks, disagree, len(actors), counts[0])
}

func TestDeterministic(t *testing.T) {
	a, err := New(Options{Events: 1000, Seed: 9, Start: time.Unix(1_900_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Options{Events: 1000, Seed: 9, Start: time.Unix(1_900_000_000, 0)})
	c, _ := New(Options{Events: 1000, Seed: 10, Start: time.Unix(1_900_000_000, 0)})
	same, diff := 0, 0
	for i, m := range a.Generate(1000) {
		mb, mc := b.Next(), c.Next()
		if !bytes.Equal(m.Value, mb.Value) || m.Topic != mb.Topic {
			t.Fatalf("message %d differs between two generators with the same seed:\n%s\n%s", i, m.Value, mb.Value)
		}
		if bytes.Equal(m.Value, mc.Value) {
			same++
		} else {
			diff++
		}
	}
	if diff < 900 {
		t.Errorf("another seed gave %d equal messages of 1000", same)
	}
}

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		frac int
		zone string
	}{
		{"2024-06-13T01:00:00.000001Z", true, 6, "Z"},
		{"2024-06-13T01:00:00Z", true, 0, "Z"},
		{"2024-06-13 01:00:00.441000 UTC", true, 6, " UTC"},
		{"2020-05-05T11:12:13.1234567+02:00", true, 7, "+00:00"},
		{"2024-06-13T01:00:00", true, 0, ""},
		{"2024-06-13", false, 0, ""},
		{"Mar 14, 2025, 4:07:00 PM", false, 0, ""},
		{"2024-06-13T01:00:00Zjunk", false, 0, ""},
	} {
		tm, sep, frac, zone, ok := parseStamp(tc.in)
		if ok != tc.ok || ok && (frac != tc.frac || zone != tc.zone) {
			t.Errorf("parseStamp(%q) = frac %d zone %q ok %v, want %d %q %v", tc.in, frac, zone, ok, tc.frac, tc.zone, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		out := string(appendTime(nil, tm, sep, frac, zone))
		if zone != "+00:00" && out != tc.in {
			t.Errorf("round trip of %q: %q", tc.in, out)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := New(Options{Events: b.N, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	size := 0
	for range b.N {
		size += len(g.Next().Value)
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/msg")
}

// TestSamplesAbsent: a public samples directory that is not there (a
// user's clone) means the bundled samples, and says so.
func TestSamplesAbsent(t *testing.T) {
	g, err := New(Options{Events: 10, Samples: t.TempDir() + "/absent"})
	if err != nil {
		t.Fatal(err)
	}
	if g.SampleSet() != "bundled" {
		t.Errorf("SampleSet() = %q, want bundled", g.SampleSet())
	}
}
