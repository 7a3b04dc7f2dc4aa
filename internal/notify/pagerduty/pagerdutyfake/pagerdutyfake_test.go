package pagerdutyfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
)

const key = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"

func post(t *testing.T, s *Server, contentType, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.URL()+"/v2/enqueue", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestValidation(t *testing.T) {
	trigger := func(edit func(m map[string]any)) string {
		m := map[string]any{
			"routing_key": key, "event_action": "trigger", "dedup_key": "k1",
			"payload": map[string]any{"summary": "s", "source": "src", "severity": "error", "custom_details": map[string]any{"a": 1}},
		}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	payload := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { m["payload"].(map[string]any)[k] = v }
	}
	tests := []struct {
		name   string
		body   string
		status int
		errs   string
	}{
		{"valid trigger", trigger(nil), 202, ""},
		{"valid with links and timestamp", trigger(func(m map[string]any) {
			m["links"] = []any{map[string]any{"href": "https://x.example/", "text": "x"}}
			m["images"] = []any{map[string]any{"src": "https://x.example/i.png"}}
			m["payload"].(map[string]any)["timestamp"] = "2015-07-17T08:42:58.315+0000"
		}), 202, ""},
		{"resolve", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"k1"}`, 202, ""},
		{"not JSON", "{", 400, "JSON object"},
		{"unknown routing key", trigger(func(m map[string]any) { m["routing_key"] = strings.Repeat("x", 32) }), 400, "Invalid routing key"},
		{"short routing key", trigger(func(m map[string]any) { m["routing_key"] = "abc" }), 400, "32 characters"},
		{"bad action", trigger(func(m map[string]any) { m["event_action"] = "page" }), 400, "event_action"},
		{"long dedup key", trigger(func(m map[string]any) { m["dedup_key"] = strings.Repeat("k", 256) }), 400, "dedup_key"},
		{"resolve without key", `{"routing_key":"` + key + `","event_action":"resolve"}`, 400, "dedup_key"},
		{"no payload", trigger(func(m map[string]any) { delete(m, "payload") }), 400, "payload"},
		{"no summary", trigger(payload("summary", "")), 400, "summary"},
		{"summary of 1025 runes", trigger(payload("summary", strings.Repeat("ç", 1025))), 400, "at most 1024"},
		{"summary of 1024 runes", trigger(payload("summary", strings.Repeat("ç", 1024))), 202, ""},
		{"no source", trigger(payload("source", " ")), 400, "source"},
		{"bad severity", trigger(payload("severity", "high")), 400, "severity"},
		{"bad timestamp", trigger(payload("timestamp", "yesterday")), 400, "timestamp"},
		{"details not an object", trigger(payload("custom_details", "text")), 400, "payload"},
		{"unknown payload field", trigger(payload("priority", "P1")), 400, "payload"},
		{"unknown field", trigger(func(m map[string]any) { m["routingKey"] = key }), 400, "unknown field"},
		{"link without href", trigger(func(m map[string]any) { m["links"] = []any{map[string]any{"text": "x"}} }), 400, "links[0].href"},
		{"http image", trigger(func(m map[string]any) { m["images"] = []any{map[string]any{"src": "http://x/i.png"}} }), 400, "images[0].src"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, key)
			resp, out := post(t, s, "application/json", tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.status, out)
			}
			if tt.status == 202 {
				if out["status"] != "success" || out["dedup_key"] == "" {
					t.Errorf("answer %v", out)
				}
				return
			}
			errs, _ := json.Marshal(out["errors"])
			if out["status"] != "invalid event" || !strings.Contains(string(errs), tt.errs) {
				t.Errorf("answer %v, want errors mentioning %q", out, tt.errs)
			}
			if len(s.Events()) != 0 {
				t.Error("invalid event recorded")
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	s := New(t, key)
	if resp, _ := post(t, s, "text/plain", `{}`); resp.StatusCode != 400 {
		t.Errorf("text/plain: %d", resp.StatusCode)
	}
	if resp, _ := post(t, s, "application/json", `{"routing_key":"`+strings.Repeat("x", MaxBodyBytes)+`"}`); resp.StatusCode != 413 {
		t.Errorf("oversized: %d", resp.StatusCode)
	}
	resp, err := http.Get(s.URL() + "/v2/enqueue")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, err = http.Post(s.URL()+"/v1/enqueue", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("wrong path: %d", resp.StatusCode)
	}
	s.RateLimitNext(1, 1500*time.Millisecond)
	resp, _ = post(t, s, "application/json", `{}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("rate limit: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.FailNext(2, 502)
	for range 2 {
		if resp, _ := post(t, s, "application/json", `{}`); resp.StatusCode != 502 {
			t.Errorf("fail: %d", resp.StatusCode)
		}
	}
	if resp, _ := post(t, s, "application/json", `{}`); resp.StatusCode != 400 {
		t.Errorf("after faults: %d", resp.StatusCode)
	}
	if n := len(s.Calls()); n != 8 {
		t.Errorf("%d calls recorded, want 8", n)
	}
}

// TestDeduplication drives the fake with go-pagerduty itself.
func TestDeduplication(t *testing.T) {
	s := New(t, key)
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(s.URL()))
	send := func(action, dedup string) string {
		ev := &pagerduty.V2Event{RoutingKey: key, Action: action, DedupKey: dedup}
		if action == "trigger" {
			ev.Payload = &pagerduty.V2Payload{Summary: "s-" + dedup, Source: "src", Severity: "info"}
		}
		resp, err := c.ManageEventWithContext(t.Context(), ev)
		if err != nil {
			t.Fatalf("%s %s: %v", action, dedup, err)
		}
		return resp.DedupKey
	}
	send("resolve", "nothing-open") // dropped
	send("trigger", "a")
	send("trigger", "a")
	send("acknowledge", "a")
	send("trigger", "b")
	send("resolve", "a")
	send("trigger", "a") // a new alert: the old one is resolved
	generated := send("trigger", "")
	in := s.Incidents()
	if len(in) != 4 {
		t.Fatalf("%d incidents: %+v", len(in), in)
	}
	want := []struct {
		key, status string
		triggers    int
	}{{"a", "resolved", 2}, {"b", "triggered", 1}, {"a", "triggered", 1}, {generated, "triggered", 1}}
	for i, w := range want {
		if in[i].DedupKey != w.key || in[i].Status != w.status || in[i].Triggers != w.triggers {
			t.Errorf("incident %d: %+v, want %+v", i, in[i], w)
		}
	}
	if len(generated) != 32 || len(in[0].Events) != 4 || in[0].Summary != "s-a" {
		t.Errorf("generated key %q, first incident %+v", generated, in[0])
	}
	if n := len(s.Events()); n != 8 {
		t.Errorf("%d events recorded, want 8", n)
	}
}
