package opsgeniefake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const key = "0b1e7c1a-5f4e-4b8a-9c3d-2e6f7a8b9c0d"

func do(t *testing.T, s *Server, method, path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "GenieKey "+key)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestCreateValidation(t *testing.T) {
	body := func(edit func(m map[string]any)) string {
		m := map[string]any{"message": "m", "alias": "a", "priority": "P2", "tags": []string{"x"}, "details": map[string]string{"k": "v"},
			"responders": []any{map[string]any{"type": "team", "name": "secops", "username": ""}}}
		if edit != nil {
			edit(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	long := strings.Repeat
	tests := []struct {
		name, body, field string
	}{
		{"valid", body(nil), ""},
		{"message of 130 runes", body(set("message", long("ç", 130))), ""},
		{"no message", body(set("message", " ")), "message"},
		{"message of 131 runes", body(set("message", long("ç", 131))), "message"},
		{"long alias", body(set("alias", long("a", 513))), "alias"},
		{"long description", body(set("description", long("d", 15001))), "description"},
		{"long entity", body(set("entity", long("e", 513))), "entity"},
		{"long source", body(set("source", long("s", 101))), "source"},
		{"bad priority", body(set("priority", "high")), "priority"},
		{"21 tags", body(set("tags", strings.Fields(long("t ", 21)))), "tags"},
		{"long tag", body(set("tags", []string{long("t", 51)})), "tags[0]"},
		{"tag with comma", body(set("tags", []string{"a,b"})), "tags[0]"},
		{"big details", body(set("details", map[string]string{"k": long("v", 8000)})), "details"},
		{"bad responder", body(set("responders", []any{map[string]any{"type": "group", "name": "x"}})), "responders[0]"},
		{"team without name", body(set("responders", []any{map[string]any{"type": "team"}})), "responders[0]"},
		{"unknown field", body(set("priorty", "P1")), "body"},
		{"not JSON", "{", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, key)
			resp, out := do(t, s, "POST", "/v2/alerts", tt.body, nil)
			if tt.field == "" {
				if resp.StatusCode != 202 || out["result"] != "Request will be processed" || out["requestId"] == "" {
					t.Fatalf("%d %v", resp.StatusCode, out)
				}
				if problems := ValidateCreate([]byte(tt.body)); problems != nil {
					t.Errorf("ValidateCreate: %v", problems)
				}
				return
			}
			errs, _ := out["errors"].(map[string]any)
			if resp.StatusCode != 422 || errs[tt.field] == nil {
				t.Fatalf("%d %v, want 422 naming %s", resp.StatusCode, out, tt.field)
			}
			if len(s.Alerts()) != 0 {
				t.Error("invalid alert recorded")
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	s := New(t, key)
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
	}{
		{"no key", "POST", "/v2/alerts", `{"message":"m"}`, map[string]string{"Authorization": ""}, 401},
		{"wrong key", "POST", "/v2/alerts", `{"message":"m"}`, map[string]string{"Authorization": "GenieKey nope"}, 401},
		{"bearer", "POST", "/v2/alerts", `{"message":"m"}`, map[string]string{"Authorization": "Bearer " + key}, 401},
		{"form body", "POST", "/v2/alerts", `message=m`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"GET create", "GET", "/v2/alerts", ``, nil, 405},
		{"unknown path", "POST", "/v1/alerts", `{}`, nil, 404},
		{"unknown action", "POST", "/v2/alerts/x/snooze", `{}`, nil, 404},
		{"bad identifier type", "POST", "/v2/alerts/x/close?identifierType=name", `{}`, nil, 422},
		{"empty note", "POST", "/v2/alerts/x/notes?identifierType=alias", `{"note":""}`, nil, 422},
		{"oversized", "POST", "/v2/alerts", `{"message":"` + strings.Repeat("m", MaxBodyBytes) + `"}`, nil, 413},
	}
	for _, tt := range tests {
		if resp, out := do(t, s, tt.method, tt.path, tt.body, tt.hdr); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %v, want %d", tt.name, resp.StatusCode, out, tt.status)
		}
	}
	s.RateLimitNext(1, 0)
	resp, _ := do(t, s, "POST", "/v2/alerts", `{"message":"m"}`, nil)
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-State") != "THROTTLED" || resp.Header.Get("X-RateLimit-Period-In-Sec") != "60" || resp.Header.Get("Retry-After") != "" {
		t.Errorf("rate limit: %d %v", resp.StatusCode, resp.Header)
	}
	s.RateLimitNext(1, 2500*time.Millisecond)
	if resp, _ := do(t, s, "POST", "/v2/alerts", `{"message":"m"}`, nil); resp.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	s.FailNext(1, 503)
	if resp, _ := do(t, s, "POST", "/v2/alerts", `{"message":"m"}`, nil); resp.StatusCode != 503 {
		t.Errorf("fail: %d", resp.StatusCode)
	}
	if n := len(s.Calls()); n != len(tests)+3 {
		t.Errorf("%d calls recorded", n)
	}
	for _, c := range s.Calls() {
		if strings.Contains(c.Body, key) {
			t.Errorf("key recorded in a call body")
		}
	}
}

func TestDeduplication(t *testing.T) {
	s := New(t, key)
	post := func(path, body string) string {
		resp, out := do(t, s, "POST", path, body, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, out)
		}
		return out["requestId"].(string)
	}
	missing := post("/v2/alerts/nope/close?identifierType=alias", `{}`)
	post("/v2/alerts", `{"message":"first","alias":"g1","priority":"P1"}`)
	post("/v2/alerts", `{"message":"second","alias":"g1"}`)
	post("/v2/alerts/g1/notes?identifierType=alias", `{"note":"2 new","source":"vigia","IdentifierType":1}`)
	post("/v2/alerts", `{"message":"other","alias":"g2"}`)
	closed := post("/v2/alerts/g1/close?identifierType=alias", `{"note":"done"}`)
	post("/v2/alerts", `{"message":"again","alias":"g1"}`)
	post("/v2/alerts/3/notes?identifierType=tiny", `{"note":"by tiny id"}`)

	as := s.Alerts()
	if len(as) != 3 {
		t.Fatalf("%d alerts: %+v", len(as), as)
	}
	if a := as[0]; a.Alias != "g1" || a.Message != "first" || a.Count != 2 || a.Status != "closed" || a.CloseNote != "done" ||
		len(a.Notes) != 1 || a.Notes[0].Note != "2 new" || a.Priority != "P1" {
		t.Errorf("first alert %+v", a)
	}
	if a := as[1]; a.Alias != "g2" || a.Status != "open" || a.Priority != "P3" {
		t.Errorf("second alert %+v", a)
	}
	if a := as[2]; a.Alias != "g1" || a.Message != "again" || a.Status != "open" || a.Count != 1 || len(a.Notes) != 1 {
		t.Errorf("third alert %+v", a)
	}
	resp, out := do(t, s, "GET", "/v2/alerts/requests/"+missing, "", nil)
	if data, _ := out["data"].(map[string]any); resp.StatusCode != 200 || data["isSuccess"] != false {
		t.Errorf("request status of closing a missing alert: %d %v", resp.StatusCode, out)
	}
	resp, out = do(t, s, "GET", "/v2/alerts/requests/"+closed, "", nil)
	if data, _ := out["data"].(map[string]any); resp.StatusCode != 200 || data["isSuccess"] != true || data["action"] != "Close" {
		t.Errorf("request status of a close: %d %v", resp.StatusCode, out)
	}
	resp, out = do(t, s, "GET", "/v2/alerts/g1?identifierType=alias", "", nil)
	if data, _ := out["data"].(map[string]any); resp.StatusCode != 200 || data["message"] != "again" {
		t.Errorf("get by alias: %d %v", resp.StatusCode, out)
	}
	if n := len(s.Requests()); n != 8 {
		t.Errorf("%d requests", n)
	}
}
