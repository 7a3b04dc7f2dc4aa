package pipeline

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/redistest"
	"github.com/vigia-dev/vigia/internal/testpki"
)

// TestRedisTLSAndACL connects to a real redis-server that speaks only TLS
// on its TLS port, requires client certificates and has an ACL user:
// the verified connection with the right user and password works; a
// wrong password, an unknown CA, a missing client certificate fail, and
// no error carries the password.
func TestRedisTLSAndACL(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.New(t, "redis test CA")
	srv := ca.Issue(t, "redis", true)
	cli := ca.Issue(t, "vigia", false)
	caFile := testpki.Write(t, dir, "ca.pem", ca.PEM)
	srvCert := testpki.Write(t, dir, "srv.pem", srv.CertPEM)
	srvKey := testpki.Write(t, dir, "srv.key", srv.KeyPEM)
	cliCert := testpki.Write(t, dir, "cli.pem", cli.CertPEM)
	cliKey := testpki.Write(t, dir, "cli.key", cli.KeyPEM)
	otherCA := testpki.Write(t, dir, "other.pem", testpki.New(t, "someone else").PEM)
	tlsPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const password = "pw-9f3b1c7d2e"
	redistest.StartArgs(t,
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", srvCert, "--tls-key-file", srvKey, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "yes",
		"--user", "vigia", "on", ">"+password, "~*", "&*", "+@all",
		"--user", "default", "on", "nopass", "-@all", "+ping",
	)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	t.Setenv("VIGIA_TEST_REDIS_PASSWORD", password)
	t.Setenv("VIGIA_TEST_REDIS_WRONG", "not-the-password")
	good := config.RedisTLS{CAFile: caFile, CertFile: cliCert, KeyFile: cliKey}

	for _, tc := range []struct {
		name    string
		tls     *config.RedisTLS
		user    string
		env     string
		wantErr string
	}{
		{name: "verified, ACL user", tls: &good, user: "vigia", env: "VIGIA_TEST_REDIS_PASSWORD"},
		{name: "wrong password", tls: &good, user: "vigia", env: "VIGIA_TEST_REDIS_WRONG", wantErr: "WRONGPASS"},
		{name: "default user may only ping", tls: &good, wantErr: ""},
		{name: "unknown CA", tls: &config.RedisTLS{CAFile: otherCA, CertFile: cliCert, KeyFile: cliKey}, user: "vigia", env: "VIGIA_TEST_REDIS_PASSWORD", wantErr: "certificate"},
		{name: "no client certificate", tls: &config.RedisTLS{CAFile: caFile}, user: "vigia", env: "VIGIA_TEST_REDIS_PASSWORD", wantErr: "redis"},
		{name: "insecure_skip_verify", tls: &config.RedisTLS{InsecureSkipVerify: true, CertFile: cliCert, KeyFile: cliKey}, user: "vigia", env: "VIGIA_TEST_REDIS_PASSWORD"},
		{name: "plain text to the TLS port", tls: nil, user: "vigia", env: "VIGIA_TEST_REDIS_PASSWORD", wantErr: "redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redisClient(context.Background(), &config.Redis{Addr: addr, Username: tc.user, PasswordEnv: tc.env, TLS: tc.tls})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer c.Close()
				if tc.user == "" {
					// The default user is limited to PING by the ACL.
					if err := c.Set(context.Background(), "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
						t.Fatalf("default user SET: %v, want NOPERM", err)
					}
					return
				}
				if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
					t.Fatalf("SET as vigia: %v", err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connected, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("error carries the password: %v", err)
			}
		})
	}
}
