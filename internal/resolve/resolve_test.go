package resolve

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigia-dev/vigia/internal/event"
)

const (
	roleWeb     = "arn:aws:iam::111122223333:role/team/web-role" // with a path
	roleWebKey  = "arn:aws:iam::111122223333:role/web-role"
	sessWeb     = "arn:aws:sts::111122223333:assumed-role/web-role/botocore-session-1"
	sessWeb2    = "arn:aws:sts::111122223333:assumed-role/web-role/botocore-session-2"
	roleAPI     = "arn:aws:iam::111122223333:role/api-role"
	sessAPI     = "arn:aws:sts::111122223333:assumed-role/api-role/1700000000000000000"
	gsaApp      = "app@proj.iam.gserviceaccount.com"
	azureClient = "0d3c4b1a-9e2f-4a7b-8c6d-5e4f3a2b1c0d"
	azureObject = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
)

// scenario is a stream of events and what some of them must resolve to.
type scenario struct {
	name   string
	events func() []*event.Event
	want   map[int]event.Entity // by index in events
}

var scenarios = []scenario{
	{
		name: "pod learned from audit, then its log line and an exec",
		events: func() []*event.Event {
			return []*event.Event{
				podCreate("shop", "web-1", "web", "ReplicaSet/web-5f7c9d8b6", "nginx:1.27", "envoy:1.31"),
				podBinding("shop", "web-1", "node-a"),
				logLine("shop", "web-1", "", "nginx:1.27"),
				userExec("alice@example.com", "shop", "web-1"),
			}
		},
		want: map[int]event.Entity{
			0: {Identity: "system:serviceaccount:kube-system:replicaset-controller", ServiceAccount: "kube-system/replicaset-controller",
				Pod: "shop/web-1", PodServiceAccount: "shop/web", Images: []string{"nginx:1.27", "envoy:1.31"}, Owner: "ReplicaSet/web-5f7c9d8b6"},
			2: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", Pod: "shop/web-1", Node: "node-a",
				Images: []string{"nginx:1.27", "envoy:1.31"}, Owner: "ReplicaSet/web-5f7c9d8b6"},
			3: {Identity: "alice@example.com", Pod: "shop/web-1", PodServiceAccount: "shop/web", Node: "node-a",
				Images: []string{"nginx:1.27", "envoy:1.31"}, Owner: "ReplicaSet/web-5f7c9d8b6"},
		},
	},
	{
		name: "default service account, node from the raw binding, image added by a log line",
		events: func() []*event.Event {
			return []*event.Event{
				podCreate("batch", "job-x", "", "Job/job"),
				podBindingRaw("batch", "job-x", "node-b"),
				logLine("batch", "job-x", "node-b", "busybox:1.36"),
				logLine("batch", "job-x", "", ""),
			}
		},
		want: map[int]event.Entity{
			3: {Identity: "system:serviceaccount:batch:default", ServiceAccount: "batch/default", Pod: "batch/job-x",
				Node: "node-b", Images: []string{"busybox:1.36"}, Owner: "Job/job"},
		},
	},
	{
		name: "kubelet status patch gives the node; a patch fragment only adds",
		events: func() []*event.Event {
			status := auditEvent("patch", "pods", "status", "shop", "web-2")
			status.Actor = event.Actor{Name: "system:node:node-z", Type: "node"}
			status.K8s.Kind = "Pod"
			status.K8s.Workload = event.Workload{Present: true, ServiceAccount: "web", Images: []string{"nginx:1.27"}}
			status.Raw = map[string]any{"responseObject": map[string]any{"kind": "Pod", "spec": map[string]any{"nodeName": "node-z"}}}
			fragment := auditEvent("patch", "pods", "", "shop", "web-2")
			fragment.K8s.Workload = event.Workload{Present: true, Images: []string{"evil:latest"}}
			fragment.Raw = map[string]any{"requestObject": map[string]any{"spec": map[string]any{}}}
			return []*event.Event{
				podCreate("shop", "web-2", "web", "ReplicaSet/web-5f7c9d8b6", "nginx:1.27"),
				status,
				fragment,
				logLine("shop", "web-2", "", ""),
			}
		},
		want: map[int]event.Entity{
			// The fragment's image is added (it did change a container),
			// its missing service account does not replace the pod's.
			3: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", Pod: "shop/web-2", Node: "node-z",
				Images: []string{"nginx:1.27", "evil:latest"}, Owner: "ReplicaSet/web-5f7c9d8b6"},
		},
	},
	{
		name: "log line of a pod never seen in audit",
		events: func() []*event.Event {
			return []*event.Event{
				logLine("misc", "lone", "node-c", "alpine:3.20"),
				logLine("misc", "lone", "", ""),
			}
		},
		want: map[int]event.Entity{
			0: {Pod: "misc/lone", Node: "node-c", Images: []string{"alpine:3.20"}},
			1: {Pod: "misc/lone", Node: "node-c", Images: []string{"alpine:3.20"}},
		},
	},
	{
		name: "IRSA annotation, then a CloudTrail call by that role",
		events: func() []*event.Event {
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb}),
				awsCall(sessWeb, "ASIAWEB1", "GetObject"),
				awsCall(sessAPI, "ASIAOTHER", "GetObject"),
				awsCall("arn:aws:iam::111122223333:user/bob", "AKIABOB", "ListBuckets"),
			}
		},
		want: map[int]event.Entity{
			0: {Identity: "admin@example.com"},
			1: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
			2: {Identity: roleAPI},
			3: {Identity: "arn:aws:iam::111122223333:user/bob"},
		},
	},
	{
		name: "AssumeRoleWithWebIdentity, then calls with the session's key",
		events: func() []*event.Event {
			call := awsCall(sessAPI, "ASIAAPI1", "PutObject")
			call.Actor.ID = "AROAEXAMPLEID:1700000000000000000" // principalId, not an ARN
			return []*event.Event{
				webIdentity("system:serviceaccount:pay:api", roleAPI, sessAPI, "ASIAAPI1"),
				call,
				awsCall("arn:aws:sts::111122223333:assumed-role/api-role/other", "ASIAAPI2", "GetObject"),
			}
		},
		want: map[int]event.Entity{
			0: {Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
			1: {Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
			// Another session of the role: through the role.
			2: {Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
		},
	},
	{
		name: "a role shared by two service accounts: sessions exact, the role to the latest",
		events: func() []*event.Event {
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb}),
				webIdentity("system:serviceaccount:shop:web", roleWeb, sessWeb, "ASIAWEB1"),
				webIdentity("system:serviceaccount:shop:worker", roleWeb, sessWeb2, "ASIAWORK"),
				awsCall(sessWeb, "ASIAWEB1", "GetObject"),
				awsCall(sessWeb2, "ASIAWORK", "GetObject"),
				awsCall("arn:aws:sts::111122223333:assumed-role/web-role/unseen", "ASIAUNSEEN", "GetObject"),
				awsCall(sessWeb, "", "GetObject"), // by the session ARN alone
			}
		},
		want: map[int]event.Entity{
			6: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
			3: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
			4: {Identity: "system:serviceaccount:shop:worker", ServiceAccount: "shop/worker", CloudIdentities: []string{roleWeb}},
			5: {Identity: "system:serviceaccount:shop:worker", ServiceAccount: "shop/worker", CloudIdentities: []string{roleWeb}},
		},
	},
	{
		name: "GKE annotation, then a GCP call by the GSA",
		events: func() []*event.Event {
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationGKE: "App@proj.iam.gserviceaccount.com"}),
				gcpCall(gsaApp, ""),
				gcpCall("carol@example.com", ""),
			}
		},
		want: map[int]event.Entity{
			1: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{"App@proj.iam.gserviceaccount.com"}},
			2: {Identity: "carol@example.com"},
		},
	},
	{
		name: "GKE delegation chain names the Kubernetes service account",
		events: func() []*event.Event {
			return []*event.Event{
				gcpCall("trainer@proj.iam.gserviceaccount.com", "serviceAccount:proj.svc.id.goog[ml/trainer]"),
				gcpCall("trainer@proj.iam.gserviceaccount.com", ""), // learned from the first
				gcpCall("", "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/proj.svc.id.goog/subject/ns/ml/sa/scorer"),
			}
		},
		want: map[int]event.Entity{
			0: {Identity: "system:serviceaccount:ml:trainer", ServiceAccount: "ml/trainer"},
			1: {Identity: "system:serviceaccount:ml:trainer", ServiceAccount: "ml/trainer"},
			2: {Identity: "system:serviceaccount:ml:scorer", ServiceAccount: "ml/scorer"},
		},
	},
	{
		name: "GKE Workload Identity as the GCP normalizer gives it, without raw",
		events: func() []*event.Event {
			token := &event.Event{
				Source: event.SourceGCPAudit, Action: "GenerateAccessToken", Outcome: event.OutcomeSuccess,
				Actor: event.Actor{
					Name: "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/proj.svc.id.goog/subject/ns/ml/sa/fetcher",
					Type: "service_account",
				},
				K8s:    event.K8s{ServiceAccount: "ml/fetcher"},
				Cloud:  event.Cloud{Provider: event.ProviderGCP, Service: "iamcredentials.googleapis.com"},
				Issued: event.Issued{Subject: "system:serviceaccount:ml:fetcher", Principal: "fetcher@proj.iam.gserviceaccount.com"},
			}
			delegated := gcpCall("trainer@proj.iam.gserviceaccount.com", "")
			delegated.Raw = nil
			delegated.K8s.ServiceAccount = "ml/trainer"
			delegated.Actor.Impersonator = "serviceAccount:proj.svc.id.goog[ml/trainer]"
			later := gcpCall("fetcher@proj.iam.gserviceaccount.com", "")
			later.Raw = nil
			return []*event.Event{token, later, delegated}
		},
		want: map[int]event.Entity{
			0: {Identity: "system:serviceaccount:ml:fetcher", ServiceAccount: "ml/fetcher", CloudIdentities: []string{"fetcher@proj.iam.gserviceaccount.com"}},
			1: {Identity: "system:serviceaccount:ml:fetcher", ServiceAccount: "ml/fetcher", CloudIdentities: []string{"fetcher@proj.iam.gserviceaccount.com"}},
			2: {Identity: "system:serviceaccount:ml:trainer", ServiceAccount: "ml/trainer"},
		},
	},
	{
		name: "Azure client id as the Azure normalizer gives it (actor name), without raw",
		events: func() []*event.Event {
			call := azureCall(azureObject, "")
			call.Actor.Name, call.Raw = azureClient, nil
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationAzure: strings.ToUpper(azureClient)}),
				call,
			}
		},
		want: map[int]event.Entity{
			1: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{strings.ToUpper(azureClient)}},
		},
	},
	{
		name: "Azure Workload Identity client id",
		events: func() []*event.Event {
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationAzure: azureClient}),
				azureCall(azureObject, strings.ToUpper(azureClient)),
				azureCall("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "11111111-2222-4333-8444-555555555555"),
			}
		},
		want: map[int]event.Entity{
			1: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{azureClient}},
			2: {Identity: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"},
		},
	},
	{
		name: "a service account's own API calls carry its cloud identities",
		events: func() []*event.Event {
			call := auditEvent("list", "secrets", "", "shop", "")
			call.Actor = event.Actor{Name: "system:serviceaccount:shop:web", Type: "service_account"}
			call.K8s.ServiceAccount = "shop/web"
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb, AnnotationGKE: gsaApp, AnnotationAzure: azureClient}),
				call,
			}
		},
		want: map[int]event.Entity{
			1: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb, gsaApp, azureClient}},
		},
	},
	{
		name: "annotation removed: the role no longer resolves",
		events: func() []*event.Event {
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb}),
				saWrite("update", "shop", "web", map[string]string{"team": "web"}),
				awsCall(sessWeb, "ASIAWEB1", "GetObject"),
			}
		},
		want: map[int]event.Entity{
			2: {Identity: roleWebKey},
		},
	},
	{
		name: "audit without the object or failed requests teach nothing",
		events: func() []*event.Event {
			meta := saWrite("update", "shop", "web", nil)
			meta.K8s.Kind, meta.Raw = "", nil // level Metadata
			return []*event.Event{
				saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb}),
				meta,
				failed(saWrite("update", "shop", "web", map[string]string{AnnotationIRSA: roleAPI})),
				failed(podCreate("shop", "web-9", "admin", "")),
				received(podCreate("shop", "web-9", "admin", "")),
				awsCall(sessWeb, "", "GetObject"),
				awsCall(sessAPI, "", "GetObject"),
				logLine("shop", "web-9", "", ""),
			}
		},
		want: map[int]event.Entity{
			5: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
			6: {Identity: roleAPI},
			7: {Pod: "shop/web-9"},
		},
	},
	{
		name: "a recreated pod starts afresh",
		events: func() []*event.Event {
			return []*event.Event{
				podCreate("db", "pg-0", "pg", "StatefulSet/pg", "postgres:16"),
				podBinding("db", "pg-0", "node-a"),
				podDelete("db", "pg-0"),
				logLine("db", "pg-0", "", ""), // late line, within the grace
				podCreate("db", "pg-0", "pg", "StatefulSet/pg", "postgres:17"),
				logLine("db", "pg-0", "", ""),
			}
		},
		want: map[int]event.Entity{
			3: {Identity: "system:serviceaccount:db:pg", ServiceAccount: "db/pg", Pod: "db/pg-0", Node: "node-a", Images: []string{"postgres:16"}, Owner: "StatefulSet/pg"},
			5: {Identity: "system:serviceaccount:db:pg", ServiceAccount: "db/pg", Pod: "db/pg-0", Images: []string{"postgres:17"}, Owner: "StatefulSet/pg"},
		},
	},
	{
		name: "clusters: same pod name in two clusters, cloud call joins its cluster",
		events: func() []*event.Event {
			return []*event.Event{
				inCluster("prod", podCreate("shop", "web-1", "web", "", "web:prod")),
				inCluster("dev", podCreate("shop", "web-1", "web-dev", "", "web:dev")),
				inCluster("prod", logLine("shop", "web-1", "", "")),
				inCluster("dev", logLine("shop", "web-1", "", "")),
				logLine("shop", "web-1", "", ""), // no cluster: the latest learned
				inCluster("prod", saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb})),
				inCluster("dev", saWrite("create", "shop", "web", map[string]string{AnnotationGKE: gsaApp})),
				awsCall(sessWeb, "", "GetObject"),
			}
		},
		want: map[int]event.Entity{
			2: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", Pod: "shop/web-1", Images: []string{"web:prod"}},
			3: {Identity: "system:serviceaccount:shop:web-dev", ServiceAccount: "shop/web-dev", Pod: "shop/web-1", Images: []string{"web:dev"}},
			4: {Identity: "system:serviceaccount:shop:web-dev", ServiceAccount: "shop/web-dev", Pod: "shop/web-1", Images: []string{"web:dev"}},
			// The role was bound in prod: prod's service account answers,
			// not dev's namesake learned after it.
			7: {Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
		},
	},
}

