// Package slackfake is a fake Slack Web API for tests. It answers
// chat.postMessage, chat.update and auth.test the way Slack does: HTTP 200
// with {"ok":false,"error":code} for API errors, token checks, Block Kit
// validation (block count, known types, text lengths, field counts), message
// length, threads (thread_ts must name an existing top-level message of the
// channel), chat.update only by channel id and existing ts, and on demand
// HTTP 429 with Retry-After (the next calls, or every message beyond N per
// window on a channel) or any other status.
//
//	srv := slackfake.New(t, "xoxb-test")
//	cfg := slack.Config{Token: "xoxb-test", Channel: "#alerts", APIURL: srv.URL()}
//	...
//	msgs := srv.WaitMessages(t, 1, 5*time.Second)
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Slack's limits, in characters (runes).
const (
	MaxBlocks        = 50
	MaxHeaderText    = 150
	MaxText          = 3000 // section text, context elements, any text object
	MaxFields        = 10
	MaxFieldText     = 2000
	MaxContextElems  = 10
	MaxMessageText   = 40000
	MaxBlockIDLength = 255
	MaxActionElems   = 25
	MaxButtonText    = 75
	MaxButtonValue   = 2000
	MaxOptionValue   = 150
)

// Message is an accepted chat.postMessage call (updated in place by
// chat.update).
type Message struct {
	// Channel is the channel as sent (id or name); ChannelID is the id the
	// fake answered with.
	Channel   string
	ChannelID string
	TS        string
	// ThreadTS is the parent's ts for a thread reply, "" for a top-level
	// message; Broadcast reports reply_broadcast (also shown in the
	// channel).
	ThreadTS  string
	Broadcast bool
	Text      string
	// Blocks is the parsed blocks array; RawBlocks the JSON as received.
	Blocks    []map[string]any
	RawBlocks string
	// Params holds every other form or JSON parameter as sent
	// (unfurl_links, thread_ts, ...).
	Params map[string]string
	// Updates counts the chat.update calls applied to the message.
	Updates int
	// Deleted is set by Delete.
	Deleted bool
}

// Call records one API request, accepted or not.
type Call struct {
	Method      string // "chat.postMessage"
	ContentType string // media type, e.g. "application/x-www-form-urlencoded"
	// TokenFrom says where the token was found: "header" (Authorization:
	// Bearer), "body" (form parameter token) or "" (none).
	TokenFrom string
	Status    int    // HTTP status answered
	Error     string // Slack error code answered; "" when ok
	// Channel, TS and ThreadTS are the parameters as sent, when present.
	Channel, TS, ThreadTS string
	// At is when the call arrived, on the fake's clock (WithClock).
	At time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithChannels restricts the channels that exist: posting elsewhere answers
// channel_not_found. Names may be given with or without "#". By default
// every non-empty channel exists.
func WithChannels(channels ...string) Option {
	return func(s *Server) {
		s.allowed = map[string]bool{}
		for _, c := range channels {
			s.allowed[strings.TrimPrefix(c, "#")] = true
		}
	}
}

// WithClock sets the clock the fake reads arrival times from (Call.At, the
// per-channel rate limit). Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithChannelRateLimit makes the fake refuse, with HTTP 429 and a
// Retry-After header, a chat.postMessage (thread replies included) that
// would be the (n+1)th accepted message on its channel within per — as
// Slack does beyond its budget of about one message per second per
// channel. chat.update does not count (Slack limits it per workspace).
// Off by default.
func WithChannelRateLimit(n int, per time.Duration) Option {
	return func(s *Server) { s.chanLimit, s.chanPer = n, per }
}

// WithUserGroups sets the user groups usergroups.users.list answers for:
// group id (S0123) to member user ids. Unknown groups answer
// no_such_subteam.
func WithUserGroups(groups map[string][]string) Option {
	return func(s *Server) { s.groups = groups }
}

// Server is a fake Slack Web API. It is safe for concurrent use.
type Server struct {
	srv   *httptest.Server
	token string
	now   func() time.Time

	chanLimit int
	chanPer   time.Duration
	groups    map[string][]string

	mu         sync.Mutex
	allowed    map[string]bool   // nil: every channel exists
	ids        map[string]string // channel name -> fake id
	messages   []Message
	calls      []Call
	seq        int
	rateLimitN int
	retryAfter time.Duration
	failN      int
	failStatus int
	sent       map[string][]time.Time // channel id -> accepted message times
}

// New starts a fake accepting token; t.Cleanup closes it.
func New(t testing.TB, token string, opts ...Option) *Server {
	t.Helper()
	s := &Server{token: token, ids: map[string]string{}, now: time.Now, sent: map[string][]time.Time{}}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base URL, ending in "/" (for Config.APIURL).
func (s *Server) URL() string { return s.srv.URL + "/" }

// Messages returns a copy of the accepted messages, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	copy(out, s.messages)
	return out
}

// Parents returns the accepted top-level messages, in order.
func (s *Server) Parents() []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ThreadTS == "" {
			out = append(out, m)
		}
	}
	return out
}

