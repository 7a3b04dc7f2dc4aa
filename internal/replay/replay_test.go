package replay

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rec is an expected record: data is compared as compact JSON when valid,
// byte for byte otherwise; err is matched with errors.Is, and Data must
// then be nil.
type rec struct {
	origin string
	data   string
	err    error
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	lines, err := os.ReadFile("testdata/lines.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	gzLines := gzipBytes(t, lines)
	gzByName := filepath.Join(dir, "lines.jsonl.gz")
	gzByMagic := filepath.Join(dir, "lines-gzip-inside.jsonl")
	writeFile(t, gzByName, gzLines)
	writeFile(t, gzByMagic, gzLines)

	a1 := `{"kind":"Event","auditID":"a1","verb":"get"}`
	a2 := `{"kind":"Event","auditID":"a2","verb":`
	a3 := `{"kind":"Event","auditID":"a3","verb":"delete"}`
	bigElem := `{"x":"` + strings.Repeat("y", 100) + `"}`      // over max 64, within the decoder's slack
	hugeElem := `{"x":"` + strings.Repeat("z", 200<<10) + `"}` // over max 64 plus the slack

	tests := []struct {
		name string
		path string // a file for Read; else in is given to ReadFrom as "in"
		in   string
		max  int // 0: MaxRecordBytes
		want []rec
	}{
		{name: "JSON lines with a malformed middle line", path: "testdata/lines.jsonl", want: []rec{
			{origin: "testdata/lines.jsonl:1", data: a1},
			{origin: "testdata/lines.jsonl:2", data: a2},
			{origin: "testdata/lines.jsonl:3", data: a3},
		}},
		{name: "array: one record per element, at its line", path: "testdata/array.json", want: []rec{
			{origin: "testdata/array.json:2", data: `{"eventName":"ConsoleLogin","eventID":"e1"}`},
			{origin: "testdata/array.json:6", data: `{"eventName":"GetSecretValue","eventID":"e2"}`},
			{origin: "testdata/array.json:8", data: `{"eventName":"StopLogging","eventID":"e3"}`},
		}},
		{name: "single object", path: "testdata/object.json", want: []rec{
			{origin: "testdata/object.json", data: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"o1","verb":"create"}`},
		}},
		{name: "EventList stays one record", path: "testdata/eventlist.json", want: []rec{
			{origin: "testdata/eventlist.json", data: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","auditID":"l1","verb":"get"},{"kind":"Event","auditID":"l2","verb":"list"}]}`},
		}},
		{name: "gzip by name", path: gzByName, want: []rec{
			{origin: gzByName + ":1", data: a1}, {origin: gzByName + ":2", data: a2}, {origin: gzByName + ":3", data: a3},
		}},
		{name: "gzip by magic", path: gzByMagic, want: []rec{
			{origin: gzByMagic + ":1", data: a1}, {origin: gzByMagic + ":2", data: a2}, {origin: gzByMagic + ":3", data: a3},
		}},

		{name: "empty", in: ""},
		{name: "blank", in: "\n  \r\n\t\n"},
		{name: "BOM, CRLF and blank lines", in: "\xEF\xBB\xBF{\"a\":1}\r\n\r\n  {\"a\":2}  \r\n\n", want: []rec{
			{origin: "in:1", data: `{"a":1}`}, {origin: "in:3", data: `{"a":2}`},
		}},
		{name: "BOM before a document", in: "\xEF\xBB\xBF{\n\"a\": 1\n}\n", want: []rec{
			{origin: "in", data: `{"a":1}`},
		}},
		{name: "one-line array is split", in: `[{"a":1}, {"a":2}]` + "\n", want: []rec{
			{origin: "in:1", data: `{"a":1}`}, {origin: "in:1", data: `{"a":2}`},
		}},
		{name: "JSON lines of arrays are not split", in: "[1,2]\n[3]\n", want: []rec{
			{origin: "in:1", data: `[1,2]`}, {origin: "in:2", data: `[3]`},
		}},
		{name: "array after blank lines", in: "\n\n[\n{\"a\":1},\n\n{\"a\":2}]", want: []rec{
			{origin: "in:4", data: `{"a":1}`}, {origin: "in:6", data: `{"a":2}`},
		}},
		{name: "empty array", in: "[ ]\n"},
		{name: "one line that is not JSON", in: "hello\n", want: []rec{{origin: "in:1", data: "hello"}}},
		{name: "text is a record per line (CRI container logs)", in: "2025-07-03T21:55:15Z stdout F hello\n\n2025-07-03T21:55:16Z stdout F bye\n", want: []rec{
			{origin: "in:1", data: "2025-07-03T21:55:15Z stdout F hello"},
			{origin: "in:3", data: "2025-07-03T21:55:16Z stdout F bye"},
		}},
		{name: "truncated array is one malformed record", in: "[\n{\"a\":1},\n{\"a\":", want: []rec{
			{origin: "in", data: "[\n{\"a\":1},\n{\"a\":"},
		}},
		{name: "pretty-printed objects one after another are one malformed record", in: "{\n\"a\":1\n}\n{\n\"a\":2\n}\n", want: []rec{
			{origin: "in", data: "{\n\"a\":1\n}\n{\n\"a\":2\n}"},
		}},
		{name: "a scalar document is a text line", in: `"just a string"`, want: []rec{{origin: "in:1", data: `"just a string"`}}},

		// Over MaxRecordBytes.
		{name: "long line among JSON lines", max: 64, in: "{\"a\":1}\n" + bigElem + "\n{\"a\":3}\n", want: []rec{
			{origin: "in:1", data: `{"a":1}`}, {origin: "in:2", err: ErrTooLarge}, {origin: "in:3", data: `{"a":3}`},
		}},
		{name: "long first line, then JSON lines", max: 64, in: bigElem + "\n{\"a\":2}\n\n{\"a\":4}\n", want: []rec{
			{origin: "in:1", err: ErrTooLarge}, {origin: "in:2", data: `{"a":2}`}, {origin: "in:4", data: `{"a":4}`},
		}},
		{name: "long first line over the read buffer", max: 64, in: hugeElem + "\n{\"a\":2}\n", want: []rec{
			{origin: "in:1", err: ErrTooLarge}, {origin: "in:2", data: `{"a":2}`},
		}},
		{name: "large array is streamed", max: 64, in: "[\n" + strings.Repeat(`{"a":1},`+"\n", 20) + "{\"a\":21}\n]\n", want: append(
			perLine(2, 20, `{"a":1}`), rec{origin: "in:22", data: `{"a":21}`}),
		},
		{name: "large one-line array is streamed", max: 64, in: "[" + strings.Repeat(`{"a":1},`, 20) + "{\"a\":2}]", want: append(
			slices.Repeat([]rec{{origin: "in:1", data: `{"a":1}`}}, 20), rec{origin: "in:1", data: `{"a":2}`}),
		},
		{name: "large array with a long element", max: 64, in: "[\n" + strings.Repeat(`{"a":1},`, 10) + "\n" + bigElem + ",\n{\"a\":2}]", want: append(
			slices.Repeat([]rec{{origin: "in:2", data: `{"a":1}`}}, 10),
			rec{origin: "in:3", err: ErrTooLarge}, rec{origin: "in:4", data: `{"a":2}`}),
		},
		{name: "large array with a huge element stops there", max: 64, in: "[\n" + strings.Repeat(`{"a":1},`, 10) + "\n" + hugeElem + ",\n{\"a\":2}]", want: append(
			slices.Repeat([]rec{{origin: "in:2", data: `{"a":1}`}}, 10),
			rec{origin: "in:3", err: ErrTooLarge}),
		},
		{name: "large truncated array", max: 64, in: "[\n" + strings.Repeat(`{"a":1},`+"\n", 10) + "{\"a\":", want: append(
			perLine(2, 10, `{"a":1}`), rec{origin: "in:12", err: ErrMalformed}),
		},
		{name: "large array with data after it", max: 64, in: "[" + strings.Repeat(`{"a":1},`, 10) + "{\"a\":2}]\n{}\n", want: append(
			slices.Repeat([]rec{{origin: "in:1", data: `{"a":1}`}}, 10),
			rec{origin: "in:1", data: `{"a":2}`}, rec{origin: "in:2", err: ErrMalformed}),
		},
		{name: "large object", max: 64, in: "{\n\"a\": \"" + strings.Repeat("b", 100) + "\"\n}\n", want: []rec{
			{origin: "in", err: ErrTooLarge},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Record
			fn := func(r Record) error { got = append(got, r); return nil }
			var err error
			if tt.path != "" {
				err = Read(tt.path, fn)
			} else {
				err = readFrom(strings.NewReader(tt.in), "in", tt.max, fn)
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkRecords(t, got, tt.want)
		})
	}
}

// perLine returns n records of data on lines first, first+1, … of "in".
func perLine(first, n int, data string) []rec {
	var w []rec
	for i := range n {
		w = append(w, rec{origin: fmt.Sprintf("in:%d", first+i), data: data})
	}
	return w
}

func checkRecords(t *testing.T, got []Record, want []rec) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		if i >= len(got) {
			t.Errorf("record %d: missing, want %+v", i, want[i])
			continue
		}
		g := got[i]
		if i >= len(want) {
			t.Errorf("record %d: unexpected %s %.80q err=%v", i, g.Origin, g.Data, g.Err)
			continue
		}
		w := want[i]
		if g.Origin != w.origin {
			t.Errorf("record %d: origin %q, want %q", i, g.Origin, w.origin)
		}
		if w.err != nil {
			if !errors.Is(g.Err, w.err) || g.Data != nil {
				t.Errorf("record %d (%s): Err=%v Data=%.40q, want Err %v and no data", i, g.Origin, g.Err, g.Data, w.err)
			}
			continue
		}
		if g.Err != nil {
			t.Errorf("record %d (%s): unexpected Err %v", i, g.Origin, g.Err)
		}
		if d := compact(g.Data); d != compact([]byte(w.data)) {
			t.Errorf("record %d (%s): data %.200q, want %.200q", i, g.Origin, d, w.data)
		}
	}
}

