package rule

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/vigia-dev/vigia/internal/event"
)

// rawKeys are the top-level keys of each source's original record, the
// fields a rule may read as raw.KEY. raw is an untyped map, so without this
// list a misspelled raw.eventNmae would silently be nil forever. Sources
// whose records have no fixed top level (Azure's many log shapes, container
// log shippers) are not checked.
var rawKeys = map[string][]string{
	event.SourceK8sAudit: {
		// audit.k8s.io Event (v1, v1beta1)
		"kind", "apiVersion", "metadata", "level", "auditID", "stage", "requestURI", "verb", "user",
		"impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject",
		"responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations", "timestamp",
		// GKE: the Cloud Logging LogEntry
		"logName", "resource", "receiveTimestamp", "severity", "insertId", "labels", "operation",
		"protoPayload",
	},
	event.SourceCloudTrail: {
		"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
		"sourceIPAddress", "userAgent", "requestParameters", "responseElements", "additionalEventData",
		"requestID", "eventID", "readOnly", "resources", "eventType", "apiVersion", "managementEvent",
		"recipientAccountId", "sharedEventID", "vpcEndpointId", "vpcEndpointAccountId", "eventCategory",
		"tlsDetails", "sessionCredentialFromConsole", "errorCode", "errorMessage", "serviceEventDetails",
		"insightDetails", "edgeDeviceDetails", "addendum", "sourceIdentity",
	},
	event.SourceGCPAudit: {
		"logName", "resource", "timestamp", "receiveTimestamp", "severity", "insertId", "httpRequest",
		"labels", "operation", "trace", "spanId", "traceSampled", "sourceLocation", "protoPayload",
		"jsonPayload", "textPayload", "split", "errorGroups", "apphub", "apphubDestination",
	},
}

// rawFunc is what `raw` compiles to: a call that builds the event's raw
// map on first need (event.Event.RawMap), so normalizers can defer the
// conversion and most events never pay for it.
const rawFunc = "$raw"

var rawOptions = []expr.Option{
	expr.Function(rawFunc, func(params ...any) (any, error) {
		if ev, ok := params[0].(*event.Event); ok {
			return ev.RawMap(), nil
		}
		return nil, nil // an event passed by value (never by the pipeline)
	}, new(func(event.Event) map[string]any)),
	expr.Patch(rawPatcher{}),
}

// rawPatcher rewrites every `raw` into `$raw($env)`.
type rawPatcher struct{}

func (rawPatcher) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == "raw" {
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: rawFunc},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}},
		})
	}
}

// isRaw reports whether n reads raw: `raw`, or its patched form.
func isRaw(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value == "raw"
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		return ok && id.Value == rawFunc
	}
	return false
}

// rawUse walks a compiled expression: it reports whether it reads raw and
// the first raw.KEY whose KEY is not a top-level key of source.
type rawUse struct {
	source  string
	uses    bool
	unknown string
}

func (u *rawUse) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode, *ast.CallNode:
		if isRaw(n) {
			u.uses = true
		}
	case *ast.MemberNode:
		if !isRaw(n.Node) {
			return
		}
		key, ok := n.Property.(*ast.StringNode)
		if !ok || u.unknown != "" {
			return
		}
		if keys, ok := rawKeys[u.source]; ok && !slices.Contains(keys, key.Value) {
			u.unknown = key.Value
		}
	}
}

// checkRaw inspects every program of the rule.
func (r *Rule) checkRaw(nodes ...ast.Node) error {
	u := &rawUse{source: r.Source}
	for _, n := range nodes {
		ast.Walk(&n, u)
	}
	r.usesRaw = u.uses
	if u.unknown != "" {
		return fmt.Errorf("raw.%s is not a field of %s records (known: %s)", u.unknown, r.Source, strings.Join(rawKeys[r.Source], ", "))
	}
	return nil
}

// UsesRaw reports whether any enabled rule of the set reads raw, the
// original record: normalizers build it only then.
func (s *Set) UsesRaw() bool {
	for _, r := range s.Rules {
		if r.usesRaw && !r.Disabled {
			return true
		}
	}
	return false
}

// RawSources returns the sources whose events some enabled rule reads raw
// of, or nil when a rule without a source reads raw (then every source
// needs it).
func (s *Set) RawSources() map[string]bool {
	out := map[string]bool{}
	for _, r := range s.Rules {
		if !r.usesRaw || r.Disabled {
			continue
		}
		if r.Source == "" {
			return nil
		}
		out[r.Source] = true
	}
	return out
}
