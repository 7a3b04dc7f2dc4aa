package resolve

import (
	"slices"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
)

// learn records what ev teaches about pods, service accounts and cloud
// identities. Failed requests teach nothing, nor audit events of a request
// not complete yet (stage RequestReceived: admission may still reject it).
func (b *batch) learn(ev *event.Event) {
	if ev.Outcome == event.OutcomeFailure || ev.K8s.Stage == "RequestReceived" || ev.K8s.Stage == "Panic" {
		return
	}
	switch ev.Source {
	case event.SourceK8sAudit:
		switch ev.Target.Type {
		case "pods":
			b.learnPodAudit(ev)
		case "serviceaccounts":
			if ev.Target.Subresource == "" { // not serviceaccounts/token
				b.learnServiceAccount(ev)
			}
		}
	case event.SourceContainerLog:
		b.learnPodLog(ev)
	case event.SourceCloudTrail:
		b.learnIssued(ev)
	case event.SourceGCPAudit:
		b.learnIssued(ev)
		b.learnGCPDelegation(ev)
	}
}

func podBase(ns, name string) string { return podPrefix + ns + "/" + name }
func saBase(nsName string) string    { return saPrefix + nsName }

// clusterOr returns the event's cluster when it has one, else old's.
func clusterOr(ev *event.Event, old string) string {
	if ev.K8s.Cluster != "" {
		return ev.K8s.Cluster
	}
	return old
}

// learnPodAudit learns from Kubernetes audit events on pods: a pod object
// (create, update, patch, status and ephemeral-container updates), a
// binding to a node, a delete.
func (b *batch) learnPodAudit(ev *event.Event) {
	ns, name := ev.Target.Namespace, ev.Target.Name
	if !validName(ns) || !validName(name) {
		return
	}
	base := podBase(ns, name)
	switch {
	case ev.Action == "delete" && ev.Target.Subresource == "":
		old, ok := lookup[podInfo](b, base, ev.K8s.Cluster)
		if !ok || old.Gone {
			return
		}
		p := old
		p.Gone = true
		save(b, base, p, old, true, b.r.opts.DeleteGrace)

	case ev.Target.Subresource == "binding" && ev.Action == "create":
		node := ev.K8s.Node
		if node == "" && rawAt(ev.RawMap(), "requestObject", "kind") == "Binding" {
			node = rawAt(ev.RawMap(), "requestObject", "target", "name")
		}
		if node == "" {
			return
		}
		old, ok := lookup[podInfo](b, base, ev.K8s.Cluster)
		p := old
		p.Cluster = clusterOr(ev, old.Cluster)
		p.Node = node
		save(b, base, p, old, ok, b.ttlFor(&p.meta))

	case ev.K8s.Workload.Present && (ev.Action == "create" || ev.Action == "update" || ev.Action == "patch"):
		w := ev.K8s.Workload
		whole := wholeObject(ev)
		fresh := ev.Action == "create" && ev.Target.Subresource == ""
		var old podInfo
		var ok bool
		if !fresh { // a new pod: nothing of an earlier pod of that name carries over
			old, ok = lookup[podInfo](b, base, ev.K8s.Cluster)
		}
		p := old
		p.Cluster = clusterOr(ev, old.Cluster)
		// spec.serviceAccountName cannot change: the first one seen stays.
		if p.SA == "" {
			p.SA = w.ServiceAccount
			if p.SA == "" && whole {
				p.SA = "default"
			}
		}
		if whole {
			p.Images = slices.Clone(w.Images)
		} else { // a patch fragment names only the containers it changes
			p.Images = slices.Clone(old.Images)
			for _, img := range w.Images {
				if !slices.Contains(p.Images, img) {
					p.Images = append(p.Images, img)
				}
			}
		}
		if len(p.Images) > maxImages {
			p.Images = p.Images[:maxImages]
		}
		if ev.K8s.Owner != "" {
			p.Owner = ev.K8s.Owner
		}
		if n := ev.K8s.Node; n != "" {
			p.Node = n
		} else if n := podNodeName(ev); n != "" {
			p.Node = n
		}
		save(b, base, p, old, ok, b.ttlFor(&p.meta))
	}
}

// wholeObject reports whether the object an audit event carries is the
// whole object: the body of a create or update, or the response to a patch
// (logged at level RequestResponse); not the fragment a patch sends.
func wholeObject(ev *event.Event) bool {
	if ev.Action != "patch" {
		return true
	}
	if _, ok := ev.RawMap()["responseObject"].(map[string]any); ok {
		return true
	}
	return ev.K8s.Level == "RequestResponse"
}

