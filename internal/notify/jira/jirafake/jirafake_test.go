package jirafake_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/notify/jira/jirafake"
)

const (
	user  = "bot@example.com"
	token = "tok"
)

var basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))

func do(t *testing.T, srv *jirafake.Server, method, path, auth, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

const (
	doc    = `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"hi","marks":[{"type":"code"}]}]}]}`
	jsonCT = "application/json"
)

func issue(fields string) string { return `{"fields":{` + fields + `}}` }

const base = `"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"s"`

func TestCreateValidation(t *testing.T) {
	long := strings.Repeat("🔥", 128) // 256 UTF-16 units
	tests := []struct {
		name   string
		path   string
		auth   string
		ct     string
		body   string
		status int
		field  string // expected key in errors
	}{
		{"v3 adf", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":` + doc), 201, ""},
		{"v2 string", "/rest/api/2/issue", basic, jsonCT, issue(base + `,"description":"h3. x"`), 201, ""},
		{"no auth", "/rest/api/3/issue", "", jsonCT, issue(base), 401, ""},
		{"wrong password", "/rest/api/3/issue", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":x")), jsonCT, issue(base), 401, ""},
		{"bearer not configured", "/rest/api/3/issue", "Bearer " + token, jsonCT, issue(base), 401, ""},
		{"form body", "/rest/api/3/issue", basic, "application/x-www-form-urlencoded", issue(base), 415, ""},
		{"bad json", "/rest/api/3/issue", basic, jsonCT, `{"fields":`, 400, ""},
		{"v3 string description", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":"plain"`), 400, "description"},
		{"v2 adf description", "/rest/api/2/issue", basic, jsonCT, issue(base + `,"description":` + doc), 400, "description"},
		{"empty text node", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}`), 400, "description"},
		{"code with strong", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"code"},{"type":"strong"}]}]}]}`), 400, "description"},
		{"list without items", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","version":1,"content":[{"type":"bulletList","content":[]}]}`), 400, "description"},
		{"text at top level", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","version":1,"content":[{"type":"text","text":"x"}]}`), 400, "description"},
		{"link without href", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{}}]}]}]}`), 400, "description"},
		{"no version", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"description":{"type":"doc","content":[]}`), 400, "description"},
		{"no summary", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"SEC"},"issuetype":{"name":"Task"}`), 400, "summary"},
		{"summary 255", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"` + strings.Repeat("ç", 255) + `"`), 201, ""},
		{"summary 256 units", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"` + long + `"`), 400, "summary"},
		{"summary newline", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"SEC"},"issuetype":{"name":"Task"},"summary":"a\nb"`), 400, "summary"},
		{"unknown project", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"s"`), 400, "project"},
		{"no issue type", "/rest/api/3/issue", basic, jsonCT, issue(`"project":{"key":"SEC"},"summary":"s"`), 400, "issuetype"},
		{"label with space", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"labels":["a b"]`), 400, "labels"},
		{"unknown priority", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"priority":{"name":"P0"}`), 400, "priority"},
		{"unknown field", "/rest/api/3/issue", basic, jsonCT, issue(base + `,"customfield_1":"x"`), 400, "customfield_1"},
		{"too long description", "/rest/api/2/issue", basic, jsonCT, issue(base + `,"description":"` + strings.Repeat("x", jirafake.MaxText+1) + `"`), 400, "description"},
		{"v3 old search gone", "/rest/api/3/search", basic, jsonCT, `{"jql":"project = SEC"}`, 410, ""},
		{"unbounded v3 search", "/rest/api/3/search/jql", basic, jsonCT, `{"jql":"ORDER BY created"}`, 400, ""},
		{"unparsable jql", "/rest/api/3/search/jql", basic, jsonCT, `{"jql":"text ~ \"x\""}`, 400, ""},
		{"unknown path", "/rest/api/3/frobnicate", basic, jsonCT, `{}`, 404, ""},
		{"comment on missing issue", "/rest/api/3/issue/SEC-99/comment", basic, jsonCT, `{"body":` + doc + `}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jirafake.New(t, jirafake.WithBasic(user, token))
			status, _, out := do(t, srv, http.MethodPost, tt.path, tt.auth, tt.ct, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			if tt.field != "" {
				errs, _ := out["errors"].(map[string]any)
				if _, ok := errs[tt.field]; !ok {
					t.Errorf("errors %v lack %q", out, tt.field)
				}
			}
			wantIssues := 0
			if status == 201 {
				wantIssues = 1
			}
			if n := len(srv.Issues()); n != wantIssues {
				t.Errorf("%d issues, want %d", n, wantIssues)
			}
		})
	}
}

