// Package servicenowfake is a fake ServiceNow Table API for tests. It
// serves /api/now/table/{table} (and /api/now/v2/table/{table}): record
// creation (POST), reads (GET by sys_id), updates (PATCH, PUT) with work
// notes kept as journal entries, and encoded queries (sysparm_query with
// field=value, field!=value, ^ for AND, ORDERBY/ORDERBYDESC; sysparm_limit,
// sysparm_fields). It checks basic or bearer credentials, content type,
// Accept, body size and JSON, answers values as strings in {"result":...}
// and errors as {"error":{"message","detail"},"status":"failure"}, and on
// demand HTTP 429 with Retry-After and X-RateLimit-* headers, or any
// other status.
//
// It is stricter than an instance where that catches mistakes: values
// longer than a field's dictionary length are refused with 400 (an
// instance truncates them silently), as are unknown fields (except custom
// u_ fields), unknown choice values for state, urgency, impact and
// close_code, and query terms it cannot parse (an instance ignores them
// and may return every record). Like the default data policy, resolving
// (state 6) or closing (7) needs close_code and close_notes; closed and
// cancelled records are read-only (403).
package servicenowfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// Field lengths of the incident dictionary, in UTF-16 units.
var Lengths = map[string]int{
	"short_description": 160, "description": 4000, "work_notes": 4000, "comments": 4000,
	"close_notes": 4000, "close_code": 40, "correlation_id": 100, "correlation_display": 100,
	"category": 40, "subcategory": 40, "contact_type": 40, "assignment_group": 32, "caller_id": 32,
	"urgency": 40, "impact": 40, "state": 40,
}

// MaxBody bounds request bodies.
const MaxBody = 1 << 20

// States of the incident table.
const (
	StateNew        = "1"
	StateInProgress = "2"
	StateOnHold     = "3"
	StateResolved   = "6"
	StateClosed     = "7"
	StateCanceled   = "8"
)

var states = []string{StateNew, StateInProgress, StateOnHold, StateResolved, StateClosed, StateCanceled}

// CloseCodes are the default resolution codes.
var CloseCodes = []string{"Duplicate", "Known error", "No resolution provided", "Resolved by caller",
	"Resolved by change", "Resolved by problem", "Resolved by request", "Solution provided", "Workaround provided", "User error"}

// writable are the fields a client may set besides custom u_ fields.
var writable = []string{"short_description", "description", "correlation_id", "correlation_display", "urgency",
	"impact", "state", "work_notes", "comments", "close_code", "close_notes", "assignment_group", "caller_id",
	"category", "subcategory", "contact_type", "assigned_to", "cmdb_ci", "business_service", "severity"}

// queryable are the fields the fake can filter and order on.
var queryable = []string{"sys_id", "number", "state", "active", "correlation_id", "short_description",
	"category", "assignment_group", "caller_id", "urgency", "impact", "sys_created_on"}

// Record is a record of the fake's table.
type Record struct {
	// Fields holds every field as stored (strings), including sys_id,
	// number, state, active and sys_created_on.
	Fields map[string]string
	// WorkNotes and Comments are the journal entries, oldest first.
	WorkNotes []string
	Comments  []string
	// Updates counts accepted PATCH and PUT calls.
	Updates int
}

// SysID is the record's sys_id.
func (r Record) SysID() string { return r.Fields["sys_id"] }

// Call records one request, accepted or not.
type Call struct {
	Method string
	Path   string
	// Query is the decoded query string.
	Query map[string][]string
	// Auth is "basic", "bearer" or "" (none or invalid).
	Auth   string
	Status int
	Body   string
}

// Option configures a Server.
type Option func(*Server)

