package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{`GET /api Authorization: Bearer abc.def.ghi-123 HTTP/1.1`, "abc.def.ghi-123"},
		{`"Authorization":"Basic dXNlcjpwYXNzd29yZA=="`, "dXNlcjpwYXNzd29yZA=="},
		{`curl -H "authorization: token ghp_0123456789abcdefghijABCDEFGHIJ012345" https://x`, "ghp_0123456789abcdefghijABCDEFGHIJ012345"},
		{`connecting with password=hunter2secret to db`, "hunter2secret"},
		{`{"db_password": "s3cr3t-value", "user": "app"}`, "s3cr3t-value"},
		{`AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{`creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{`postgres://app:p4ssw0rd@db:5432/x`, "p4ssw0rd"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEAx"},
		{`token eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlLXBhcnQ in log`, "eyJpc3MiOiJrdWJlcm5ldGVzIn0"},
		{`slack xoxb-123456789012-abcdefghijkl`, "xoxb-123456789012-abcdefghijkl"},
		{`X-Api-Key: 9f8e7d6c5b4a`, "9f8e7d6c5b4a"},
	} {
		out := String(tc.in)
		if strings.Contains(out, tc.secret) {
			t.Errorf("String(%q) = %q: secret survived", tc.in, out)
		}
		if !strings.Contains(out, Mask) {
			t.Errorf("String(%q) = %q: no mask", tc.in, out)
		}
	}
	for _, clean := range []string{
		"GET /healthz 200 1.2ms",
		"user alice created pod web-1 in namespace shop",
		"AKIAIOSFODNN7EXAMPLE used by role deploy",
		"the keyboard was unplugged",
	} {
		if out := String(clean); out != clean {
			t.Errorf("String(%q) = %q, want unchanged", clean, out)
		}
	}
}

func TestValue(t *testing.T) {
	v := map[string]any{
		"user":     "app",
		"password": "hunter2",
		"nested":   []any{map[string]any{"clientSecret": "abc"}, "Authorization: Bearer zzz-top-secret"},
		"n":        1.0,
	}
	Value(v)
	if v["password"] != Mask || v["user"] != "app" || v["n"] != 1.0 {
		t.Fatalf("%v", v)
	}
	n := v["nested"].([]any)
	if n[0].(map[string]any)["clientSecret"] != Mask || strings.Contains(n[1].(string), "zzz-top-secret") {
		t.Fatalf("%v", n)
	}
}

func BenchmarkStringClean(b *testing.B) {
	s := `10.0.0.7 - - [26/Nov/2026:10:00:00 +0000] "GET /api/v1/orders?page=2 HTTP/1.1" 200 5123 "-" "Mozilla/5.0"`
	for b.Loop() {
		String(s)
	}
}

func BenchmarkStringDirty(b *testing.B) {
	s := `POST /login user=alice password=hunter2 Authorization: Bearer abc.def.ghi`
	for b.Loop() {
		String(s)
	}
}
