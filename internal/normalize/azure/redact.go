package azure

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// Redacted replaces every secret value in Event.Raw.
const Redacted = "[REDACTED]"

// rawRecord returns the record as Event.Raw: JSON strings at the top
// level and directly in properties parsed, secrets redacted (see the
// package doc).
func rawRecord(v *fastjson.Value) map[string]any {
	m := normalize.Map(v)
	for k, x := range m {
		x = parsed(x)
		if p, ok := x.(map[string]any); ok && (strings.EqualFold(k, "properties") || strings.EqualFold(k, "properties_d")) {
			for pk, px := range p {
				p[pk] = parsed(px)
			}
		}
		m[k] = scrub(k, x)
	}
	return m
}

// parsed returns the value a string holding a JSON object or array
// encodes, or x.
func parsed(x any) any {
	s, ok := x.(string)
	if !ok || !looksJSON(s) {
		return x
	}
	var p any
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return x
	}
	return p
}

// scrub returns x, found under key, with secrets redacted.
func scrub(key string, x any) any {
	switch t := x.(type) {
	case map[string]any:
		if sensitiveKey(key) {
			return Redacted
		}
		// A Key Vault access policy's permissions object lists operation
		// names under "keys", "secrets" and "certificates": names, not
		// secrets, so those keys do not redact (strings are still scrubbed).
		names := strings.EqualFold(key, "permissions")
		for k, y := range t {
			if names {
				t[k] = scrub("", y)
				continue
			}
			t[k] = scrub(k, y)
		}
		return t
	case []any:
		if sensitiveKey(key) {
			return Redacted
		}
		for i, y := range t {
			t[i] = scrub("", y)
		}
		return t
	case string:
		if sensitiveKey(key) && t != "" {
			return Redacted
		}
		return scrubString(t)
	case float64:
		if sensitiveKey(key) {
			return Redacted
		}
	}
	// Booleans (disablePasswordAuthentication) and nulls say nothing secret.
	return x
}

func looksJSON(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= 2 && (s[0] == '{' && s[len(s)-1] == '}' || s[0] == '[' && s[len(s)-1] == ']')
}

// sensitiveWords are key fragments that name a secret value.
var sensitiveWords = []string{
	"password", "passwd", "secret", "token", "connectionstring", "credential", "protectedsettings",
	"privatekey", "accesskey", "accountkey", "apikey", "sharedaccesskey", "saskey", "sasurl", "sasuri",
	"primarykey", "secondarykey", "masterkey", "storagekey", "authkey", "clientkey", "signingkey",
}

// stems are what every sensitive word contains: a key without one of
// them is not sensitive, which settles most keys quickly.
var stems = []string{"pass", "secret", "token", "key", "credential", "connectionstring", "protectedsettings", "sas"}

// harmlessSuffixes end keys that only name, identify or describe a secret.
var harmlessSuffixes = []string{
	"type", "id", "ids", "identifier", "name", "names", "count", "version", "policy", "policies",
	"enabled", "expiration", "expiry", "expireson", "issuer", "length", "source",
}

// sensitiveKey reports whether the value of key is a secret: a password,
// secret, token, connection string, credential, access key, Key Vault
// extension settings, or the opaque token claims aio and rh.
func sensitiveKey(key string) bool {
	var buf [80]byte
	if key == "" || len(key) > len(buf) {
		return false
	}
	for i := range len(key) {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	k := buf[:len(key)]
	switch string(k) {
	case "aio", "rh", "key", "keys", "sig", "signature":
		return true
	}
	stem := false
	for _, w := range stems {
		if bytes.Contains(k, []byte(w)) {
			stem = true
			break
		}
	}
	if !stem {
		return false
	}
	hit := false
	for _, w := range sensitiveWords {
		if bytes.Contains(k, []byte(w)) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	for _, s := range harmlessSuffixes {
		if bytes.HasSuffix(k, []byte(s)) {
			return false
		}
	}
	return true
}

var (
	// key=value secrets in connection strings, SAS URLs and command lines.
	kvSecret = regexp.MustCompile(`(?i)\b(accountkey|sharedaccesskey|sharedaccesssignature|password|passwd|pwd|secret|client_secret|clientsecret|access_token|refresh_token|token|sig|apikey|api_key)=([^;&\s"',]+)`)
	// bearer tokens in header dumps.
	bearer = regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/-]+=*`)
	// JSON web tokens.
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// "password":"…" inside a string that holds (possibly escaped) JSON.
	jsonSecret = regexp.MustCompile(`(?i)("\w*(?:password|secret|token|connectionstring|accountkey|accesskey|sharedaccesskey)\w*\\?"\s*:\s*\\?")[^"\\]+`)
)

// secretNames are the names kvSecret redacts after "name=".
var secretNames = []string{"accountkey", "sharedaccesskey", "sharedaccesssignature", "password", "passwd", "pwd",
	"secret", "client_secret", "clientsecret", "access_token", "refresh_token", "token", "sig", "apikey", "api_key"}

// scrubString redacts secrets written inside a string. Cheap checks
// decide whether a regular expression needs to run at all.
func scrubString(s string) string {
	if strings.Contains(s, "\":") && hasSecretWord(s) {
		s = jsonSecret.ReplaceAllString(s, "${1}"+Redacted)
	}
	if kvCandidate(s) {
		s = kvSecret.ReplaceAllString(s, "${1}="+Redacted)
	}
	if containsFold(s, "bearer") {
		s = bearer.ReplaceAllString(s, "Bearer "+Redacted)
	}
	if strings.Contains(s, "eyJ") {
		s = jwt.ReplaceAllString(s, Redacted)
	}
	return s
}

// kvCandidate reports whether some "=" in s follows a secret's name.
func kvCandidate(s string) bool {
	for i := strings.IndexByte(s, '='); i >= 0; {
		before := s[max(0, i-len("sharedaccesssignature")):i]
		for _, n := range secretNames {
			if hasSuffixFold(before, n) {
				return true
			}
		}
		j := strings.IndexByte(s[i+1:], '=')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func hasSecretWord(s string) bool {
	for _, w := range []string{"password", "secret", "token", "connectionstring", "accountkey", "accesskey", "sharedaccesskey"} {
		if containsFold(s, w) {
			return true
		}
	}
	return false
}
