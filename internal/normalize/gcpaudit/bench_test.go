package gcpaudit

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// BenchmarkDecode measures parse (fastjson, a reused parser as the
// dispatcher's pool gives) plus Detect and Decode of every audit record of
// the sample corpus, or of the fixtures when the corpus is absent;
// ns/event and allocs/event are per decoded event. The raw sub-benchmark
// also builds the redacted Event.Raw.
func BenchmarkDecode(b *testing.B) {
	var msgs [][]byte
	var p fastjson.Parser
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if dir := corpusDir(b); dir != "" {
		files, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		v, err := p.ParseBytes(data)
		if err != nil {
			continue
		}
		if v.Type() == fastjson.TypeArray { // one record per message, as the dispatcher splits arrays
			for _, it := range v.GetArray() {
				if Detect(it) {
					msgs = append(msgs, it.MarshalTo(nil))
				}
			}
		} else if Detect(v) {
			msgs = append(msgs, data)
		}
	}
	if len(msgs) == 0 {
		b.Fatal("no records")
	}
	for _, raw := range []bool{false, true} {
		name := "fields"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			o := normalize.Options{Raw: raw}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			events := 0
			b.ResetTimer()
			for b.Loop() {
				for _, m := range msgs {
					v, err := p.ParseBytes(m)
					if err != nil || !Detect(v) {
						b.Fatal("record no longer parses or is detected")
					}
					evs, _ := Decode(v, o, normalize.Meta{})
					events += len(evs)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(events), "allocs/event")
		})
	}
}