// TestReadLongLine reads a 20 MB line with MaxRecordBytes lowered to 1 MiB.
func TestReadLongLine(t *testing.T) {
	old := MaxRecordBytes
	MaxRecordBytes = 1 << 20
	t.Cleanup(func() { MaxRecordBytes = old })

	big := `{"kind":"Event","requestObject":"` + strings.Repeat("x", 20<<20) + `"}`
	for _, tt := range []struct {
		name, content string
		want          []rec
	}{
		{"second line", "{\"a\":1}\n" + big + "\n{\"a\":3}\n{\"a\":4}\n", []rec{
			{origin: ":1", data: `{"a":1}`}, {origin: ":2", err: ErrTooLarge}, {origin: ":3", data: `{"a":3}`}, {origin: ":4", data: `{"a":4}`},
		}},
		{"first line", big + "\r\n{\"a\":2}\r\n{\"a\":3}\r\n", []rec{
			{origin: ":1", err: ErrTooLarge}, {origin: ":2", data: `{"a":2}`}, {origin: ":3", data: `{"a":3}`},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "big.jsonl")
			writeFile(t, path, []byte(tt.content))
			var got []Record
			if err := Read(path, func(r Record) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].origin = path + tt.want[i].origin
			}
			checkRecords(t, got, tt.want)
			for _, r := range got {
				if r.Err != nil && !strings.Contains(r.Err.Error(), fmt.Sprint(len(big))) {
					t.Errorf("%s: error %q does not give the line's size %d", r.Origin, r.Err, len(big))
				}
			}
		})
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	for _, path := range []string{"testdata/lines.jsonl", "testdata/array.json"} {
		n := 0
		err := Read(path, func(Record) error { n++; return stop })
		if err != stop || n != 1 {
			t.Errorf("%s: err=%v after %d records, want the callback's error after 1", path, err, n)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	notGzip := filepath.Join(dir, "plain.json.gz")
	writeFile(t, notGzip, []byte(`{"a":1}`))
	truncated := filepath.Join(dir, "cut.jsonl.gz")
	gz := gzipBytes(t, bytes.Repeat([]byte(`{"a":1}`+"\n"), 1000))
	writeFile(t, truncated, gz[:len(gz)/2])

	for _, path := range []string{filepath.Join(dir, "missing.json"), notGzip, truncated} {
		err := Read(path, func(Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Read(%s) = %v, want an error naming the file", path, err)
		}
	}
}

func TestFiles(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{
		"b.json", "a.jsonl.gz", "a/z.log", "a/notes.txt", "README.md", "LICENSE", "SOURCE.yaml",
		".hidden.json", ".git/config.json", "sub/c.ndjson", "sub/d.JSON", "sub/e.tar.gz", "sub/f.yml",
		"sub/deeper/g.log.gz", "x.gz", "raw.zip", "z.csv",
	} {
		writeFile(t, filepath.Join(root, f), []byte("{}"))
	}
	if err := os.Symlink(filepath.Join(root, "b.json"), filepath.Join(root, "sub", "link.json")); err != nil {
		t.Fatal(err)
	}
	in := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(root, n))
		}
		return out
	}
	walked := in("a/z.log", "a.jsonl.gz", "b.json", "sub/c.ndjson", "sub/d.JSON", "sub/deeper/g.log.gz", "sub/link.json")

	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"directory: lexical, recursive, filtered", []string{root}, walked},
		{"a file is taken as given", in("README.md", ".hidden.json"), in("README.md", ".hidden.json")},
		{"files and directories keep their order", append(in("z.csv"), root), append(in("z.csv"), walked...)},
		{"duplicates appear once", append([]string{root}, append(in("b.json"), root+"/")...), walked},
		{"a hidden directory given explicitly is walked", in(".git"), in(".git/config.json")},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Files(tt.paths)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Files:\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	t.Run("missing path", func(t *testing.T) {
		missing := filepath.Join(root, "no-such-dir")
		_, err := Files([]string{root, missing})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Files = %v, want a not-exist error naming %s", err, missing)
		}
	})
}

