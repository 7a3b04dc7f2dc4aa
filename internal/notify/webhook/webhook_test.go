package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/webhook/webhookfake"
	"github.com/vigia-dev/vigia/internal/runbook"
)

const (
	secret      = "whsec-test-secret-0123456789"
	groupKey    = "0123456789abcdef0123456789abcdef"
	runbookPath = "runbooks/k8s/exec-into-pod.md"
	baseURL     = "https://git.example/vigia/blob/main/"
	bearer      = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)

func library(t testing.TB) *runbook.Library {
	t.Helper()
	lib := runbook.NewLibrary()
	for _, p := range []string{runbookPath, runbook.LocalizedPath(runbookPath, "pt-BR")} {
		rb, err := runbook.Load("testdata", p)
		if err != nil {
			t.Fatal(err)
		}
		lib.Add(rb)
	}
	return lib
}

func testAlert(id, sev string) *alert.Alert {
	a := &alert.Alert{
		ID:       id,
		Rule:     alert.Rule{ID: "k8s.exec_into_pod", Title: "Exec into pod", Severity: sev, Tags: []string{"T1609"}},
		Time:     time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Summary:  "alice@example.com opened a shell in payments/api-7d9f",
		Entity:   alert.Entity{Identity: "alice@example.com", Namespace: "payments", Pod: "api-7d9f"},
		Events:   []event.Ref{{Source: "k8s_audit", ID: "audit-" + id, Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}},
		Runbook:  alert.Runbook{Path: runbookPath, Title: "Exec into a pod"},
		DedupKey: "d3d0p",
		Context: alert.Context{
			Source: "k8s_audit", Action: "create", Resource: "pods/exec", Name: "api-7d9f",
			Cluster: "prod-eu", SourceIP: "203.0.113.7", UserAgent: "kubectl/v1.31.0", Outcome: "success",
		},
	}
	a.Labels = a.BaseLabels()
	return a
}

func firing(id string, alerts []*alert.Alert, total int) *notify.Notification {
	return &notify.Notification{
		ID: id, Receiver: "soc-webhook", GroupKey: groupKey,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"},
		Status:      notify.StatusFiring, Alerts: alerts, Total: total,
		FirstTime: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), LastTime: time.Date(2025, 3, 4, 5, 16, 7, 0, time.UTC),
	}
}

func newReceiver(t testing.TB, cfg Config, books *runbook.Library) *Receiver {
	t.Helper()
	r, err := New(cfg, books)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decode(t *testing.T, b []byte) *Body {
	t.Helper()
	var body Body
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body does not decode as Body: %v\n%s", err, b)
	}
	return &body
}

