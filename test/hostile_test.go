package test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/notify"
	"github.com/vigia-dev/vigia/internal/notify/slack"
	"github.com/vigia-dev/vigia/internal/pipeline"
	"github.com/vigia-dev/vigia/internal/rule"
)

// The hostile corpus: input an attacker who controls log content (or can
// write to a topic) may send. Each test states what Vigia guarantees.

// hostileExec is a Kubernetes exec audit event the shipped
// k8s-pod-exec-attach rule alerts on; its fields are replaced per test.
func hostileExec(mod func(m map[string]any)) []byte {
	m := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "auditID": "h-1", "stage": "ResponseStarted",
		"requestURI": "/api/v1/namespaces/shop/pods/web/exec?command=sh&container=web", "verb": "create",
		"user":      map[string]any{"username": "eve@example.com", "groups": []any{"system:authenticated"}},
		"sourceIPs": []any{"203.0.113.9"}, "userAgent": "kubectl/v1.31.2",
		"objectRef":      map[string]any{"resource": "pods", "subresource": "exec", "namespace": "shop", "name": "web", "apiVersion": "v1"},
		"responseStatus": map[string]any{"code": 101}, "requestReceivedTimestamp": "2026-11-20T14:00:00.000000Z",
		"stageTimestamp": "2026-11-20T14:00:00.000000Z", "annotations": map[string]any{"authorization.k8s.io/decision": "allow"},
	}
	if mod != nil {
		mod(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

type hostileDLQ struct {
	mu      sync.Mutex
	reasons []string
}

func (d *hostileDLQ) Write(_ context.Context, _ kafka.Message, reason, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
	return nil
}

type hostileRouter struct{ alerts []*alert.Alert }

func (r *hostileRouter) Route(_ context.Context, as []*alert.Alert) error {
	r.alerts = append(r.alerts, as...)
	return nil
}

var (
	shippedOnce  sync.Once
	shippedRules *rule.Set
	shippedErr   error
)

func hostileProcessor(t *testing.T, maxBytes int) (*pipeline.Processor, *hostileRouter, *hostileDLQ) {
	t.Helper()
	shippedOnce.Do(func() { shippedRules, shippedErr = rule.Load([]string{"../detections"}, rule.Options{Root: ".."}) })
	if shippedErr != nil {
		t.Fatal(shippedErr)
	}
	n, err := detect.New(detect.Auto, normalize.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	r, d := &hostileRouter{}, &hostileDLQ{}
	return &pipeline.Processor{Rules: shippedRules, Default: n, Router: r, DeadLetter: d, MaxMessageBytes: maxBytes}, r, d
}

func handle(t *testing.T, p *pipeline.Processor, msg []byte) {
	t.Helper()
	if err := p.Handle(context.Background(), kafka.Message{Topic: "hostile", Value: msg}); err != nil {
		t.Fatal(err)
	}
}

func ruleIDs(as []*alert.Alert) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.Rule.ID)
	}
	return ids
}