func TestWorkflowAndSearch(t *testing.T) {
	srv := jirafake.New(t, jirafake.WithBearer(token))
	bearer := "Bearer " + token
	for range 2 {
		if status, _, out := do(t, srv, http.MethodPost, "/rest/api/2/issue", bearer, jsonCT, issue(base+`,"labels":["vigia-x"]`)); status != 201 {
			t.Fatalf("create: %d %v", status, out)
		}
	}
	search := func(jql string) []string {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"jql": jql, "fields": []string{"status"}})
		status, _, out := do(t, srv, http.MethodPost, "/rest/api/2/search", bearer, jsonCT, string(body))
		if status != 200 {
			t.Fatalf("search %q: %d %v", jql, status, out)
		}
		var keys []string
		for _, i := range out["issues"].([]any) {
			keys = append(keys, i.(map[string]any)["key"].(string))
		}
		return keys
	}
	if got := search(`project = "SEC" AND labels = "vigia-x" AND statusCategory != Done ORDER BY created DESC`); strings.Join(got, ",") != "SEC-2,SEC-1" {
		t.Errorf("search: %v", got)
	}
	// Move SEC-1 to Done through the workflow.
	status, _, out := do(t, srv, http.MethodGet, "/rest/api/2/issue/SEC-1/transitions", bearer, "", "")
	if status != 200 || !strings.Contains(jsonString(out), `"name":"Done"`) {
		t.Fatalf("transitions: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPost, "/rest/api/2/issue/SEC-1/transitions", bearer, jsonCT, `{"transition":{"id":"41"}}`); status != 400 {
		t.Errorf("transition not offered: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPost, "/rest/api/2/issue/SEC-1/transitions", bearer, jsonCT, `{"transition":{"id":"31"},"fields":{"resolution":{"name":"Nope"}}}`); status != 400 {
		t.Errorf("unknown resolution: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPost, "/rest/api/2/issue/SEC-1/transitions", bearer, jsonCT, `{"transition":{"id":"31"}}`); status != 204 {
		t.Fatalf("transition: %d %v", status, out)
	}
	if got := search(`project = SEC AND labels = "vigia-x" AND statusCategory != Done`); strings.Join(got, ",") != "SEC-2" {
		t.Errorf("search after transition: %v", got)
	}
	if got := search(`statusCategory = "done"`); strings.Join(got, ",") != "SEC-1" {
		t.Errorf("search done: %v", got)
	}
	status, _, out = do(t, srv, http.MethodGet, "/rest/api/2/issue/SEC-1?fields=status", bearer, "", "")
	if status != 200 || !strings.Contains(jsonString(out), `"key":"done"`) || strings.Contains(jsonString(out), "summary") {
		t.Errorf("get: %d %v", status, out)
	}
	srv.Delete("SEC-2")
	if status, _, _ := do(t, srv, http.MethodGet, "/rest/api/2/issue/SEC-2", bearer, "", ""); status != 404 {
		t.Errorf("deleted issue: %d", status)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFaults(t *testing.T) {
	srv := jirafake.New(t, jirafake.WithBasic(user, token))
	srv.RateLimitNext(1, 1500*time.Millisecond)
	srv.FailNext(1, http.StatusServiceUnavailable)
	for i, want := range []int{429, 503, 201} {
		status, h, _ := do(t, srv, http.MethodPost, "/rest/api/3/issue", basic, jsonCT, issue(base))
		if status != want {
			t.Fatalf("call %d: %d, want %d", i, status, want)
		}
		if want == 429 && h.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2", h.Get("Retry-After"))
		}
	}
	if calls := srv.Calls(); len(calls) != 3 || calls[2].Auth != "basic" || calls[2].Status != 201 {
		t.Errorf("calls %+v", calls)
	}
}