// Replies returns the thread replies to the message ts, in order.
func (s *Server) Replies(ts string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ThreadTS == ts && ts != "" {
			out = append(out, m)
		}
	}
	return out
}

// Message returns the message with timestamp ts.
func (s *Server) Message(ts string) (Message, bool) {
	for _, m := range s.Messages() {
		if m.TS == ts {
			return m, true
		}
	}
	return Message{}, false
}

// Delete marks the message ts deleted, as a person deleting it in Slack:
// later chat.update calls answer message_not_found and replies to it
// thread_not_found. It reports whether the message existed.
func (s *Server) Delete(ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.messages {
		if s.messages[i].TS == ts {
			s.messages[i].Deleted = true
			return true
		}
	}
	return false
}

// Calls returns a copy of every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// WaitMessages polls until at least n messages were accepted and returns
// them; it fails t (t.Fatalf: call it from the test goroutine) when timeout
// passes first.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("slackfake: got %d messages after %s, want %d; calls: %+v", len(msgs), timeout, n, s.Calls())
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RateLimitNext makes the next n calls answer HTTP 429 with a Retry-After
// header of retryAfter in whole seconds, rounded up (Slack sends integers).
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next n calls answer with HTTP status (and an HTML
// body, as Slack's front end does), after any pending rate limits. A 429
// set here carries no Retry-After header.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// request is a parsed API call.
type request struct {
	token     string
	tokenFrom string
	params    map[string]string
	hasBlocks bool
}

// apiError is an {"ok":false} answer.
type apiError struct {
	code     string
	problems []string // Block Kit problems, with json-pointers
	// status, when set, is the HTTP status (429) and retryAfter its
	// Retry-After.
	status     int
	retryAfter time.Duration
}

func fail(code string, problems ...string) *apiError {
	return &apiError{code: code, problems: problems}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	call := Call{Method: method, ContentType: mediaType, At: s.now()}
	record := func(status int, code string) {
		call.Status, call.Error = status, code
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}

	if status, retryAfter, limited, ok := s.fault(); ok {
		if limited {
			w.Header().Set("Retry-After", retryAfterHeader(retryAfter))
			writeJSON(w, status, map[string]any{"ok": false, "error": "ratelimited"})
			record(status, "ratelimited")
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body>%d %s</body></html>", status, http.StatusText(status))
		record(status, "")
		return
	}

	var handle func(*request) (map[string]any, *apiError)
	switch method {
	case "chat.postMessage":
		handle = s.postMessage
	case "chat.update":
		handle = s.update
	case "auth.test":
		handle = s.authTest
	case "usergroups.users.list":
		handle = s.userGroupMembers
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method", "req_method": method})
		record(http.StatusNotFound, "unknown_method")
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		record(http.StatusMethodNotAllowed, "")
		return
	}

	req, aerr := parse(r, mediaType)
	if req != nil {
		call.TokenFrom = req.tokenFrom
		call.Channel, call.TS, call.ThreadTS = req.params["channel"], req.params["ts"], req.params["thread_ts"]
	}
	if aerr == nil {
		switch {
		case req.token == "":
			aerr = fail("not_authed")
		case req.token != s.token:
			aerr = fail("invalid_auth")
		}
	}
	var resp map[string]any
	if aerr == nil {
		resp, aerr = handle(req)
	}
	if aerr != nil && aerr.status != 0 {
		w.Header().Set("Retry-After", retryAfterHeader(aerr.retryAfter))
		writeJSON(w, aerr.status, map[string]any{"ok": false, "error": aerr.code})
		record(aerr.status, aerr.code)
		return
	}
	if aerr != nil {
		body := map[string]any{"ok": false, "error": aerr.code}
		if len(aerr.problems) > 0 {
			body["errors"] = aerr.problems
			msgs := make([]string, len(aerr.problems))
			for i, p := range aerr.problems {
				msgs[i] = "[ERROR] " + p
			}
			body["response_metadata"] = map[string]any{"messages": msgs}
		}
		writeJSON(w, http.StatusOK, body)
		record(http.StatusOK, aerr.code)
		return
	}
	resp["ok"] = true
	writeJSON(w, http.StatusOK, resp)
	record(http.StatusOK, "")
}

// fault consumes one pending injected failure: a rate limit (limited) or
// a plain status.
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

// retryAfterHeader renders d in whole seconds, rounded up, at least 1 (Slack
// sends integers).
func retryAfterHeader(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// parse reads the token and parameters the ways Slack accepts them: the
// token from "Authorization: Bearer" or, for form bodies, a token
// parameter; parameters from a form (urlencoded or multipart), a JSON
// object body, or the query of a GET.
func parse(r *http.Request, mediaType string) (*request, *apiError) {
	req := &request{params: map[string]string{}}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		req.token, req.tokenFrom = tok, "header"
	}
	var form url.Values
	switch {
	case r.Method == http.MethodGet:
		form = r.URL.Query()
		form.Del("token") // tokens in query strings are refused
	case mediaType == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return req, fail("invalid_form_data")
		}
		form = r.PostForm
	case mediaType == "multipart/form-data":
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			return req, fail("invalid_form_data")
		}
		form = r.MultipartForm.Value
	case mediaType == "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			return req, fail("invalid_json")
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return req, fail("invalid_json")
		}
		for k, v := range obj {
			var str string
			if json.Unmarshal(v, &str) == nil {
				req.params[k] = str
			} else {
				req.params[k] = string(v) // arrays (blocks), numbers, booleans
			}
		}
		delete(req.params, "token") // JSON bodies must use the header
	case r.ContentLength == 0:
		// no parameters
	default:
		return req, fail("invalid_post_type")
	}
	for k, v := range form {
		if len(v) > 0 {
			req.params[k] = v[0]
		}
	}
	if tok := req.params["token"]; tok != "" && req.token == "" {
		req.token, req.tokenFrom = tok, "body"
	}
	delete(req.params, "token")
	_, req.hasBlocks = req.params["blocks"]
	return req, nil
}

