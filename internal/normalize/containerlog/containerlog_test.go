package containerlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// decodeFixture decodes testdata/name with d: JSON records one per line,
// or a text file of CRI lines as one message.
func decodeFixture(t *testing.T, d *Decoder, name string, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".log") {
		return d.DecodeText(data, o, m)
	}
	var evs []*event.Event
	var errs []error
	var p fastjson.Parser
	for _, ln := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		v, err := p.ParseBytes(ln)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !Detect(v) {
			t.Fatalf("%s: Detect = false", name)
		}
		e, es := d.Decode(v, o, m)
		evs = append(evs, e...)
		errs = append(errs, es...)
	}
	return evs, errs
}

// view is the part of an event the fixture tests compare exactly.
type view struct {
	Source, Action, Outcome, Message string
	Time                             time.Time
	Actor                            event.Actor
	Target                           event.Target
	K8s                              event.K8s
	Log                              event.Log
	Cloud                            event.Cloud
}

func viewOf(ev *event.Event) view {
	return view{Source: ev.Source, Action: ev.Action, Outcome: ev.Outcome, Message: ev.Message, Time: ev.Time,
		Actor: ev.Actor, Target: ev.Target, K8s: ev.K8s, Log: ev.Log, Cloud: ev.Cloud}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const tomcatFile = "/var/log/containers/tomcat-5b6c7d8e9f-abcde_billing_tomcat-4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c.log"

func TestFixtures(t *testing.T) {
	workload := func(ns, pod string) event.Actor { return event.Actor{Name: ns + "/" + pod, Type: "workload"} }
	tests := []struct {
		file string
		opts normalize.Options
		meta normalize.Meta
		want []view
	}{
		{
			file: "docker.json",
			opts: normalize.Options{Cluster: "prod-sp"},
			meta: normalize.Meta{File: tomcatFile},
			want: []view{{
				Message: `2024-05-14 13:02:11,402 INFO  [main] o.a.c.h.Http11NioProtocol - Starting ProtocolHandler ["http-nio-8080"]`,
				Time:    ts("2024-05-14T13:02:11.402318712Z"),
				Actor:   workload("billing", "tomcat-5b6c7d8e9f-abcde"),
				Target:  event.Target{Type: "pods", Namespace: "billing", Name: "tomcat-5b6c7d8e9f-abcde"},
				K8s: event.K8s{Cluster: "prod-sp", Namespace: "billing", Pod: "tomcat-5b6c7d8e9f-abcde", Container: "tomcat",
					ContainerID: "4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c"},
				Log: event.Log{Stream: "stdout", File: tomcatFile, Format: "docker"},
			}},
		},
		{
			file: "fluentbit.json",
			want: []view{{
				Message: `10.244.1.7 - - [14/May/2024:13:05:40 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"`,
				Time:    ts("2024-05-14T13:05:40.118203114Z"),
				Actor:   workload("shop", "web-6d9f7b8c5-x2kqp"),
				Target:  event.Target{Type: "pods", Namespace: "shop", Name: "web-6d9f7b8c5-x2kqp", ID: "5f0c1a52-7d1e-4c1a-9a55-2b8c0f6a1d01"},
				K8s: event.K8s{Namespace: "shop", Pod: "web-6d9f7b8c5-x2kqp", Container: "nginx",
					ContainerID: "3f2a9c0e6b1d4e8f9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
					Node:        "ip-10-0-3-17.eu-west-1.compute.internal", Image: "nginx:1.25.4",
					Labels: map[string]string{"app": "web", "pod-template-hash": "6d9f7b8c5"}},
				Log: event.Log{Stream: "stdout", Format: "fluentbit"},
			}},
		},
		{
			// A CRI line still in log, pod from the tail tag, time from the CRI line.
			file: "fluentbit-cri.json",
			want: []view{{
				Message: "panic: runtime error: invalid memory address or nil pointer dereference",
				Time:    ts("2024-05-14T13:07:00.500000001Z"),
				Actor:   workload("jobs", "worker-7c9d8e6f5-q8w7e"),
				Target:  event.Target{Type: "pods", Namespace: "jobs", Name: "worker-7c9d8e6f5-q8w7e"},
				K8s: event.K8s{Namespace: "jobs", Pod: "worker-7c9d8e6f5-q8w7e", Container: "worker",
					ContainerID: "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"},
				Log: event.Log{Stream: "stderr", Format: "fluentbit"},
			}},
		},
		{
			// The URL password is redacted.
			file: "vector.json",
			opts: normalize.Options{Cluster: "aks-br"},
			want: []view{{
				Message: "connecting to postgres://ledger:[REDACTED]@ledger-db.payments.svc:5432/ledger",
				Time:    ts("2024-05-14T13:10:05.250371Z"),
				Actor:   workload("payments", "ledger-7c6d5e4f3-abcde"),
				Target:  event.Target{Type: "pods", Namespace: "payments", Name: "ledger-7c6d5e4f3-abcde", ID: "0a1b2c3d-4e5f-4061-8a7b-9c0d1e2f3a4b"},
				K8s: event.K8s{Cluster: "aks-br", Namespace: "payments", Pod: "ledger-7c6d5e4f3-abcde", Container: "ledger",
					ContainerID: "8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c",
					Node:        "aks-nodepool1-12345678-vmss000002",
					Image:       "registry.example.com/payments/ledger@sha256:1111111111111111111111111111111111111111111111111111111111111111",
					Labels:      map[string]string{"app.kubernetes.io/name": "ledger", "data-sensitivity": "lgpd-personal"}},
				Log: event.Log{Stream: "stderr", File: "/var/log/pods/payments_ledger-7c6d5e4f3-abcde_0a1b2c3d-4e5f-4061-8a7b-9c0d1e2f3a4b/ledger/0.log", Format: "vector"},
			}},
		},
		{
			file: "cribl.json",
			want: []view{{
				Message: `[INFO] 10.244.0.70:57832 - 7106 "A IN cart.default.svc.cluster.local. udp 48 false 512" NOERROR qr,aa,rd 102 0.000131s`,
				Time:    time.Unix(1751579715, 299000000).UTC(),
				Actor:   workload("kube-system", "coredns-674b8bbfcf-85j95"),
				Target:  event.Target{Type: "pods", Namespace: "kube-system", Name: "coredns-674b8bbfcf-85j95"},
				K8s: event.K8s{Namespace: "kube-system", Pod: "coredns-674b8bbfcf-85j95", Container: "coredns", Node: "minikube",
					Image: "registry.k8s.io/coredns/coredns:v1.12.0", Labels: map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "674b8bbfcf"}},
				Log: event.Log{Format: "cribl"},
			}},
		},
		{
			file: "gke.json",
			opts: normalize.Options{Cluster: "ignored-when-the-entry-names-one"},
			want: []view{{
				Message: "order 4711 accepted",
				Time:    ts("2024-05-14T13:12:01.123456789Z"),
				Actor:   workload("shop", "checkout-5d8c7b6a9-7xk2p"),
				Target:  event.Target{Type: "pods", Namespace: "shop", Name: "checkout-5d8c7b6a9-7xk2p"},
				K8s: event.K8s{Cluster: "prod-eu", Namespace: "shop", Pod: "checkout-5d8c7b6a9-7xk2p", Container: "checkout",
					Node: "gke-prod-default-pool-1a2b3c4d-x9y8", Labels: map[string]string{"app": "checkout", "pod-template-hash": "5d8c7b6a9"}},
				Log:   event.Log{Stream: "stdout", Format: "gke"},
				Cloud: event.Cloud{Provider: "gcp", Account: "acme-prod", Region: "europe-west1"},
			}},
		},
		{
			// Interleaved streams: the stderr traceback is reassembled from
			// three parts and takes the first part's time; a /var/log/pods path.
			file: "cri.log",
			meta: normalize.Meta{File: "/var/log/pods/shop_orders-api-0_6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f/api/0.log"},
			want: []view{
				{
					Message: "GET /api/orders 200 12ms",
					Time:    ts("2024-05-14T13:15:00.000000001Z"),
				},
				{
					Message: "GET /api/orders/17 200 9ms",
					Time:    ts("2024-05-14T13:15:01.1000005Z"),
				},
				{
					Message: `Traceback (most recent call last): File "/app/main.py", line 42, in handler`,
					Time:    ts("2024-05-14T13:15:01.1Z"),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := New(Limits{})
			evs, errs := decodeFixture(t, d, tt.file, tt.opts, tt.meta)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(evs), len(tt.want))
			}
			for i, want := range tt.want {
				want.Source, want.Action, want.Outcome = "container_log", "log", "unknown"
				if tt.file == "cri.log" {
					stream := "stdout"
					if i == 2 {
						stream = "stderr"
					}
					want.Log = event.Log{Stream: stream, File: tt.meta.File, Format: "cri"}
					want.Actor = workload("shop", "orders-api-0")
					want.Target = event.Target{Type: "pods", Namespace: "shop", Name: "orders-api-0", ID: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"}
					want.K8s = event.K8s{Namespace: "shop", Pod: "orders-api-0", Container: "api"}
				}
				if got := viewOf(evs[i]); !reflect.DeepEqual(got, want) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got, want)
				}
				if len(evs[i].ID) != 32 || strings.Trim(evs[i].ID, "0123456789abcdef") != "" {
					t.Errorf("event %d: id %q is not 32 hex digits", i, evs[i].ID)
				}
				if evs[i].RawMap() != nil {
					t.Errorf("event %d: raw set without Options.RawMap()", i)
				}
			}
			if d.Pending() != 0 {
				t.Errorf("%d lines still pending", d.Pending())
			}
			// Decoding again yields the same ids: replays are idempotent.
			again, _ := decodeFixture(t, New(Limits{}), tt.file, tt.opts, tt.meta)
			for i := range evs {
				if again[i].ID != evs[i].ID {
					t.Errorf("event %d: id %s, then %s", i, evs[i].ID, again[i].ID)
				}
			}
		})
	}
}

