package containerlog

import "strings"

// lastApplied is the annotation kubectl apply writes: the whole object as
// last applied, environment values included. Dropped from raw.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// redactRaw redacts a record in place and returns it: the message key
// gets the redacted (and reassembled) message, values under keys named
// like secrets are replaced whole, every other string goes through Redact.
func redactRaw(m map[string]any, msgKey, msg string) map[string]any {
	redactMap(m)
	if msgKey != "" {
		if _, isMap := m[msgKey].(map[string]any); !isMap || msgKey != "jsonPayload" {
			m[msgKey] = msg
		}
	}
	return m
}

func redactMap(m map[string]any) {
	for k, v := range m {
		if k == lastApplied {
			delete(m, k)
			continue
		}
		if rawSecretName(k) {
			if v != nil && v != "" {
				m[k] = Redacted
			}
			continue
		}
		m[k] = redactAny(v)
	}
}

func redactAny(v any) any {
	switch t := v.(type) {
	case string:
		return Redact(t)
	case map[string]any:
		redactMap(t)
	case []any:
		for i := range t {
			t[i] = redactAny(t[i])
		}
	}
	return v
}

// rawSecretName reports whether a record key names a secret: the
// key=value names, and Authorization headers.
func rawSecretName(k string) bool {
	return secretName(k) || strings.Contains(strings.ToLower(k), "authorization")
}