func (s *Server) authTest(*request) (map[string]any, *apiError) {
	return map[string]any{
		"url": "https://vigia-fake.slack.com/", "team": "Vigia Fake", "user": "vigia",
		"team_id": "T00000001", "user_id": "U00000001", "bot_id": "B00000001",
	}, nil
}

func (s *Server) userGroupMembers(req *request) (map[string]any, *apiError) {
	id := req.params["usergroup"]
	if id == "" {
		return nil, fail("invalid_arguments")
	}
	s.mu.Lock()
	members, ok := s.groups[id]
	s.mu.Unlock()
	if !ok {
		return nil, fail("no_such_subteam")
	}
	return map[string]any{"users": append([]string{}, members...)}, nil
}

func (s *Server) postMessage(req *request) (map[string]any, *apiError) {
	channel := req.params["channel"]
	id, aerr := s.channelID(channel)
	if aerr != nil {
		return nil, aerr
	}
	msg, aerr := message(req)
	if aerr != nil {
		return nil, aerr
	}
	threadTS, hasThread := req.params["thread_ts"]
	if hasThread && !validTS(threadTS) {
		return nil, fail("invalid_thread_ts")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hasThread {
		parent := s.find(id, threadTS)
		if parent == nil || parent.Deleted {
			return nil, fail("thread_not_found")
		}
		if parent.ThreadTS != "" {
			// Slack wants the parent's ts, not a reply's.
			return nil, fail("thread_not_found")
		}
		msg.ThreadTS = threadTS
		msg.Broadcast = req.params["reply_broadcast"] == "true"
	}
	if aerr := s.limit(id); aerr != nil {
		return nil, aerr
	}
	s.seq++
	msg.Channel, msg.ChannelID = channel, id
	msg.TS = fmt.Sprintf("%d.%06d", 1700000000+s.seq*100/1000000, s.seq*100%1000000)
	s.messages = append(s.messages, msg)
	return map[string]any{"channel": id, "ts": msg.TS, "message": map[string]any{
		"type": "message", "text": msg.Text, "ts": msg.TS, "bot_id": "B00000001",
	}}, nil
}

// limit applies WithChannelRateLimit to a message about to be accepted on
// channel id, and counts it; callers hold mu.
func (s *Server) limit(id string) *apiError {
	if s.chanLimit <= 0 || s.chanPer <= 0 {
		return nil
	}
	now := s.now()
	times := s.sent[id]
	for len(times) > 0 && !times[0].After(now.Add(-s.chanPer)) {
		times = times[1:]
	}
	if len(times) >= s.chanLimit {
		s.sent[id] = times
		return &apiError{code: "ratelimited", status: http.StatusTooManyRequests, retryAfter: times[0].Add(s.chanPer).Sub(now)}
	}
	s.sent[id] = append(times, now)
	return nil
}

// find returns the message ts of channel id; callers hold mu.
func (s *Server) find(id, ts string) *Message {
	for i := range s.messages {
		if m := &s.messages[i]; m.ChannelID == id && m.TS == ts {
			return m
		}
	}
	return nil
}

// validTS reports whether ts looks like a Slack message timestamp.
func validTS(ts string) bool {
	sec, frac, ok := strings.Cut(ts, ".")
	digits := func(s string) bool {
		return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	}
	return ok && digits(sec) && digits(frac)
}

func (s *Server) update(req *request) (map[string]any, *apiError) {
	channel := req.params["channel"]
	if !isID(channel) {
		// chat.update takes only a conversation id, not a #name.
		return nil, fail("channel_not_found")
	}
	id, aerr := s.channelID(channel)
	if aerr != nil {
		return nil, aerr
	}
	ts := req.params["ts"]
	if ts == "" {
		return nil, fail("message_not_found")
	}
	msg, aerr := message(req)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(id, ts)
	if m == nil || m.Deleted {
		return nil, fail("message_not_found")
	}
	if _, ok := req.params["text"]; ok {
		m.Text = msg.Text
	}
	if req.hasBlocks {
		m.Blocks, m.RawBlocks = msg.Blocks, msg.RawBlocks
	}
	m.Updates++
	return map[string]any{"channel": id, "ts": ts, "text": m.Text}, nil
}

// channelID resolves a channel id or name, answering channel_not_found for
// empty or unknown channels.
func (s *Server) channelID(channel string) (string, *apiError) {
	if channel == "" {
		return "", fail("channel_not_found")
	}
	name := strings.TrimPrefix(channel, "#")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allowed != nil && !s.allowed[name] {
		return "", fail("channel_not_found")
	}
	if isID(name) {
		return name, nil
	}
	id, ok := s.ids[name]
	if !ok {
		id = fmt.Sprintf("C%08X", len(s.ids)+1)
		s.ids[name] = id
	}
	return id, nil
}

// isID reports whether c looks like a conversation id (C0123ABCD).
func isID(c string) bool {
	if len(c) < 9 || !strings.ContainsRune("CGD", rune(c[0])) {
		return false
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// message validates the text and blocks parameters.
func message(req *request) (Message, *apiError) {
	msg := Message{Text: req.params["text"], Params: map[string]string{}}
	for k, v := range req.params {
		switch k {
		case "channel", "text", "blocks", "ts":
		default:
			msg.Params[k] = v
		}
	}
	if req.hasBlocks {
		msg.RawBlocks = req.params["blocks"]
		blocks, problems := ValidateBlocks(msg.RawBlocks)
		if len(problems) > 0 {
			return msg, fail("invalid_blocks", problems...)
		}
		msg.Blocks = blocks
	}
	if msg.Text == "" && len(msg.Blocks) == 0 && req.params["attachments"] == "" {
		return msg, fail("no_text")
	}
	if utf8.RuneCountInString(msg.Text) > MaxMessageText {
		return msg, fail("msg_too_long")
	}
	return msg, nil
}

// knownBlocks are the block types Slack accepts in messages.
var knownBlocks = map[string]bool{
	"section": true, "divider": true, "image": true, "actions": true, "context": true,
	"header": true, "rich_text": true, "file": true, "video": true, "markdown": true,
	"input": true, "table": true, "call": true,
}

// ValidateBlocks parses a blocks parameter and checks it against Slack's
// Block Kit limits. It returns the blocks, or the problems found, each with
// the JSON pointer of the offending value as Slack reports it.
func ValidateBlocks(raw string) ([]map[string]any, []string) {
	if !utf8.ValidString(raw) {
		return nil, []string{"invalid UTF-8 [json-pointer:/blocks]"}
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return nil, []string{"blocks must be a JSON array of objects: " + err.Error() + " [json-pointer:/blocks]"}
	}
	var v validator
	if len(blocks) > MaxBlocks {
		v.problem("/blocks", "no more than %d items allowed", MaxBlocks)
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		at := fmt.Sprintf("/blocks/%d", i)
		if b == nil {
			v.problem(at, "must be an object")
			continue
		}
		if id, ok := b["block_id"]; ok {
			s, _ := id.(string)
			switch {
			case s == "" || utf8.RuneCountInString(s) > MaxBlockIDLength:
				v.problem(at+"/block_id", "must be a string of 1 to %d characters", MaxBlockIDLength)
			case ids[s]:
				v.problem(at+"/block_id", "duplicate block_id %q", s)
			}
			ids[s] = true
		}
		typ, _ := b["type"].(string)
		if !knownBlocks[typ] {
			v.problem(at+"/type", "unknown block type %q", typ)
			continue
		}
		switch typ {
		case "header":
			v.text(at+"/text", b["text"], MaxHeaderText, "plain_text")
		case "section":
			_, hasText := b["text"]
			fields, hasFields := b["fields"]
			if !hasText && !hasFields {
				v.problem(at, "must provide text or fields")
			}
			if hasText {
				v.text(at+"/text", b["text"], MaxText)
			}
			if hasFields {
				list, ok := fields.([]any)
				switch {
				case !ok || len(list) == 0:
					v.problem(at+"/fields", "must be a non-empty array")
				case len(list) > MaxFields:
					v.problem(at+"/fields", "no more than %d items allowed", MaxFields)
				}
				for j, f := range list {
					v.text(fmt.Sprintf("%s/fields/%d", at, j), f, MaxFieldText)
				}
			}
		case "actions":
			list, ok := b["elements"].([]any)
			switch {
			case !ok || len(list) == 0:
				v.problem(at+"/elements", "must be a non-empty array")
			case len(list) > MaxActionElems:
				v.problem(at+"/elements", "no more than %d items allowed", MaxActionElems)
			}
			actionIDs := map[string]bool{}
			for j, e := range list {
				p := fmt.Sprintf("%s/elements/%d", at, j)
				m, _ := e.(map[string]any)
				if m == nil {
					v.problem(p, "must be an object")
					continue
				}
				id, _ := m["action_id"].(string)
				if id == "" || utf8.RuneCountInString(id) > MaxBlockIDLength || actionIDs[id] {
					v.problem(p+"/action_id", "must be a unique string of 1 to %d characters", MaxBlockIDLength)
				}
				actionIDs[id] = true
				switch m["type"] {
				case "button":
					v.text(p+"/text", m["text"], MaxButtonText, "plain_text")
					if val, ok := m["value"].(string); ok && utf8.RuneCountInString(val) > MaxButtonValue {
						v.problem(p+"/value", "must be less than %d characters", MaxButtonValue+1)
					}
				case "static_select":
					opts, _ := m["options"].([]any)
					if len(opts) == 0 || len(opts) > 100 {
						v.problem(p+"/options", "must have 1 to 100 items")
					}
					for k, o := range opts {
						om, _ := o.(map[string]any)
						v.text(fmt.Sprintf("%s/options/%d/text", p, k), om["text"], MaxButtonText, "plain_text")
						if val, _ := om["value"].(string); val == "" || utf8.RuneCountInString(val) > MaxOptionValue {
							v.problem(fmt.Sprintf("%s/options/%d/value", p, k), "must be a string of 1 to %d characters", MaxOptionValue)
						}
					}
				default:
					v.problem(p+"/type", "unsupported element type %v", m["type"])
				}
			}
		case "context":
			list, ok := b["elements"].([]any)
			switch {
			case !ok || len(list) == 0:
				v.problem(at+"/elements", "must be a non-empty array")
			case len(list) > MaxContextElems:
				v.problem(at+"/elements", "no more than %d items allowed", MaxContextElems)
			}
			for j, e := range list {
				p := fmt.Sprintf("%s/elements/%d", at, j)
				if m, _ := e.(map[string]any); m != nil && m["type"] == "image" {
					if _, ok := m["alt_text"].(string); !ok {
						v.problem(p+"/alt_text", "required")
					}
					continue
				}
				v.text(p, e, MaxText)
			}
		}
	}
	return blocks, v.problems
}

type validator struct{ problems []string }

func (v *validator) problem(pointer, format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...)+" [json-pointer:"+pointer+"]")
}

// text checks a text object: a known type (one of types when given),
// 1..max characters, emoji only on plain_text, verbatim only on mrkdwn.
func (v *validator) text(at string, obj any, max int, types ...string) {
	m, ok := obj.(map[string]any)
	if !ok {
		v.problem(at, "must be a text object")
		return
	}
	typ, _ := m["type"].(string)
	if typ != "plain_text" && typ != "mrkdwn" {
		v.problem(at+"/type", "must be plain_text or mrkdwn, got %q", typ)
		return
	}
	if len(types) > 0 && typ != types[0] {
		v.problem(at+"/type", "must be %s, got %q", types[0], typ)
	}
	if _, ok := m["emoji"]; ok && typ != "plain_text" {
		v.problem(at+"/emoji", "only allowed on plain_text")
	}
	if _, ok := m["verbatim"]; ok && typ != "mrkdwn" {
		v.problem(at+"/verbatim", "only allowed on mrkdwn")
	}
	s, ok := m["text"].(string)
	switch n := utf8.RuneCountInString(s); {
	case !ok || n == 0:
		v.problem(at+"/text", "must be more than 0 characters")
	case n > max:
		v.problem(at+"/text", "must be less than %d characters", max+1)
	}
}