func TestIDsDiffer(t *testing.T) {
	d := New(Limits{})
	base := `2024-05-14T13:15:00.000000001Z stdout F hello`
	variants := []struct {
		line, file string
	}{
		{base, "/var/log/containers/a_ns_c.log"},
		{base, "/var/log/containers/b_ns_c.log"},                                         // other pod
		{base, "/var/log/containers/a_ns_d.log"},                                         // other container
		{strings.Replace(base, "stdout", "stderr", 1), "/var/log/containers/a_ns_c.log"}, // other stream
		{strings.Replace(base, "01Z", "02Z", 1), "/var/log/containers/a_ns_c.log"},       // other time
		{base + "!", "/var/log/containers/a_ns_c.log"},                                   // other message
	}
	seen := map[string]int{}
	for i, v := range variants {
		evs, errs := d.DecodeText([]byte(v.line), normalize.Options{}, normalize.Meta{File: v.file})
		if len(errs) > 0 || len(evs) != 1 {
			t.Fatalf("variant %d: %v", i, errs)
		}
		if j, dup := seen[evs[0].ID]; dup {
			t.Errorf("variants %d and %d share id %s", j, i, evs[0].ID)
		}
		seen[evs[0].ID] = i
	}
}

func TestRaw(t *testing.T) {
	d := New(Limits{})
	evs, errs := decodeFixture(t, d, "fluentbit.json", normalize.Options{Raw: true}, normalize.Meta{})
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("%d events, errors %v", len(evs), errs)
	}
	raw := evs[0].RawMap()
	if raw["stream"] != "stdout" {
		t.Errorf("raw.stream = %v", raw["stream"])
	}
	if raw["log"] != evs[0].Message {
		t.Errorf("raw.log = %q, want the message %q", raw["log"], evs[0].Message)
	}
	k, _ := raw["kubernetes"].(map[string]any)
	if ann, _ := k["annotations"].(map[string]any); ann == nil || ann[lastApplied] != nil {
		t.Errorf("last-applied-configuration kept in raw: %v", k["annotations"])
	}

	evs, _ = d.DecodeText([]byte("2024-05-14T13:15:00.000000001Z stderr F:x password=hunter2"), normalize.Options{Raw: true}, normalize.Meta{})
	want := map[string]any{"time": "2024-05-14T13:15:00.000000001Z", "stream": "stderr", "logtag": "F:x", "message": "password=[REDACTED]"}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0].RawMap(), want) {
		t.Errorf("CRI raw = %v, want %v", evs[0].RawMap(), want)
	}
}