// WithBasic accepts HTTP basic credentials user:password.
func WithBasic(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// WithBearer accepts an OAuth access token.
func WithBearer(token string) Option { return func(s *Server) { s.token = token } }

// WithTables sets the tables that exist. Default: incident.
func WithTables(tables ...string) Option { return func(s *Server) { s.tables = tables } }

// WithCloseCodes sets the accepted close codes. Default: CloseCodes.
func WithCloseCodes(codes ...string) Option { return func(s *Server) { s.closeCodes = codes } }

// Server is a fake ServiceNow instance. It is safe for concurrent use.
type Server struct {
	srv        *httptest.Server
	user       string
	password   string
	token      string
	tables     []string
	closeCodes []string

	mu         sync.Mutex
	records    map[string][]*Record // by table, in creation order
	calls      []Call
	seq        int
	clock      time.Time
	rateLimitN int
	retryAfter time.Duration
	failN      int
	failStatus int
}

// New starts a fake; t.Cleanup closes it. Without WithBasic or WithBearer
// every request is refused with 401.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		tables:     []string{"incident"},
		closeCodes: CloseCodes,
		records:    map[string][]*Record{},
		clock:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the instance's base URL (for Config.URL).
func (s *Server) URL() string { return s.srv.URL }

// Records returns copies of table's records, in creation order.
func (s *Server) Records(table string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records[table]))
	for _, r := range s.records[table] {
		out = append(out, clone(r))
	}
	return out
}

func clone(r *Record) Record {
	c := Record{Fields: map[string]string{}, WorkNotes: slices.Clone(r.WorkNotes), Comments: slices.Clone(r.Comments), Updates: r.Updates}
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	return c
}

// SetState sets a record's state as a person would (active follows; a
// resolution code and notes are filled in when resolving or closing).
func (s *Server) SetState(table, sysID, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.find(table, sysID); r != nil {
		if (state == StateResolved || state == StateClosed) && r.Fields["close_code"] == "" {
			r.Fields["close_code"], r.Fields["close_notes"] = "Solution provided", "Resolved by a person."
		}
		setState(r, state)
	}
}

// Delete deletes a record.
func (s *Server) Delete(table, sysID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[table] = slices.DeleteFunc(s.records[table], func(r *Record) bool { return r.Fields["sys_id"] == sysID })
}

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// RateLimitNext makes the next n requests answer 429 with Retry-After
// (whole seconds, rounded up) and X-RateLimit-Reset headers; a zero
// retryAfter sends X-RateLimit-Reset alone, one minute ahead.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next n requests (after pending rate limits) answer
// status with an HTML body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

func (s *Server) find(table, sysID string) *Record {
	for _, r := range s.records[table] {
		if r.Fields["sys_id"] == sysID {
			return r
		}
	}
	return nil
}

func setState(r *Record, state string) {
	r.Fields["state"] = state
	r.Fields["active"] = strconv.FormatBool(state != StateClosed && state != StateCanceled)
}

type apiError struct {
	status  int
	message string
	detail  string
}

func fail(status int, message, detail string) *apiError {
	return &apiError{status: status, message: message, detail: detail}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body)}
	record := func(status int) {
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}
	if status, retryAfter, limited, ok := s.fault(); ok {
		if limited {
			reset := time.Now().Add(time.Minute)
			if retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(retryAfter.Seconds())), 10))
				reset = time.Now().Add(retryAfter)
			}
			w.Header().Set("X-RateLimit-Limit", "100")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
			w.Header().Set("X-RateLimit-Rule", "fake0000000000000000000000000001")
			writeError(w, fail(status, "Rate limit exceeded", "Too many requests for this rule"))
		} else {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body>%d %s</body></html>", status, http.StatusText(status))
		}
		record(status)
		return
	}
	call.Auth = s.authenticate(r)
	resp, status, aerr := s.route(r, body, readErr, call.Auth)
	if aerr != nil {
		writeError(w, aerr)
		record(aerr.status)
		return
	}
	writeJSON(w, status, resp)
	record(status)
}

func (s *Server) authenticate(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok && s.token != "" && tok == s.token {
		return "bearer"
	}
	if enc, ok := strings.CutPrefix(h, "Basic "); ok && s.user != "" {
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err == nil && string(raw) == s.user+":"+s.password {
			return "basic"
		}
	}
	return ""
}

func (s *Server) fault() (status int, retryAfter time.Duration, limited, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.rateLimitN > 0:
		s.rateLimitN--
		return http.StatusTooManyRequests, s.retryAfter, true, true
	case s.failN > 0:
		s.failN--
		return s.failStatus, 0, false, true
	}
	return 0, 0, false, false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	var detail any
	if e.detail != "" {
		detail = e.detail
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"message": e.message, "detail": detail}, "status": "failure"})
}

