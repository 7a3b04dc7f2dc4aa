package config

import "fmt"

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	// CAFile verifies the brokers' certificates; default: system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile present a client certificate (mTLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the brokers' certificates.
	ServerName string `yaml:"server_name"`
}

// KafkaSASL configures SASL authentication. Azure Event Hubs' Kafka
// endpoint takes mechanism PLAIN, username "$ConnectionString" and the
// connection string as the password, over TLS on port 9093.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Required.
	Mechanism string `yaml:"mechanism"`
	// Username. Required.
	Username string `yaml:"username"`
	// PasswordEnv and PasswordFile say where the password is; one is
	// required, it is never written in the config.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

func (k *Kafka) validateSecurity() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if t := k.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls.cert_file", "cert_file and key_file go together")
	}
	if s := k.SASL; s != nil {
		switch s.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			bad("kafka.sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
		}
		if s.Username == "" {
			bad("kafka.sasl.username", "is required")
		}
		if (s.PasswordEnv == "") == (s.PasswordFile == "") {
			bad("kafka.sasl.password_env", "set exactly one of password_env and password_file")
		}
		if k.TLS == nil {
			bad("kafka.sasl", "SASL sends credentials; set kafka.tls too (an empty tls: {} uses the system roots)")
		}
	}
	return errs
}