func TestTextErrors(t *testing.T) {
	d := New(Limits{})
	msg := "2024-05-14T13:15:00Z stdout F ok\n\nplain text line without a prefix\n2024-05-14T13:15:01Z stdin F bad stream\n2024-05-14T13:15:02Z stdout X bad tag\n2024-05-14T13:15:03Z stdout F\n"
	evs, errs := d.DecodeText([]byte(msg), normalize.Options{}, normalize.Meta{})
	if len(evs) != 2 || evs[0].Message != "ok" || evs[1].Message != "" {
		t.Errorf("events: %+v", evs)
	}
	if len(errs) != 3 {
		t.Fatalf("errors: %v", errs)
	}
	for i, wantIdx := range []int{1, 2, 3} {
		var ie *normalize.ItemError
		if !errors.As(errs[i], &ie) || ie.Index != wantIdx || !errors.Is(errs[i], normalize.ErrInvalidEvent) {
			t.Errorf("error %d = %v, want item %d invalid event", i, errs[i], wantIdx)
		}
	}
	// A single bad line is a plain error.
	_, errs = d.DecodeText([]byte("hello world\n"), normalize.Options{}, normalize.Meta{})
	var ie *normalize.ItemError
	if len(errs) != 1 || errors.As(errs[0], &ie) || !errors.Is(errs[0], normalize.ErrInvalidEvent) {
		t.Errorf("single line error = %v", errs)
	}
	// The error quotes the line, redacted.
	_, errs = d.DecodeText([]byte("Authorization: Bearer abcdefghijklmnopqrstuvwxyz"), normalize.Options{}, normalize.Meta{})
	if len(errs) != 1 || strings.Contains(errs[0].Error(), "abcdefghijkl") {
		t.Errorf("error leaks the token: %v", errs)
	}
}

