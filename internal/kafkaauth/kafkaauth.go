// Package kafkaauth builds kafka-go's dialer (for the consumer) and
// transport (for writers) from the kafka.tls and kafka.sasl settings.
package kafkaauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/secret"
)

// Build returns the dialer and transport for k; both nil when k asks for
// neither TLS nor SASL (kafka-go's defaults apply).
func Build(k config.Kafka) (*kafka.Dialer, *kafka.Transport, error) {
	if k.TLS == nil && k.SASL == nil {
		return nil, nil, nil
	}
	var tc *tls.Config
	if k.TLS != nil {
		var err error
		if tc, err = tlsConfig(k.TLS); err != nil {
			return nil, nil, fmt.Errorf("kafka.tls: %w", err)
		}
	}
	var mech sasl.Mechanism
	if k.SASL != nil {
		var err error
		if mech, err = mechanism(k.SASL); err != nil {
			return nil, nil, fmt.Errorf("kafka.sasl: %w", err)
		}
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tc, SASLMechanism: mech}
	t := &kafka.Transport{TLS: tc, SASL: mech, DialTimeout: 10 * time.Second}
	return d, t, nil
}

func tlsConfig(c *config.KafkaTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func mechanism(s *config.KafkaSASL) (sasl.Mechanism, error) {
	if s.PasswordEnv == "" && s.PasswordFile == "" {
		return nil, errors.New("password_env or password_file is required")
	}
	password, err := secret.Read(s.PasswordEnv, s.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, s.Username, password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, s.Username, password)
	}
	return nil, fmt.Errorf("unknown mechanism %q", s.Mechanism)
}
