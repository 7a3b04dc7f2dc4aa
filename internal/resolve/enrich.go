package resolve

import (
	"slices"
	"strings"

	"github.com/vigia-dev/vigia/internal/event"
)

// enrich fills ev.Entity from the event and the learned state.
func (b *batch) enrich(ev *event.Event) {
	var ent event.Entity
	var wanted, found bool // for Stats: looked for learned state, got some
	cluster := ev.K8s.Cluster

	// The pod the event names.
	var pod podInfo
	var podOK bool
	if ns, name := ev.K8s.Namespace, ev.K8s.Pod; validName(ns) && validName(name) {
		ent.Pod = ns + "/" + name
		wanted = true
		base := podBase(ns, name)
		if pod, podOK = lookup[podInfo](b, base, cluster); podOK {
			found = true
			ent.Node, ent.Owner = pod.Node, pod.Owner
			ent.Images = slices.Clone(pod.Images)
			if pod.SA != "" && ev.Source == event.SourceK8sAudit {
				ent.PodServiceAccount = ns + "/" + pod.SA
			}
			touch(b, base, pod, b.r.opts.TTL) // keeps a pod in use alive
		}
		if ent.Node == "" {
			ent.Node = ev.K8s.Node
		}
		if len(ent.Images) == 0 && ev.K8s.Image != "" {
			ent.Images = []string{ev.K8s.Image}
		}
	}

	// The identity.
	var sa, saCluster string
	switch ev.Source {
	case event.SourceK8sAudit:
		ent.Identity = ev.Actor.Name
		if s, ok := saUser(ev.Actor.Name); ok {
			sa = s
		} else if strings.Contains(ev.K8s.ServiceAccount, "/") {
			sa = ev.K8s.ServiceAccount
		}
		saCluster = cluster
	case event.SourceContainerLog:
		if podOK && pod.SA != "" {
			sa = ev.K8s.Namespace + "/" + pod.SA
			saCluster = clusterOr(ev, pod.Cluster)
		}
	default:
		var ok, looked bool
		sa, saCluster, ok, looked = b.cloudSA(ev)
		if ok {
			found = found || looked
		} else {
			ent.Identity = cloudPrincipal(ev)
		}
		wanted = wanted || looked
	}
	if sa != "" {
		ent.Identity = saUserName(sa)
		ent.ServiceAccount = sa
		base := saBase(sa)
		if s, ok := lookup[saInfo](b, base, saCluster); ok {
			found = true
			ent.CloudIdentities = s.cloudIdentities()
			touch(b, base, s, b.r.opts.TTL)
		}
	}

	ev.Entity = ent
	switch {
	case found:
		b.resolvedN++
	case wanted:
		b.missesN++
	}
}

// candidate is a cloud identity to look up under cloud:ID.
type candidate struct {
	id      string
	session bool // temporary credentials: their link is not refreshed
}

// cloudSA returns the Kubernetes service account behind a cloud event's
// actor, when the event names it or an identity linked to it. looked says
// whether learned state was consulted.
func (b *batch) cloudSA(ev *event.Event) (sa, cluster string, ok, looked bool) {
	if s, ok := saUser(ev.Actor.Name); ok {
		return s, "", true, false
	}
	if s := ev.K8s.ServiceAccount; strings.Count(s, "/") == 1 && validName(s[:strings.IndexByte(s, '/')]) && validName(s[strings.IndexByte(s, '/')+1:]) {
		return s, "", true, false // named by the normalizer (GKE Workload Identity)
	}
	if ev.Action == "AssumeRoleWithWebIdentity" {
		if s, ok := saUser(ev.Issued.Subject); ok {
			return s, "", true, false
		}
	}
	if provider(ev) == event.ProviderGCP {
		if s, ok := gcpDelegatedSA(ev); ok {
			return s, "", true, false
		}
	}
	cands := cloudCandidates(ev)
	for _, c := range cands {
		l, ok := decodeIn[link](b, b.get(cloudPrefix+c.id))
		if !ok || l.SA == "" {
			continue
		}
		if !c.session && !l.Gone && b.stale(&l.meta, b.r.opts.TTL) {
			b.putLink(c.id, l, l, true, b.r.opts.TTL)
		}
		return l.SA, l.Cluster, true, true
	}
	return "", "", false, len(cands) > 0
}

// provider is the cloud an event comes from.
func provider(ev *event.Event) string {
	switch ev.Source {
	case event.SourceCloudTrail:
		return event.ProviderAWS
	case event.SourceGCPAudit:
		return event.ProviderGCP
	case event.SourceAzureActivity:
		return event.ProviderAzure
	}
	return ev.Cloud.Provider
}

// cloudCandidates lists the keys under which a cloud actor may be linked to
// a service account, most specific first: for AWS the access key id, the
// session ARN, the role; for GCP the service account e-mail; for Azure the
// application (client) id.
func cloudCandidates(ev *event.Event) []candidate {
	var out []candidate
	add := func(id string, session bool) {
		if id = cloudID(id); id != "" && !slices.ContainsFunc(out, func(c candidate) bool { return c.id == id }) {
			out = append(out, candidate{id, session})
		}
	}
	names := []string{ev.Actor.Name, ev.Actor.ID}
	switch provider(ev) {
	case event.ProviderAWS:
		add(ev.Actor.SessionID, true)
		for _, s := range names {
			if isSessionARN(s) {
				add(s, true)
			}
		}
		for _, s := range names {
			if role, ok := roleARN(s); ok {
				add(role, false)
			}
		}
	case event.ProviderGCP:
		for _, s := range names {
			if strings.Contains(s, "@") {
				add(s, false)
			}
		}
	case event.ProviderAzure:
		for _, s := range azureAppIDs(ev) {
			add(s, false)
		}
		for _, s := range names {
			add(s, false)
		}
	default:
		for _, s := range names {
			add(s, false)
		}
	}
	return out
}

// cloudPrincipal is the identity of a cloud actor that is not a
// Kubernetes service account: for AWS the IAM ARN, the role's for an
// assumed-role session; elsewhere the principal name (GCP e-mail, Azure
// UPN or object id) or, without one, its id.
func cloudPrincipal(ev *event.Event) string {
	if provider(ev) == event.ProviderAWS {
		for _, s := range []string{ev.Actor.Name, ev.Actor.ID} {
			if isSessionARN(s) {
				role, _ := roleARN(s)
				return role
			}
		}
		for _, s := range []string{ev.Actor.Name, ev.Actor.ID} {
			if strings.HasPrefix(s, "arn:") {
				return s
			}
		}
	}
	if ev.Actor.Name != "" {
		return ev.Actor.Name
	}
	return ev.Actor.ID
}
