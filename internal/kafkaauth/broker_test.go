package kafkaauth

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/testpki"
)

// TestTLSAndSASLAgainstABroker produces and consumes through a
// Kafka-protocol broker (kfake over TCP) that requires TLS and SASL, with
// each mechanism Vigia supports, using the dialer and transport Build
// makes from the config; a wrong password and an untrusted CA fail.
func TestTLSAndSASLAgainstABroker(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.New(t, "kafka test CA")
	srv := ca.Issue(t, "broker", true)
	caFile := testpki.Write(t, dir, "ca.pem", ca.PEM)
	otherCA := testpki.Write(t, dir, "other.pem", testpki.New(t, "other").PEM)
	const password = "kafka-pw-51c0ffee"
	t.Setenv("VIGIA_TEST_KAFKA_PASSWORD", password)
	t.Setenv("VIGIA_TEST_KAFKA_WRONG", "wrong-password")

	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "vigia", password),
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{srv.TLS(t)}, MinVersion: tls.VersionTLS12}),
				kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			brokers := c.ListenAddrs()
			k := func(env, caPath string) config.Kafka {
				return config.Kafka{Brokers: brokers, TLS: &config.KafkaTLS{CAFile: caPath},
					SASL: &config.KafkaSASL{Mechanism: mech, Username: "vigia", PasswordEnv: env}}
			}

			d, tr, err := Build(k("VIGIA_TEST_KAFKA_PASSWORD", caFile))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "t", Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
			defer w.Close()
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("hello over " + mech)}); err != nil {
				t.Fatalf("produce: %v", err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "t", Partition: 0, Dialer: d, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			m, err := r.ReadMessage(ctx)
			if err != nil || string(m.Value) != "hello over "+mech {
				t.Fatalf("consume: %q %v", m.Value, err)
			}

			for name, cfg := range map[string]config.Kafka{
				"wrong password": k("VIGIA_TEST_KAFKA_WRONG", caFile),
				"untrusted CA":   k("VIGIA_TEST_KAFKA_PASSWORD", otherCA),
			} {
				d, _, err := Build(cfg)
				if err != nil {
					t.Fatal(err)
				}
				dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
				conn, err := d.DialContext(dctx, "tcp", brokers[0])
				dcancel()
				if err == nil {
					conn.Close()
					t.Errorf("%s: connected", name)
					continue
				}
				if name == "wrong password" && !strings.Contains(err.Error(), "SASL Authentication") {
					t.Errorf("%s: %v, want an authentication failure", name, err)
				}
				if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "wrong-password") {
					t.Errorf("%s: the error carries the password: %v", name, err)
				}
				if name == "untrusted CA" && !errors.As(err, new(*tls.CertificateVerificationError)) && !strings.Contains(err.Error(), "certificate") {
					t.Errorf("%s: %v, want a certificate error", name, err)
				}
			}
		})
	}
}
