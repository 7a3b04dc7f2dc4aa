package webhookfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sign(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestChecks(t *testing.T) {
	const secret = "s3cret"
	s := New(t, secret, RequireHeader("X-Team", "secops"))
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	good := `{"version":"1","id":"n1"}`
	tests := []struct {
		name, method, ctype, body, ts, sig, team string
		status                                   int
	}{
		{"valid", "POST", "application/json", good, now, sign(secret, now, good), "secops", 200},
		{"repeat", "POST", "application/json", good, now, sign(secret, now, good), "secops", 200},
		{"GET", "GET", "application/json", "", now, sign(secret, now, ""), "secops", 405},
		{"text", "POST", "text/plain", good, now, sign(secret, now, good), "secops", 415},
		{"no signature", "POST", "application/json", good, now, "", "secops", 401},
		{"wrong secret", "POST", "application/json", good, now, sign("other", now, good), "secops", 401},
		{"stale", "POST", "application/json", good, old, sign(secret, old, good), "secops", 401},
		{"tampered", "POST", "application/json", good + " ", now, sign(secret, now, good), "secops", 401},
		{"version 2", "POST", "application/json", `{"version":"2","id":"n"}`, now, sign(secret, now, `{"version":"2","id":"n"}`), "secops", 400},
		{"no team", "POST", "application/json", good, now, sign(secret, now, good), "", 403},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL()+"/x", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", tt.ctype)
		req.Header.Set("X-Vigia-Timestamp", tt.ts)
		req.Header.Set("X-Vigia-Signature", tt.sig)
		if tt.team != "" {
			req.Header.Set("X-Team", tt.team)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	ds := s.Deliveries()
	if len(ds) != len(tests) || !ds[0].Signed || ds[0].Repeat || !ds[1].Repeat || len(s.Accepted()) != 2 {
		t.Errorf("deliveries %+v", ds)
	}
	s.RateLimitNext(1, 1100*time.Millisecond)
	resp, err := http.Post(s.URL(), "application/json", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("rate limit: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