// podNodeName is spec.nodeName of the pod object the audit event logged.
func podNodeName(ev *event.Event) string {
	for _, obj := range []string{"responseObject", "requestObject"} {
		if rawAt(ev.RawMap(), obj, "kind") == "Pod" || ev.K8s.Kind == "Pod" {
			if n := rawAt(ev.RawMap(), obj, "spec", "nodeName"); n != "" {
				return n
			}
		}
	}
	return ""
}

// learnPodLog learns a pod's node and container image from a container
// log line.
func (b *batch) learnPodLog(ev *event.Event) {
	ns, name := ev.K8s.Namespace, ev.K8s.Pod
	if !validName(ns) || !validName(name) || (ev.K8s.Node == "" && ev.K8s.Image == "") {
		return
	}
	base := podBase(ns, name)
	old, ok := lookup[podInfo](b, base, ev.K8s.Cluster)
	p := old
	p.Cluster = clusterOr(ev, old.Cluster)
	changed := !ok || p.Cluster != old.Cluster
	if n := ev.K8s.Node; n != "" && n != p.Node {
		p.Node, changed = n, true
	}
	if img := ev.K8s.Image; img != "" && !slices.Contains(p.Images, img) && len(p.Images) < maxImages {
		p.Images, changed = append(slices.Clone(p.Images), img), true
	}
	if !changed { // the hot path: one more line of a known pod
		touch(b, base, p, b.ttlFor(&p.meta))
		return
	}
	save(b, base, p, old, ok, b.ttlFor(&p.meta))
}

// learnServiceAccount learns a service account's cloud identities from its
// annotations and links each identity back to it. An identity shared by
// several service accounts links to the one seen most recently.
func (b *batch) learnServiceAccount(ev *event.Event) {
	ns, name := ev.Target.Namespace, ev.Target.Name
	if !validName(ns) || !validName(name) {
		return
	}
	sa := ns + "/" + name
	base := saBase(sa)
	old, hadOld := lookup[saInfo](b, base, ev.K8s.Cluster)

	if ev.Action == "delete" {
		if !hadOld || old.Gone {
			return
		}
		s := old
		s.Gone = true
		save(b, base, s, old, true, b.r.opts.DeleteGrace)
		for _, id := range old.Annotated {
			b.expireLink(cloudID(id), sa, b.r.opts.DeleteGrace)
		}
		return
	}
	if ev.Action != "create" && ev.Action != "update" && ev.Action != "patch" {
		return
	}
	// Without the object (audit level Metadata) the annotations are
	// unknown, not removed.
	_, hasReq := ev.RawMap()["requestObject"].(map[string]any)
	_, hasResp := ev.RawMap()["responseObject"].(map[string]any)
	if ev.K8s.Level == "Metadata" || ev.K8s.Kind == "" && !hasReq && !hasResp && ev.K8s.ObjectAnnotations == nil {
		return
	}
	// A patch whose result was not logged is only a fragment: it adds.
	fragment := !wholeObject(ev)

	var ids []string
	for _, a := range boundAnnotations {
		if v := strings.TrimSpace(ev.K8s.ObjectAnnotations[a]); v != "" {
			ids = append(ids, v)
		}
	}
	s := saInfo{Annotated: ids}
	s.Cluster = clusterOr(ev, old.Cluster)
	if hadOld && ev.Action != "create" {
		s.Observed = old.Observed
		if fragment {
			s.Annotated = mergeIDs(old.Annotated, ids)
		}
	}
	if !hadOld && len(s.Annotated) == 0 {
		return // nothing to remember about a plain service account
	}
	save(b, base, s, old, hadOld, b.r.opts.TTL)

	keep := make(map[string]bool, len(s.Annotated))
	for _, id := range s.Annotated {
		keep[cloudID(id)] = true
		l := link{SA: sa}
		l.Cluster = s.Cluster
		b.saveLink(cloudID(id), l, b.r.opts.TTL)
	}
	if !fragment {
		for _, id := range old.Annotated {
			if k := cloudID(id); !keep[k] {
				b.expireLink(k, sa, 0)
			}
		}
	}
}

// mergeIDs adds ids to old, one per key form.
func mergeIDs(old, ids []string) []string {
	out := slices.Clone(old)
	for _, id := range ids {
		if !slices.ContainsFunc(out, func(o string) bool { return cloudID(o) == cloudID(id) }) {
			out = append(out, id)
		}
	}
	return out
}

