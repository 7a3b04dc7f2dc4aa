package containerlog

import (
	"regexp"
	"strings"
)

// Redacted replaces the secret part of a log line.
const Redacted = "[REDACTED]"

// An anchor is one self-describing secret shape. The line is searched
// for its needles (plain substring searches, fast); at each hit the
// regexp, anchored with ^, runs from back bytes before the needle. The
// regexp's group 1 is kept, group 2 is the secret, group 3 (optional)
// is kept. Anchoring keeps the regexp's cost to the length of the match
// instead of the line.
type anchor struct {
	needles []string
	back    int
	re      *regexp.Regexp
}

// anchors run in this order: whole blocks and self-describing tokens
// first, so a later shape never sees half of a secret an earlier one was
// meant to remove.
var anchors = []anchor{
	{
		// PEM private keys (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8), also
		// when the END line was cut off (a truncated line).
		needles: []string{"-----BEGIN"},
		re:      regexp.MustCompile(`^(-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----)([\s\S]*?)(-----END[A-Z0-9 ]*PRIVATE KEY-----|$)`),
	},
	{
		// JSON Web Tokens: a base64url header starting {" (eyJ), payload
		// and signature (empty for alg none).
		// The needle skips the common "e" for a faster search.
		needles: []string{"yJ"},
		back:    1,
		re:      regexp.MustCompile(`^()(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)`),
	},
	{
		// Authorization and Proxy-Authorization headers in HTTP dumps, Go
		// maps and JSON: the scheme is kept, the credentials dropped.
		// The needle skips the first letter to find both cases of it.
		needles: []string{"uthorization", "UTHORIZATION"},
		back:    1,
		re:      regexp.MustCompile(`(?i)^(authorization\\?["']?\s*[:=]\s*\[?\\?["']?(?:(?:bearer|basic|digest|token|negotiate|ntlm|aws4-hmac-sha256|apikey|sso-key)\s+)?)([^\s"'\\,;\]}]+)`),
	},
	{
		// Bearer tokens anywhere else ("retrying with bearer abc...").
		needles: []string{"Bearer", "bearer", "BEARER"},
		re:      regexp.MustCompile(`(?i)^(bearer\s+)([A-Za-z0-9\-._~+/]{12,}=*)`),
	},
	{
		// Passwords in URLs: scheme://user:password@host.
		needles: []string{"://"},
		re:      regexp.MustCompile(`^(://[^/\s:@"']*:)([^/\s@"']+)(@)`),
	},
}

// Redact returns s with credentials replaced by [REDACTED]:
//
//   - PEM private key blocks (the BEGIN and END lines are kept);
//   - JSON Web Tokens;
//   - the credentials of Authorization headers (the scheme is kept);
//   - bearer tokens;
//   - passwords in URLs (scheme://user:[REDACTED]@host);
//   - the value of a key named like a secret (password, passwd, pwd,
//     secret, token, api key, access key, private key, credential), "="
//     or ":" separated, in plain text, JSON or JSON inside a JSON string;
//     a quoted value is redacted whole and keeps its quotes.
//
// References to secrets are kept: $(command), ${VAR}, $VAR in upper case
// and {{ template }} values.
//
// A line with none of these costs a few substring searches and one scan
// for ":" and "=", and allocates nothing. Redact is idempotent.
func Redact(s string) string {
	for i := range anchors {
		s = anchors[i].redact(s)
	}
	return redactKeyValues(s)
}

func (a *anchor) redact(s string) string {
	var b strings.Builder
	last := 0
	for _, needle := range a.needles {
		for from := 0; from < len(s); {
			j := strings.Index(s[from:], needle)
			if j < 0 {
				break
			}
			hit := from + j
			from = hit + len(needle)
			start := hit - a.back
			if start < last {
				continue
			}
			m := a.re.FindStringSubmatchIndex(s[start:])
			if m == nil {
				continue
			}
			vs, ve := start+m[4], start+m[5]
			if replaceValue(&b, s, last, vs, ve) {
				last = ve
			}
			if end := start + m[1]; end > from {
				from = end
			}
		}
		if last > 0 {
			// Rewrite before searching the next needle, whose hits are
			// positions in the rewritten line.
			b.WriteString(s[last:])
			s, last = b.String(), 0
			b.Reset()
		}
	}
	return s
}