func (s *Server) route(r *http.Request, body []byte, readErr error, auth string) (any, int, *apiError) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok {
		rest, ok = strings.CutPrefix(r.URL.Path, "/api/now/v2/table/")
	}
	if !ok {
		return nil, 0, fail(http.StatusBadRequest, "Requested URI does not represent any resource", "")
	}
	if auth == "" {
		return nil, 0, fail(http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
	}
	if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "application/json") && !strings.Contains(accept, "*/*") {
		return nil, 0, fail(http.StatusNotAcceptable, "Invalid Accept header", "Use application/json")
	}
	if readErr != nil || len(body) > MaxBody {
		return nil, 0, fail(http.StatusRequestEntityTooLarge, "Request body too large", "")
	}
	table, sysID, _ := strings.Cut(rest, "/")
	if !slices.Contains(s.tables, table) {
		return nil, 0, fail(http.StatusBadRequest, "Invalid table "+table, "")
	}
	var in map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			return nil, 0, fail(http.StatusUnsupportedMediaType, "Unsupported Media Type", "Use application/json")
		}
		if err := json.Unmarshal(body, &in); err != nil || in == nil {
			return nil, 0, fail(http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
		}
	}
	q := r.URL.Query()
	switch {
	case sysID == "" && r.Method == http.MethodPost:
		return s.create(table, in, q)
	case sysID == "" && r.Method == http.MethodGet:
		return s.list(table, q)
	case sysID != "" && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		rec := s.find(table, sysID)
		if rec == nil {
			return nil, 0, fail(http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
		}
		return map[string]any{"result": project(rec, q)}, http.StatusOK, nil
	case sysID != "" && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		return s.update(table, sysID, in, q)
	}
	return nil, 0, fail(http.StatusMethodNotAllowed, "Method not Supported", r.Method+" "+r.URL.Path)
}

// values validates and stringifies the written fields.
func (s *Server) values(in map[string]any) (map[string]string, *apiError) {
	out := map[string]string{}
	for k, v := range in {
		if !slices.Contains(writable, k) && !strings.HasPrefix(k, "u_") {
			return nil, fail(http.StatusBadRequest, "Invalid field "+k, "The fake refuses fields the incident table lacks")
		}
		var str string
		switch t := v.(type) {
		case string:
			str = t
		case float64:
			str = strconv.FormatFloat(t, 'f', -1, 64)
		case bool:
			str = strconv.FormatBool(t)
		case nil:
		default:
			return nil, fail(http.StatusBadRequest, "Invalid value for "+k, "Values must be strings, numbers or booleans")
		}
		if max, ok := Lengths[k]; ok && len(utf16.Encode([]rune(str))) > max {
			return nil, fail(http.StatusBadRequest, "Value too long for "+k, fmt.Sprintf("%s takes at most %d characters", k, max))
		}
		switch k {
		case "urgency", "impact":
			if !slices.Contains([]string{"1", "2", "3"}, str) {
				return nil, fail(http.StatusBadRequest, "Invalid choice for "+k, "1, 2 or 3")
			}
		case "state":
			if !slices.Contains(states, str) {
				return nil, fail(http.StatusBadRequest, "Invalid choice for state", str)
			}
		case "close_code":
			if !slices.Contains(s.closeCodes, str) {
				return nil, fail(http.StatusBadRequest, "Invalid choice for close_code", str)
			}
		}
		out[k] = str
	}
	return out, nil
}

// journal moves work_notes and comments out of vals into the record.
func journal(rec *Record, vals map[string]string) {
	if v := vals["work_notes"]; v != "" {
		rec.WorkNotes = append(rec.WorkNotes, v)
	}
	if v := vals["comments"]; v != "" {
		rec.Comments = append(rec.Comments, v)
	}
	delete(vals, "work_notes")
	delete(vals, "comments")
}

// dataPolicy checks what resolving or closing needs.
func dataPolicy(fields map[string]string) *apiError {
	if st := fields["state"]; (st == StateResolved || st == StateClosed) && (fields["close_code"] == "" || fields["close_notes"] == "") {
		return fail(http.StatusForbidden, "Operation Failed", "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes")
	}
	return nil
}

