package azure

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// secrets are the secret values planted in the fixtures.
var secrets = []string{
	"c2VjcmV0LWtleS1kby1ub3QtbGVhaw==",                 // storage account key (connection string and protectedSettings)
	"Winter2024!Batch",                                 // adminPassword
	"QmFkU2lnbmF0dXJlVmFsdWU",                          // SAS signature in a file URI
	"AWQAm/8WAAAAx3Jq0dQk2Rk4f1nV7pC0mZr9yS1cT2uV3wX4", // aio claim
	"0.AVYA9m8d0c8sMEyS7fQ3.",                          // rh claim
}

func TestRawRedacted(t *testing.T) {
	for _, f := range []string{"eventhubs_activity.json", "eventhubs_keyvault.json", "eventhubs_entra.json", "rest_activity.json", "la_rows.jsonl"} {
		evs, errs := decodeFixture(t, f, normalize.Options{Raw: true})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for i, ev := range evs {
			if ev.RawMap() == nil {
				t.Fatalf("%s event %d: no Raw with Options.RawMap()", f, i)
			}
			raw, _ := json.Marshal(ev.RawMap())
			norm, _ := json.Marshal(ev)
			for _, s := range secrets {
				if strings.Contains(string(raw), s) || strings.Contains(string(norm), s) {
					t.Errorf("%s event %d leaks %q", f, i, s)
				}
			}
		}
	}
}

func TestRawShape(t *testing.T) {
	evs, _ := decodeFixture(t, "eventhubs_activity.json", normalize.Options{Raw: true})
	props := func(i int) map[string]any { return evs[i].RawMap()["properties"].(map[string]any) }

	// requestbody is parsed so rules can read it.
	body, ok := props(0)["requestbody"].(map[string]any)
	if !ok {
		t.Fatalf("requestbody is %T, want an object", props(0)["requestbody"])
	}
	rd, _ := body["Properties"].(map[string]any)["RoleDefinitionId"].(string)
	if !strings.HasSuffix(rd, "/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635") {
		t.Errorf("RoleDefinitionId = %q", rd)
	}
	if msg, ok := props(3)["statusMessage"].(map[string]any); !ok || msg["error"].(map[string]any)["code"] != "AuthorizationFailed" {
		t.Errorf("statusMessage = %#v", props(3)["statusMessage"])
	}

	// Secrets go, their names and references stay.
	ext := props(4)["requestbody"].(map[string]any)["properties"].(map[string]any)
	for k, want := range map[string]any{
		"adminPassword":                 Redacted,
		"protectedSettings":             Redacted,
		"disablePasswordAuthentication": false,
		"keyVaultSecretId":              "https://kv-batch.vault.azure.net/secrets/vm-admin/1a2b3c",
		"publisher":                     "Microsoft.Azure.Extensions",
	} {
		if ext[k] != want {
			t.Errorf("requestbody.properties.%s = %#v, want %#v", k, ext[k], want)
		}
	}
	cmd := ext["settings"].(map[string]any)["commandToExecute"].(string)
	if want := "AccountName=stbatch;AccountKey=[REDACTED];EndpointSuffix"; !strings.Contains(cmd, want) {
		t.Errorf("commandToExecute = %q, want it to contain %q", cmd, want)
	}
	claims := evs[0].RawMap()["identity"].(map[string]any)["claims"].(map[string]any)
	if claims["aio"] != Redacted || claims["rh"] != Redacted || claims["uti"] != "Qm9yYTJjZm9vYmFyMDE" {
		t.Errorf("claims aio=%v rh=%v uti=%v", claims["aio"], claims["rh"], claims["uti"])
	}

	// Log Analytics JSON columns are parsed; Entra's own JSON-in-strings
	// deeper down (modifiedProperties values) stay as Entra wrote them.
	la, _ := decodeFixture(t, "la_rows.jsonl", normalize.Options{Raw: true})
	if _, ok := la[0].RawMap()["Claims"].(map[string]any); !ok {
		t.Errorf("Claims is %T", la[0].RawMap()["Claims"])
	}
	ib, ok := la[1].RawMap()["InitiatedBy"].(map[string]any)
	if !ok || ib["user"].(map[string]any)["userPrincipalName"] != "joao.lima@contoso.com" {
		t.Errorf("InitiatedBy = %#v", la[1].RawMap()["InitiatedBy"])
	}
	tr := la[1].RawMap()["TargetResources"].([]any)[0].(map[string]any)
	nv := tr["modifiedProperties"].([]any)[0].(map[string]any)["newValue"]
	if s, ok := nv.(string); !ok || !strings.HasPrefix(s, `["[KeyIdentifier=`) {
		t.Errorf("newValue = %#v, want the string as written", nv)
	}
}

