package config

// RedisTLS configures TLS to Redis. Verification is on unless
// insecure_skip_verify says otherwise.
type RedisTLS struct {
	// CAFile verifies the server's certificate. Default: system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile present a client certificate (Redis
	// `tls-auth-clients yes`).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server's certificate.
	// Default: the host of addr.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: encrypted but
	// open to a man in the middle; for tests only. Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}
