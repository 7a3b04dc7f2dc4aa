package gcpaudit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// FuzzDecode parses arbitrary input, and decodes whatever Detect accepts:
// it must never panic, and every event must carry the required fields.
func FuzzDecode(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range fixtures {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		`{"protopayload_auditlog":{"methodName":"m","requestJson":"{\"password\":[\"x\"]}","servicedata_v1_iam":{"policyDelta":null}},"timestamp":"2024-01-01 00:00:00 UTC"}`,
		`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"m","status":{"code":1e300},"authenticationInfo":{"serviceAccountDelegationInfo":[{},{"principalSubject":"x.svc.id.goog[/]"}]}},"timestamp":1717000000}`,
		`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"GenerateAccessToken","serviceName":"iamcredentials.googleapis.com","resourceName":"/","request":{"name":5}},"timestamp":"2024-01-01T00:00:00Z","logName":"/logs/"}`,
		`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"m","resourceName":"buckets/objects/"},"timestamp":"2024-01-01T00:00:00Z","operation":{"first":true}}`,
	} {
		f.Add([]byte(s))
	}
	// A few corpus records, when the corpus is there.
	if dir := corpusDir(f); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(data)
		if err != nil {
			return
		}
		// The dispatcher hands over array items one by one.
		vals := []*fastjson.Value{v}
		if v.Type() == fastjson.TypeArray {
			vals = v.GetArray()
		}
		for _, v := range vals {
			if !Detect(v) {
				continue
			}
			for _, raw := range []bool{false, true} {
				evs, errs := Decode(v, normalize.Options{Raw: raw}, normalize.Meta{})
				if len(evs)+len(errs) != 1 {
					t.Fatalf("got %d events and %d errors, want one of either", len(evs), len(errs))
				}
				for _, ev := range evs {
					if ev.Source != event.SourceGCPAudit || ev.Time.IsZero() || ev.ID == "" || ev.Action == "" || ev.Actor.Name == "" || ev.Actor.Type == "" || ev.Outcome == "" {
						t.Fatalf("incomplete event %+v", ev)
					}
					if raw != (ev.RawMap() != nil) {
						t.Fatalf("Raw kept = %v with Options.RawMap() %v", ev.RawMap() != nil, raw)
					}
				}
			}
		}
	})
}

// corpusDir returns the GCP corpus folder, or "" when absent (no skip:
// the fuzz target runs on the fixtures alone).
func corpusDir(tb testing.TB) string {
	d := os.Getenv("VIGIA_CORPUS")
	if d == "" {
		root, err := corpus.ModuleRoot()
		if err != nil {
			return ""
		}
		d = filepath.Join(root, "..", "shared", "data", "public")
	}
	d = filepath.Join(d, "gcp-security-analytics-fixtures")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}
