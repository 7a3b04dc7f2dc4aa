package azure

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const (
	sub    = "3f2c8a1e-5b7d-4c9a-8e6f-2a1b0c9d8e7f"
	rgPay  = "/subscriptions/" + sub + "/resourceGroups/rg-payments"
	dev    = "dev.contractor@contoso.com"
	devOID = "e4b1c2d3-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
	ciApp  = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	ciSP   = "5e6f7a8b-9c0d-41e2-a3b4-c5d6e7f8a9b0"
)

var devGroups = []string{"6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b", "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"}

func azure(c event.Cloud) event.Cloud {
	c.Provider = event.ProviderAzure
	return c
}

// TestDecodeFixtures checks every field of every event of each fixture.
func TestDecodeFixtures(t *testing.T) {
	roleAssignment := rgPay + "/providers/Microsoft.Authorization/roleAssignments/7c1e5d2a-9b3f-4e8a-a6c4-1d2e3f4a5b6c"
	devActor := event.Actor{ID: devOID, Name: dev, Type: "user", Groups: devGroups, SourceIP: "203.0.113.45",
		SourceIPs: []string{"203.0.113.45"}, SessionID: "Qm9yYTJjZm9vYmFyMDE", MFA: true}
	ciActor := func(ip, uti string) event.Actor {
		return event.Actor{ID: ciSP, Name: ciApp, Type: "service_account", SourceIP: ip, SourceIPs: []string{ip}, SessionID: uti}
	}
	raTarget := event.Target{Type: "Microsoft.Authorization/roleAssignments", Name: "7c1e5d2a-9b3f-4e8a-a6c4-1d2e3f4a5b6c", ID: roleAssignment}
	tests := []struct {
		file string
		want []event.Event
		errs []string // substrings of the expected errors, in order
	}{
		{file: "eventhubs_activity.json", want: []event.Event{
			{ // the Start record of a role assignment: no event id, so the documented hash
				Time: ts("2024-05-14T13:02:11.4023184Z"), ID: "sha256:4a7bd35ecd9e2b3d82fe0ad9b2abb2dc",
				Action: "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", Outcome: "unknown", Actor: devActor, Target: raTarget,
				Cloud: azure(event.Cloud{Account: sub, Region: "global", Service: "Microsoft.Authorization"}),
			},
			{ // its Success record: same correlationId, another id
				Time: ts("2024-05-14T13:02:12.9861071Z"), ID: "sha256:0f48d03e9ae2f7b05e6b93cd76695fc5",
				Action: "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", Outcome: "success", Actor: devActor, Target: raTarget,
				Cloud: azure(event.Cloud{Account: sub, Region: "global", Service: "Microsoft.Authorization"}),
			},
			{ // a service principal deletes a vault's diagnostic setting (an extension resource)
				Time: ts("2024-05-14T13:20:45.0172231Z"), ID: "sha256:57a81cb6f78a38e5fbcaca9466b1e408",
				Action: "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE", Outcome: "success", Actor: ciActor("198.51.100.23", "ZGlhZ2RlbGV0ZTAx"),
				Target: event.Target{Type: "Microsoft.Insights/diagnosticSettings", Name: "send-to-siem",
					ID: rgPay + "/providers/Microsoft.KeyVault/vaults/kv-payments-prod/providers/Microsoft.Insights/diagnosticSettings/send-to-siem"},
				Cloud: azure(event.Cloud{Account: sub, Region: "brazilsouth", Service: "Microsoft.Insights"}),
			},
			{ // listKeys denied: the ARM error code from statusMessage
				Time: ts("2024-05-14T13:25:03.5510932Z"), ID: "sha256:aead1e6fb8dba85d62cc3e84e17f04d6",
				Action: "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", Outcome: "failure", Actor: devActor,
				Target: event.Target{Type: "Microsoft.Storage/storageAccounts", Name: "stpaymentsledger",
					ID: rgPay + "/providers/Microsoft.Storage/storageAccounts/stpaymentsledger"},
				Cloud: azure(event.Cloud{Account: sub, Region: "global", Service: "Microsoft.Storage", ErrorCode: "AuthorizationFailed"}),
			},
			{ // no entity: the upper-cased resourceId is all there is, types spelled from the table
				Time: ts("2024-05-14T15:40:00.1Z"), ID: "sha256:5e66dfcb0fb5960ee5eb7270682ef038",
				Action: "MICROSOFT.COMPUTE/VIRTUALMACHINES/EXTENSIONS/WRITE", Outcome: "unknown",
				Actor: event.Actor{ID: "f5c2d3e4-6a7b-4c8d-9e0f-1a2b3c4d5e6f", Name: "ops.batch@contoso.com", Type: "user", Groups: devGroups,
					SourceIP: "198.51.100.77", SourceIPs: []string{"198.51.100.77"}, SessionID: "YmF0Y2hleHQwMQ", MFA: true},
				Target: event.Target{Type: "Microsoft.Compute/virtualMachines/extensions", Name: "CustomScript",
					ID: "/subscriptions/" + sub + "/resourceGroups/rg-batch/providers/Microsoft.Compute/virtualMachines/vm-batch-01/extensions/CustomScript"},
				Cloud: azure(event.Cloud{Account: sub, Region: "brazilsouth", Service: "Microsoft.Compute"}),
			},
		}},
		{file: "eventhubs_keyvault.json", want: []event.Event{
			{ // a user-assigned managed identity reads a secret: client id as name
				Time: ts("2024-05-14T14:10:02.1234567Z"), ID: "sha256:a9f76f729bf92fc8f83f59fc9c4c3c58", Action: "SecretGet", Outcome: "success",
				Actor: event.Actor{ID: "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", Name: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", Type: "service_account",
					SourceIP: "10.8.2.16", SourceIPs: []string{"10.8.2.16"}, UserAgent: "azsdk-go-azsecrets/v1.1.0 (go1.22.3; linux)"},
				Target: event.Target{Type: "Microsoft.KeyVault/vaults/secrets", Name: "ledger-db-password",
					ID: "https://kv-payments-prod.vault.azure.net/secrets/ledger-db-password/6a1f0e2d3c4b5a69788796a5b4c3d2e1"},
				Cloud: azure(event.Cloud{Account: sub, Region: "brazilsouth", Service: "Microsoft.KeyVault"}),
			},
			{ // resultType Success but HTTP 403: a failure
				Time: ts("2024-05-14T14:31:48.9876543Z"), ID: "sha256:1f229fb43fb70f2a593c89605a7651aa", Action: "SecretGet", Outcome: "failure",
				Actor: event.Actor{ID: devOID, Name: dev, Type: "user", SourceIP: "203.0.113.45", SourceIPs: []string{"203.0.113.45"}, UserAgent: "AzureCLI/2.61.0"},
				Target: event.Target{Type: "Microsoft.KeyVault/vaults/secrets", Name: "ledger-db-password",
					ID: "https://kv-payments-prod.vault.azure.net/secrets/ledger-db-password"},
				Cloud: azure(event.Cloud{Account: sub, Region: "brazilsouth", Service: "Microsoft.KeyVault", ErrorCode: "Forbidden"}),
			},
		}},
		{file: "eventhubs_entra.json", want: []event.Event{
			{
				Time: ts("2024-05-15T09:14:27.5522137Z"), ID: "Directory_0f1e2d3c-4b5a-4698-8776-655443322110_K3QZ1_48211973",
				Action: "Add member to role", Outcome: "success",
				Actor: event.Actor{ID: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", Name: "it.admin@contoso.com", Type: "user", SourceIP: "192.0.2.14",
					SourceIPs: []string{"192.0.2.14"}, UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"},
				Target: event.Target{Type: "User", Name: "eve.temp@contoso.com", ID: "d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f60"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam"}),
			},
			{
				Time: ts("2024-05-15T09:31:02.1180035Z"), ID: "Directory_1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9_PQ7RX_91827364",
				Action: "Add service principal credentials", Outcome: "success",
				Actor:  event.Actor{ID: ciSP, Name: ciApp, Type: "service_account", UserAgent: "Go-http-client/1.1"},
				Target: event.Target{Type: "ServicePrincipal", Name: "payments-api-prod", ID: "6f7a8b9c-0d1e-42f3-b4c5-d6e7f8a9b0c1"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam"}),
			},
			{
				Time: ts("2024-05-15T08:02:11Z"), ID: "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d1e00", Action: "Sign-in activity", Outcome: "failure",
				Actor: event.Actor{ID: "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", Name: "maria.souza@contoso.com", Type: "user", SourceIP: "198.51.100.200",
					SourceIPs: []string{"198.51.100.200"}, UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", SessionID: "TWFyaWFGYWlsZWQwMQ"},
				Target: event.Target{Type: "application", Name: "Azure Portal", ID: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam", ErrorCode: "50126"}),
			},
			{
				Time: ts("2024-05-15T08:05:40.123Z"), ID: "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e2f11", Action: "Sign-in activity", Outcome: "success",
				Actor:  event.Actor{ID: ciSP, Name: ciApp, Type: "service_account", SourceIP: "20.206.10.5", SourceIPs: []string{"20.206.10.5"}, SessionID: "Q2lEZXBsb3llclRvazE"},
				Target: event.Target{Type: "application", Name: "Windows Azure Service Management API", ID: "797f4846-ba00-4fd7-ba43-dac1f8f63013"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam"}),
			},
		}},
		{file: "eventhubs_aks.json", want: []event.Event{
			{
				Time: ts("2024-05-15T10:00:02.512345Z"), ID: "sha256:ed5b7c2f483272160a844ef0d2fa2d25",
				Action: "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", Outcome: "unknown",
				Actor: event.Actor{Name: "guard", Type: "service"},
				Target: event.Target{Type: "Microsoft.ContainerService/managedClusters", Name: "aks-payments-prod",
					ID: "/SUBSCRIPTIONS/3F2C8A1E-5B7D-4C9A-8E6F-2A1B0C9D8E7F/RESOURCEGROUPS/RG-AKS/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PAYMENTS-PROD"},
				K8s:     event.K8s{Cluster: "aks-payments-prod"},
				Cloud:   azure(event.Cloud{Account: sub, Service: "Microsoft.ContainerService"}),
				Message: "E0515 10:00:02.512345       1 azure.go:213] Authentication failed: token audience mismatch for user maria.souza@contoso.com",
				Log:     event.Log{Stream: "stderr"},
			},
		}},
		{file: "rest_activity.json", want: []event.Event{
			{ // the REST shape of the role assignment: eventDataId, caller, localizable strings
				Time: ts("2024-05-14T13:02:12.9861071Z"), ID: "91c4f0e8-27d3-4b5a-b6e1-0c9d8a7f6e5d",
				Action: "Microsoft.Authorization/roleAssignments/write", Outcome: "success", Actor: devActor, Target: raTarget,
				Cloud: azure(event.Cloud{Account: sub, Service: "Microsoft.Authorization"}),
			},
		}},
		{file: "rest_list.json", want: []event.Event{
			{
				Time: ts("2024-05-16T02:11:09.5Z"), ID: "a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6e", Action: "Microsoft.Authorization/locks/delete", Outcome: "success",
				Actor:  ciActor("198.51.100.23", "TG9ja0RlbDAx"),
				Target: event.Target{Type: "Microsoft.Authorization/locks", Name: "do-not-delete", ID: rgPay + "/providers/Microsoft.Authorization/locks/do-not-delete"},
				Cloud:  azure(event.Cloud{Account: sub, Service: "Microsoft.Authorization"}),
			},
		}, errs: []string{"item 1: invalid event: Azure record without a time", "item 2: unknown format"}},
		{file: "la_rows.jsonl", want: []event.Event{
			{ // AzureActivity row: OperationNameValue, ActivityStatusValue, Claims as a JSON string, HTTPRequest
				Time: ts("2024-05-16T03:12:44.1827362Z"), ID: "c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f",
				Action: "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", Outcome: "success",
				Actor: event.Actor{ID: "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", Name: "maria.souza@contoso.com", Type: "user", Groups: devGroups,
					SourceIP: "192.0.2.50", SourceIPs: []string{"192.0.2.50"}, SessionID: "TWFyaWFMaXN0S2V5cw", MFA: true},
				Target: event.Target{Type: "Microsoft.Storage/storageAccounts", Name: "stpaymentsledger", ID: rgPay + "/providers/Microsoft.Storage/storageAccounts/stpaymentsledger"},
				Cloud:  azure(event.Cloud{Account: sub, Service: "Microsoft.Storage"}),
			},
			{ // AuditLogs row: PascalCase, InitiatedBy and TargetResources as JSON strings, trailing space trimmed
				Time: ts("2024-05-16T04:40:10.117Z"), ID: "Directory_ab0c1d2e-3f4a-4b5c-8d6e-7f8a9b0c1d2f_TZ8KW_11223344",
				Action: "Update application – Certificates and secrets management", Outcome: "success",
				Actor: event.Actor{ID: "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f71", Name: "joao.lima@contoso.com", Type: "user",
					SourceIP: "203.0.113.99", SourceIPs: []string{"203.0.113.99"}, UserAgent: "python-requests/2.31.0"},
				Target: event.Target{Type: "Application", Name: "payments-api", ID: "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a82"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam"}),
			},
		}},
		{file: "graph_directoryaudits.json", want: []event.Event{
			{
				Time: ts("2024-05-16T05:00:00Z"), ID: "Directory_bc1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3a_LMN45_55667788",
				Action: "Add member to role", Outcome: "failure",
				Actor:  event.Actor{ID: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", Name: "it.admin@contoso.com", Type: "user"},
				Target: event.Target{Type: "User", Name: "eve.temp@contoso.com", ID: "d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f60"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam", ErrorCode: "Microsoft.Online.Workflows.ObjectAlreadyExistsException"}),
			},
		}},
		{file: "graph_signins.json", want: []event.Event{
			{
				Time: ts("2024-05-16T06:30:00Z"), ID: "cd2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5b", Action: "Sign-in activity", Outcome: "success",
				Actor: event.Actor{ID: "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f71", Name: "joao.lima@contoso.com", Type: "user",
					SourceIP: "203.0.113.99", SourceIPs: []string{"203.0.113.99"}, MFA: true},
				Target: event.Target{Type: "application", Name: "Microsoft Azure CLI", ID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
				Cloud:  azure(event.Cloud{Service: "Microsoft.aadiam"}),
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, errs := decodeFixture(t, tt.file, normalize.Options{})
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.errs[i])
				}
				var ie *normalize.ItemError
				if !errors.As(err, &ie) {
					t.Errorf("error %d is not an ItemError: %v", i, err)
				}
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(evs), len(tt.want))
			}
			for i, ev := range evs {
				want := tt.want[i]
				want.Source = event.SourceAzureActivity
				if ev.RawMap() != nil {
					t.Errorf("event %d: Raw set without Options.RawMap()", i)
				}
				if !reflect.DeepEqual(*ev, want) {
					got, _ := json.MarshalIndent(ev, "", " ")
					exp, _ := json.MarshalIndent(want, "", " ")
					t.Errorf("event %d:\ngot  %s\nwant %s", i, got, exp)
				}
			}
		})
	}
}

// TestHashIDStable: the fallback id depends only on the documented fields.
func TestHashIDStable(t *testing.T) {
	base := `{"time":"2024-05-14T13:02:11.4023184Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G","operationName":"MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/WRITE","category":"Administrative","resultType":"Start","correlationId":"c1","level":"Information"%s}`
	id := func(extra string) string {
		t.Helper()
		v := fastjson.MustParse(strings.Replace(base, "%s", extra, 1))
		evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("decode: %v", errs)
		}
		return evs[0].ID
	}
	a := id("")
	if !strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+32 {
		t.Fatalf("id %q is not sha256:<32 hex>", a)
	}
	if b := id(`,"durationMs":"12","location":"global"`); b != a {
		t.Errorf("fields outside the hash changed the id: %s vs %s", b, a)
	}
	for _, change := range []string{`,"callerIpAddress":"192.0.2.1"`, `,"properties":{"id":"x"}`} {
		if b := id(change); b == a {
			t.Errorf("%s did not change the id", change)
		}
	}
	v := fastjson.MustParse(strings.Replace(strings.Replace(base, "%s", "", 1), `"Start"`, `"Success"`, 1))
	evs, _ := Decode(v, normalize.Options{}, normalize.Meta{})
	if evs[0].ID == a {
		t.Error("the Start and Success records of one operation share an id")
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"activity export", `{"time":"2024-01-01T00:00:00Z","operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE","resourceId":"/SUBSCRIPTIONS/X","category":"Administrative"}`, true},
		{"REST with caller only", `{"operationName":{"value":"Microsoft.Compute/virtualMachines/write"},"caller":"a@b.c"}`, true},
		{"Log Analytics casing", `{"OperationName":"Add member to role","Category":"RoleManagement","ResourceId":"/tenants/t/providers/Microsoft.aadiam"}`, true},
		{"Log Analytics AzureActivity", `{"OperationNameValue":"X","OperationName":"Y","CategoryValue":"Administrative"}`, true},
		{"Graph directoryAudit", `{"id":"x","activityDisplayName":"Add user","initiatedBy":{}}`, true},
		{"Graph signIn", `{"id":"x","createdDateTime":"2024-01-01T00:00:00Z","appId":"a","status":{"errorCode":0},"userPrincipalName":"u@x"}`, true},
		{"REST list", `{"value":[{"operationName":"X","caller":"a@b.c"}],"nextLink":null}`, true},
		{"empty Graph page", `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns","value":[]}`, true},
		{"kube-audit record", `{"operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","category":"kube-audit","resourceId":"/S/X","properties":{"log":"{}"}}`, false},
		{"kube-audit-admin record", `{"operationName":"X","category":"kube-audit-admin","resourceId":"/S/X"}`, false},
		{"operationName alone", `{"operationName":"X"}`, false},
		{"CloudTrail batch", `{"Records":[{"eventName":"X","operationName":"y","category":"z"}]}`, false},
		{"CloudTrail record", `{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","operationName":"x","category":"y"}`, false},
		{"GCP LogEntry", `{"protoPayload":{"methodName":"SetIamPolicy"},"operationName":"x","resourceId":"y"}`, false},
		{"Kubernetes audit", `{"auditID":"a","verb":"get","operationName":"x","category":"y"}`, false},
		{"container log", `{"log":"hello","stream":"stdout","time":"2024-01-01T00:00:00Z"}`, false},
		{"a list of something else", `{"value":[{"a":1}]}`, false},
		{"not an object", `[1,2]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(fastjson.MustParse(tt.json)); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"no time", `{"operationName":"X","resourceId":"/S","category":"Administrative"}`, "without a time"},
		{"bad time", `{"time":"yesterday","operationName":"X","resourceId":"/S"}`, `time "yesterday" is not a timestamp`},
		{"time of the wrong type", `{"time":true,"operationName":"X","resourceId":"/S"}`, "is not a timestamp"},
		{"empty operationName", `{"time":"2024-01-01T00:00:00Z","operationName":"  ","resourceId":"/S"}`, "without operationName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, errs := Decode(fastjson.MustParse(tt.json), normalize.Options{}, normalize.Meta{})
			if len(evs) != 0 || len(errs) != 1 {
				t.Fatalf("got %d events, errors %v", len(evs), errs)
			}
			if !errors.Is(errs[0], normalize.ErrInvalidEvent) || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("error %q, want ErrInvalidEvent containing %q", errs[0], tt.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		fields, want, code string
	}{
		{`"resultType":"Success"`, "success", ""},
		{`"resultType":"Failure","properties":{"statusCode":"Conflict"}`, "failure", "Conflict"},
		{`"resultType":"Start"`, "unknown", ""},
		{`"resultType":"Accept","resultSignature":"Accepted.Created"`, "unknown", ""},
		{`"status":{"value":"Failed"},"properties":{"statusMessage":"{\"code\":\"ResourceGroupNotFound\"}"}`, "failure", "ResourceGroupNotFound"},
		{`"ActivityStatusValue":"Failure","ActivitySubstatusValue":"Forbidden"`, "failure", "Forbidden"},
		{`"resultSignature":"Forbidden"`, "failure", "Forbidden"},
		{`"resultSignature":"OK"`, "success", ""},
		{`"properties":{"httpStatusCode":401},"resultType":"Success","resultSignature":"Unauthorized"`, "failure", "Unauthorized"},
		{`"properties":{"httpStatusCode":500}`, "failure", "500"},
		{``, "unknown", ""},
	}
	for _, tt := range tests {
		sep := ""
		if tt.fields != "" {
			sep = ","
		}
		v := fastjson.MustParse(`{"time":"2024-01-01T00:00:00Z","operationName":"X/Y/Z","resourceId":"/S"` + sep + tt.fields + `}`)
		evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tt.fields, errs)
		}
		if evs[0].Outcome != tt.want || evs[0].Cloud.ErrorCode != tt.code {
			t.Errorf("%s: outcome %q error %q, want %q %q", tt.fields, evs[0].Outcome, evs[0].Cloud.ErrorCode, tt.want, tt.code)
		}
	}
}

func TestActorFallbacks(t *testing.T) {
	tests := []struct {
		fields        string
		name, typ, id string
	}{
		{`"caller":"Microsoft.Advisor"`, "Microsoft.Advisor", "service", ""},
		{`"caller":"0d3c5e7f-1a2b-4c3d-9e8f-7a6b5c4d3e2f"`, "0d3c5e7f-1a2b-4c3d-9e8f-7a6b5c4d3e2f", "service_account", ""},
		{`"caller":"ana@contoso.com"`, "ana@contoso.com", "user", ""},
		{`"identity":{"claims":{"idtyp":"user","name":"Guest User","http://schemas.microsoft.com/identity/claims/objectidentifier":"o1"}}`, "Guest User", "user", "o1"},
		{`"identity":{"claims":{"oid":"o2"}}`, "o2", "service_account", "o2"},
		// storage logs: the requester, or the kind of credential
		{`"identity":{"type":"OAuth","requester":{"upn":"ana@contoso.com","objectId":"o3"}}`, "ana@contoso.com", "user", "o3"},
		{`"identity":{"type":"OAuth","requester":{"appId":"a4","objectId":"o4"}}`, "a4", "service_account", "o4"},
		{`"identity":{"type":"SAS","tokenHash":"key1(ABCD)"}`, "SAS", "anonymous", ""},
		// a user token naming nobody (found by FuzzDecode): the service fallback
		{`"identity":{"claims":{"idtyp":"user"}}`, "Microsoft.Insights", "service", ""},
		{``, "Microsoft.Insights", "service", ""},
	}
	for _, tt := range tests {
		sep := ""
		if tt.fields != "" {
			sep = ","
		}
		v := fastjson.MustParse(`{"time":"2024-01-01T00:00:00Z","operationName":"Microsoft.Insights/autoscaleSettings/scaleup/action","category":"Autoscale"` + sep + tt.fields + `}`)
		evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tt.fields, errs)
		}
		a := evs[0].Actor
		if a.Name != tt.name || a.Type != tt.typ || a.ID != tt.id {
			t.Errorf("%s: actor %q %q %q, want %q %q %q", tt.fields, a.Name, a.Type, a.ID, tt.name, tt.typ, tt.id)
		}
	}
}

func TestSourceIPs(t *testing.T) {
	v := fastjson.MustParse(`{"time":"2024-01-01T00:00:00Z","operationName":"GetBlob","category":"StorageRead",` +
		`"callerIpAddress":"198.51.100.7:52814","identity":{"type":"OAuth","requester":{"upn":"ana@contoso.com"}},` +
		`"properties":{"userAgentHeader":"x"}}`)
	evs, errs := Decode(v, normalize.Options{}, normalize.Meta{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if a := evs[0].Actor; a.SourceIP != "198.51.100.7" || len(a.SourceIPs) != 1 {
		t.Errorf("source ip %q %v", a.SourceIP, a.SourceIPs)
	}
	v = fastjson.MustParse(`{"time":"2024-01-01T00:00:00Z","operationName":"X","resourceId":"/S","callerIpAddress":"<null>",` +
		`"httpRequest":{"clientIpAddress":"2001:DB8::1"},"identity":{"claims":{"ipaddr":"192.0.2.9","appid":"a"}}}`)
	evs, _ = Decode(v, normalize.Options{}, normalize.Meta{})
	if a := evs[0].Actor; a.SourceIP != "2001:db8::1" || !reflect.DeepEqual(a.SourceIPs, []string{"2001:db8::1", "192.0.2.9"}) {
		t.Errorf("source ip %q %v", a.SourceIP, a.SourceIPs)
	}
}

func TestParseResourceID(t *testing.T) {
	tests := []struct {
		id   string
		want resource
	}{
		{"/subscriptions/S1/resourceGroups/G", resource{Subscription: "S1", Type: "Microsoft.Resources/resourceGroups", Name: "G"}},
		{"/SUBSCRIPTIONS/S1", resource{Subscription: "S1", Type: "Microsoft.Resources/subscriptions", Name: "S1"}},
		{"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB/SECURITYRULES/ALLOW-SSH",
			resource{Subscription: "S1", Type: "Microsoft.Network/networkSecurityGroups/securityRules", Name: "ALLOW-SSH"}},
		{"/subscriptions/S1/resourceGroups/G/providers/Microsoft.Storage/storageAccounts/st1/providers/Microsoft.Authorization/locks/l1",
			resource{Subscription: "S1", Type: "Microsoft.Authorization/locks", Name: "l1"}},
		{"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-1/AGENTPOOLS/NP1",
			resource{Subscription: "S1", Type: "Microsoft.ContainerService/managedClusters/agentPools", Name: "NP1", Cluster: "aks-1"}},
		{"/tenants/T/providers/Microsoft.aadiam", resource{Type: "Microsoft.aadiam"}},
		{"/providers/Microsoft.Management/managementGroups/mg1", resource{Type: "Microsoft.Management/managementGroups", Name: "mg1"}},
		{"/subscriptions/S1/resourceGroups/G/providers/Contoso.Custom/widgets/w1", resource{Subscription: "S1", Type: "Contoso.Custom/widgets", Name: "w1"}},
		{"", resource{}},
		{"////", resource{}},
	}
	for _, tt := range tests {
		if got := parseResourceID(tt.id); got != tt.want {
			t.Errorf("parseResourceID(%q) = %+v, want %+v", tt.id, got, tt.want)
		}
	}
}
