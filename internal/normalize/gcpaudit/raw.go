package gcpaudit

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/redact"
)

// Redacted replaces secret values in Event.Raw.
const Redacted = redact.Mask

// rawRecord returns the record for Event.Raw: in LogEntry JSON shape,
// secrets redacted — first by structure (whole subtrees under secret keys,
// Secret Manager payloads), then by redact.Value's key and credential
// patterns over every string that can hold free text.
func rawRecord(v *fastjson.Value, bq bool) map[string]any {
	m := normalize.Map(v)
	if bq {
		fromBigQuery(m)
	}
	redactSubtrees(m, "", false)
	for k, x := range m {
		switch k {
		case "protoPayload":
			pp, _ := x.(map[string]any)
			for field, y := range pp {
				if !structured[field] {
					pp[field] = redact.Value(y)
				}
			}
		case "labels", "jsonPayload", "textPayload", "httpRequest":
			m[k] = redact.Value(x)
		}
	}
	return m
}

// structured are the AuditLog fields made only of names, e-mails and
// resource paths: the pattern scrub skips them, as it is the costliest part
// of building Raw. Everything else in protoPayload (request, response,
// metadata, serviceData, status, requestMetadata, ...) is scrubbed.
var structured = map[string]bool{
	"@type": true, "serviceName": true, "methodName": true, "resourceName": true,
	"authenticationInfo": true, "authorizationInfo": true, "resourceLocation": true, "numResponseItems": true,
}

// bqServiceData maps the BigQuery service-data columns to the @type of the
// serviceData they hold.
var bqServiceData = map[string]string{
	"servicedata_v1_iam":       "type.googleapis.com/google.iam.v1.logging.AuditData",
	"servicedata_v1_iam_admin": "type.googleapis.com/google.iam.admin.v1.AuditData",
	"servicedata_v1_bigquery":  "type.googleapis.com/google.cloud.bigquery.logging.v1.AuditData",
}

// bqJSON maps the BigQuery JSON-string columns to their LogEntry field.
var bqJSON = map[string]string{
	"requestJson":  "request",
	"responseJson": "response",
	"metadataJson": "metadata",
}

// fromBigQuery rewrites a BigQuery-shaped record into LogEntry JSON shape,
// in place.
func fromBigQuery(m map[string]any) {
	dropNulls(m)
	pp, _ := m["protopayload_auditlog"].(map[string]any)
	delete(m, "protopayload_auditlog")
	if pp == nil {
		return
	}
	pp["@type"] = AuditLogType
	for col, field := range bqJSON {
		s, ok := pp[col].(string)
		if !ok {
			continue
		}
		delete(pp, col)
		if _, set := pp[field]; set {
			continue // the newer JSON-typed column is already there
		}
		var p fastjson.Parser
		if x, err := p.Parse(s); err == nil {
			pp[field] = normalize.Any(x)
		} else {
			// It cannot be redacted key by key: drop it whole.
			pp[field] = Redacted
		}
	}
	for col, typ := range bqServiceData {
		sd, ok := pp[col].(map[string]any)
		if !ok {
			continue
		}
		delete(pp, col)
		if _, set := pp["serviceData"]; !set {
			sd["@type"] = typ
			pp["serviceData"] = sd
		}
	}
	m["protoPayload"] = pp
}

// dropNulls removes null values from maps, recursively.
func dropNulls(x any) {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			if v == nil {
				delete(t, k)
				continue
			}
			dropNulls(v)
		}
	case []any:
		for _, v := range t {
			dropNulls(v)
		}
	}
}

// secretWords are the key fragments (lower case) that name a secret value.
var secretWords = []string{
	"privatekey", "password", "passwd", "secret", "token", "credential",
	"apikey", "keystring", "cookie",
}

// SecretKey reports whether a key names a secret value: an Authorization
// header, or a key containing one of the secret words that is not an
// identifier, name or type (secretId, tokenType, privateKeyType).
func SecretKey(k string) bool {
	l := strings.ToLower(k)
	if l == "authorization" || l == "proxy-authorization" {
		return true // HTTP headers; not the AuditLog's authorizationInfo
	}
	for _, w := range secretWords {
		if strings.Contains(l, w) {
			for _, suf := range [...]string{"id", "ids", "name", "names", "type", "types"} {
				if strings.HasSuffix(l, suf) && !strings.HasSuffix(l, w) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// redactSubtrees replaces, in place, every string under a secret key, and the
// data of a Secret Manager payload. parent is the key x is found under;
// hot is true below a secret key.
func redactSubtrees(x any, parent string, hot bool) {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			h := hot || SecretKey(k) || (k == "data" && parent == "payload")
			if s, ok := v.(string); ok {
				if h && s != "" {
					t[k] = Redacted
				}
				continue
			}
			redactSubtrees(v, k, h)
		}
	case []any:
		for i, v := range t {
			if s, ok := v.(string); ok {
				if hot && s != "" {
					t[i] = Redacted
				}
				continue
			}
			redactSubtrees(v, parent, hot)
		}
	}
}
