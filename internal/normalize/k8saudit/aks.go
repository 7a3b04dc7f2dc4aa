package k8saudit

import (
	"fmt"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// isAKSRecord reports whether v is one AKS diagnostic record of the
// kube-audit or kube-audit-admin category on its own, outside the
// {"records":[...]} batch the dispatcher unwraps (an Event Hubs consumer
// that forwards records one by one, a sample saved by hand).
func isAKSRecord(v *fastjson.Value) bool {
	cat := bytesOf(v.Get("category"))
	return len(cat) >= len("kube-audit") && strings.EqualFold(string(cat[:len("kube-audit")]), "kube-audit") &&
		v.Get("properties", "log") != nil
}

var aksParsers fastjson.ParserPool

// decodeAKSRecord decodes the audit event in properties.log, a JSON string
// or object, with the cluster named by the record's resourceId.
func decodeAKSRecord(v *fastjson.Value, o normalize.Options) ([]*event.Event, []error) {
	if c := aksCluster(string(bytesOf(v.Get("resourceId")))); c != "" {
		o.Cluster = c
	}
	log := v.Get("properties", "log")
	if b := bytesOf(log); b != nil {
		p := aksParsers.Get()
		defer aksParsers.Put(p)
		inner, err := p.ParseBytes(b)
		if err != nil {
			return nil, []error{fmt.Errorf("%w: AKS record: properties.log: %v", normalize.ErrNotJSON, err)}
		}
		log = inner
	}
	if log.Type() != fastjson.TypeObject || !Detect(log) || isAKSRecord(log) {
		return nil, []error{fmt.Errorf("%w: AKS record: properties.log is %s, not an audit event", normalize.ErrUnknownFormat, normalize.TypeName(log))}
	}
	return Decode(log, o, normalize.Meta{})
}

// aksCluster returns the lower-case cluster name of an AKS resource id
// (/SUBSCRIPTIONS/…/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/NAME),
// as the dispatcher names it for batched records.
func aksCluster(id string) string {
	const marker = "/managedclusters/"
	i := strings.Index(strings.ToLower(id), marker)
	if i < 0 {
		return ""
	}
	name := id[i+len(marker):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return strings.ToLower(name)
}
