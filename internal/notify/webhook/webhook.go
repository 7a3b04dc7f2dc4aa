// Package webhook delivers notifications as signed JSON POSTs to any HTTP
// endpoint.
//
// # Body
//
// Each notification is one POST of Content-Type application/json whose
// body is a Body, format version "1" (fields may be added within a
// version; none is renamed or removed):
//
//	{
//	  "version": "1",
//	  "id": "5f0c…",                  // notification id, stable across retries
//	  "receiver": "soc-webhook",
//	  "status": "firing",             // or "resolved"
//	  "group_key": "0123…cdef",
//	  "dedup_key": "vigia-0123…cdef", // stable per group
//	  "group_labels": {"rule": "k8s.exec_into_pod"},
//	  "total": 7,                     // alerts the group has seen
//	  "new_alerts": 2,                // alerts in this notification
//	  "first_time": "2025-03-04T05:06:07Z",
//	  "last_time": "2025-03-04T05:16:07Z",
//	  "locale": "pt-BR",
//	  "severity": "high",
//	  "title": "Exec into pod",
//	  "summary": "Exec into pod: 2 new alerts, total 7: bob opened a shell in payments/api-7d9f",
//	  "runbook": {"title": "…", "path": "runbooks/…", "url": "https://…", "first_steps": ["…"]},
//	  "alerts": [ … ],                // the alert contract of internal/alert
//	  "omitted_alerts": 0             // left out to fit max_body_bytes
//	}
//
// The first notification of a group carries all its alerts; later ones
// the new alerts ("new_alerts" < "total"), none for a reminder; a
// resolution has status "resolved" and no alerts. Credentials are
// redacted from every free text.
//
// # Headers and signature
//
//	X-Vigia-Timestamp: 1741064767          (Unix seconds of the attempt)
//	X-Vigia-Signature: sha256=5d41…        (when a secret is configured)
//	X-Vigia-Notification-Id, Idempotency-Key: the notification id
//	X-Vigia-Event: firing | resolved
//
// The signature is the lower-case hex HMAC-SHA256, keyed with the secret,
// of the timestamp, a ".", and the raw body bytes:
//
//	signature = "sha256=" + hex(HMAC_SHA256(secret, timestamp + "." + body))
//
// To verify, recompute it over the body exactly as received (before any
// JSON parsing), compare in constant time, and reject timestamps more than
// a few minutes from your clock, so a captured request cannot be replayed
// later: Verify and VerifyRequest do this for Go code. Retries carry a
// new timestamp and signature but the same notification id: deduplicate
// on it.
//
// # Answers
//
// Any 2xx is success. 408, 429 and 5xx are retried, honouring
// Retry-After; other statuses (redirects included: they are not followed)
// are permanent. The URL, which may carry a token, never appears whole in
// an error: only its scheme and host.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/redact"
	"github.com/vigia-dev/vigia/internal/runbook"
)

// Header names.
const (
	HeaderTimestamp      = "X-Vigia-Timestamp"
	HeaderSignature      = "X-Vigia-Signature"
	HeaderNotificationID = "X-Vigia-Notification-Id"
	HeaderEvent          = "X-Vigia-Event"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// UserAgent is sent with every request.
const UserAgent = "Vigia-Webhook/" + Version

const maxErrBody = 4096

// Receiver posts notifications to one URL. It is safe for concurrent use.
type Receiver struct {
	cfg     Config
	url     string
	host    string // scheme://host, for errors
	secret  []byte
	headers http.Header
	// secrets are the strings scrubbed from errors: the URL and its path
	// and query parts (a token may hide in any), the secret, the values
	// of headers_env.
	secrets []string
	books   *runbook.Library
	client  *http.Client
	now     func() time.Time
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Receiver for cfg, reading the URL, the secret and the
// headers_env values from the environment variables and files cfg names.
// books supplies the runbook steps; it may be nil.
func New(cfg Config, books *runbook.Library) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	target, field, err := read("url", cfg.URL, cfg.URLEnv, cfg.URLFile)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &FieldError{Field: field, Problem: "must hold an absolute http(s) URL"}
	}
	secret, _, err := read("secret", cfg.Secret, cfg.SecretEnv, cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for k, v := range cfg.Headers {
		headers.Set(k, v)
	}
	for k, env := range cfg.HeadersEnv {
		v := os.Getenv(env)
		switch {
		case v == "":
			return nil, &FieldError{Field: "headers_env", Problem: fmt.Sprintf("%q: %s is unset or empty", k, env)}
		case !validHeaderValue(v):
			return nil, &FieldError{Field: "headers_env", Problem: fmt.Sprintf("%q: %s holds control characters", k, env)}
		}
		headers.Set(k, v)
	}
	secrets := []string{target, u.RawQuery, u.EscapedPath(), u.Path, secret}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 {
			secrets = append(secrets, seg, url.PathEscape(seg))
		}
	}
	for _, vs := range u.Query() {
		secrets = append(secrets, vs...)
	}
	for k := range cfg.HeadersEnv {
		secrets = append(secrets, headers.Get(k))
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return len(s) < 4 })
	// Longest first, so a part never leaves the rest of a longer one.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return &Receiver{
		cfg: cfg, url: target, host: u.Scheme + "://" + u.Host, secret: []byte(secret), headers: headers, books: books,
		secrets: secrets,
		client: &http.Client{
			Timeout: cfg.Timeout,
			// A redirect would send the signed body elsewhere: answer it
			// as the failure it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}, nil
}