// A 10 MB event is dead-lettered as oversized at the default limit, and
// with the limit raised it is parsed and alerts like a small one.
func TestHostileTenMegabyteEvent(t *testing.T) {
	big := hostileExec(func(m map[string]any) {
		m["requestObject"] = map[string]any{"metadata": map[string]any{"annotations": map[string]any{"pad": strings.Repeat("A", 10<<20)}}}
	})
	if len(big) < 10<<20 {
		t.Fatalf("event of %d bytes", len(big))
	}
	p, r, d := hostileProcessor(t, 1<<20) // the default max_message_bytes
	handle(t, p, big)
	if len(d.reasons) != 1 || d.reasons[0] != pipeline.ReasonOversized || len(r.alerts) != 0 {
		t.Fatalf("at the default limit: dead letters %v, alerts %v", d.reasons, ruleIDs(r.alerts))
	}
	p, r, d = hostileProcessor(t, 16<<20)
	handle(t, p, big)
	if len(d.reasons) != 0 || !contains(ruleIDs(r.alerts), "k8s-pod-exec-attach") {
		t.Fatalf("with the limit raised: dead letters %v, alerts %v", d.reasons, ruleIDs(r.alerts))
	}
	for _, a := range r.alerts {
		if b, err := json.Marshal(a); err != nil || len(b) > 64<<10 {
			t.Errorf("alert %s: %d bytes, %v (the pad must not ride along)", a.Rule.ID, len(b), err)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// 10,000-deep nesting, bare or inside an event, is refused with a short
// error (fastjson's depth limit is 300): no stack overflow, no event.
func TestHostileDeepNesting(t *testing.T) {
	const depth = 10000
	arrays := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	objects := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
	inEvent := strings.Replace(string(hostileExec(nil)), `"kind":"Event"`, `"kind":"Event","requestObject":`+objects, 1)
	for name, msg := range map[string]string{"arrays": arrays, "objects": objects, "inside an event": inEvent} {
		t.Run(name, func(t *testing.T) {
			p, r, d := hostileProcessor(t, 16<<20)
			handle(t, p, []byte(msg))
			if len(d.reasons) != 1 || d.reasons[0] != "not_json" || len(r.alerts) != 0 {
				t.Fatalf("dead letters %v, alerts %v", d.reasons, ruleIDs(r.alerts))
			}
			n, _ := detect.New(detect.Auto, normalize.Options{Raw: true})
			_, errs := n.Normalize([]byte(msg), normalize.Meta{})
			if len(errs) != 1 || len(errs[0].Error()) > 2048 || !strings.Contains(errs[0].Error(), "depth") {
				t.Fatalf("errors %v", errs)
			}
		})
	}
}

// Invalid UTF-8 in field values: the event still alerts, and everything
// that leaves Vigia — alert JSON, Slack text — is valid UTF-8.
func TestHostileInvalidUTF8(t *testing.T) {
	msg := hostileExec(nil)
	msg = []byte(strings.NewReplacer(`"eve@example.com"`, "\"eve\xff\xfe\xc3@example.com\"", `"name":"web"`, "\"name\":\"web\xed\xa0\x80\"").Replace(string(msg)))
	if utf8.Valid(msg) {
		t.Fatal("the fixture must be invalid UTF-8")
	}
	p, r, _ := hostileProcessor(t, 1<<20)
	handle(t, p, msg)
	if !contains(ruleIDs(r.alerts), "k8s-pod-exec-attach") {
		t.Fatalf("alerts %v", ruleIDs(r.alerts))
	}
	for _, a := range r.alerts {
		b, err := json.Marshal(a)
		if err != nil || !utf8.Valid(b) {
			t.Errorf("alert JSON: %v, valid UTF-8 %v", err, utf8.Valid(b))
		}
		if s := slack.FallbackText(a); !utf8.ValidString(s) {
			t.Errorf("Slack text is not valid UTF-8: %q", s)
		}
		blocks, _ := json.Marshal(slack.Blocks(a, nil, "", 3))
		if !utf8.Valid(blocks) {
			t.Errorf("Slack blocks are not valid UTF-8")
		}
	}
}

// Huge numbers, NaN and Infinity: no panic; an event either alerts or
// is dead-lettered, and what alerts serializes.
func TestHostileNumbers(t *testing.T) {
	for _, num := range []string{"1e400", "-1e400", "123456789012345678901234567890", "NaN", "Infinity", "-Infinity", "1e-400", "0x10"} {
		t.Run(num, func(t *testing.T) {
			msg := strings.Replace(string(hostileExec(nil)), `"code":101`, `"code":`+num, 1)
			p, r, d := hostileProcessor(t, 1<<20)
			handle(t, p, []byte(msg))
			if len(r.alerts) == 0 && len(d.reasons) == 0 {
				t.Fatal("neither alerted nor dead-lettered")
			}
			for _, a := range r.alerts {
				if _, err := json.Marshal(a); err != nil {
					t.Errorf("alert does not serialize: %v", err)
				}
			}
		})
	}
}

// Duplicate keys: the last occurrence wins — for the typed fields, raw
// and annotations alike — as in Go's encoding/json, which the Kubernetes
// API server writes audit events with (and which never emits
// duplicates). Every rule and every alert sees one value. See
// docs/threat-model.md.
func TestHostileDuplicateKeys(t *testing.T) {
	base := string(hostileExec(nil))
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"benign first", strings.Replace(base, `"verb":"create"`, `"verb":"get","verb":"create"`, 1), "create"},
		{"benign last", strings.Replace(base, `"verb":"create"`, `"verb":"create","verb":"get"`, 1), "get"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := detect.New(detect.Auto, normalize.Options{Raw: true})
			evs, errs := n.Normalize([]byte(tc.msg), normalize.Meta{})
			if len(errs) > 0 || len(evs) != 1 {
				t.Fatalf("events %d, errors %v", len(evs), errs)
			}
			ev := evs[0]
			if ev.Action != tc.want || ev.K8s.Verb != tc.want || ev.RawMap()["verb"] != tc.want {
				t.Fatalf("action %q, k8s.verb %q, raw.verb %v: want %q everywhere", ev.Action, ev.K8s.Verb, ev.RawMap()["verb"], tc.want)
			}
		})
	}
	msg := strings.Replace(base, `"authorization.k8s.io/decision":"allow"`, `"authorization.k8s.io/decision":"forbid","authorization.k8s.io/decision":"allow"`, 1)
	n, _ := detect.New(detect.Auto, normalize.Options{Raw: true})
	evs, _ := n.Normalize([]byte(msg), normalize.Meta{})
	if len(evs) != 1 || evs[0].K8s.Decision != "allow" || evs[0].K8s.Annotations["authorization.k8s.io/decision"] != "allow" {
		t.Fatalf("decision %+v", evs)
	}
	// CloudTrail: last wins too, in action and raw alike.
	ct := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/m","accountId":"111122223333"},` +
		`"eventTime":"2026-11-20T14:00:03Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventName":"LookupEvents",` +
		`"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","requestParameters":{"name":"org-trail"},"eventID":"dup-1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	evs, errs := n.Normalize([]byte(ct), normalize.Meta{})
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("cloudtrail: %d events, %v", len(evs), errs)
	}
	if evs[0].Action != "LookupEvents" || evs[0].RawMap()["eventName"] != "LookupEvents" {
		t.Fatalf("cloudtrail action %q, raw.eventName %v: want the last, LookupEvents, in both", evs[0].Action, evs[0].RawMap()["eventName"])
	}
}

// Unicode look-alikes: a namespace spelled with a Cyrillic 'е' is not
// kube-system to any rule (comparisons are byte-exact), and the alert
// shows the name as it is, not folded to the ASCII look-alike.
func TestHostileLookalikeNamespace(t *testing.T) {
	const fake = "kub\u0435-system" // Cyrillic small ie
	msg := hostileExec(func(m map[string]any) {
		m["objectRef"].(map[string]any)["namespace"] = fake
		m["requestURI"] = "/api/v1/namespaces/" + fake + "/pods/web/exec?command=sh"
	})
	p, r, _ := hostileProcessor(t, 1<<20)
	handle(t, p, msg)
	var exec *alert.Alert
	for _, a := range r.alerts {
		if a.Rule.ID == "k8s-pod-exec-attach" {
			exec = a
		}
	}
	if exec == nil {
		t.Fatalf("alerts %v", ruleIDs(r.alerts))
	}
	if exec.Entity.Namespace == "kube-system" || exec.Labels["namespace"] == "kube-system" {
		t.Fatal("the look-alike was folded into kube-system")
	}
	if txt := slack.FallbackText(exec); !strings.Contains(txt, fake) {
		t.Errorf("Slack text does not show the name as sent: %q", txt)
	}
	// The shipped rules that exempt kube-system must not exempt the
	// look-alike: evaluate every rule on the event in both spellings and
	// check the look-alike never alerts less.
	real := hostileExec(func(m map[string]any) { m["objectRef"].(map[string]any)["namespace"] = "kube-system" })
	p2, r2, _ := hostileProcessor(t, 1<<20)
	handle(t, p2, real)
	if len(r.alerts) < len(r2.alerts) {
		t.Errorf("the look-alike raises fewer alerts (%v) than the real kube-system (%v)", ruleIDs(r.alerts), ruleIDs(r2.alerts))
	}
}

// Markup injection in names that reach notifications: every receiver
// escapes it for its own markup. Asserted on the request bodies each
// receiver sent to its API fake.
func TestHostileMarkupInjection(t *testing.T) {
	const (
		ping    = "<!channel> <!here> <!subteam^S123|admins> <@U024BE7LH>"
		link    = "<https://evil.example/x|click here>"
		jira    = "[click|https://evil.example/j] {code}x{code} {noformat} !https://evil.example/i.png!"
		github  = "@octo-org/admins @attacker #1 GH-2"
		html    = "<script>alert(1)</script><img src=x onerror=alert(1)>"
		md      = "*bold* _it_ ~strike~ `code` ```block``` [md](https://evil.example/m)"
		snow    = "[code]<b>x</b>[/code]"
		payload = ping + " " + link + " " + jira + " " + github + " " + html + " " + md + " " + snow
	)
	msg := hostileExec(func(m map[string]any) {
		m["user"].(map[string]any)["username"] = payload
		m["objectRef"].(map[string]any)["name"] = "web" + payload
		m["userAgent"] = payload
	})
	p, r, _ := hostileProcessor(t, 1<<20)
	handle(t, p, msg)
	var alerts []*alert.Alert
	for _, a := range r.alerts {
		if a.Rule.ID == "k8s-pod-exec-attach" {
			a.Labels = a.BaseLabels()
			alerts = append(alerts, a)
		}
	}
	if len(alerts) == 0 {
		t.Fatalf("alerts %v", ruleIDs(r.alerts))
	}
	rec := &recorder{}
	receivers := buildReceivers(t, shippedRules, rec)
	seen := 0
	for _, name := range []string{"slack", "jira", "github", "servicenow", "pagerduty", "opsgenie", "webhook"} {
		rc := receivers[name]
		n := &notify.Notification{ID: "n-hostile", Receiver: name, GroupKey: strings.Repeat("cd", 16), GroupLabels: map[string]string{"rule": alerts[0].Rule.ID},
			Status: notify.StatusFiring, Alerts: alerts, Total: len(alerts), FirstTime: alerts[0].Time, LastTime: alerts[0].Time}
		if _, err := rc.Deliver(context.Background(), n, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		bodies := rec.all()[seen:]
		seen += len(bodies)
		if len(bodies) == 0 {
			t.Fatalf("%s sent nothing", name)
		}
		var texts []string
		for _, b := range bodies {
			texts = append(texts, bodyStrings(b)...)
		}
		if name == "github" {
			// GitHub acts on markup in the issue body and comments only
			// (titles and labels are plain text), and not inside code spans.
			var body []string
			for _, x := range texts {
				if strings.Contains(x, "<!-- vigia:group=") {
					body = append(body, codeSpan.ReplaceAllString(x, "``"))
				}
			}
			if len(body) == 0 {
				t.Fatal("github: no issue body sent")
			}
			texts = body
		}
		all := strings.Join(texts, "\n")
		for _, bad := range forbidden[name] {
			if m := bad.FindString(all); m != "" {
				t.Errorf("%s: %q survives in what was sent:\n%.2000s", name, m, all)
			}
		}
		if !utf8.ValidString(all) {
			t.Errorf("%s: invalid UTF-8", name)
		}
	}
}

var codeSpan = regexp.MustCompile("`[^`\n]*`")

// forbidden are, per receiver, the patterns its markup would act on.
var forbidden = map[string][]*regexp.Regexp{
	// Slack mrkdwn: special mentions, user/group mentions and links are
	// <...> sequences; escaped text has &lt; &gt; instead.
	"slack": {regexp.MustCompile(`<[!@#]`), regexp.MustCompile(`<https?://evil`), regexp.MustCompile(`<script`)},
	// Jira REST v3 sends ADF, whose text nodes are literal (wiki markup
	// in them is inert; v2's wiki escaping has FuzzEscapeWiki): no link
	// mark may point where the event says.
	"jira": {regexp.MustCompile(`"href": "https://evil`)},
	// GitHub: mentions, issue references, links, raw HTML.
	"github": {regexp.MustCompile(`(^|[^\w` + "`" + `])@octo-org/admins`), regexp.MustCompile(`(^|\s)@attacker\b`), regexp.MustCompile(`\]\(https://evil`),
		regexp.MustCompile(`(^|[^\\])<(script|img)`)}, // \< is a literal <
	// ServiceNow shows text fields as plain text (HTML escaped by the
	// platform) except [code]…[/code] in journal fields, rendered as HTML.
	"servicenow": {regexp.MustCompile(`(?i)\[/?code\]`)},
	// JSON APIs without markup: nothing to escape, but no HTML either way
	// is asserted by their own tests; here only that delivery works.
	"pagerduty": nil, "opsgenie": nil, "webhook": nil,
}

// bodyStrings returns every string in a recorded request (URL line, then
// a JSON or form body), decoded, so escaping is judged on what the API
// reads.
func bodyStrings(rec []byte) []string {
	s := string(rec)
	var v any
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		if json.Unmarshal([]byte(s[i+1:]), &v) == nil {
			var out []string
			collect(v, &out)
			return out
		}
	}
	return []string{s}
}

func collect(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, x := range v {
			collect(x, out)
		}
	case map[string]any:
		for k, x := range v {
			if k == "href" || k == "url" {
				if s, ok := x.(string); ok {
					*out = append(*out, `"`+k+`": "`+s+`"`)
					continue
				}
			}
			collect(x, out)
		}
	}
}
