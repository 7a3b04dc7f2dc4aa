package k8saudit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		privilegedPod,
		`{"kind":"EventList","items":[{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z"},42,"x",null]}`,
		`{"items":[{"auditID":"a","verb":"get","metadata":{"creationTimestamp":"2018-10-25T13:58:49Z"}}]}`,
		`{"event":{"auditID":"a","verb":"patch","timestamp":"2018-10-25T13:58:49Z","objectRef":{"resource":"secrets","subresource":""},"requestObject":[{"op":"add","value":"x"}],"responseObject":{"kind":"Status"}}}`,
		`{"auditID":"e","verb":"create","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/d/pods/p/exec?command=%zz&command=a+b&;=&container=c","objectRef":{"resource":"pods","subresource":"exec"},"timestamp":"2018-10-25T13:58:49Z","user":{"username":"system:serviceaccount:x"}}`,
		`{"insertId":"i","timestamp":"2024-05-12T05:13:08Z","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.a.b.v1beta1.r.s.v","resourceName":"a/b/namespaces//r//s/t/u/v/w","status":{"code":-3},"response":{"kind":"Status","code":1e40}}}`,
		`{"category":"kube-audit","properties":{"log":"{\"category\":\"kube-audit\",\"properties\":{\"log\":\"{}\"}}"}}`,
		`{"category":"KUBE-AUDIT-ADMIN","resourceId":"/managedclusters/","properties":{"log":{"auditID":"a","verb":"get","timestamp":"2018-10-25T13:58:49Z"}}}`,
		`{"kind": 0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(data)
		if err != nil {
			return
		}
		_, a := newEvent()
		if got, want := fmt.Sprint(a.any(v)), fmt.Sprint(normalize.Any(v)); got != want {
			t.Fatalf("raw conversion differs from normalize.Any:\n%s\n%s", got, want)
		}
		if !Detect(v) {
			return
		}
		for _, raw := range []bool{false, true} {
			evs, _ := Decode(v, normalize.Options{Raw: raw}, normalize.Meta{})
			for _, ev := range evs {
				if ev.Source == "" || ev.ID == "" || ev.Action == "" || ev.Time.IsZero() || ev.Outcome == "" {
					t.Fatalf("incomplete event: %+v", ev)
				}
				if raw != (ev.RawMap() != nil) {
					t.Fatalf("raw=%v but Raw is %v", raw, ev.RawMap() != nil)
				}
			}
		}
	})
}