// saveLink points cloud:ID at a service account unless it already does.
func (b *batch) saveLink(id string, l link, ttl time.Duration) {
	if id == "" {
		return
	}
	old, ok := decodeIn[link](b, b.get(cloudPrefix+id))
	b.putLink(id, l, old, ok, ttl)
}

func (b *batch) putLink(id string, l, old link, hadOld bool, ttl time.Duration) {
	if hadOld && old.SA == l.SA && (l.Cluster == "" || old.Cluster == l.Cluster) && !b.stale(&old.meta, ttl) {
		return
	}
	if l.Cluster == "" && hadOld && old.SA == l.SA {
		l.Cluster = old.Cluster
	}
	l.Updated = b.now.Unix()
	b.put(cloudPrefix+id, encode(l), ttl)
}

// expireLink removes cloud:ID (ttl 0) or shortens it to ttl, if it still
// points at sa.
func (b *batch) expireLink(id, sa string, ttl time.Duration) {
	old, ok := decodeIn[link](b, b.get(cloudPrefix+id))
	if !ok || old.SA != sa || old.Gone {
		return
	}
	if ttl <= 0 {
		b.put(cloudPrefix+id, "", 0)
		return
	}
	old.Gone = true
	old.Updated = b.now.Unix()
	b.put(cloudPrefix+id, encode(old), ttl)
}

// learnIssued links credentials handed to a Kubernetes service account
// (Issued.Subject "system:serviceaccount:NS:NAME") back to it:
//
//   - CloudTrail AssumeRoleWithWebIdentity: the session ARN and the access
//     key id for SessionTTL, the role for TTL;
//   - GCP GenerateAccessToken/GenerateIdToken through GKE Workload
//     Identity: the Google service account for TTL.
//
// The role or Google service account is also remembered among the
// service account's cloud identities.
func (b *batch) learnIssued(ev *event.Event) {
	sa, ok := saUser(ev.Issued.Subject)
	if !ok {
		return
	}
	var bound string // the lasting identity: role ARN or GSA e-mail
	switch p := ev.Issued.Principal; {
	case isSessionARN(p):
		bound = rawAt(ev.RawMap(), "requestParameters", "roleArn")
		if _, ok := roleARN(bound); !ok {
			bound, _ = roleARN(p)
		}
	case strings.Contains(p, "@"):
		bound = p
	}
	// The cluster is the one the identity's service account was learned
	// in, if it is this service account.
	var cluster string
	if bound != "" {
		if old, ok := decodeIn[link](b, b.get(cloudPrefix+cloudID(bound))); ok && old.SA == sa {
			cluster = old.Cluster
		}
	}
	l := link{SA: sa}
	l.Cluster = cluster
	if p := ev.Issued.Principal; isSessionARN(p) {
		b.saveLink(p, l, b.r.opts.SessionTTL)
	}
	if ev.Issued.SessionID != "" {
		b.saveLink(ev.Issued.SessionID, l, b.r.opts.SessionTTL)
	}
	if bound == "" {
		return
	}
	b.saveLink(cloudID(bound), l, b.r.opts.TTL)

	base := saBase(sa)
	old, hadOld := lookup[saInfo](b, base, cluster)
	if hadOld && slices.ContainsFunc(slices.Concat(old.Annotated, old.Observed), func(o string) bool { return cloudID(o) == cloudID(bound) }) {
		touch(b, base, old, b.r.opts.TTL)
		return
	}
	s := old
	s.Cluster = clusterOr(ev, old.Cluster)
	if len(s.Observed) >= maxObserved {
		s.Observed = s.Observed[1:]
	}
	s.Observed = append(slices.Clone(s.Observed), bound)
	save(b, base, s, old, hadOld, b.ttlFor(&s.meta))
}

// learnGCPDelegation links a Google service account acting for a
// Kubernetes service account through GKE Workload Identity (its e-mail is
// the actor, the delegation chain names the Kubernetes service account)
// back to it, so that its later calls without delegation resolve too.
func (b *batch) learnGCPDelegation(ev *event.Event) {
	sa, ok := gcpDelegatedSA(ev)
	if !ok {
		return
	}
	for _, s := range []string{ev.Actor.Name, ev.Actor.ID} {
		if strings.HasSuffix(strings.ToLower(s), ".gserviceaccount.com") {
			b.saveLink(cloudID(s), link{SA: sa}, b.r.opts.TTL)
			return
		}
	}
}
