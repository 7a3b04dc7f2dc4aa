package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/config"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := write("token", "t0ken\n")
	empty := write("empty-token", "\n")
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)

	good := write("good.yaml", `
kafka: {embedded: true, topics: [{name: k8s-audit}]}
rules: {paths: [`+rulesDir+`], runbook_root: `+dir+`}
receivers: [{name: out, console: {}}]
`)
	if code, out, errOut := runCmd("config", "validate", "--config", good); code != 0 || !strings.HasPrefix(out, "config OK: "+good+" (for vigia run)") {
		t.Fatalf("good config: exit %d\n%s%s", code, out, errOut)
	}

	bad := write("bad.yaml", `
kafka: {embedded: true, topics: [{name: k8s-audit}], start_offset: middle}
rules: {paths: [`+filepath.Join(dir, "no-rules")+`], runbook_root: `+token+`}
receivers: [{name: chat, slack: {token_file: `+filepath.Join(dir, "no-token")+`, channel: "#soc", token_env: VIGIA_TEST_UNSET_ENV}}]
ingest: {tls: {cert_file: `+filepath.Join(dir, "no.crt")+`, key_file: x}}
`)
	code, out, errOut := runCmd("config", "validate", "--config", bad)
	if code != 1 || out != "" {
		t.Fatalf("bad config: exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"4 problem(s)",
		"kafka.start_offset",
		"rules.paths[0]: stat " + filepath.Join(dir, "no-rules"),
		"rules.runbook_root: " + token + " is not a directory",
		"receivers[0].slack.token_file: open " + filepath.Join(dir, "no-token"),
		"warning: receivers[0].slack.token_env: environment variable VIGIA_TEST_UNSET_ENV is not set",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "no.crt") {
		t.Errorf("the ingest block's files were checked for vigia run:\n%s", errOut)
	}

	ingestOnly := write("ingest.yaml", "kafka: {brokers: [kafka:9092]}\ningest: {token_file: "+token+"}\n")
	if code, out, errOut := runCmd("config", "validate", "--for", "ingest", "--config", ingestOnly); code != 0 || !strings.Contains(out, "ingest on :8443/audit (plain HTTP + bearer token) to topic k8s-audit") {
		t.Fatalf("ingest config: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd("config", "validate", "--config", ingestOnly); code != 1 || !strings.Contains(errOut, "kafka.topics") {
		t.Fatalf("an ingest-only file validated for run: exit %d\n%s", code, errOut)
	}
	badIngest := write("bad-ingest.yaml", "kafka: {brokers: [kafka:9092]}\ningest: {token_file: "+empty+", tls: {cert_file: "+filepath.Join(dir, "no.crt")+"}}\n")
	code, _, errOut = runCmd("config", "validate", "--for", "ingest", "--config", badIngest)
	if code != 1 || !strings.Contains(errOut, "ingest.tls: cert_file and key_file go together") || !strings.Contains(errOut, "ingest.tls.cert_file: open") {
		t.Fatalf("bad ingest config: exit %d\n%s", code, errOut)
	}

	unknown := write("unknown.yaml", "kafka:\n  embeded: true\n")
	if code, _, errOut := runCmd("config", "validate", "--config", unknown); code != 1 || !strings.Contains(errOut, "line 2: field embeded not found") {
		t.Fatalf("unknown field: exit %d\n%s", code, errOut)
	}
	if code, _, _ := runCmd("config", "validate"); code != 2 {
		t.Fatalf("no --config: exit %d, want 2", code)
	}
	if code, _, _ := runCmd("config", "validate", "--config", good, "--for", "demo"); code != 2 {
		t.Fatalf("--for demo: exit %d, want 2", code)
	}
}

func TestConfigReference(t *testing.T) {
	code, out, _ := runCmd("config", "reference")
	if code != 0 || out != config.Reference() || !strings.Contains(out, "## `ingest`") {
		t.Fatalf("exit %d, output:\n%.300s", code, out)
	}
}

func TestIngestNeedsConfig(t *testing.T) {
	if code, _, errOut := runCmd("ingest"); code != 2 || !strings.Contains(errOut, "--config is required") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(bad, []byte("ingest: {topic: x}\n"), 0o600)
	if code, _, errOut := runCmd("ingest", "--config", bad); code != 1 || !strings.Contains(errOut, "kafka.brokers") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