// runner feeds a scenario's events to resolvers.
type runner struct {
	name string
	// prepare is called once per runner; the function it returns makes
	// the resolvers (events go to them in turn) on a fresh state.
	prepare func(t *testing.T) func(clock *fakeClock, prefix string) []*Resolver
	// oneBatch sends all events in one Resolve call.
	oneBatch bool
}

func memoryRunner(batched bool) func(*testing.T) func(*fakeClock, string) []*Resolver {
	return func(*testing.T) func(*fakeClock, string) []*Resolver {
		return func(clock *fakeClock, _ string) []*Resolver {
			m := NewMemory(0)
			m.now = clock.Now
			var s Store = m
			if batched {
				s = &batchedStore{Store: m}
			}
			return []*Resolver{New(s, Options{Now: clock.Now})}
		}
	}
}

func redisRunner(replicas int) func(*testing.T) func(*fakeClock, string) []*Resolver {
	return func(t *testing.T) func(*fakeClock, string) []*Resolver {
		c := newRedisClient(t)
		return func(clock *fakeClock, prefix string) []*Resolver {
			s := NewRedis(c, prefix)
			var rs []*Resolver
			for range replicas {
				rs = append(rs, New(s, Options{Now: clock.Now}))
			}
			return rs
		}
	}
}

