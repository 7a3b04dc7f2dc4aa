package containerlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// FuzzDecode feeds arbitrary bytes to both paths the dispatcher uses:
// a JSON object through Detect and Decode, anything through DecodeText.
// Small limits exercise reassembly, delivery to make room, and pieces.
// Beyond not panicking: every event carries the required fields, and
// Redact is idempotent on every message.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil || len(data) == 0 {
			continue
		}
		f.Add(data, name)
		for _, ln := range bytes.Split(data, []byte("\n")) {
			if len(ln) > 0 {
				f.Add(ln, name)
			}
		}
	}
	for _, s := range []string{
		`{"log":"partial","stream":"stdout","time":"2024-05-14T13:15:00Z","partial_message":"true","partial_last":"false"}`,
		`{"log":"2024-05-14T13:15:00Z stdout P ab","kubernetes":{"pod_name":"p","namespace_name":"n"}}`,
		`{"_raw":{"nested":[1,2]},"kube_pod":"p","_time":"1751579715.299"}`,
		`{"resource":{"type":"k8s_container","labels":7},"jsonPayload":{"message":["x"]},"timestamp":1e400}`,
		`{"message":null,"kubernetes":{"pod_namespace":"n"},"timestamp":"2024-05-14T13:15:00+02:00"}`,
		"2024-05-14T13:15:00Z stdout P a\r\n2024-05-14T13:15:00Z stdout F:x b\n\n2024-05-14T13:15:00Z stderr F",
		"2024-05-14T13:15:00Z stdout F Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. password=\"a\\\"b\" -----BEGIN EC PRIVATE KEY-----\nabc",
		"2024-05-14T13:15:00Z stdout F token='unterminated api_key=\\\"x",
	} {
		f.Add([]byte(s), "/var/log/containers/p_n_c-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log")
	}
	d := New(Limits{MaxLineBytes: 128, MaxPending: 4})
	f.Fuzz(func(t *testing.T, data []byte, file string) {
		o := normalize.Options{Raw: true, Cluster: "fuzz"}
		m := normalize.Meta{File: file}
		evs, _ := d.DecodeText(data, o, m)
		var p fastjson.Parser
		if v, err := p.ParseBytes(data); err == nil && Detect(v) {
			e2, _ := d.Decode(v, o, m)
			evs = append(evs, e2...)
		}
		for _, ev := range evs {
			if ev.Source != "container_log" || len(ev.ID) != 32 || ev.Time.IsZero() || ev.Action != "log" || ev.Actor.Name == "" || ev.Actor.Type != "workload" {
				t.Fatalf("event missing required fields: %+v", ev)
			}
			if again := Redact(ev.Message); again != ev.Message {
				t.Fatalf("message not fully redacted:\n%q\n%q", ev.Message, again)
			}
		}
		if utf8.Valid(data) {
			r := Redact(string(data))
			if again := Redact(r); again != r {
				t.Fatalf("Redact not idempotent:\n%q\n%q", r, again)
			}
			if strings.Count(r, Redacted) < strings.Count(string(data), Redacted) {
				t.Fatalf("Redact removed a marker: %q", r)
			}
		}
	})
}