// replaceValue writes s[last:vs] and the redacted form of the value
// s[vs:ve] to b, unless the value is empty or already redacted: then it
// writes nothing and returns false.
func replaceValue(b *strings.Builder, s string, last, vs, ve int) bool {
	val := s[vs:ve]
	inner := strings.Trim(val, `\"'`)
	if inner == "" || strings.HasPrefix(inner, Redacted[:len(Redacted)-1]) || isReference(inner) {
		return false
	}
	if b.Len() == 0 {
		b.Grow(len(s))
	}
	b.WriteString(s[last:vs])
	switch {
	case strings.HasPrefix(val, `\"`):
		b.WriteString(`\"` + Redacted + `\"`)
	case val[0] == '"' || val[0] == '\'':
		b.WriteByte(val[0])
		b.WriteString(Redacted)
		b.WriteByte(val[0])
	default:
		b.WriteString(Redacted)
	}
	return true
}

// isReference reports whether a value refers to a secret instead of
// holding it: a shell command substitution $(...), a variable ${...} or
// $UPPER_CASE_NAME, or a template {{ ... }}. Keeping them keeps what a
// command did readable ("Bearer $(cat .../token)").
func isReference(v string) bool {
	switch {
	case strings.HasPrefix(v, "$(") || strings.HasPrefix(v, "${") || strings.HasPrefix(v, "{{"):
		return true
	case len(v) > 1 && v[0] == '$':
		for i := 1; i < len(v); i++ {
			if c := v[i]; !('A' <= c && c <= 'Z' || c == '_' || i > 1 && '0' <= c && c <= '9') {
				return false
			}
		}
		return true
	}
	return false
}

// redactKeyValues replaces the values of keys named like secrets. It
// visits every ":" and "=", reads the key before it (skipping spaces, a
// quote and a backslash) and, when the key names a secret, the value
// after it: a "double", 'single' or \"escaped\" quoted string, or a run
// of characters up to a space, quote, &, comma, semicolon or closing
// bracket.
func redactKeyValues(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.IndexAny(s[i:], ":=")
		if j < 0 {
			break
		}
		sep := i + j
		i = sep + 1
		if !secretName(keyBefore(s, sep)) {
			continue
		}
		vs, ve := valueAfter(s, sep+1)
		if vs < last || vs == ve {
			continue
		}
		if replaceValue(&b, s, last, vs, ve) {
			last = ve
		}
		i = max(i, ve)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// keyBefore returns the key ending before s[sep]: [A-Za-z0-9_.-]+, after
// skipping spaces, one quote and one backslash.
func keyBefore(s string, sep int) string {
	k := sep
	for k > 0 && (s[k-1] == ' ' || s[k-1] == '\t') {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		k--
	}
	if k > 0 && s[k-1] == '\\' {
		k--
	}
	end := k
	for k > 0 && end-k < 128 && isKeyByte(s[k-1]) {
		k--
	}
	return s[k:end]
}

func isKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// valueAfter returns the bounds of the value starting at i (after the
// separator and any spaces).
func valueAfter(s string, i int) (int, int) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) {
		return i, i
	}
	switch {
	case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
		if k := strings.Index(s[i+2:], `\"`); k >= 0 {
			return i, i + 2 + k + 2
		}
		return i, len(s)
	case s[i] == '"':
		for k := i + 1; k < len(s); k++ {
			switch s[k] {
			case '\\':
				k++
			case '"':
				return i, k + 1
			}
		}
		return i, len(s)
	case s[i] == '\'':
		if k := strings.IndexByte(s[i+1:], '\''); k >= 0 {
			return i, i + 1 + k + 1
		}
		return i, len(s)
	}
	k := i
	for k < len(s) && !strings.ContainsRune(" \t\r\n\"'&,;\\)]}", rune(s[k])) {
		k++
	}
	return i, k
}

// secretName reports whether a key names a secret ("DB_PASSWORD",
// "x-api-key", "aws_secret_access_key", "auth_token"): one pass over
// the key, comparing the fragments only where their first letter is.
func secretName(k string) bool {
	if len(k) < 3 {
		return false
	}
	for i := 0; i < len(k); i++ {
		rest := k[i:]
		switch k[i] | 0x20 { // ASCII lower case for letters
		case 'p':
			if hasPrefixFold(rest, "passw") || hasPrefixFold(rest, "pwd") || hasPrefixFold(rest, "private_key") || hasPrefixFold(rest, "privatekey") || hasPrefixFold(rest, "private-key") {
				return true
			}
		case 's':
			if hasPrefixFold(rest, "secret") {
				return true
			}
		case 't':
			if hasPrefixFold(rest, "token") {
				return true
			}
		case 'a':
			if hasPrefixFold(rest, "apikey") || hasPrefixFold(rest, "api_key") || hasPrefixFold(rest, "api-key") ||
				hasPrefixFold(rest, "access_key") || hasPrefixFold(rest, "accesskey") || hasPrefixFold(rest, "access-key") {
				return true
			}
		case 'c':
			if hasPrefixFold(rest, "credential") {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case; prefix is lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