var runners = []runner{
	{"memory/each", memoryRunner(false), false},
	{"memory/one-batch", memoryRunner(false), true},
	{"batched/each", memoryRunner(true), false},
	{"batched/one-batch", memoryRunner(true), true},
	{"redis/each", redisRunner(1), false},
	{"redis/one-batch", redisRunner(1), true},
	{"redis/two-replicas", redisRunner(2), false},
}

func TestResolveScenarios(t *testing.T) {
	for _, rn := range runners {
		t.Run(rn.name, func(t *testing.T) {
			setup := rn.prepare(t)
			for i, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					clock := newFakeClock()
					rs := setup(clock, fmt.Sprintf("sc%d:", i))
					evs := sc.events()
					ctx := context.Background()
					if rn.oneBatch {
						if err := rs[0].Resolve(ctx, evs); err != nil {
							t.Fatal(err)
						}
					} else {
						for j, ev := range evs {
							if err := rs[j%len(rs)].Resolve(ctx, []*event.Event{ev}); err != nil {
								t.Fatalf("event %d: %v", j, err)
							}
							clock.Add(time.Second)
						}
					}
					for j, want := range sc.want {
						if got := evs[j].Entity; !reflect.DeepEqual(got, want) {
							t.Errorf("event %d (%s %s):\n got %+v\nwant %+v", j, evs[j].Source, evs[j].Action, got, want)
						}
					}
				})
			}
		})
	}
}

