package resolve_test

import (
	"context"
	"fmt"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/resolve"
)

// A service account annotated for IRSA, then a CloudTrail call by a session
// of that role: the call resolves to the service account.
func Example() {
	r := resolve.New(resolve.NewMemory(10_000), resolve.Options{})
	annotate := &event.Event{
		Source: event.SourceK8sAudit, Action: "create", Outcome: event.OutcomeSuccess,
		Actor:  event.Actor{Name: "admin@example.com"},
		Target: event.Target{Type: "serviceaccounts", Namespace: "shop", Name: "web"},
		K8s: event.K8s{Namespace: "shop", Kind: "ServiceAccount", ObjectAnnotations: map[string]string{
			resolve.AnnotationIRSA: "arn:aws:iam::111122223333:role/web-role",
		}},
	}
	call := &event.Event{
		Source: event.SourceCloudTrail, Action: "GetObject", Outcome: event.OutcomeSuccess,
		Actor: event.Actor{
			Name:      "arn:aws:sts::111122223333:assumed-role/web-role/botocore-session-1",
			SessionID: "ASIAEXAMPLE",
		},
	}
	if err := r.Resolve(context.Background(), []*event.Event{annotate, call}); err != nil {
		fmt.Println(err)
	}
	fmt.Println(call.Entity.Identity)
	fmt.Println(call.Entity.CloudIdentities)
	// Output:
	// system:serviceaccount:shop:web
	// [arn:aws:iam::111122223333:role/web-role]
}
