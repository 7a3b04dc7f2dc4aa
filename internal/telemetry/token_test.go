package telemetry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsToken: with a token, /metrics needs it; the probes do not.
func TestMetricsToken(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	m.RequireToken("s3cr3t-token")
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	m.SetReady(true)
	m.RuleReload(false)
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+m.Addr()+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer wrong", "s3cr3t-token", "Basic s3cr3t-token", "Bearer s3cr3t-token-and-more"} {
		if code, body := get("/metrics", auth); code != http.StatusUnauthorized || strings.Contains(body, "vigia_") {
			t.Errorf("/metrics with %q: %d", auth, code)
		}
	}
	code, body := get("/metrics", "Bearer s3cr3t-token")
	if code != http.StatusOK || !strings.Contains(body, `vigia_rule_reloads_total{result="error"} 1`) {
		t.Errorf("/metrics with the token: %d\n%s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(p, ""); code != http.StatusOK {
			t.Errorf("%s without a token: %d, want 200 (probes stay open)", p, code)
		}
	}
}
