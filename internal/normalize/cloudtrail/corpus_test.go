package cloudtrail_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
)

// corpusFile is a public sample file of CloudTrail records.
type corpusFile struct {
	path string
	// records counts the file's records independently of the decoder.
	records func(data []byte) (int, error)
}

func countArray(data []byte) (int, error) {
	var a []json.RawMessage
	err := json.Unmarshal(data, &a)
	return len(a), err
}

func countLines(data []byte) (int, error) {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	return n, sc.Err()
}

func countRecords(data []byte) (int, error) {
	var f struct{ Records []json.RawMessage }
	err := json.Unmarshal(data, &f)
	return len(f.Records), err
}

// corpusFiles lists the CloudTrail files of the public corpus. The other
// files of those folders are not CloudTrail (Entra ID audit, S3 access
// CSV, licences, SOURCE.json) and belong to other decoders or none.
func corpusFiles(t *testing.T) []corpusFile {
	dir := corpus.Dir(t)
	var files []corpusFile
	stratus, err := filepath.Glob(filepath.Join(dir, "stratus-red-team-detonation-logs", "aws.*.json"))
	if err != nil || len(stratus) == 0 {
		t.Fatalf("no Stratus Red Team files: %v", err)
	}
	for _, f := range stratus {
		files = append(files, corpusFile{f, countArray})
	}
	otrf, _ := filepath.Glob(filepath.Join(dir, "otrf-security-datasets", "ec2_proxy_s3_exfiltration_*.json"))
	for _, f := range otrf {
		files = append(files, corpusFile{f, countLines})
	}
	files = append(files,
		corpusFile{filepath.Join(dir, "cribl-aws-cloudtrail-sample", "cloudtrail_records.jsonl"), countLines},
		corpusFile{filepath.Join(dir, "falco-k8s-audit-traces", "cloudtrail", "alice_start_instances.json"), countRecords},
		corpusFile{filepath.Join(dir, "falco-k8s-audit-traces", "cloudtrail", "alice_start_instances_bigevent.json"), countRecords},
	)
	return files
}

// stsTokenPrefix starts every STS session token ("IQoJb3JpZ2lu", base64
// of the token's header): none may survive in raw.
const stsTokenPrefix = "IQoJb3JpZ2lu"

