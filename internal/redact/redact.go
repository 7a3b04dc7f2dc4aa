// Package redact removes credentials from free text before it reaches an
// alert, a chat message, a ticket or a log: Authorization headers, bearer
// and basic credentials, passwords and API keys in key=value or JSON form,
// AWS secret keys and session tokens, private key blocks, JWTs and the
// token formats of common SaaS (Slack, GitHub, GitLab, Google API keys).
//
// It is pattern-based and errs on the side of redacting: a false positive
// costs a few characters of context, a false negative leaks a credential.
// Cheap substring triggers guard every regular expression, so clean text —
// most of it — costs a few scans.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "[REDACTED]"

type pattern struct {
	// triggers: the pattern runs only when the lower-cased text contains
	// one of them.
	triggers []string
	re       *regexp.Regexp
	// keep is the number of leading submatches kept (the key and the
	// separator); the rest of the match is masked.
	keep int
}

var patterns = []pattern{
	// -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY-----
	{[]string{"private key"}, regexp.MustCompile(`(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`), 1},
	// Authorization: Bearer x / Basic x / token x; Proxy-Authorization too.
	{[]string{"authorization"}, regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|negotiate|digest|aws4-hmac-sha256)?\s*)[^\s"',;]+`), 1},
	// Bearer tokens anywhere.
	{[]string{"bearer"}, regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*`), 1},
	// Credentials in URLs: scheme://user:password@host
	{[]string{"://"}, regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(@)`), 2},
	// key=value, key: value and "key": "value" for secret-looking keys.
	{[]string{"pass", "pwd", "secret", "token", "key", "credential", "auth"}, regexp.MustCompile(
		`(?i)((?:[a-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth)[a-z0-9_.-]*)["']?\s*(?:=|:)\s*["']?)([^\s"',;&}]{3,})`), 1},
	// AWS access key ids are identifiers; secret keys (40 chars of base64)
	// following one are not.
	{[]string{"akia", "asia"}, regexp.MustCompile(`((?:AKIA|ASIA)[A-Z0-9]{16}[\s:,"'/|]+)[A-Za-z0-9/+]{40}`), 1},
	// JWTs (service-account tokens, OIDC id tokens).
	{[]string{"eyj"}, regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`), 0},
	// Slack, GitHub, GitLab, Google API key and npm token formats.
	{[]string{"xox", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "aiza", "npm_"}, regexp.MustCompile(
		`(?:xox[abposr]-[A-Za-z0-9-]{10,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})`), 0},
}

// String returns s with every credential it recognizes replaced by Mask.
func String(s string) string {
	if len(s) < 8 {
		return s
	}
	for i := range patterns {
		p := &patterns[i]
		hit := false
		for _, t := range p.triggers {
			if containsFold(s, t) {
				hit = true
				break
			}
		}
		if !hit {
			continue
		}
		s = p.re.ReplaceAllStringFunc(s, func(m string) string { return mask(p, m) })
	}
	return s
}

// containsFold reports whether s contains the lower-case ASCII needle t,
// ignoring ASCII case, without allocating.
func containsFold(s, t string) bool {
	n := len(t)
	if n == 0 {
		return true
	}
	first := t[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if c|0x20 != first && c != first {
			continue
		}
		j := 1
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != t[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

func mask(p *pattern, m string) string {
	if p.keep == 0 {
		return Mask
	}
	sub := p.re.FindStringSubmatch(m)
	var b strings.Builder
	for i := 1; i <= p.keep && i < len(sub); i++ {
		if i == 2 && p.keep == 2 {
			b.WriteString(Mask)
		}
		b.WriteString(sub[i])
	}
	if p.keep == 1 {
		b.WriteString(Mask)
	}
	// Keep a JSON string's closing quote balanced: the value pattern
	// stops before it.
	return b.String()
}

// Strings redacts every element of ss in place and returns it.
func Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = String(s)
	}
	return ss
}

// secretKeys are map keys whose values are always credentials.
var secretKeys = []string{"password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
	"accesskey", "access_key", "secretaccesskey", "secret_access_key", "sessiontoken", "session_token",
	"privatekey", "private_key", "privatekeydata", "client_secret", "clientsecret", "credentials", "authorization",
	"connectionstring", "connection_string"}

// IsSecretKey reports whether a field named k holds a credential.
func IsSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Value redacts a decoded JSON value in place: strings under secret-looking
// keys are masked, every other string is scrubbed with String. It returns
// the value (maps and slices are changed in place).
func Value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && IsSecretKey(k) && s != "" {
				t[k] = Mask
				continue
			}
			t[k] = Value(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = Value(x)
		}
		return t
	case string:
		return String(t)
	}
	return v
}
