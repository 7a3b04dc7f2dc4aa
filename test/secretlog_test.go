package test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/broker"
	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/redistest"
)

// lockedBuffer is an io.Writer safe for the pipeline's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretInLogs runs the pipeline with every kind of credential
// configured — a Redis ACL password, a Slack token the API rejects, a
// webhook whose URL and signing secret are secrets and whose endpoint
// fails, then refuses connections, a metrics token, an API token — and
// feeds it events and a malformed message carrying credentials. The
// failures get logged (that is the point), and nothing logged, at debug
// level, carries any of the secret values. A start with a wrong Redis
// password fails without the password in the error either.
func TestNoSecretInLogs(t *testing.T) {
	secrets := map[string]string{
		"VIGIA_T_REDIS_PW":      "redis-pw-7a1f4c0ffee",
		"VIGIA_T_SLACK_TOKEN":   "xoxb-configured-but-rejected-4242",
		"VIGIA_T_HOOK_SECRET":   "hook-hmac-secret-99a1",
		"VIGIA_T_METRICS_TOKEN": "metrics-bearer-5150",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	const apiToken = "api-bearer-token-8086"
	const hookPath = "/hooks/T000/B000/url-path-secret-6502"
	dir := t.TempDir()
	apiTokenFile := filepath.Join(dir, "api-token")
	if err := os.WriteFile(apiTokenFile, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The webhook answers 500 to the first requests, then the server
	// goes away: connection errors name the URL in Go's http client.
	var hits sync.WaitGroup
	hits.Add(1)
	var once sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(hits.Done)
		http.Error(w, "upstream down", http.StatusInternalServerError)
	}))
	t.Setenv("VIGIA_T_HOOK_URL", hook.URL+hookPath)
	secrets["VIGIA_T_HOOK_URL"] = hookPath

	redisAddr := redistest.StartArgs(t,
		"--user", "vigia", "on", ">"+secrets["VIGIA_T_REDIS_PW"], "~*", "&*", "+@all",
		"--user", "default", "on", "nopass", "-@all", "+ping")
	b, err := broker.Start("127.0.0.1:0", 3, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fake := slackfake.New(t, "xoxb-the-real-token-is-different")

	mkConfig := func(redisPwEnv string) *config.Config {
		yaml := `
kafka:
  brokers: [` + strings.Join(b.Addrs(), ",") + `]
  group_id: secretlog
  topics: [{name: ` + topic + `, format: auto, cluster: it}]
  dead_letter_topic: ` + dlqTopic + `
  commit_interval: 100ms
  max_wait: 50ms
rules:
  paths: [../detections]
  runbook_root: ..
redis: {addr: "` + redisAddr + `", username: vigia, password_env: ` + redisPwEnv + `, key_prefix: "secretlog:"}
receivers:
  - name: soc
    slack: {token_env: VIGIA_T_SLACK_TOKEN, channel: "#soc", api_url: "` + fake.URL() + `"}
  - name: hook
    webhook: {url_env: VIGIA_T_HOOK_URL, secret_env: VIGIA_T_HOOK_SECRET, timeout: 2s}
route:
  retry_timeout: 1s
  group_wait: 0s
  group_interval: 10ms
telemetry: {listen: 127.0.0.1:0, token_env: VIGIA_T_METRICS_TOKEN}
api: {listen: 127.0.0.1:0, token_file: ` + apiTokenFile + `}
shutdown_timeout: 5s
data_dir: ` + t.TempDir() + `
`
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *pipeline.Running, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, mkConfig("VIGIA_T_REDIS_PW"), pipeline.Options{Logger: log, Stdout: &logs,
			Started: func(r *pipeline.Running) { started <- r }})
	}()
	var running *pipeline.Running
	select {
	case running = <-started:
	case err := <-done:
		t.Fatalf("pipeline did not start: %v", err)
	}
	// The broken message goes first: dead letters are logged once per
	// reason, and this one's log line must be the one checked.
	produce(t, running.Brokers, `{"broken": "json password=planted-in-broken-json Authorization: Bearer planted-bearer-in-broken-json`)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), `"reason":"not_json"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the broken message was not dead-lettered")
		}
	}
	produce(t, running.Brokers, append(readLines(t, samples), strings.Split(strings.TrimSpace(plantedSecrets), "\n")...)...)
	hits.Wait() // the webhook was tried
	hook.Close()
	// Let retries against the closed server happen and get logged.
	time.Sleep(1500 * time.Millisecond)
	// The metrics endpoint refused a scrape without the token.
	if resp, err := http.Get("http://" + running.Metrics.Addr() + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/metrics without the token: %d", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Logf("pipeline stopped with %v", err)
	}

	// A wrong password stops the start; the error does not carry it.
	t.Setenv("VIGIA_T_REDIS_WRONG", "wrong-redis-password-0000")
	secrets["VIGIA_T_REDIS_WRONG"] = "wrong-redis-password-0000"
	err = pipeline.Run(context.Background(), mkConfig("VIGIA_T_REDIS_WRONG"), pipeline.Options{Logger: log, Stdout: &logs})
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("start with a wrong Redis password: %v", err)
	}
	log.Error("run failed", "err", err)

	out := logs.String()
	for _, want := range []string{"invalid_auth", "dead-letter"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q: the failures this test is about were not exercised", want)
		}
	}
	planted := []string{apiToken, "planted-in-broken-json", "planted-bearer-in-broken-json", "planted-password-in-log",
		"planted-bearer-in-log", "planted-k8s-stringdata-value", "planted/aws/secret/access/key/value0000001", "planted-bearer-in-exec-command"}
	for _, v := range secrets {
		planted = append(planted, v)
	}
	for _, s := range planted {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("a secret reached the log: %q in …%s…", s, out[max(0, i-200):min(len(out), i+len(s)+50)])
		}
	}
	if testing.Verbose() {
		t.Logf("%d bytes of logs checked", len(out))
	}
}