func TestProgress(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.jsonl")
	writeFile(t, plain, []byte("{\"a\":1}\n{\"a\":2}\n"))
	gz := filepath.Join(dir, "b.jsonl.gz")
	writeFile(t, gz, gzipBytes(t, bytes.Repeat([]byte("{\"a\":1}\n"), 500)))

	stderr, err := os.Create(filepath.Join(dir, "stderr")) // not a terminal
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	files := []string{plain, gz}
	p := NewProgress(stderr, files)
	if p.bar != nil {
		t.Error("a progress bar on a file that is not a terminal")
	}
	var want int64
	for _, f := range files {
		fi, _ := os.Stat(f)
		want += fi.Size()
		if err := p.Read(f, func(Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if p.total != want || p.read.Load() != want {
		t.Errorf("total %d, read %d; want both %d (bytes on disk)", p.total, p.read.Load(), want)
	}
	p.Finish()
	p.Finish()

	var none *Progress
	n := 0
	if err := none.Read(plain, func(Record) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("nil Progress: Read = %v, %d records; want nil, 2", err, n)
	}
	none.Finish()
}

// TestCorpus reads every file of the public sample logs next to the
// repository (see ../shared/data/public/README.md from the module root).
func TestCorpus(t *testing.T) {
	dir := filepath.Join(moduleRoot(t), "..", "shared", "data", "public")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("public sample logs not found at %s (they live beside the repository, in shared/data/public): %v", dir, err)
	}
	files, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	// Counts stated by the corpus README or plain in the files.
	wantCount := map[string]int{
		"audit2rbac-demo/demo.log":                                                  37,
		"cribl-aws-cloudtrail-sample/cloudtrail_records.jsonl":                      44,
		"falco-k8s-audit-traces/all_k8s_audit_events.jsonl":                         51,
		"falco-k8s-audit-traces/create_configmap_sensitive_values.json":             6,
		"falco-k8s-audit-traces/fal_01_003.json":                                    1,
		"otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json":    103,
		"otrf-security-datasets/AADAuditEvents.json":                                4,
		"sysdig-aks-audit-log/event.json":                                           1,
		"stratus-red-team-detonation-logs/aws.defense-evasion.cloudtrail-stop.json": 1,
	}
	stratus := 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		n := 0
		err := Read(f, func(r Record) error {
			n++
			if r.Err != nil {
				t.Errorf("%s: %v", r.Origin, r.Err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", rel, err)
		}
		if ext := filepath.Ext(f); (ext == ".json" || ext == ".jsonl") && n < 1 {
			t.Errorf("%s: no records", rel)
		}
		if want, ok := wantCount[rel]; ok && n != want {
			t.Errorf("%s: %d records, want %d", rel, n, want)
		}
		if strings.HasPrefix(rel, "stratus-red-team-detonation-logs/aws.") {
			stratus += n
		}
		t.Logf("%5d  %s", n, rel)
	}
	if stratus != 310 {
		t.Errorf("stratus-red-team-detonation-logs: %d records, want the 310 of its README", stratus)
	}
}

func FuzzReadFrom(f *testing.F) {
	for _, p := range []string{"testdata/lines.jsonl", "testdata/array.json", "testdata/object.json", "testdata/eventlist.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
		f.Add(gzipBytes(f, b), true)
	}
	for _, s := range []string{"", "\xEF\xBB\xBF[1,\n2]", "[\n{\"a\":1},\n{\"a\":", "{}\n{\n", "[" + strings.Repeat(`{"a":"bcdefgh"},`, 10) + "1]\n{}", "\"\\", "[[[[", "{\"a\":1}\r\n\r\n2"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, small bool) {
		max := defaultMaxRecordBytes
		if small {
			max = 16
		}
		lines := 1 + bytes.Count(data, []byte{'\n'})
		gzipped := bytes.HasPrefix(data, []byte{0x1f, 0x8b})
		lastLine := 0
		err := readFrom(bytes.NewReader(data), "fuzz", max, func(r Record) error {
			switch {
			case r.Err != nil && r.Data != nil:
				t.Errorf("%s: both Data and Err (%v)", r.Origin, r.Err)
			case r.Err == nil && (len(r.Data) == 0 || len(r.Data) > max):
				t.Errorf("%s: %d bytes of data, want 1 to %d", r.Origin, len(r.Data), max)
			}
			if r.Origin == "fuzz" {
				return nil
			}
			var line int
			if _, err := fmt.Sscanf(r.Origin, "fuzz:%d", &line); err != nil {
				t.Fatalf("origin %q: %v", r.Origin, err)
			}
			if line < lastLine || line < 1 || (!gzipped && line > lines) {
				t.Errorf("origin %q after line %d, in %d lines", r.Origin, lastLine, lines)
			}
			lastLine = line
			return nil
		})
		if err != nil && !gzipped {
			t.Errorf("error reading from memory: %v", err)
		}
	})
}

// BenchmarkRead reads 50,000 Kubernetes audit events as JSON lines, as
// gzipped JSON lines and as one pretty-printed array.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	events := make([]map[string]any, 50_000)
	var jsonl bytes.Buffer
	for i := range events {
		events[i] = map[string]any{
			"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
			"auditID": fmt.Sprintf("4b5d1c3e-%08d", i), "stage": "ResponseComplete",
			"requestURI": fmt.Sprintf("/api/v1/namespaces/ns-%d/pods/web-%d/exec?command=sh", i%50, i),
			"verb":       "create",
			"user":       map[string]any{"username": "system:serviceaccount:ci:deployer", "groups": []string{"system:serviceaccounts", "system:authenticated"}},
			"sourceIPs":  []string{"10.0.0.7"}, "userAgent": "kubectl/v1.30.1 (linux/amd64) kubernetes/abc1234",
			"objectRef":                map[string]any{"resource": "pods", "namespace": fmt.Sprintf("ns-%d", i%50), "name": fmt.Sprintf("web-%d", i), "subresource": "exec"},
			"responseStatus":           map[string]any{"code": 101},
			"requestReceivedTimestamp": "2026-01-02T03:04:05.678901Z", "stageTimestamp": "2026-01-02T03:04:05.712345Z",
			"annotations": map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": `RBAC: allowed by ClusterRoleBinding "ci-deployer"`},
		}
		line, _ := json.Marshal(events[i])
		jsonl.Write(line)
		jsonl.WriteByte('\n')
	}
	array, _ := json.MarshalIndent(events, "", "  ")
	inputs := []struct{ name, file string }{
		{"jsonl", "audit.jsonl"},
		{"jsonl.gz", "audit.jsonl.gz"},
		{"array", "audit.json"},
	}
	writeFile(b, filepath.Join(dir, "audit.jsonl"), jsonl.Bytes())
	writeFile(b, filepath.Join(dir, "audit.jsonl.gz"), gzipBytes(b, jsonl.Bytes()))
	writeFile(b, filepath.Join(dir, "audit.json"), array)

	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			path := filepath.Join(dir, in.file)
			raw := int64(jsonl.Len())
			if in.name == "array" {
				raw = int64(len(array))
			}
			b.SetBytes(raw) // uncompressed bytes, so the figures compare
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				if err := Read(path, func(Record) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if n != len(events) {
					b.Fatalf("%d records, want %d", n, len(events))
				}
			}
		})
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func gzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}
