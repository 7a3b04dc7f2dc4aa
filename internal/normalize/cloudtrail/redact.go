package cloudtrail

import (
	"github.com/vigia-dev/vigia/internal/normalize"
)

// secretKeys are the keys whose values are replaced in raw, compared in
// lower case, wherever they occur under the redacted sections.
var secretKeys = map[string]bool{
	"secretaccesskey":    true, // STS credentials, CreateAccessKey, SSO GetRoleCredentials
	"secretkey":          true, // Cognito GetCredentialsForIdentity
	"sessiontoken":       true,
	"password":           true,
	"newpassword":        true,
	"oldpassword":        true,
	"masteruserpassword": true, // RDS
	"privatekey":         true, // IAM server certificates, ACM ImportCertificate
	"userdata":           true, // EC2 user data
	"secretstring":       true, // Secrets Manager
	"secretbinary":       true,
	"webidentitytoken":   true,
	"samlassertion":      true,
	"clientsecret":       true, // SSO OIDC, Cognito app clients
	"accesstoken":        true,
	"refreshtoken":       true,
	"idtoken":            true,
	"authorizationtoken": true, // ECR GetAuthorizationToken
	"tokenvalue":         true, // SSM StartSession
}

// redactedSections are the record's top-level keys searched for secrets.
var redactedSections = []string{"requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"}

// maxRedactDepth bounds the walk; deeper values are dropped whole, since
// nothing at that depth can be checked.
const maxRedactDepth = 32

// redact replaces secret values in a raw record.
func redact(m map[string]any) {
	for _, k := range redactedSections {
		if v, ok := m[k]; ok {
			m[k] = redactValue(v, 0)
		}
	}
}

// isSecretKey reports whether k is one of secretKeys, in any case.
func isSecretKey(k string) bool {
	var buf [24]byte
	if len(k) > len(buf) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return secretKeys[string(buf[:len(k)])]
}

func isEnvironment(k string) bool {
	return k == "environment" || k == "Environment"
}

// redactEnvironment replaces the values of environment variables, which
// often hold secrets: a Lambda function's {"variables": {NAME: VALUE}} and
// an ECS container definition's [{"name": NAME, "value": VALUE}].
func redactEnvironment(v any) {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range []string{"variables", "Variables"} {
			vars, ok := t[k].(map[string]any)
			if !ok {
				continue
			}
			for name, val := range vars {
				if val != nil {
					vars[name] = normalize.Redacted
				}
			}
		}
	case []any:
		for _, it := range t {
			if m, ok := it.(map[string]any); ok {
				for _, k := range []string{"value", "Value"} {
					if m[k] != nil {
						m[k] = normalize.Redacted
					}
				}
			}
		}
	}
}

func redactValue(v any, depth int) any {
	if depth > maxRedactDepth {
		return normalize.Redacted
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x != nil && isSecretKey(k) {
				t[k] = normalize.Redacted
				continue
			}
			if len(k) == len("environment") && isEnvironment(k) {
				redactEnvironment(x)
			}
			t[k] = redactValue(x, depth+1)
		}
	case []any:
		for i, x := range t {
			t[i] = redactValue(x, depth+1)
		}
	}
	return v
}
