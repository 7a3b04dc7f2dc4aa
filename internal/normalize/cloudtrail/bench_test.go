package cloudtrail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// BenchmarkDecode measures decoding over every record of the public
// corpus (the fixtures when it is absent), one record per message:
//
//   - fields: Detect + Decode of an already parsed record (the dispatcher
//     parses once for all decoders), without raw;
//   - fields+raw: the same with Options.Raw (raw map built and redacted);
//   - parse+fields: fastjson parse + Detect + Decode.
//
// It reports ns/event and allocs/event.
func BenchmarkDecode(b *testing.B) {
	msgs := benchMessages(b)
	vals := make([]*fastjson.Value, len(msgs))
	for i, m := range msgs {
		var p fastjson.Parser // one parser per record keeps every value alive
		v, err := p.ParseBytes(m)
		if err != nil {
			b.Fatal(err)
		}
		vals[i] = v
	}
	for _, raw := range []bool{false, true} {
		name := "fields"
		if raw {
			name = "fields+raw"
		}
		b.Run(name, func(b *testing.B) {
			o := normalize.Options{Raw: raw}
			measure(b, func() int {
				n := 0
				for _, v := range vals {
					if !Detect(v) {
						b.Fatal("not detected")
					}
					evs, _ := Decode(v, o, normalize.Meta{})
					n += len(evs)
				}
				return n
			})
		})
	}
	b.Run("parse+fields", func(b *testing.B) {
		var p fastjson.Parser
		measure(b, func() int {
			n := 0
			for _, m := range msgs {
				v, err := p.ParseBytes(m)
				if err != nil || !Detect(v) {
					b.Fatal("not detected")
				}
				evs, _ := Decode(v, normalize.Options{}, normalize.Meta{})
				n += len(evs)
			}
			return n
		})
	})
}

// measure runs pass b.N times and reports per-event figures.
func measure(b *testing.B, pass func() int) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events := 0
	b.ResetTimer()
	for b.Loop() {
		events += pass()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if events == 0 {
		b.Fatal("no events")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
}

// benchMessages returns one message per record: every record of the
// corpus's CloudTrail files when present, else the fixtures.
func benchMessages(b *testing.B) [][]byte {
	var msgs [][]byte
	if dir := corpusDir(); dir != "" {
		stratus, _ := filepath.Glob(filepath.Join(dir, "stratus-red-team-detonation-logs", "aws.*.json"))
		for _, f := range stratus {
			var recs []json.RawMessage
			if data, err := os.ReadFile(f); err == nil && json.Unmarshal(data, &recs) == nil {
				for _, r := range recs {
					msgs = append(msgs, r)
				}
			}
		}
		lines, _ := filepath.Glob(filepath.Join(dir, "otrf-security-datasets", "ec2_proxy_s3_exfiltration_*.json"))
		lines = append(lines, filepath.Join(dir, "cribl-aws-cloudtrail-sample", "cloudtrail_records.jsonl"))
		for _, f := range lines {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if len(bytes.TrimSpace(sc.Bytes())) > 0 {
					msgs = append(msgs, bytes.Clone(sc.Bytes()))
				}
			}
		}
	}
	if len(msgs) == 0 {
		files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
		for _, f := range files {
			if strings.Contains(f, "notification") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
		}
		b.Logf("corpus absent: %d fixture messages", len(msgs))
	} else {
		b.Logf("%d corpus records", len(msgs))
	}
	return msgs
}

// corpusDir is corpus.Dir without the skip: the benchmark falls back to
// the fixtures.
func corpusDir() string {
	if d := os.Getenv("VIGIA_CORPUS"); d != "" {
		return d
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		return ""
	}
	d := filepath.Join(root, "..", "shared", "data", "public")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}