// TestAccessPolicyPermissionsKept: the permission lists of a Key Vault
// access policy (keys, secrets, certificates) are operation names that
// rules read, while a secret-named key elsewhere in the body still goes.
func TestAccessPolicyPermissionsKept(t *testing.T) {
	body := `{"properties":{"accessPolicies":[{"objectId":"o","permissions":{"secrets":["get","list"],"keys":["decrypt"],"certificates":["get"]}}],"clientSecret":"hunter2"}}`
	got := scrub("properties", map[string]any{"requestbody": parsed(body)}).(map[string]any)
	props := got["requestbody"].(map[string]any)["properties"].(map[string]any)
	perms := props["accessPolicies"].([]any)[0].(map[string]any)["permissions"].(map[string]any)
	for k, want := range map[string]string{"secrets": "[get list]", "keys": "[decrypt]", "certificates": "[get]"} {
		if s := fmt.Sprint(perms[k]); s != want {
			t.Errorf("permissions.%s = %s, want %s", k, s, want)
		}
	}
	if props["clientSecret"] != Redacted {
		t.Errorf("clientSecret = %#v, want it redacted", props["clientSecret"])
	}
	// Outside a permissions object, "keys" still redacts (storage listKeys responses).
	if got := scrub("", map[string]any{"keys": []any{map[string]any{"value": "abc"}}}).(map[string]any); got["keys"] != Redacted {
		t.Errorf("keys = %#v, want it redacted", got["keys"])
	}
}

func TestSensitiveKey(t *testing.T) {
	for k, want := range map[string]bool{
		"adminPassword": true, "password": true, "clientSecret": true, "secretText": true, "connectionString": true,
		"accessToken": true, "refresh_token": true, "storageAccountKey": true, "primaryKey": true, "keys": true, "key": true,
		"protectedSettings": true, "passwordCredentials": true, "sasUrl": true, "aio": true, "rh": true, "sharedAccessKey": true,
		"secretName": false, "keyVaultSecretId": false, "tokenIssuerType": false, "uniqueTokenIdentifier": false,
		"incomingTokenType": false, "passwordPolicies": false, "disablePasswordAuthentication": true, "keySource": false,
		"keyName": false, "uti": false, "authorization": false, "message": false, "": false, "credentialType": false,
	} {
		if got := sensitiveKey(k); got != want {
			t.Errorf("sensitiveKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestScrubString(t *testing.T) {
	for in, want := range map[string]string{
		"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc/def==;EndpointSuffix=core.windows.net": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[REDACTED];EndpointSuffix=core.windows.net",
		"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=xyz=":            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=[REDACTED]",
		"https://st.blob.core.windows.net/c/f?sv=2022-11-02&sig=abc%2Bdef&se=2024":                          "https://st.blob.core.windows.net/c/f?sv=2022-11-02&sig=[REDACTED]&se=2024",
		"Authorization: Bearer abc.def.ghi":                                                                 "Authorization: Bearer [REDACTED]",
		"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_part here":                                          "token [REDACTED] here",
		`{"name":"db","password":"hunter2"}`:                                                                `{"name":"db","password":"[REDACTED]"}`,
		`{\"adminPassword\":\"hunter2\",\"user\":\"x\"}`:                                                    `{\"adminPassword\":\"[REDACTED]\",\"user\":\"x\"}`,
		"nothing to see":                    "nothing to see",
		"https://x/?api-version=2023-01-01": "https://x/?api-version=2023-01-01",
		"methods pwd,mfa":                   "methods pwd,mfa",
	} {
		if got := scrubString(in); got != want {
			t.Errorf("scrubString(%q) = %q, want %q", in, got, want)
		}
	}
}
