package cloudtrail

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// FuzzDecode parses arbitrary JSON and, when Detect accepts it, decodes it:
// it must never panic, every error must wrap a normalize sentinel, every
// event must carry the fields rules rely on, and raw must hold no value
// under a secret key.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"Records":[{"eventName":"x","eventTime":1700000000},null,[],{"eventSource":"aws:s3"}]}`,
		`{"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"A","eventSource":"s","eventTime":"2025-01-01T00:00:00Z","userIdentity":{"type":"AWSAccount"}}}`,
		`{"eventName":"RunInstances","eventSource":"ec2.amazonaws.com","eventTime":"2025-01-01T00:00:00Z","responseElements":{"instancesSet":{"items":[]}},"resources":[{"type":"AWS::EC2::Instance"},7]}`,
		`{"eventName":"X","eventSource":"iam.amazonaws.com","eventID":"","@timestamp":"1700000000000","requestParameters":{"userName":["a"],"password":{"a":[{"b":"c"}]}},"userIdentity":{"type":"Root"}}`,
		`{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","eventTime":"2025-01-01T00:00:00Z","responseElements":{"ConsoleLogin":7},"sourceIPAddress":"1.2.3.4.","resources":"x"}`,
		`{"eventName":"AssumeRoleWithWebIdentity","eventSource":"sts.amazonaws.com","eventTime":"2025-01-01T00:00:00Z","responseElements":{"credentials":null,"assumedRoleUser":"x"},"requestParameters":{"roleArn":"arn:"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(data)
		if err != nil || v.Type() != fastjson.TypeObject || !Detect(v) {
			return
		}
		evs, errs := Decode(v, normalize.Options{Raw: true}, normalize.Meta{})
		for _, err := range errs {
			if !errors.Is(err, normalize.ErrInvalidEvent) && !errors.Is(err, normalize.ErrUnknownFormat) {
				t.Errorf("error without a sentinel: %v", err)
			}
		}
		for _, ev := range evs {
			if ev.Source != event.SourceCloudTrail || ev.Action == "" || ev.ID == "" || ev.Time.IsZero() || ev.Actor.Type == "" || ev.Cloud.Provider != event.ProviderAWS {
				t.Errorf("incomplete event: %+v", ev)
			}
			switch ev.Outcome {
			case event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeUnknown:
			default:
				t.Errorf("outcome %q", ev.Outcome)
			}
			if ev.RawMap() == nil {
				t.Fatal("no raw with Options.RawMap()")
			}
			if _, err := json.Marshal(ev.RawMap()); err != nil {
				t.Errorf("raw does not marshal: %v", err)
			}
			checkRedacted(t, ev.RawMap())
		}
	})
}

// checkRedacted fails when a secret key below the redacted sections still
// holds something other than the redaction marker.
func checkRedacted(t *testing.T, raw map[string]any) {
	t.Helper()
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if isSecretKey(k) && e != nil && e != normalize.Redacted {
					t.Errorf("%s not redacted: %v", k, e)
				}
				walk(e, depth+1)
			}
		case []any:
			for _, e := range x {
				walk(e, depth+1)
			}
		case string:
			if depth > maxRedactDepth+2 && x != normalize.Redacted {
				t.Errorf("value below the redaction depth kept: %.40s", x)
			}
		}
	}
	for _, s := range redactedSections {
		walk(raw[s], 0)
	}
}
