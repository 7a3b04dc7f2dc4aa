package servicenowfake_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/notify/servicenow/servicenowfake"
)

const (
	user = "u"
	pass = "p"
)

var basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))

func do(t *testing.T, srv *servicenowfake.Server, method, path, auth, contentType, body string) (int, http.Header, map[string]any) {
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
	table  = "/api/now/table/incident"
	jsonCT = "application/json"
)

func TestCreateValidation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		path   string
		auth   string
		ct     string
		body   string
		status int
	}{
		{"ok", table, basic, jsonCT, `{"short_description":"x","urgency":"1","impact":2,"u_team":"sec"}`, 201},
		{"v2 path", "/api/now/v2/table/incident", basic, jsonCT, `{"short_description":"x"}`, 201},
		{"no auth", table, "", jsonCT, `{"short_description":"x"}`, 401},
		{"wrong password", table, "Basic " + base64.StdEncoding.EncodeToString([]byte("u:x")), jsonCT, `{"short_description":"x"}`, 401},
		{"form", table, basic, "application/x-www-form-urlencoded", `short_description=x`, 415},
		{"bad json", table, basic, jsonCT, `{"short_description":`, 400},
		{"no short description", table, basic, jsonCT, `{"description":"x"}`, 400},
		{"short description 160", table, basic, jsonCT, `{"short_description":"` + strings.Repeat("ç", 160) + `"}`, 201},
		{"short description 161 units", table, basic, jsonCT, `{"short_description":"` + strings.Repeat("🔥", 80) + `x"}`, 400},
		{"description too long", table, basic, jsonCT, `{"short_description":"x","description":"` + strings.Repeat("d", 4001) + `"}`, 400},
		{"bad urgency", table, basic, jsonCT, `{"short_description":"x","urgency":"5"}`, 400},
		{"unknown field", table, basic, jsonCT, `{"short_description":"x","shortdescription":"typo"}`, 400},
		{"object value", table, basic, jsonCT, `{"short_description":{"value":"x"}}`, 400},
		{"resolve on create without code", table, basic, jsonCT, `{"short_description":"x","state":"6"}`, 403},
		{"unknown table", "/api/now/table/x_nope", basic, jsonCT, `{"short_description":"x"}`, 400},
		{"other api", "/api/now/import/x", basic, jsonCT, `{}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := servicenowfake.New(t, servicenowfake.WithBasic(user, pass))
			status, _, out := do(t, srv, http.MethodPost, tt.path, tt.auth, tt.ct, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			want := 0
			if status == 201 {
				want = 1
				res, _ := out["result"].(map[string]any)
				if len(res["sys_id"].(string)) != 32 || !strings.HasPrefix(res["number"].(string), "INC") || res["active"] != "true" {
					t.Errorf("result %v", res)
				}
			} else if out["status"] != "failure" || out["error"] == nil {
				t.Errorf("error body %v", out)
			}
			if n := len(srv.Records("incident")); n != want {
				t.Errorf("%d records, want %d", n, want)
			}
		})
	}
}

func TestUpdateAndQuery(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBearer("tok"))
	bearer := "Bearer tok"
	var ids []string
	for _, corr := range []string{"g1", "g1", "g2"} {
		status, _, out := do(t, srv, http.MethodPost, table+"?sysparm_fields=sys_id", bearer, jsonCT, `{"short_description":"x","correlation_id":"`+corr+`"}`)
		if status != 201 {
			t.Fatalf("create: %d %v", status, out)
		}
		res := out["result"].(map[string]any)
		if len(res) != 1 {
			t.Errorf("sysparm_fields ignored: %v", res)
		}
		ids = append(ids, res["sys_id"].(string))
	}
	query := func(q string) []string {
		t.Helper()
		status, _, out := do(t, srv, http.MethodGet, table+"?"+url.Values{"sysparm_query": {q}, "sysparm_fields": {"sys_id"}}.Encode(), bearer, "", "")
		if status != 200 {
			t.Fatalf("query %q: %d %v", q, status, out)
		}
		var got []string
		for _, r := range out["result"].([]any) {
			got = append(got, r.(map[string]any)["sys_id"].(string))
		}
		return got
	}
	if got := query("correlation_id=g1^active=true^ORDERBYDESCsys_created_on"); len(got) != 2 || got[0] != ids[1] {
		t.Errorf("g1 newest first: %v (ids %v)", got, ids)
	}
	if status, _, _ := do(t, srv, http.MethodGet, table+"?sysparm_query="+url.QueryEscape("correlation_idLIKEg"), bearer, "", ""); status != 400 {
		t.Errorf("unparsable query: %d", status)
	}
	rec := table + "/" + ids[0]
	if status, _, out := do(t, srv, http.MethodPatch, rec, bearer, jsonCT, `{"work_notes":"note 1"}`); status != 200 {
		t.Fatalf("work notes: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPatch, rec, bearer, jsonCT, `{"state":"6"}`); status != 403 {
		t.Errorf("resolve without close code: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPatch, rec, bearer, jsonCT, `{"state":"6","close_code":"Nope","close_notes":"n"}`); status != 400 {
		t.Errorf("unknown close code: %d %v", status, out)
	}
	if status, _, out := do(t, srv, http.MethodPatch, rec, bearer, jsonCT, `{"state":"6","close_code":"Solution provided","close_notes":"done"}`); status != 200 {
		t.Fatalf("resolve: %d %v", status, out)
	}
	if got := query("correlation_id=g1^active=true^state!=6"); len(got) != 1 || got[0] != ids[1] {
		t.Errorf("unresolved g1: %v", got)
	}
	srv.SetState("incident", ids[0], servicenowfake.StateClosed)
	if status, _, _ := do(t, srv, http.MethodPatch, rec, bearer, jsonCT, `{"work_notes":"late"}`); status != 403 {
		t.Errorf("update of a closed record: %d", status)
	}
	r := srv.Records("incident")[0]
	if len(r.WorkNotes) != 1 || r.Fields["active"] != "false" || r.Fields["close_notes"] != "done" {
		t.Errorf("record %+v", r)
	}
	srv.Delete("incident", ids[0])
	if status, _, _ := do(t, srv, http.MethodGet, rec, bearer, "", ""); status != 404 {
		t.Errorf("deleted record: %d", status)
	}
}

func TestFaults(t *testing.T) {
	srv := servicenowfake.New(t, servicenowfake.WithBasic(user, pass))
	srv.RateLimitNext(1, 2500*time.Millisecond)
	srv.FailNext(1, http.StatusBadGateway)
	for i, want := range []int{429, 502, 201} {
		status, h, _ := do(t, srv, http.MethodPost, table, basic, jsonCT, `{"short_description":"x"}`)
		if status != want {
			t.Fatalf("call %d: %d, want %d", i, status, want)
		}
		if want == 429 && (h.Get("Retry-After") != "3" || h.Get("X-RateLimit-Reset") == "") {
			t.Errorf("rate limit headers %v", h)
		}
	}
}