// TestCorpus decodes every CloudTrail record of the public corpus through
// the dispatcher, as the pipeline does, and checks the fields every event
// must carry.
func TestCorpus(t *testing.T) {
	n, err := detect.New(event.SourceCloudTrail, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, cf := range corpusFiles(t) {
		name := filepath.Base(cf.path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(cf.path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := cf.records(data)
			if err != nil || want == 0 {
				t.Fatalf("counting records: %d, %v", want, err)
			}
			evs, errs := n.Normalize(data, normalize.Meta{File: name})
			for _, err := range errs {
				t.Errorf("%s: %v", name, err)
			}
			if len(evs) != want {
				t.Errorf("%s: %d events from %d records", name, len(evs), want)
			}
			for i, ev := range evs {
				checkEvent(t, name, i, ev)
			}
			total += len(evs)
		})
	}
	t.Logf("%d CloudTrail records normalized", total)
}

func checkEvent(t *testing.T, file string, i int, ev *event.Event) {
	t.Helper()
	var missing []string
	if ev.Source != event.SourceCloudTrail {
		missing = append(missing, "source")
	}
	if ev.Time.IsZero() {
		missing = append(missing, "time")
	}
	if ev.ID == "" {
		missing = append(missing, "id")
	}
	if ev.Action == "" {
		missing = append(missing, "action")
	}
	if ev.Actor.Name == "" {
		missing = append(missing, "actor.name")
	}
	if ev.Actor.Type == "" || ev.Actor.Type == "unknown" {
		missing = append(missing, "actor.type")
	}
	if ev.Cloud.Provider != event.ProviderAWS || ev.Cloud.Service == "" || ev.Cloud.Account == "" || ev.Cloud.Region == "" {
		missing = append(missing, "cloud")
	}
	switch ev.Outcome {
	case event.OutcomeSuccess, event.OutcomeFailure:
	default:
		missing = append(missing, "outcome")
	}
	if len(missing) > 0 {
		t.Errorf("%s event %d (%s %s): missing %s", file, i, ev.Action, ev.ID, strings.Join(missing, ", "))
	}
	// The outcome, worked out from raw independently of the decoder.
	wantOutcome := event.OutcomeSuccess
	re, _ := ev.RawMap()["responseElements"].(map[string]any)
	if ev.RawMap()["errorCode"] != nil || re[ev.Action] == "Failure" {
		wantOutcome = event.OutcomeFailure
	}
	if ev.Outcome != wantOutcome {
		t.Errorf("%s event %d: outcome %s, want %s (error code %q)", file, i, ev.Outcome, wantOutcome, ev.Cloud.ErrorCode)
	}
	raw, err := json.Marshal(ev.RawMap())
	if err != nil || ev.RawMap() == nil {
		t.Fatalf("%s event %d: raw: %v", file, i, err)
	}
	if bytes.Contains(raw, []byte(stsTokenPrefix)) {
		t.Errorf("%s event %d: an STS session token is left in raw", file, i)
	}
}

// TestCorpusCriblSample decodes the Cribl sample file, whose records are
// JSON strings in "_raw" fields (a Cribl Stream event). That wrapper is
// not unwrapped by the dispatcher, so the test unwraps it and checks the
// records inside are the same 44 as cloudtrail_records.jsonl.
func TestCorpusCriblSample(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "cribl-aws-cloudtrail-sample")
	data, err := os.ReadFile(filepath.Join(dir, "cribl-cloudtrail-sample.cribl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wrapped []struct {
		Raw string `json:"_raw"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		t.Fatal(err)
	}
	n, _ := detect.New(event.SourceCloudTrail, normalize.Options{Raw: true})
	var ids []string
	for i, w := range wrapped {
		evs, errs := n.Normalize([]byte(w.Raw), normalize.Meta{})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("record %d: %d events, errors %v", i, len(evs), errs)
		}
		checkEvent(t, "cribl-cloudtrail-sample.cribl.json", i, evs[0])
		ids = append(ids, evs[0].ID)
	}
	lines, err := os.ReadFile(filepath.Join(dir, "cloudtrail_records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := n.Normalize(lines, normalize.Meta{})
	if len(evs) != len(ids) {
		t.Fatalf("%d wrapped records, %d JSON lines", len(ids), len(evs))
	}
	for i, ev := range evs {
		if ev.ID != ids[i] {
			t.Errorf("record %d: id %s in the JSON lines, %s in the Cribl file", i, ev.ID, ids[i])
		}
	}
}

// TestDispatcherShapes checks each envelope reaches this decoder through
// automatic detection.
func TestDispatcherShapes(t *testing.T) {
	n, err := detect.New(detect.Auto, normalize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := os.ReadFile(filepath.Join("testdata", "single_record.json"))
	if err != nil {
		t.Fatal(err)
	}
	eb, err := os.ReadFile(filepath.Join("testdata", "eventbridge_api_call.json"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join("testdata", "s3_log_file.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		want []string // actions
		errs int
	}{
		{"single record", single, []string{"ConsoleLogin"}, 0},
		{"EventBridge", eb, []string{"DeleteDetector"}, 0},
		{"JSON array", []byte("[" + string(single) + "," + string(eb) + "]"), []string{"ConsoleLogin", "DeleteDetector"}, 0},
		{"JSON lines", []byte(string(bytes.TrimSpace(single)) + "\n" + string(bytes.TrimSpace(eb)) + "\n"), []string{"ConsoleLogin", "DeleteDetector"}, 0},
		{"S3 log file", file, []string{"CreateAccessKey", "PutBucketPolicy", "StopLogging", "AssumeRole", "AssumeRoleWithWebIdentity", "RunInstances", "GetObject"}, 2},
		{"CloudWatch Logs subscription", cloudWatch(t, single), []string{"ConsoleLogin"}, 0},
		{"S3 notification is not CloudTrail", mustRead(t, "s3_notification.json"), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, errs := n.Normalize(tt.msg, normalize.Meta{})
			var got []string
			for _, ev := range evs {
				if ev.Source != event.SourceCloudTrail {
					t.Errorf("source %q", ev.Source)
				}
				got = append(got, ev.Action)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || len(errs) != tt.errs {
				t.Errorf("actions %v, errors %v; want %v and %d errors", got, errs, tt.want, tt.errs)
			}
		})
	}
}

// cloudWatch wraps a record as CloudTrail delivers it to a CloudWatch Logs
// subscription.
func cloudWatch(t *testing.T, rec []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "aws-cloudtrail-logs-111122223333",
		"logStream": "111122223333_CloudTrail_us-east-1", "subscriptionFilters": []string{"vigia"},
		"logEvents": []map[string]any{{"id": "1", "timestamp": 1741098645000, "message": string(bytes.TrimSpace(rec))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