// Deliver posts n. The state is returned unchanged: the endpoint keeps
// whatever it needs under the body's dedup_key.
func (r *Receiver) Deliver(ctx context.Context, n *notify.Notification, prev notify.State) (notify.State, error) {
	if n == nil {
		return nil, notify.Permanent(errors.New("webhook: nil notification"))
	}
	if n.Status != notify.StatusFiring && n.Status != notify.StatusResolved {
		return nil, notify.Permanent(fmt.Errorf("webhook: notification %s: unknown status %q", n.ID, n.Status))
	}
	body, err := NewBody(n, prev, r.books, r.cfg.RunbookBaseURL, r.cfg.FirstSteps).Encode(r.cfg.MaxBodyBytes)
	if err != nil {
		return nil, notify.Permanent(fmt.Errorf("webhook: notification %s: %w", n.ID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, notify.Permanent(fmt.Errorf("webhook: POST %s: cannot build the request", r.host))
	}
	for k, v := range r.headers {
		req.Header[k] = v
	}
	ts := strconv.FormatInt(r.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNotificationID, n.ID)
	req.Header.Set(HeaderIdempotencyKey, n.ID)
	req.Header.Set(HeaderEvent, n.Status)
	if len(r.secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(string(r.secret), ts, body))
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL: keep only its cause.
		cause := err
		if ue, ok := errors.AsType[*url.Error](err); ok {
			cause = ue.Err
		}
		msg := fmt.Sprintf("webhook: POST %s: %s", r.host, r.scrub(cause.Error()))
		if cerr := ctx.Err(); cerr != nil && !errors.Is(cause, cerr) {
			cause = fmt.Errorf("%w: %w", cerr, cause)
		}
		return nil, &scrubbed{msg: msg, err: cause}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if herr := notify.HTTPError(resp, r.scrub(string(excerpt))); herr != nil {
		return nil, &scrubbed{msg: fmt.Sprintf("webhook: POST %s: %v", r.host, herr), err: herr}
	}
	return prev, nil
}

// scrub removes the URL, the secret, header values from headers_env and
// anything credential-like from s.
func (r *Receiver) scrub(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redact.Mask)
	}
	return redact.String(strings.ToValidUTF8(s, "\uFFFD"))
}

// scrubbed is an error whose message was cleaned of credentials; it still
// unwraps to the original (for errors.Is(err, context.Canceled), the
// notify error classes).
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Sign returns the X-Vigia-Signature value for body sent at timestamp
// (the X-Vigia-Timestamp value): "sha256=" and the hex HMAC-SHA256 of
// timestamp + "." + body keyed with secret.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors returned by Verify and VerifyRequest.
var (
	ErrNoSignature  = errors.New("webhook: missing signature or timestamp")
	ErrBadSignature = errors.New("webhook: signature mismatch")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Verify checks signature (an X-Vigia-Signature value; several may be
// given, comma-separated, while a secret is rotated) against body and
// timestamp, in constant time. It does not check the timestamp's age: see
// VerifyRequest.
func Verify(secret, timestamp string, body []byte, signature string) error {
	if signature == "" || timestamp == "" {
		return ErrNoSignature
	}
	want := []byte(Sign(secret, timestamp, body))
	ok := false
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// VerifyRequest reads r's body (at most maxBody bytes) and verifies its
// signature with secret, and that its timestamp is within tolerance of
// now (no check when tolerance is 0; five minutes is usual). It returns
// the body.
func VerifyRequest(r *http.Request, secret string, maxBody int64, tolerance time.Duration, now time.Time) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("webhook: body exceeds %d bytes", maxBody)
	}
	ts := r.Header.Get(HeaderTimestamp)
	if err := Verify(secret, ts, body, r.Header.Get(HeaderSignature)); err != nil {
		return nil, err
	}
	if tolerance > 0 {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, ErrStale
		}
		if d := now.Sub(time.Unix(sec, 0)); math.Abs(float64(d)) > float64(tolerance) {
			return nil, ErrStale
		}
	}
	return body, nil
}
