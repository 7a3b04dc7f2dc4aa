package azure

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// decodeFixture decodes testdata/name the way the dispatcher would for
// this package: each record of an Event Hubs export that is not
// kube-audit, each element of a JSON array, each line of JSON lines, or
// the whole value. Values Detect rejects are reported as errors.
func decodeFixture(t testing.TB, name string, o normalize.Options) ([]*event.Event, []error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var values []*fastjson.Value
	var p fastjson.Parser
	var evs []*event.Event
	var errs []error
	decodeValues := func(vs []*fastjson.Value) {
		for _, v := range vs {
			if !Detect(v) {
				errs = append(errs, errNotDetected)
				continue
			}
			e, es := Decode(v, o, normalize.Meta{File: name})
			evs = append(evs, e...)
			errs = append(errs, es...)
		}
	}
	if filepath.Ext(name) == ".jsonl" {
		for line := range bytes.Lines(data) {
			var lp fastjson.Parser
			v, err := lp.ParseBytes(line)
			if err != nil {
				t.Fatal(err)
			}
			decodeValues([]*fastjson.Value{v})
		}
		return evs, errs
	}
	v, err := p.ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case v.Type() == fastjson.TypeArray:
		values, _ = v.Array()
	case v.Get("records") != nil:
		for _, r := range v.GetArray("records") {
			if bytes.HasPrefix(bytes.ToLower(r.GetStringBytes("category")), []byte("kube-audit")) {
				continue
			}
			values = append(values, r)
		}
	default:
		values = []*fastjson.Value{v}
	}
	decodeValues(values)
	return evs, errs
}

type notDetected struct{}

func (notDetected) Error() string { return "not detected" }

var errNotDetected error = notDetected{}
