package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigia-dev/vigia/internal/config"
)

// pki is a test certificate authority.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64 = 100

func newCA(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by the CA.
func (ca *pki) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte, serialNo int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), serial
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func client(t *testing.T, ca *pki, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	tc := &tls.Config{RootCAs: roots}
	if certPEM != nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
}

func postWith(c *http.Client, url, body string, hdr ...string) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestMutualTLS: with a client CA configured, the endpoint refuses clients
// without a certificate or with one from another CA, and takes the
// request of a client whose certificate the CA signed. A rotated server
// certificate is served without a restart.
func TestMutualTLS(t *testing.T) {
	reloadInterval = 0
	defer func() { reloadInterval = 10 * time.Second }()
	dir := t.TempDir()
	ca, other := newCA(t, "vigia-ingest-ca"), newCA(t, "someone-else")
	srvCert, srvKey, firstSerial := ca.issue(t, "vigia-ingest", true)
	cfg := config.Ingest{Listen: "127.0.0.1:0", Path: "/audit", TLS: config.IngestTLS{
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: filepath.Join(dir, "ca.crt"),
	}}
	write(t, cfg.TLS.CertFile, srvCert)
	write(t, cfg.TLS.KeyFile, srvKey)
	write(t, cfg.TLS.ClientCAFile, ca.pem)

	var produced atomic.Int64
	h, err := NewHandler(Config{Producer: producerFunc(func(_ context.Context, m ...kafka.Message) error { produced.Add(int64(len(m))); return nil }), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, h, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	url := "https://" + srv.Addr() + "/audit"
	body := eventList(podExec)

	if _, _, err := postWith(client(t, ca, nil, nil), url, body); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	oc, ok, _ := other.issue(t, "intruder", false)
	if _, _, err := postWith(client(t, ca, oc, ok), url, body); err == nil {
		t.Fatal("a client with a certificate from another CA was served")
	}
	if produced.Load() != 0 {
		t.Fatalf("refused clients produced %d events", produced.Load())
	}
	cc, ck, _ := ca.issue(t, "kube-apiserver", false)
	good := client(t, ca, cc, ck)
	resp, got, err := postWith(good, url, body)
	if err != nil || resp.StatusCode != http.StatusOK || produced.Load() != 1 {
		t.Fatalf("client with a certificate from the CA: %v %v %q, produced %d", err, resp, got, produced.Load())
	}
	if resp.TLS.PeerCertificates[0].SerialNumber.Int64() != firstSerial {
		t.Fatal("unexpected server certificate")
	}
	if resp, _, err := postWith(good, "https://"+srv.Addr()+"/other", body); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: %v %v", err, resp)
	}

	// Rotation: the next handshake presents the new certificate.
	newCert, newKey, newSerial := ca.issue(t, "vigia-ingest", true)
	write(t, cfg.TLS.KeyFile, newKey)
	write(t, cfg.TLS.CertFile, newCert)
	fresh := client(t, ca, cc, ck)
	resp, _, err = postWith(fresh, url, body)
	if err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != newSerial {
		t.Fatalf("after rotation: %v, serial %v want %d", err, resp, newSerial)
	}
	// A broken rotation keeps the working certificate.
	write(t, cfg.TLS.CertFile, []byte("not a certificate"))
	resp, _, err = postWith(client(t, ca, cc, ck), url, body)
	if err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != newSerial {
		t.Fatalf("after a broken rotation: %v", err)
	}
}

func TestTLSConfigRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	cert, key, _ := ca.issue(t, "s", true)
	write(t, filepath.Join(dir, "tls.crt"), cert)
	write(t, filepath.Join(dir, "tls.key"), key)
	write(t, filepath.Join(dir, "empty.pem"), []byte("nothing here"))
	cases := map[string]config.IngestTLS{
		"missing cert": {CertFile: filepath.Join(dir, "nope.crt"), KeyFile: filepath.Join(dir, "tls.key")},
		"bad CA":       {CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: filepath.Join(dir, "empty.pem")},
		"missing CA":   {CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: filepath.Join(dir, "nope.pem")},
	}
	for name, c := range cases {
		if _, err := TLSConfig(c, time.Second, quietLog()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestBearerToken: with a token file, requests without the token or with
// a wrong one answer 401; a rotated token replaces the old one.
func TestBearerToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	write(t, file, []byte("s3cret-token\n"))
	tok, err := TokenFunc(file, 0, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var produced atomic.Int64
	url, _, _ := serve(t, nil, func(c *Config, _ *kafka.Writer) {
		c.Token = tok
		c.Producer = producerFunc(func(_ context.Context, m ...kafka.Message) error { produced.Add(int64(len(m))); return nil })
	})
	body := []byte(eventList(podExec))
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret-token"}, {"Authorization", "Basic s3cret-token"}} {
		r := post(t, url, body, hdr...)
		if r.code != http.StatusUnauthorized || !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%v: %d %q", hdr, r.code, r.body)
		}
		if strings.Contains(r.body, "s3cret") {
			t.Fatal("the response quotes the token")
		}
	}
	if produced.Load() != 0 {
		t.Fatalf("unauthorized requests produced %d events", produced.Load())
	}
	if r := post(t, url, body, "Authorization", "Bearer s3cret-token"); r.code != http.StatusOK {
		t.Fatalf("right token: %d %q", r.code, r.body)
	}
	write(t, file, []byte("rotated-token-2"))
	if r := post(t, url, body, "Authorization", "Bearer s3cret-token"); r.code != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d", r.code)
	}
	if r := post(t, url, body, "Authorization", "Bearer rotated-token-2"); r.code != http.StatusOK {
		t.Fatalf("rotated token: %d %q", r.code, r.body)
	}
	if produced.Load() != 2 {
		t.Fatalf("produced %d events, want 2", produced.Load())
	}
	empty := filepath.Join(t.TempDir(), "empty")
	write(t, empty, []byte(" \n"))
	for _, f := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		if _, err := TokenFunc(f, 0, quietLog()); err == nil {
			t.Errorf("token file %s accepted", filepath.Base(f))
		}
	}
}

// TestShutdownFinishesInFlight: Shutdown stops accepting connections at
// once, lets the request in flight finish with its 200, then returns.
func TestShutdownFinishesInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h, _ := NewHandler(Config{
		Producer: producerFunc(func(context.Context, ...kafka.Message) error {
			close(entered)
			<-release
			return nil
		}),
		Logger: quietLog(),
	})
	srv, err := NewServer(config.Ingest{Listen: "127.0.0.1:0", Path: "/audit"}, h, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	inFlight := make(chan int, 1)
	go func() {
		resp, _, err := postWith(&http.Client{}, "http://"+addr+"/audit", eventList(podExec))
		if err != nil {
			inFlight <- 0
			return
		}
		inFlight <- resp.StatusCode
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	// Once shutdown has begun, new connections are refused.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if code := <-inFlight; code != http.StatusOK {
		t.Fatalf("the request in flight got %d, want 200", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