// TestTwoReplicas: one replica learns, the other resolves, through Redis.
func TestTwoReplicas(t *testing.T) {
	s := NewRedis(newRedisClient(t), "vigia:resolve:")
	a, b := New(s, Options{}), New(s, Options{})
	ctx := context.Background()
	learn := []*event.Event{
		podCreate("shop", "web-1", "web", "ReplicaSet/web-1", "nginx:1.27"),
		podBinding("shop", "web-1", "node-a"),
		saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb}),
		webIdentity("system:serviceaccount:pay:api", roleAPI, sessAPI, "ASIAAPI1"),
	}
	if err := a.Resolve(ctx, learn); err != nil {
		t.Fatal(err)
	}
	ask := []*event.Event{
		logLine("shop", "web-1", "", ""),
		awsCall(sessWeb, "ASIAWEB1", "GetObject"),
		awsCall("", "ASIAAPI1", "GetObject"),
	}
	if err := b.Resolve(ctx, ask); err != nil {
		t.Fatal(err)
	}
	want := []event.Entity{
		{Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb},
			Pod: "shop/web-1", Node: "node-a", Images: []string{"nginx:1.27"}, Owner: "ReplicaSet/web-1"},
		{Identity: "system:serviceaccount:shop:web", ServiceAccount: "shop/web", CloudIdentities: []string{roleWeb}},
		{Identity: "system:serviceaccount:pay:api", ServiceAccount: "pay/api", CloudIdentities: []string{roleAPI}},
	}
	for i, w := range want {
		if got := ask[i].Entity; !reflect.DeepEqual(got, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if st := b.Stats(); st.Resolved != 3 || st.Learned != 0 {
		t.Errorf("resolving replica stats %+v, want 3 resolved, nothing learned", st)
	}
}

// TestBatchRoundTrips: a batch costs at most two reads (a cloud identity,
// then its service account) and one write, whatever its size.
func TestBatchRoundTrips(t *testing.T) {
	st := &batchedStore{Store: NewMemory(0)}
	r := New(st, Options{})
	ctx := context.Background()
	var learn []*event.Event
	for i := range 50 {
		ns := fmt.Sprintf("ns%d", i)
		learn = append(learn,
			saWrite("create", ns, "app", map[string]string{AnnotationIRSA: fmt.Sprintf("arn:aws:iam::111122223333:role/r%d", i)}),
			podCreate(ns, "app-0", "app", "", "app:1"))
	}
	if err := r.Resolve(ctx, learn); err != nil {
		t.Fatal(err)
	}
	if g, s := st.gets.Load(), st.sets.Load(); g > 2 || s != 1 {
		t.Errorf("learning batch: %d reads, %d writes; want <= 2 and 1", g, s)
	}
	st.gets.Store(0)
	st.sets.Store(0)
	var ask []*event.Event
	for i := range 50 {
		ask = append(ask,
			awsCall(fmt.Sprintf("arn:aws:sts::111122223333:assumed-role/r%d/s", i), fmt.Sprintf("ASIA%d", i), "GetObject"),
			logLine(fmt.Sprintf("ns%d", i), "app-0", "node-a", ""))
	}
	if err := r.Resolve(ctx, ask); err != nil {
		t.Fatal(err)
	}
	if g := st.gets.Load(); g != 2 {
		t.Errorf("resolving batch: %d reads, want 2", g)
	}
	for i, ev := range ask {
		want := fmt.Sprintf("system:serviceaccount:ns%d:app", i/2)
		if ev.Entity.Identity != want || len(ev.Entity.CloudIdentities) != 1 {
			t.Errorf("event %d: %+v, want identity %s with its role", i, ev.Entity, want)
		}
	}
}

func TestTTL(t *testing.T) {
	clock := newFakeClock()
	m := NewMemory(0)
	m.now = clock.Now
	r := New(m, Options{Now: clock.Now, TTL: 10 * time.Hour, SessionTTL: 30 * time.Minute, DeleteGrace: 30 * time.Minute})
	ctx := context.Background()
	resolve := func(evs ...*event.Event) {
		t.Helper()
		if err := r.Resolve(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	resolve(
		podCreate("shop", "busy", "web", "", "nginx"),
		podCreate("shop", "idle", "web", "", "nginx"),
		podCreate("shop", "doomed", "web", "", "nginx"),
		webIdentity("system:serviceaccount:pay:api", roleAPI, sessAPI, "ASIAAPI1"),
	)
	resolve(podDelete("shop", "doomed"))

	clock.Add(45 * time.Minute) // past the session TTL and the delete grace
	key := awsCall("", "ASIAAPI1", "GetObject")
	other := awsCall("arn:aws:sts::111122223333:assumed-role/api-role/next", "ASIANEXT", "GetObject")
	doomed := logLine("shop", "doomed", "", "")
	resolve(key, other, doomed)
	if key.Entity.ServiceAccount != "" {
		t.Errorf("expired access key still resolves: %+v", key.Entity)
	}
	if other.Entity.ServiceAccount != "pay/api" {
		t.Errorf("the role link expired with the session: %+v", other.Entity)
	}
	if doomed.Entity.ServiceAccount != "" {
		t.Errorf("deleted pod resolves after its grace: %+v", doomed.Entity)
	}

	clock.Add(5*time.Hour + 15*time.Minute) // 6h: past half the TTL
	busy := logLine("shop", "busy", "", "")
	resolve(busy) // in use: written again
	if busy.Entity.ServiceAccount != "shop/web" {
		t.Fatalf("busy pod before its TTL: %+v", busy.Entity)
	}
	clock.Add(5 * time.Hour) // 11h: past the TTL of the first write
	busy, idle := logLine("shop", "busy", "", ""), logLine("shop", "idle", "", "")
	resolve(busy, idle)
	if busy.Entity.ServiceAccount != "shop/web" {
		t.Errorf("pod in use expired: %+v", busy.Entity)
	}
	if idle.Entity.ServiceAccount != "" {
		t.Errorf("idle pod outlived its TTL: %+v", idle.Entity)
	}
}

func TestRedisKeysHaveTTL(t *testing.T) {
	c := newRedisClient(t)
	r := New(NewRedis(c, "v:"), Options{TTL: 10 * time.Hour, SessionTTL: time.Hour})
	ctx := context.Background()
	err := r.Resolve(ctx, []*event.Event{
		inCluster("prod", podCreate("shop", "web-1", "web", "", "nginx")),
		inCluster("prod", saWrite("create", "shop", "web", map[string]string{AnnotationIRSA: roleWeb})),
		webIdentity("system:serviceaccount:shop:web", roleWeb, sessWeb, "ASIAWEB1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		"v:pod:shop/web-1":      10 * time.Hour,
		"v:pod:shop/web-1@prod": 10 * time.Hour,
		"v:sa:shop/web":         10 * time.Hour,
		"v:sa:shop/web@prod":    10 * time.Hour,
		"v:cloud:" + roleWebKey: 10 * time.Hour,
		"v:cloud:" + sessWeb:    time.Hour,
		"v:cloud:ASIAWEB1":      time.Hour,
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys %q, want %d", keys, len(want))
	}
	for k, ttl := range want {
		got, err := c.PTTL(ctx, k).Result()
		if err != nil || got <= ttl-time.Minute || got > ttl {
			t.Errorf("PTTL %s = %v, %v; want about %v", k, got, err, ttl)
		}
	}
}

func TestStoreErrors(t *testing.T) {
	boom := errors.New("connection refused")
	r := New(failingStore{boom}, Options{})
	exec := userExec("alice@example.com", "shop", "web-1")
	call := awsCall(sessWeb, "ASIAWEB1", "GetObject")
	err := r.Resolve(context.Background(), []*event.Event{podCreate("shop", "web-1", "web", "", "nginx"), exec, call})
	if !errors.Is(err, ErrStore) || !errors.Is(err, boom) {
		t.Fatalf("Resolve = %v, want ErrStore wrapping the cause", err)
	}
	// What the events carry themselves, and what earlier events of the
	// batch taught, is still there.
	if want := (event.Entity{Identity: "alice@example.com", Pod: "shop/web-1", PodServiceAccount: "shop/web", Images: []string{"nginx"}}); !reflect.DeepEqual(exec.Entity, want) {
		t.Errorf("exec entity %+v, want %+v", exec.Entity, want)
	}
	if call.Entity.Identity != roleWebKey {
		t.Errorf("call identity %q, want the role %s", call.Entity.Identity, roleWebKey)
	}
	if st := r.Stats(); st.Errors != 1 || st.Learned != 0 {
		t.Errorf("stats %+v, want one error and nothing learned", st)
	}
}

func TestStats(t *testing.T) {
	r := New(NewMemory(0), Options{})
	evs := []*event.Event{
		podCreate("shop", "web-1", "web", "", "nginx"),         // learns; resolves its own pod
		logLine("shop", "web-1", "node-a", ""),                 // learns the node; resolved
		logLine("shop", "unknown", "", ""),                     // miss
		awsCall("arn:aws:iam::111122223333:user/bob", "", "x"), // nothing to look up
		awsCall(sessAPI, "ASIAAPI1", "x"),                      // miss: an unknown session
		userExec("alice@example.com", "shop", "web-1"),         // resolved
	}
	if err := r.Resolve(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Resolved != 3 || st.Misses != 2 || st.Errors != 0 {
		t.Errorf("stats %+v, want 3 resolved, 2 misses", st)
	}
	// pod:shop/web-1 written once at the end of the batch.
	if st.Learned != 1 {
		t.Errorf("learned %d keys, want 1", st.Learned)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	err := Options{TTL: -time.Second, DeleteGrace: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "ttl") || !strings.Contains(err.Error(), "delete_grace") {
		t.Errorf("negative options: %v", err)
	}
}
