package config

import (
	"strings"
	"testing"
)

func TestRedisTLS(t *testing.T) {
	base := "kafka: {brokers: [k:9092], topics: [{name: a}]}\nreceivers: [{name: c, console: {}}]\nredis:\n  addr: r:6379\n"
	for _, tc := range []struct {
		yaml, err string
		want      *RedisTLS
	}{
		{yaml: "", want: nil},
		{yaml: "  tls: true\n", err: "line 5: cannot unmarshal !!bool `true` into config.RedisTLS"},
		{yaml: "  tls: {}\n", want: &RedisTLS{}},
		{yaml: "  tls: {ca_file: /ca.pem, server_name: redis.internal}\n", want: &RedisTLS{CAFile: "/ca.pem", ServerName: "redis.internal"}},
		{yaml: "  tls: {insecure_skip_verify: true}\n", want: &RedisTLS{InsecureSkipVerify: true}},
		{yaml: "  tls: {ca_fiel: x}\n", err: "field ca_fiel not found"},
		{yaml: "  tls: {cert_file: c.pem}\n", err: "redis.tls.cert_file: cert_file and key_file go together"},
	} {
		cfg, err := Parse([]byte(base + tc.yaml))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		got := cfg.Redis.TLS
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q: tls %+v, want %+v", tc.yaml, got, tc.want)
		}
	}
}
