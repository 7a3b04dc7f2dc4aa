package githubfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/notify/github/githubfake"
)

const token = "tok"

func do(t *testing.T, srv *githubfake.Server, method, path, auth, body string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(srv.URL(), "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

const issues = "/repos/acme/sec/issues"

func TestValidation(t *testing.T) {
	bearer := "Bearer " + token
	for _, tt := range []struct {
		name   string
		method string
		path   string
		auth   string
		body   string
		status int
	}{
		{"create", http.MethodPost, issues, bearer, `{"title":"t","body":"b","labels":["vigia"]}`, 201},
		{"token scheme", http.MethodPost, issues, "token " + token, `{"title":"t"}`, 201},
		{"enterprise prefix", http.MethodPost, "/api/v3" + issues, bearer, `{"title":"t"}`, 201},
		{"no token", http.MethodPost, issues, "", `{"title":"t"}`, 401},
		{"wrong token", http.MethodPost, issues, "Bearer nope", `{"title":"t"}`, 401},
		{"bad json", http.MethodPost, issues, bearer, `{"title":`, 400},
		{"no title", http.MethodPost, issues, bearer, `{"body":"b"}`, 422},
		{"title 256", http.MethodPost, issues, bearer, `{"title":"` + strings.Repeat("é", 256) + `"}`, 201},
		{"title 257", http.MethodPost, issues, bearer, `{"title":"` + strings.Repeat("é", 257) + `"}`, 422},
		{"body too long", http.MethodPost, issues, bearer, `{"title":"t","body":"` + strings.Repeat("b", githubfake.MaxBody+1) + `"}`, 422},
		{"label too long", http.MethodPost, issues, bearer, `{"title":"t","labels":["` + strings.Repeat("l", 51) + `"]}`, 422},
		{"assignee not collaborator", http.MethodPost, issues, bearer, `{"title":"t","assignees":["mallory"]}`, 422},
		{"other repo", http.MethodPost, "/repos/acme/other/issues", bearer, `{"title":"t"}`, 404},
		{"unknown issue", http.MethodPatch, issues + "/9", bearer, `{"state":"closed"}`, 404},
		{"bad list state", http.MethodGet, issues + "?state=done", bearer, ``, 422},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := githubfake.New(t, token, "acme", "sec", githubfake.WithCollaborators("alice"))
			status, h, out := do(t, srv, tt.method, tt.path, tt.auth, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			if h.Get("X-RateLimit-Limit") == "" {
				t.Errorf("no rate limit headers")
			}
			want := 0
			if status == 201 {
				want = 1
			} else if m, _ := out.(map[string]any); m == nil || m["message"] == "" || m["documentation_url"] == nil {
				t.Errorf("error body %v", out)
			}
			if n := len(srv.Issues()); n != want {
				t.Errorf("%d issues, want %d", n, want)
			}
		})
	}
}

func TestEditListComment(t *testing.T) {
	srv := githubfake.New(t, token, "acme", "sec")
	bearer := "Bearer " + token
	for _, labels := range []string{`["vigia","g1"]`, `["vigia","g2"]`, `["vigia","g1"]`} {
		if status, _, out := do(t, srv, http.MethodPost, issues, bearer, `{"title":"t","labels":`+labels+`}`); status != 201 {
			t.Fatalf("create: %d %v", status, out)
		}
	}
	pr := srv.AddPullRequest("pr", "g1")
	list := func(q string) []float64 {
		t.Helper()
		status, _, out := do(t, srv, http.MethodGet, issues+"?"+q, bearer, "")
		if status != 200 {
			t.Fatalf("list %s: %d %v", q, status, out)
		}
		var nums []float64
		for _, i := range out.([]any) {
			nums = append(nums, i.(map[string]any)["number"].(float64))
		}
		return nums
	}
	if got := list("labels=g1&state=open&direction=asc"); len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != float64(pr) {
		t.Errorf("g1 ascending (pull request included): %v", got)
	}
	if got := list("labels=vigia,g1"); len(got) != 2 || got[0] != 3 {
		t.Errorf("vigia and g1, newest first: %v", got)
	}
	if status, _, out := do(t, srv, http.MethodPatch, issues+"/1", bearer, `{"state":"closed","state_reason":"reopened"}`); status != 422 {
		t.Errorf("closed as reopened: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPatch, issues+"/1", bearer, `{"state":"closed","state_reason":"completed"}`); status != 200 {
		t.Fatalf("close: %d %v", status, out)
	}
	if got := list("labels=g1&per_page=1&direction=asc"); len(got) != 1 || got[0] != 3 {
		t.Errorf("open g1 after close, one per page: %v", got)
	}
	if got := list("labels=g1&state=closed"); len(got) != 1 || got[0] != 1 {
		t.Errorf("closed g1: %v", got)
	}
	if status, _, _ := do(t, srv, http.MethodPost, issues+"/3/comments", bearer, `{"body":""}`); status != 422 {
		t.Errorf("empty comment: %d", status)
	}
	if status, _, out := do(t, srv, http.MethodPost, issues+"/3/comments", bearer, `{"body":"hello"}`); status != 201 {
		t.Fatalf("comment: %d %v", status, out)
	}
	srv.Delete(3)
	if status, _, _ := do(t, srv, http.MethodPost, issues+"/3/comments", bearer, `{"body":"late"}`); status != 410 {
		t.Errorf("comment on a deleted issue: %d", status)
	}
	got := srv.Issues()
	if len(got) != 2 || got[0].State != "closed" || got[0].StateReason != "completed" {
		t.Errorf("issues %+v", got)
	}
}

func TestRateLimits(t *testing.T) {
	srv := githubfake.New(t, token, "acme", "sec")
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	srv.PrimaryRateLimitNext(1, reset)
	srv.SecondaryRateLimitNext(1, http.StatusTooManyRequests, 1500*time.Millisecond)
	srv.FailNext(1, http.StatusServiceUnavailable)
	bearer := "Bearer " + token

	status, h, out := do(t, srv, http.MethodGet, issues, bearer, "")
	if status != 403 || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") == "" {
		t.Errorf("primary: %d %v %v", status, h, out)
	}
	status, h, out = do(t, srv, http.MethodGet, issues, bearer, "")
	if m, _ := out.(map[string]any); status != 429 || h.Get("Retry-After") != "2" || !strings.HasSuffix(m["documentation_url"].(string), "secondary-rate-limits") {
		t.Errorf("secondary: %d %v %v", status, h, out)
	}
	if status, _, _ = do(t, srv, http.MethodGet, issues, bearer, ""); status != 503 {
		t.Errorf("fail: %d", status)
	}
	if status, _, _ = do(t, srv, http.MethodGet, issues, bearer, ""); status != 200 {
		t.Errorf("after faults: %d", status)
	}
	if calls := srv.Calls(); len(calls) != 4 || calls[3].Auth != "bearer" {
		t.Errorf("calls %+v", calls)
	}
}