func TestLifecycle(t *testing.T) {
	t.Setenv("VIGIA_TEST_WEBHOOK_AUTH", "Bearer endpoint-token-1234")
	srv := webhookfake.New(t, secret,
		webhookfake.RequireHeader("X-Team", "secops"),
		webhookfake.RequireHeader("Authorization", "Bearer endpoint-token-1234"))
	r := newReceiver(t, Config{
		URL: srv.URL() + "/hooks/vigia", Secret: secret, RunbookBaseURL: baseURL,
		Headers: map[string]string{"X-Team": "secops"}, HeadersEnv: map[string]string{"Authorization": "VIGIA_TEST_WEBHOOK_AUTH"},
	}, library(t))
	ctx := t.Context()

	st, err := r.Deliver(ctx, firing("n1", []*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st != nil {
		t.Errorf("state %v, want the previous one (nil)", st)
	}
	prev := notify.State{"kept": "yes"}
	a2, a3 := testAlert("a2", alert.SeverityHigh), testAlert("a3", alert.SeverityCritical)
	a3.Summary = "bob opened a shell in payments/api-7d9f"
	if st, err = r.Deliver(ctx, firing("n2", []*alert.Alert{a2, a3}, 7), prev); err != nil || st["kept"] != "yes" {
		t.Fatalf("repeat: %v %v", st, err)
	}
	if _, err := r.Deliver(ctx, firing("n3", nil, 7), prev); err != nil {
		t.Fatal(err)
	}
	res := firing("n4", nil, 7)
	res.Status = notify.StatusResolved
	if _, err := r.Deliver(ctx, res, prev); err != nil {
		t.Fatal(err)
	}

	ds := srv.Accepted()
	if len(ds) != 4 || len(srv.Deliveries()) != 4 {
		t.Fatalf("%d accepted of %d: %+v", len(ds), len(srv.Deliveries()), srv.Deliveries())
	}
	for i, d := range ds {
		if !d.Signed || d.Path != "/hooks/vigia" || d.Repeat {
			t.Errorf("delivery %d: %+v", i, d)
		}
		h := d.Header
		if err := Verify(secret, h.Get(HeaderTimestamp), d.Body, h.Get(HeaderSignature)); err != nil {
			t.Errorf("delivery %d: Verify: %v", i, err)
		}
		id := fmt.Sprintf("n%d", i+1)
		if h.Get(HeaderNotificationID) != id || h.Get(HeaderIdempotencyKey) != id || h.Get("User-Agent") != "Vigia-Webhook/1" {
			t.Errorf("delivery %d headers %v", i, h)
		}
	}
	first := decode(t, ds[0].Body)
	if first.Version != "1" || first.ID != "n1" || first.Status != "firing" || first.DedupKey != "vigia-"+groupKey ||
		first.GroupKey != groupKey || first.Total != 1 || first.NewAlerts != 1 || first.Severity != "high" || first.Title != "Exec into pod" ||
		first.Summary != "Exec into pod: alice@example.com opened a shell in payments/api-7d9f" || first.Receiver != "soc-webhook" ||
		first.GroupLabels["rule"] != "k8s.exec_into_pod" || !first.LastTime.Equal(time.Date(2025, 3, 4, 5, 16, 7, 0, time.UTC)) {
		t.Errorf("first body %+v", first)
	}
	if rb := first.Runbook; rb == nil || rb.URL != baseURL+runbookPath || rb.Title != "Shell opened in a running pod" || len(rb.FirstSteps) != 3 {
		t.Errorf("runbook %+v", rb)
	}
	if a := first.Alerts; len(a) != 1 || a[0].ID != "a1" || a[0].Entity.Identity != "alice@example.com" ||
		a[0].Context.SourceIP != "203.0.113.7" || a[0].Events[0].ID != "audit-a1" || a[0].Labels["cluster"] != "prod-eu" {
		t.Errorf("alerts %+v", a)
	}
	repeat := decode(t, ds[1].Body)
	if repeat.NewAlerts != 2 || repeat.Total != 7 || repeat.Severity != "critical" ||
		repeat.Summary != "Exec into pod: 2 new alerts, total 7: bob opened a shell in payments/api-7d9f" {
		t.Errorf("repeat body %+v", repeat)
	}
	if b := decode(t, ds[2].Body); b.Summary != "k8s.exec_into_pod: still firing, 7 alerts in total" || len(b.Alerts) != 0 || b.NewAlerts != 0 {
		t.Errorf("reminder body %+v", b)
	}
	if b := decode(t, ds[3].Body); b.Status != "resolved" || ds[3].Header.Get(HeaderEvent) != "resolved" || b.Summary != "k8s.exec_into_pod: resolved, 7 alerts in total" {
		t.Errorf("resolution body %+v", b)
	}
	if !strings.Contains(string(ds[2].Body), `"alerts":[]`) {
		t.Errorf("reminder alerts not an empty array: %s", ds[2].Body)
	}
}

func TestRetrySameID(t *testing.T) {
	srv := webhookfake.New(t, "")
	r := newReceiver(t, Config{URL: srv.URL()}, nil)
	n := firing("n1", []*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
	for range 2 {
		if _, err := r.Deliver(t.Context(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
	ds := srv.Accepted()
	if len(ds) != 2 || ds[0].Repeat || !ds[1].Repeat {
		t.Fatalf("deliveries %+v: want the second flagged as a repeat", ds)
	}
	if ds[0].Header.Get(HeaderSignature) != "" {
		t.Error("signed without a secret")
	}
	if !bytes.Equal(ds[0].Body, ds[1].Body) {
		t.Error("a retry changed the body")
	}
}

func TestLocalizedRunbook(t *testing.T) {
	for locale, want := range map[string]string{"": "Find who opened", "pt-BR": "Descubra quem abriu"} {
		n := firing("n1", []*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
		n.Locale = locale
		b := NewBody(n, nil, library(t), baseURL, 3)
		if b.Runbook == nil || b.Runbook.URL != baseURL+runbook.LocalizedPath(runbookPath, locale) || !strings.HasPrefix(b.Runbook.FirstSteps[0], want) {
			t.Errorf("locale %q: runbook %+v", locale, b.Runbook)
		}
	}
}

func TestMaxBody(t *testing.T) {
	srv := webhookfake.New(t, secret)
	r := newReceiver(t, Config{URL: srv.URL(), Secret: secret, MaxBodyBytes: MinMaxBodyBytes}, nil)
	var alerts []*alert.Alert
	for i := range 50 {
		a := testAlert(fmt.Sprintf("a%02d", i), alert.SeverityHigh)
		a.Summary = strings.Repeat("ção ", 300)
		alerts = append(alerts, a)
	}
	n := firing("n1", alerts, 50)
	for k := range 20 {
		n.GroupLabels[fmt.Sprintf("label%03d", k)] = strings.Repeat("v", 20)
	}
	if _, err := r.Deliver(t.Context(), n, nil); err != nil {
		t.Fatal(err)
	}
	d := srv.Accepted()[0]
	if len(d.Body) > MinMaxBodyBytes {
		t.Errorf("body of %d bytes", len(d.Body))
	}
	b := decode(t, d.Body)
	if len(b.Alerts) == 0 || b.OmittedAlerts != 50-len(b.Alerts) || b.Alerts[len(b.Alerts)-1].ID != "a49" || b.NewAlerts != 50 {
		t.Errorf("kept %d alerts, omitted %d, last %s", len(b.Alerts), b.OmittedAlerts, b.Alerts[len(b.Alerts)-1].ID)
	}
	if len(b.GroupLabels) != 21 || b.Truncated {
		t.Errorf("%d group labels, truncated %v", len(b.GroupLabels), b.Truncated)
	}
	// The original notification is untouched.
	if len(n.Alerts) != 50 || n.Alerts[0].Summary != alerts[0].Summary {
		t.Error("Encode changed the notification")
	}

	// Huge group labels: bounded, and dropped when nothing else helps.
	for k := range 200 {
		n.GroupLabels[fmt.Sprintf("label%03d", k)] = strings.Repeat("v", 2000)
	}
	body := NewBody(n, nil, library(t), baseURL, 3)
	if len(body.GroupLabels) != maxLabels {
		t.Errorf("%d group labels", len(body.GroupLabels))
	}
	data, err := body.Encode(MinMaxBodyBytes)
	if err != nil || len(data) > MinMaxBodyBytes {
		t.Fatalf("Encode: %d bytes, %v", len(data), err)
	}
	if b := decode(t, data); !b.Truncated || len(b.GroupLabels) != 0 || len(b.Alerts) != 0 || b.OmittedAlerts != 50 ||
		b.Runbook == nil || b.Runbook.FirstSteps != nil || b.DedupKey == "" {
		t.Errorf("truncated body %+v", b)
	}
	if len(body.GroupLabels) != maxLabels || body.Runbook.FirstSteps == nil || len(body.Alerts) != 50 {
		t.Error("Encode changed the body")
	}
}

func TestLongFields(t *testing.T) {
	a := testAlert("a1", alert.SeverityHigh)
	a.Summary = strings.Repeat("🚨", 10000)
	a.Entity.Identity = strings.Repeat("ü", 10000) + "\xff"
	b := NewBody(firing("n1", []*alert.Alert{a}, 1), nil, nil, "", 3)
	data, err := b.Encode(DefaultMaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, data)
	if n := utf8.RuneCountInString(got.Alerts[0].Summary); n != maxField || !strings.HasSuffix(got.Alerts[0].Summary, "🚨…") {
		t.Errorf("alert summary of %d runes", n)
	}
	if n := utf8.RuneCountInString(got.Summary); n != MaxSummary || !strings.HasSuffix(got.Summary, "🚨…") {
		t.Errorf("summary of %d runes", n)
	}
	if !utf8.ValidString(got.Alerts[0].Entity.Identity) {
		t.Error("invalid UTF-8")
	}
}

func TestNoSecrets(t *testing.T) {
	const urlToken = "tok3n-in-the-url-0042"
	t.Setenv("VIGIA_TEST_WEBHOOK_AUTH", "Basic c2VjcmV0LWhlYWRlci12YWx1ZQ==")
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "refused %s %s auth=%s sig=%s", r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get(HeaderSignature))
	}))
	defer echo.Close()
	var bodies [][]byte
	record := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
	}))
	defer record.Close()

	a := testAlert("a1", alert.SeverityCritical)
	a.Summary = "curl -H 'Authorization: Bearer " + bearer + "' https://api.internal/"
	a.Rule.Title = "Token " + bearer
	a.Entity.Identity = "https://admin:hunter2hunter2@registry.example/"
	a.Context.UserAgent = "password=hunter2hunter2"
	a.Labels["password"] = "hunter2hunter2"
	a.Events[0].ID = "token=" + bearer
	n := firing("n1", []*alert.Alert{a}, 1)
	n.GroupLabels["identity"] = "Bearer " + bearer

	r := newReceiver(t, Config{URL: record.URL}, nil)
	if _, err := r.Deliver(t.Context(), n, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{bearer, "hunter2hunter2"} {
		if bytes.Contains(bodies[0], []byte(s)) {
			t.Errorf("secret %q sent in %s", s, bodies[0])
		}
	}
	if !bytes.Contains(bodies[0], []byte("[REDACTED]")) {
		t.Errorf("nothing redacted: %s", bodies[0])
	}

	r = newReceiver(t, Config{
		URL: echo.URL + "/hooks/" + urlToken + "?token=" + urlToken, Secret: secret,
		HeadersEnv: map[string]string{"Authorization": "VIGIA_TEST_WEBHOOK_AUTH"},
	}, nil)
	_, err := r.Deliver(t.Context(), n, nil)
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("err %v, want a permanent 400", err)
	}
	for _, s := range []string{urlToken, "c2VjcmV0LWhlYWRlci12YWx1ZQ==", secret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
	if !strings.Contains(err.Error(), echo.URL) {
		t.Errorf("error %q does not name the host", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*webhookfake.Server)
		permanent  bool
		retryAfter time.Duration
		contains   string
	}{
		{"rate limited", func(s *webhookfake.Server) { s.RateLimitNext(1, 4*time.Second) }, false, 4 * time.Second, "HTTP 429"},
		{"500", func(s *webhookfake.Server) { s.FailNext(1, 500) }, false, 0, "HTTP 500"},
		{"503", func(s *webhookfake.Server) { s.FailNext(1, 503) }, false, 0, "HTTP 503"},
		{"408", func(s *webhookfake.Server) { s.FailNext(1, 408) }, false, 0, "HTTP 408"},
		{"400", func(s *webhookfake.Server) { s.FailNext(1, 400) }, true, 0, "HTTP 400"},
		{"410", func(s *webhookfake.Server) { s.FailNext(1, 410) }, true, 0, "HTTP 410"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := webhookfake.New(t, secret)
			tt.setup(srv)
			r := newReceiver(t, Config{URL: srv.URL(), Secret: secret}, nil)
			n := firing("n1", []*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
			_, err := r.Deliver(t.Context(), n, nil)
			checkErr(t, err, tt.permanent, tt.retryAfter, tt.contains)
			if _, err := r.Deliver(t.Context(), n, nil); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		srv := webhookfake.New(t, secret)
		r := newReceiver(t, Config{URL: srv.URL(), Secret: "another-secret"}, nil)
		_, err := r.Deliver(t.Context(), firing("n1", nil, 1), nil)
		checkErr(t, err, true, 0, "HTTP 401")
	})
	t.Run("stale clock", func(t *testing.T) {
		srv := webhookfake.New(t, secret)
		r := newReceiver(t, Config{URL: srv.URL(), Secret: secret}, nil)
		r.now = func() time.Time { return time.Now().Add(-time.Hour) }
		_, err := r.Deliver(t.Context(), firing("n1", nil, 1), nil)
		checkErr(t, err, true, 0, "HTTP 401")
	})
	t.Run("redirect", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusPermanentRedirect))
		defer srv.Close()
		r := newReceiver(t, Config{URL: srv.URL}, nil)
		_, err := r.Deliver(t.Context(), firing("n1", nil, 1), nil)
		checkErr(t, err, true, 0, "HTTP 308")
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r := newReceiver(t, Config{URL: srv.URL + "/t0ken-path-secret"}, nil)
		_, err := r.Deliver(t.Context(), firing("n1", nil, 1), nil)
		checkErr(t, err, false, 0, "connect")
		if strings.Contains(err.Error(), "t0ken-path-secret") {
			t.Errorf("error %q shows the URL path", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		r := newReceiver(t, Config{URL: srv.URL, Timeout: 50 * time.Millisecond}, nil)
		_, err := r.Deliver(t.Context(), firing("n1", nil, 1), nil)
		checkErr(t, err, false, 0, "")
		if msg := err.Error(); !strings.Contains(msg, "Timeout") && !strings.Contains(msg, "deadline exceeded") {
			t.Errorf("error %q does not say it timed out", msg)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := webhookfake.New(t, "")
		r := newReceiver(t, Config{URL: srv.URL()}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := r.Deliver(ctx, firing("n1", nil, 1), nil)
		checkErr(t, err, false, 0, "canceled")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v is not context.Canceled", err)
		}
	})
	t.Run("unknown status", func(t *testing.T) {
		r := newReceiver(t, Config{URL: "https://example.invalid/"}, nil)
		n := firing("n1", nil, 1)
		n.Status = "pending"
		_, err := r.Deliver(t.Context(), n, nil)
		checkErr(t, err, true, 0, "unknown status")
	})
}

func checkErr(t *testing.T, err error, permanent bool, retryAfter time.Duration, contains string) {
	t.Helper()
	if err == nil {
		t.Fatal("Deliver succeeded, want an error")
	}
	if notify.IsPermanent(err) != permanent {
		t.Errorf("permanent = %v, want %v (err %v)", notify.IsPermanent(err), permanent, err)
	}
	after, ok := notify.RetryAfter(err)
	if ok != (retryAfter != 0) || after != retryAfter {
		t.Errorf("RetryAfter = %v, %v; want %v (err %v)", after, ok, retryAfter, err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"version":"1","id":"n1"}`)
	ts := "1741064767"
	sig := Sign(secret, ts, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q", sig)
	}
	tests := []struct {
		name            string
		secret, ts, sig string
		body            []byte
		want            error
	}{
		{"valid", secret, ts, sig, body, nil},
		{"rotation: second of two", secret, ts, Sign("old", ts, body) + ", " + sig, body, nil},
		{"tampered body", secret, ts, sig, []byte(`{"version":"1","id":"n2"}`), ErrBadSignature},
		{"other timestamp", secret, "1741064768", sig, body, ErrBadSignature},
		{"other secret", "nope", ts, sig, body, ErrBadSignature},
		{"bare hex", secret, ts, strings.TrimPrefix(sig, "sha256="), body, ErrBadSignature},
		{"no signature", secret, ts, "", body, ErrNoSignature},
		{"no timestamp", secret, "", sig, body, ErrNoSignature},
	}
	for _, tt := range tests {
		if err := Verify(tt.secret, tt.ts, tt.body, tt.sig); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}

	now := time.Unix(1741064767, 0)
	req := func(ts string, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderSignature, Sign(secret, ts, b))
		return r
	}
	if got, err := VerifyRequest(req(ts, body), secret, 1<<20, 5*time.Minute, now); err != nil || !bytes.Equal(got, body) {
		t.Errorf("VerifyRequest: %v", err)
	}
	if _, err := VerifyRequest(req("1741064000", body), secret, 1<<20, 5*time.Minute, now); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	if _, err := VerifyRequest(req("1741064000", body), secret, 1<<20, 0, now); err != nil {
		t.Errorf("no tolerance: %v", err)
	}
	if _, err := VerifyRequest(req(ts, body), secret, 10, 0, now); err == nil {
		t.Error("oversized body accepted")
	}
}

func ExampleVerifyRequest() {
	// An endpoint receiving Vigia's webhook.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := VerifyRequest(r, "whsec-shared-secret", 1<<20, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var b Body
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		fmt.Println(b.Status, b.DedupKey, b.Summary)
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()

	r, _ := New(Config{URL: srv.URL, Secret: "whsec-shared-secret"}, nil)
	n := &notify.Notification{ID: "n1", GroupKey: groupKey, Status: notify.StatusResolved, Total: 3,
		GroupLabels: map[string]string{"rule": "k8s.exec_into_pod"}}
	if _, err := r.Deliver(context.Background(), n, nil); err != nil {
		fmt.Println(err)
	}
	// Output: resolved vigia-0123456789abcdef0123456789abcdef k8s.exec_into_pod: resolved, 3 alerts in total
}

func TestConfig(t *testing.T) {
	ok := Config{URL: "https://hooks.example/vigia"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"minimal", func(*Config) {}, ""},
		{"everything", func(c *Config) {
			c.URL, c.URLEnv, c.SecretFile, c.Timeout, c.MaxBodyBytes, c.FirstSteps = "", "HOOK_URL", "/run/secrets/hook", time.Second, 1<<16, 2
			c.Headers, c.HeadersEnv, c.RunbookBaseURL = map[string]string{"X-Team": "a"}, map[string]string{"Authorization": "HOOK_AUTH"}, baseURL
		}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "url"},
		{"two urls", func(c *Config) { c.URLFile = "/x" }, "url"},
		{"relative url", func(c *Config) { c.URL = "hooks.example/x" }, "url"},
		{"bad url env", func(c *Config) { c.URL, c.URLEnv = "", "HOOK-URL" }, "url_env"},
		{"two secrets", func(c *Config) { c.SecretEnv, c.SecretFile = "S", "/s" }, "secret_env"},
		{"bad secret env", func(c *Config) { c.SecretEnv = "S S" }, "secret_env"},
		{"inline credential", func(c *Config) { c.Headers = map[string]string{"Authorization": "Bearer x"} }, "headers"},
		{"inline api key", func(c *Config) { c.Headers = map[string]string{"X-Api-Key": "x"} }, "headers"},
		{"reserved header", func(c *Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, "headers"},
		{"vigia header", func(c *Config) { c.HeadersEnv = map[string]string{"X-Vigia-Signature": "S"} }, "headers_env"},
		{"bad header name", func(c *Config) { c.Headers = map[string]string{"X Team": "a"} }, "headers"},
		{"header value with newline", func(c *Config) { c.Headers = map[string]string{"X-Team": "a\r\nX-Evil: 1"} }, "headers"},
		{"header twice", func(c *Config) {
			c.Headers, c.HeadersEnv = map[string]string{"X-Team": "a"}, map[string]string{"x-team": "T"}
		}, "headers_env"},
		{"bad header env", func(c *Config) { c.HeadersEnv = map[string]string{"Authorization": "1X"} }, "headers_env"},
		{"small max body", func(c *Config) { c.MaxBodyBytes = 100 }, "max_body_bytes"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"bad runbook url", func(c *Config) { c.RunbookBaseURL = "x" }, "runbook_base_url"},
		{"negative steps", func(c *Config) { c.FirstSteps = -1 }, "first_steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe, isField := errors.AsType[*FieldError](err)
			if !isField || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "Bearer x") {
				t.Errorf("error %q shows the credential", err)
			}
		})
	}
}

func TestNewReadsSettings(t *testing.T) {
	dir := t.TempDir()
	urlFile, secretFile := filepath.Join(dir, "url"), filepath.Join(dir, "secret")
	if err := os.WriteFile(urlFile, []byte("https://hooks.example/t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(" "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIA_TEST_HOOK_URL", "https://hooks.example/env")
	t.Setenv("VIGIA_TEST_HOOK_AUTH", "Bearer abc")
	t.Setenv("VIGIA_TEST_HOOK_BAD", "ftp://x")
	t.Setenv("VIGIA_TEST_HOOK_CRLF", "a\r\nb")
	r := newReceiver(t, Config{URLFile: urlFile, SecretFile: secretFile, HeadersEnv: map[string]string{"Authorization": "VIGIA_TEST_HOOK_AUTH"}}, nil)
	if r.url != "https://hooks.example/t0ken" || string(r.secret) != secret || r.headers.Get("Authorization") != "Bearer abc" || r.host != "https://hooks.example" {
		t.Errorf("receiver %+v", r)
	}
	if r := newReceiver(t, Config{URLEnv: "VIGIA_TEST_HOOK_URL"}, nil); r.url != "https://hooks.example/env" {
		t.Errorf("url from env: %q", r.url)
	}
	for name, c := range map[string]Config{
		"unset url env":    {URLEnv: "VIGIA_TEST_HOOK_UNSET"},
		"bad url in env":   {URLEnv: "VIGIA_TEST_HOOK_BAD"},
		"missing url file": {URLFile: filepath.Join(dir, "nope")},
		"unset secret":     {URL: "https://x.example", SecretEnv: "VIGIA_TEST_HOOK_UNSET"},
		"unset header env": {URL: "https://x.example", HeadersEnv: map[string]string{"Authorization": "VIGIA_TEST_HOOK_UNSET"}},
		"header with CRLF": {URL: "https://x.example", HeadersEnv: map[string]string{"X-A": "VIGIA_TEST_HOOK_CRLF"}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if strings.Contains(err.Error(), "ftp://x") {
			t.Errorf("%s: error %q shows the value", name, err)
		}
	}
}

// FuzzBody: whatever the alerts carry, the body is valid JSON within the
// limit, in the documented shape.
func FuzzBody(f *testing.F) {
	f.Add("alice", "summary", "Title", "pod", 3)
	f.Add("\xff\xfe", strings.Repeat("🚨", 3000), "<b>", "\u202e", 40)
	books := library(f)
	f.Fuzz(func(t *testing.T, identity, summary, title, pod string, count int) {
		count = max(0, min(count, 60))
		var alerts []*alert.Alert
		for i := range count {
			a := testAlert(fmt.Sprint(i), title)
			a.Entity.Identity, a.Summary, a.Rule.Title, a.Entity.Pod = identity, summary, title, pod
			a.Labels[identity] = summary
			alerts = append(alerts, a)
		}
		n := firing("n", alerts, count)
		n.GroupLabels[pod] = identity
		data, err := NewBody(n, nil, books, baseURL, 3).Encode(MinMaxBodyBytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MinMaxBodyBytes || !utf8.Valid(data) {
			t.Fatalf("body of %d bytes", len(data))
		}
		b := decode(t, data)
		if b.Version != "1" || len(b.Alerts)+b.OmittedAlerts != count {
			t.Fatalf("body %+v", b)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	var alerts []*alert.Alert
	for i := range 20 {
		alerts = append(alerts, testAlert(fmt.Sprint(i), alert.SeverityHigh))
	}
	n := firing("n1", alerts, 20)
	books := library(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		data, err := NewBody(n, nil, books, baseURL, 3).Encode(DefaultMaxBodyBytes)
		if err != nil {
			b.Fatal(err)
		}
		_ = Sign(secret, "1741064767", data)
	}
}

func BenchmarkDeliver(b *testing.B) {
	srv := webhookfake.New(b, secret)
	r := newReceiver(b, Config{URL: srv.URL(), Secret: secret}, library(b))
	n := firing("n1", []*alert.Alert{testAlert("a1", alert.SeverityHigh)}, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Deliver(b.Context(), n, nil); err != nil {
			b.Fatal(err)
		}
	}
}