func (s *Server) create(table string, in map[string]any, q map[string][]string) (any, int, *apiError) {
	vals, aerr := s.values(in)
	if aerr != nil {
		return nil, 0, aerr
	}
	if strings.TrimSpace(vals["short_description"]) == "" {
		return nil, 0, fail(http.StatusBadRequest, "Mandatory field missing", "short_description is mandatory")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	rec := &Record{Fields: map[string]string{}}
	journal(rec, vals)
	for k, v := range vals {
		rec.Fields[k] = v
	}
	rec.Fields["sys_id"] = hex.EncodeToString(id)
	rec.Fields["number"] = fmt.Sprintf("INC%07d", 10000+s.seq)
	rec.Fields["sys_created_on"] = s.clock.Add(time.Duration(s.seq) * time.Second).Format("2006-01-02 15:04:05")
	if rec.Fields["state"] == "" {
		rec.Fields["state"] = StateNew
	}
	setState(rec, rec.Fields["state"])
	if aerr := dataPolicy(rec.Fields); aerr != nil {
		return nil, 0, aerr
	}
	s.records[table] = append(s.records[table], rec)
	return map[string]any{"result": project(rec, q)}, http.StatusCreated, nil
}

func (s *Server) update(table, sysID string, in map[string]any, q map[string][]string) (any, int, *apiError) {
	vals, aerr := s.values(in)
	if aerr != nil {
		return nil, 0, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(table, sysID)
	if rec == nil {
		return nil, 0, fail(http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
	}
	if rec.Fields["active"] == "false" {
		return nil, 0, fail(http.StatusForbidden, "Operation Failed", "ACL Exception Update Failed due to security constraints")
	}
	next := map[string]string{}
	for k, v := range rec.Fields {
		next[k] = v
	}
	for k, v := range vals {
		if k != "work_notes" && k != "comments" {
			next[k] = v
		}
	}
	if aerr := dataPolicy(next); aerr != nil {
		return nil, 0, aerr
	}
	journal(rec, vals)
	rec.Fields = next
	setState(rec, next["state"])
	rec.Updates++
	return map[string]any{"result": project(rec, q)}, http.StatusOK, nil
}

// project returns the fields named by sysparm_fields (all without it).
func project(rec *Record, q map[string][]string) map[string]string {
	out := map[string]string{}
	want := q["sysparm_fields"]
	if len(want) == 0 || want[0] == "" {
		for k, v := range rec.Fields {
			out[k] = v
		}
		return out
	}
	for f := range strings.SplitSeq(want[0], ",") {
		f = strings.TrimSpace(f)
		out[f] = rec.Fields[f] // unknown fields answer "", as an instance does
	}
	return out
}

var term = regexp.MustCompile(`^([a-z_][a-z0-9_.]*)(!=|=)(.*)$`)

type cond struct{ field, op, value string }

func (s *Server) list(table string, q map[string][]string) (any, int, *apiError) {
	var conds []cond
	order, desc := "", false
	if v := q["sysparm_query"]; len(v) > 0 && v[0] != "" {
		for part := range strings.SplitSeq(v[0], "^") {
			var field string
			switch {
			case strings.HasPrefix(part, "ORDERBYDESC"):
				order, desc = strings.TrimPrefix(part, "ORDERBYDESC"), true
				field = order
			case strings.HasPrefix(part, "ORDERBY"):
				order = strings.TrimPrefix(part, "ORDERBY")
				field = order
			default:
				m := term.FindStringSubmatch(part)
				if m == nil {
					return nil, 0, fail(http.StatusBadRequest, "Invalid query", "the fake cannot parse "+strconv.Quote(part))
				}
				conds = append(conds, cond{m[1], m[2], m[3]})
				field = m[1]
			}
			if !slices.Contains(queryable, field) {
				return nil, 0, fail(http.StatusBadRequest, "Invalid query", "the fake cannot query "+strconv.Quote(field))
			}
		}
	}
	limit := 10000
	if v := q["sysparm_limit"]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return nil, 0, fail(http.StatusBadRequest, "Invalid sysparm_limit", v[0])
		}
		limit = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Record
	for _, r := range s.records[table] {
		ok := true
		for _, c := range conds {
			eq := r.Fields[c.field] == c.value
			ok = ok && (eq == (c.op == "="))
		}
		if ok {
			hits = append(hits, r)
		}
	}
	if order != "" {
		slices.SortStableFunc(hits, func(a, b *Record) int {
			if desc {
				a, b = b, a
			}
			return strings.Compare(a.Fields[order], b.Fields[order])
		})
	}
	hits = hits[:min(limit, len(hits))]
	result := make([]map[string]string, 0, len(hits))
	for _, r := range hits {
		result = append(result, project(r, q))
	}
	return map[string]any{"result": result}, http.StatusOK, nil
}