func TestRecordErrors(t *testing.T) {
	for _, rec := range []string{
		`{"log":"x\n","stream":"stdout","time":"yesterday"}`,
		`{"log":"x\n","stream":"stdout","time":null}`,
		`{"message":"x","kubernetes":{"pod_name":"p","namespace_name":"n"}}`,
		`{"_raw":"x","kube_pod":"p"}`,
	} {
		v := fastjson.MustParse(rec)
		if !Detect(v) {
			t.Errorf("%s: not detected", rec)
			continue
		}
		evs, errs := New(Limits{}).Decode(v, normalize.Options{}, normalize.Meta{})
		if len(evs) != 0 || len(errs) != 1 || !errors.Is(errs[0], normalize.ErrInvalidEvent) {
			t.Errorf("%s: events %v, errors %v; want one invalid event", rec, evs, errs)
		}
	}
}

func TestDetect(t *testing.T) {
	for rec, want := range map[string]bool{
		`{"log":"x","stream":"stdout","time":"2024-05-14T13:15:00Z"}`:                                true,
		`{"log":"x","stream":"stdout"}`:                                                              false,
		`{"message":"x","kubernetes":{"pod_name":"p","pod_namespace":"n"}}`:                          true,
		`{"message":"x","stream":"stdout","logtag":"F","time":"2024-05-14T13:15:00Z"}`:               true,
		`{"kubernetes":{"pod_name":"p"}}`:                                                            false,
		`{"_raw":"x","kube_pod":"p","_time":1}`:                                                      true,
		`{"_raw":"x","_time":1}`:                                                                     false,
		`{"resource":{"type":"k8s_container"},"textPayload":"x"}`:                                    true,
		`{"resource":{"type":"gce_instance"},"textPayload":"x"}`:                                     false,
		`{"auditID":"a","verb":"get","stage":"ResponseComplete","user":{"username":"u"}}`:            false,
		`{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser"}`:         false,
		`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"},"logName":"x"}`: false,
		`[1]`: false,
	} {
		if got := Detect(fastjson.MustParse(rec)); got != want {
			t.Errorf("Detect(%s) = %v, want %v", rec, got, want)
		}
	}
}

func TestParsePath(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for p, want := range map[string]podRef{
		"/var/log/containers/web-1_shop_nginx-" + id + ".log":                       {Pod: "web-1", Namespace: "shop", Container: "nginx", ContainerID: id},
		"web-1_shop_nginx.log":                                                      {Pod: "web-1", Namespace: "shop", Container: "nginx"},
		"kube.var.log.containers.web-1_shop_nginx-" + id + ".log":                   {Pod: "web-1", Namespace: "shop", Container: "nginx", ContainerID: id},
		"/var/log/pods/shop_web-1_5f0c1a52-7d1e-4c1a-9a55-2b8c0f6a1d01/nginx/0.log": {Namespace: "shop", Pod: "web-1", PodUID: "5f0c1a52-7d1e-4c1a-9a55-2b8c0f6a1d01", Container: "nginx"},
		"/var/log/pods/shop_web-1_uid/nginx/3.log.20240514-131500.gz":               {Namespace: "shop", Pod: "web-1", PodUID: "uid", Container: "nginx"},
		`C:\logs\web-1_shop_nginx.log`:                                              {Pod: "web-1", Namespace: "shop", Container: "nginx"},
		"/var/log/containers/web.1_shop_nginx-short.log":                            {Pod: "web.1", Namespace: "shop", Container: "nginx-short"},
	} {
		got, ok := parsePath(p)
		if !ok || got != want {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v", p, got, ok, want)
		}
	}
	for _, p := range []string{"", "app.log", "/var/log/syslog", "a_b.log", "a_b_c_d.log", "A_b_c.log", "a__c.log", "/x/ns_pod_uid/c/current.log", "a_b_c.txt"} {
		if got, ok := parsePath(p); ok {
			t.Errorf("parsePath(%q) = %+v, want no match", p, got)
		}
	}
}

func TestParseCRI(t *testing.T) {
	c, ok := parseCRI("2024-05-14T13:15:00.123+02:00 stderr P:x a b ")
	if !ok || c.stream != "stderr" || c.tag != "P:x" || !c.partial || c.msg != "a b " || !c.time.Equal(ts("2024-05-14T11:15:00.123Z")) {
		t.Errorf("parseCRI = %+v, %v", c, ok)
	}
	for _, s := range []string{"", "2024-05-14T13:15:00Z", "2024-05-14T13:15:00Z stdout", "2024-05-14 13:15:00 stdout F x", "2024-05-14T13:15:00Z stdout FP x", "13:15:00.000000000000 stdout F x"} {
		if c, ok := parseCRI(s); ok {
			t.Errorf("parseCRI(%q) = %+v, want no match", s, c)
		}
	}
}
