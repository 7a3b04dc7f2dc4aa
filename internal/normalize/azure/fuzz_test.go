package azure

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// FuzzDecode feeds Detect and Decode arbitrary JSON seeded with every
// fixture record: they must not panic, and every event they return must
// carry the fields every event has.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		var p fastjson.Parser
		if v, err := p.ParseBytes(data); err == nil {
			for _, k := range []string{"records", "value"} {
				for _, r := range v.GetArray(k) {
					f.Add(r.MarshalTo(nil))
				}
			}
			for _, r := range v.GetArray() {
				f.Add(r.MarshalTo(nil))
			}
		}
	}
	for _, s := range []string{
		`{"time":"2024-01-01T00:00:00Z","operationName":{"value":null},"caller":"x"}`,
		`{"TimeGenerated":1715691400,"OperationName":"X","Category":"AuditLogs","InitiatedBy":"{\"app\":{\"appId\":null}}","TargetResources":"[1,\"x\",{}]"}`,
		`{"time":"2024-01-01T00:00:00Z","operationName":"X","resourceId":"/providers/providers/providers","properties":"{\"log\":5}"}`,
		`{"time":"2024-01-01T00:00:00Z","operationName":"SecretGet","resourceId":"/S","properties":{"id":"https://a.vault.azure.net/secrets/","httpStatusCode":"403"}}`,
		`{"value":[null,{"operationName":"X","caller":"y"},[]],"nextLink":""}`,
		`{"createdDateTime":"2024-01-01T00:00:00Z","appId":"a","status":{"errorCode":"x"},"servicePrincipalId":"s"}`,
		`{"time":"2024-01-01T00:00:00Z","operationName":"X","category":"c","identity":"{\"claims\":{\"groups\":\",,,\"}}","properties":{"requestbody":"{\"password\":[\"a\",{\"b\":\"[1]\"}]}"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(data)
		if err != nil || !Detect(v) {
			return
		}
		for _, raw := range []bool{false, true} {
			evs, _ := Decode(v, normalize.Options{Raw: raw}, normalize.Meta{})
			for _, ev := range evs {
				if ev.Source != event.SourceAzureActivity || ev.Time.IsZero() || ev.ID == "" || ev.Action == "" ||
					ev.Actor.Name == "" || ev.Actor.Type == "" || ev.Cloud.Provider != event.ProviderAzure {
					t.Fatalf("incomplete event %+v from %s", ev, data)
				}
				switch ev.Outcome {
				case event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeUnknown:
				default:
					t.Fatalf("outcome %q from %s", ev.Outcome, data)
				}
				if raw != (ev.RawMap() != nil) {
					t.Fatalf("Raw %v with Options.RawMap() %v", ev.RawMap() != nil, raw)
				}
			}
		}
	})
}
