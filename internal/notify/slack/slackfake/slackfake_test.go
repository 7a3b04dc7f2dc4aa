package slackfake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigia-dev/vigia/internal/notify/slack/slackfake"
)

const token = "xoxb-fake-token"

// post sends a raw API call and decodes the answer.
func post(t *testing.T, srv *slackfake.Server, method, contentType, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

const (
	formType   = "application/x-www-form-urlencoded"
	jsonType   = "application/json; charset=utf-8"
	okBlocks   = `[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}]`
	bearer     = "Bearer " + token
	wrongToken = "Bearer xoxb-wrong"
)

func TestAPIErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("ç", n) }
	textBlock := func(typ, text string) string {
		b, _ := json.Marshal([]map[string]any{{"type": typ, "text": map[string]any{"type": "plain_text", "text": text}}})
		return string(b)
	}
	fields := func(n, size int) string {
		fs := make([]map[string]any, n)
		for i := range fs {
			fs[i] = map[string]any{"type": "mrkdwn", "text": long(size)}
		}
		b, _ := json.Marshal([]map[string]any{{"type": "section", "fields": fs}})
		return string(b)
	}
	many := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"type":"divider"},`, n), ",") + "]"
	}
	tests := []struct {
		name        string
		method      string
		contentType string
		auth        string
		body        string
		want        string // error code, "" for ok
	}{
		{"form token in body", "chat.postMessage", formType, "", form("token", token, "channel", "#a", "text", "hi"), ""},
		{"bearer header with form", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", okBlocks), ""},
		{"json with bearer", "chat.postMessage", jsonType, bearer, `{"channel":"C0123456789","text":"hi","blocks":` + okBlocks + `}`, ""},
		{"json blocks as string", "chat.postMessage", jsonType, bearer, `{"channel":"#a","blocks":` + jsonString(okBlocks) + `}`, ""},
		{"no token", "chat.postMessage", formType, "", form("channel", "#a", "text", "hi"), "not_authed"},
		{"json token in body not accepted", "chat.postMessage", jsonType, "", `{"token":"` + token + `","channel":"#a","text":"hi"}`, "not_authed"},
		{"wrong bearer", "chat.postMessage", formType, wrongToken, form("channel", "#a", "text", "hi"), "invalid_auth"},
		{"wrong body token", "chat.postMessage", formType, "", form("token", "xoxb-nope", "channel", "#a", "text", "hi"), "invalid_auth"},
		{"bad json", "chat.postMessage", jsonType, bearer, `{"channel":`, "invalid_json"},
		{"bad content type", "chat.postMessage", "text/plain", bearer, "channel=#a", "invalid_post_type"},
		{"no channel", "chat.postMessage", formType, bearer, form("text", "hi"), "channel_not_found"},
		{"no text", "chat.postMessage", formType, bearer, form("channel", "#a"), "no_text"},
		{"text too long", "chat.postMessage", formType, bearer, form("channel", "#a", "text", long(40001)), "msg_too_long"},
		{"text at limit", "chat.postMessage", formType, bearer, form("channel", "#a", "text", long(40000)), ""},
		{"blocks not json", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", "[{"), "invalid_blocks"},
		{"blocks object", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `{"type":"divider"}`), "invalid_blocks"},
		{"unknown block type", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `[{"type":"banner"}]`), "invalid_blocks"},
		{"50 blocks", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", many(50)), ""},
		{"51 blocks", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", many(51)), "invalid_blocks"},
		{"header 150 runes", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", textBlock("header", long(150))), ""},
		{"header 151 runes", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", textBlock("header", long(151))), "invalid_blocks"},
		{"header mrkdwn", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]`), "invalid_blocks"},
		{"section 3000 runes", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", textBlock("section", long(3000))), ""},
		{"section 3001 runes", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", textBlock("section", long(3001))), "invalid_blocks"},
		{"empty text", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", textBlock("section", "")), "invalid_blocks"},
		{"emoji on mrkdwn", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `[{"type":"section","text":{"type":"mrkdwn","text":"x","emoji":true}}]`), "invalid_blocks"},
		{"10 fields of 2000", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", fields(10, 2000)), ""},
		{"11 fields", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", fields(11, 1)), "invalid_blocks"},
		{"field 2001", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", fields(1, 2001)), "invalid_blocks"},
		{"context 11 elements", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `[{"type":"context","elements":[`+strings.TrimSuffix(strings.Repeat(`{"type":"mrkdwn","text":"x"},`, 11), ",")+`]}]`), "invalid_blocks"},
		{"duplicate block_id", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", `[{"type":"divider","block_id":"a"},{"type":"divider","block_id":"a"}]`), "invalid_blocks"},
		{"invalid utf-8 in blocks", "chat.postMessage", formType, bearer, form("channel", "#a", "blocks", "[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"\xff\"}}]"), "invalid_blocks"},
		{"update unknown ts", "chat.update", formType, bearer, form("channel", "C0123456789", "ts", "1.2", "text", "x"), "message_not_found"},
		{"update by channel name", "chat.update", formType, bearer, form("channel", "#a", "ts", "1.2", "text", "x"), "channel_not_found"},
		{"update without ts", "chat.update", formType, bearer, form("channel", "C0123456789", "text", "x"), "message_not_found"},
		{"reply to unknown thread", "chat.postMessage", formType, bearer, form("channel", "#a", "thread_ts", "1700000000.000100", "text", "x"), "thread_not_found"},
		{"reply with bad thread_ts", "chat.postMessage", formType, bearer, form("channel", "#a", "thread_ts", "yesterday", "text", "x"), "invalid_thread_ts"},
		{"auth.test", "auth.test", formType, "", form("token", token), ""},
		{"unknown method", "chat.frobnicate", formType, bearer, "", "unknown_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := slackfake.New(t, token)
			status, _, out := post(t, srv, tt.method, tt.contentType, tt.auth, tt.body)
			if tt.want == "" {
				if status != http.StatusOK || out["ok"] != true {
					t.Fatalf("got %d %v, want ok", status, out)
				}
				return
			}
			if out["ok"] != false || out["error"] != tt.want {
				t.Fatalf("got %d %v, want error %q", status, out, tt.want)
			}
			if tt.want != "unknown_method" && status != http.StatusOK {
				t.Errorf("API errors answer HTTP 200, got %d", status)
			}
			if tt.want == "invalid_blocks" {
				if errs, _ := out["errors"].([]any); len(errs) == 0 {
					t.Errorf("invalid_blocks without errors detail: %v", out)
				}
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages recorded for a refused call", n)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestWithChannels(t *testing.T) {
	srv := slackfake.New(t, token, slackfake.WithChannels("#alerts", "C0000000042"))
	for _, tt := range []struct{ channel, want string }{
		{"#alerts", ""}, {"alerts", ""}, {"C0000000042", ""}, {"#random", "channel_not_found"},
	} {
		_, _, out := post(t, srv, "chat.postMessage", formType, bearer, form("channel", tt.channel, "text", "x"))
		if got, _ := out["error"].(string); got != tt.want {
			t.Errorf("channel %q: error %q, want %q", tt.channel, got, tt.want)
		}
	}
}

func TestFaults(t *testing.T) {
	srv := slackfake.New(t, token)
	srv.RateLimitNext(2, 1500*time.Millisecond)
	srv.FailNext(1, http.StatusServiceUnavailable)
	body := form("channel", "#a", "text", "x")
	for i, want := range []int{429, 429, 503, 200} {
		status, h, _ := post(t, srv, "chat.postMessage", formType, bearer, body)
		if status != want {
			t.Fatalf("call %d: status %d, want %d", i, status, want)
		}
		if want == 429 && h.Get("Retry-After") != "2" {
			t.Errorf("call %d: Retry-After %q, want 2 (1.5s rounded up)", i, h.Get("Retry-After"))
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if n := len(srv.Calls()); n != 4 {
		t.Errorf("%d calls, want 4", n)
	}
}

// TestSlackGo documents what slack-go v0.35.0 sends and checks the fake
// answers it like Slack: chat.postMessage and chat.update as
// application/x-www-form-urlencoded with the token as a form parameter (no
// Authorization header) and blocks as a JSON string; timestamps increase.
func TestSlackGo(t *testing.T) {
	srv := slackfake.New(t, token)
	api := slack.New(token, slack.OptionAPIURL(srv.URL()))
	ctx := t.Context()

	if _, err := api.AuthTestContext(ctx); err != nil {
		t.Fatalf("auth.test: %v", err)
	}
	blocks := slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*hi*", false, false), nil, nil))
	ch1, ts1, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("hi", false), blocks)
	if err != nil {
		t.Fatal(err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("again", false))
	if err != nil {
		t.Fatal(err)
	}
	if ts1 != "1700000000.000100" || ts2 <= ts1 {
		t.Errorf("ts %q then %q, want increasing from 1700000000.000100", ts1, ts2)
	}
	if !strings.HasPrefix(ch1, "C") {
		t.Errorf("channel answered %q, want an id", ch1)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch1, ts1, slack.MsgOptionText("edited", false)); err != nil {
		t.Fatalf("chat.update: %v", err)
	}

	msgs := srv.WaitMessages(t, 2, 5*time.Second)
	if msgs[0].Text != "edited" || msgs[0].Updates != 1 || msgs[0].Channel != "#alerts" {
		t.Errorf("first message after update: %+v", msgs[0])
	}
	if msgs[0].Blocks[0]["type"] != "section" || !strings.Contains(msgs[0].RawBlocks, `"*hi*"`) {
		t.Errorf("blocks: %s", msgs[0].RawBlocks)
	}
	for _, c := range srv.Calls() {
		if c.ContentType != "application/x-www-form-urlencoded" || c.TokenFrom != "body" {
			t.Errorf("%s sent as %q with token from %q; slack-go changed how it posts", c.Method, c.ContentType, c.TokenFrom)
		}
	}

	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.URL()))
	_, _, err = bad.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("x", false))
	if e, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || e.Err != "invalid_auth" {
		t.Errorf("wrong token: %v, want SlackErrorResponse invalid_auth", err)
	}

	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("x", 151), false, false))
	_, _, err = api.PostMessageContext(ctx, "#alerts", slack.MsgOptionBlocks(header))
	if e, ok := errors.AsType[slack.SlackErrorResponse](err); !ok || e.Err != "invalid_blocks" || len(e.ResponseMetadata.Messages) == 0 {
		t.Errorf("long header: %#v, want invalid_blocks with messages", err)
	}

	srv.RateLimitNext(1, 3*time.Second)
	_, _, err = api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("x", false))
	if e, ok := errors.AsType[*slack.RateLimitedError](err); !ok || e.RetryAfter != 3*time.Second {
		t.Errorf("rate limited: %v, want RateLimitedError 3s", err)
	}
}

// TestThreads: replies must name an existing top-level message of the same
// channel; chat.update takes a channel id and an existing ts; deleted
// messages can be neither updated nor replied to.
func TestThreads(t *testing.T) {
	srv := slackfake.New(t, token)
	postOK := func(kv ...string) (string, string) {
		t.Helper()
		_, _, out := post(t, srv, "chat.postMessage", formType, bearer, form(kv...))
		if out["ok"] != true {
			t.Fatalf("post %v: %v", kv, out)
		}
		return out["channel"].(string), out["ts"].(string)
	}
	errOf := func(method string, kv ...string) string {
		t.Helper()
		_, _, out := post(t, srv, method, formType, bearer, form(kv...))
		e, _ := out["error"].(string)
		return e
	}
	ch, parent := postOK("channel", "#alerts", "text", "parent")
	_, other := postOK("channel", "#other", "text", "elsewhere")
	_, reply := postOK("channel", "#alerts", "thread_ts", parent, "text", "reply", "reply_broadcast", "true")
	postOK("channel", ch, "thread_ts", parent, "text", "reply by id")

	for _, tt := range []struct {
		name, method string
		kv           []string
		want         string
	}{
		{"reply to a reply", "chat.postMessage", []string{"channel", "#alerts", "thread_ts", reply, "text", "x"}, "thread_not_found"},
		{"reply across channels", "chat.postMessage", []string{"channel", "#alerts", "thread_ts", other, "text", "x"}, "thread_not_found"},
		{"update by id", "chat.update", []string{"channel", ch, "ts", parent, "text", "edited"}, ""},
		{"update by name", "chat.update", []string{"channel", "#alerts", "ts", parent, "text", "edited"}, "channel_not_found"},
		{"update other channel's ts", "chat.update", []string{"channel", ch, "ts", other, "text", "x"}, "message_not_found"},
		{"update with invalid blocks", "chat.update", []string{"channel", ch, "ts", parent, "blocks", `[{"type":"section"}]`}, "invalid_blocks"},
		{"update without content", "chat.update", []string{"channel", ch, "ts", parent}, "no_text"},
	} {
		if got := errOf(tt.method, tt.kv...); got != tt.want {
			t.Errorf("%s: error %q, want %q", tt.name, got, tt.want)
		}
	}

	if ps := srv.Parents(); len(ps) != 2 || ps[0].TS != parent || ps[0].Text != "edited" || ps[0].Updates != 1 {
		t.Errorf("parents %+v", ps)
	}
	rs := srv.Replies(parent)
	if len(rs) != 2 || rs[0].TS != reply || !rs[0].Broadcast || rs[1].Broadcast || rs[0].ThreadTS != parent {
		t.Errorf("replies %+v", rs)
	}

	if !srv.Delete(parent) {
		t.Fatal("Delete found no message")
	}
	if got := errOf("chat.update", "channel", ch, "ts", parent, "text", "x"); got != "message_not_found" {
		t.Errorf("update of a deleted message: %q", got)
	}
	if got := errOf("chat.postMessage", "channel", ch, "thread_ts", parent, "text", "x"); got != "thread_not_found" {
		t.Errorf("reply to a deleted message: %q", got)
	}
	var threaded []string
	for _, c := range srv.Calls() {
		if c.Method == "chat.postMessage" && c.Error == "" && c.ThreadTS != "" {
			threaded = append(threaded, c.ThreadTS)
		}
	}
	if len(threaded) != 2 || threaded[0] != parent {
		t.Errorf("calls record thread_ts %v", threaded)
	}
}

// TestChannelRateLimit: beyond N messages per window on a channel the fake
// answers 429 with a Retry-After counted to when the window frees; other
// channels and chat.update are not affected.
func TestChannelRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv := slackfake.New(t, token, slackfake.WithClock(clock), slackfake.WithChannelRateLimit(2, time.Second))
	send := func(channel string) (int, string) {
		status, h, _ := post(t, srv, "chat.postMessage", formType, bearer, form("channel", channel, "text", "x"))
		return status, h.Get("Retry-After")
	}
	for i, want := range []int{200, 200, 429} {
		if status, ra := send("#a"); status != want || (want == 429 && ra != "1") {
			t.Fatalf("message %d: %d (Retry-After %q), want %d", i, status, ra, want)
		}
	}
	if status, _ := send("#b"); status != 200 {
		t.Errorf("another channel was limited: %d", status)
	}
	ch := srv.Parents()[0].ChannelID
	_, _, out := post(t, srv, "chat.update", formType, bearer, form("channel", ch, "ts", srv.Parents()[0].TS, "text", "y"))
	if out["ok"] != true {
		t.Errorf("chat.update was limited: %v", out)
	}
	if status, _ := send(ch); status != 429 {
		t.Errorf("the channel's id escaped its name's limit: %d", status)
	}
	advance(999 * time.Millisecond)
	if status, _ := send("#a"); status != 429 {
		t.Errorf("limit lifted before the window passed: %d", status)
	}
	advance(time.Millisecond)
	if status, _ := send("#a"); status != 200 {
		t.Errorf("limit kept after the window passed: %d", status)
	}
	var limited int
	for _, c := range srv.Calls() {
		if c.Status == 429 {
			limited++
			if c.Error != "ratelimited" || c.At.IsZero() {
				t.Errorf("429 recorded as %+v", c)
			}
		}
	}
	if limited != 3 || len(srv.Messages()) != 4 {
		t.Errorf("%d 429s and %d messages, want 3 and 4", limited, len(srv.Messages()))
	}
}
