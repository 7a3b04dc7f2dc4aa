package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/detect"
	"github.com/vigia-dev/vigia/internal/replay"
	"github.com/vigia-dev/vigia/internal/rule"
)

// maxTemplateBytes leaves out the rare huge records (a CloudTrail record
// padded to 65 KB): they are tests of limits, not traffic.
const maxTemplateBytes = 32 << 10

type templateSet struct {
	by      map[string][classes][]*template // source -> templates by class
	dropped map[string]int                  // reason -> sample records left out
	fired   map[string]int                  // rule id -> attack templates it fires on
}

type setKey struct{ root, samples string }

var (
	cacheMu sync.Mutex
	cache   = map[setKey]*templateSet{}
)

// loadTemplates returns the classified templates of the bundled samples
// under root and of the public samples (when samples is set). Sets are
// cached per process: they depend on nothing else.
func loadTemplates(root, samples string) (*templateSet, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	k := setKey{root, samples}
	if s := cache[k]; s != nil {
		return s, nil
	}
	l, err := newLoader(root)
	if err != nil {
		return nil, err
	}
	if err := l.bundled(); err != nil {
		return nil, err
	}
	if samples != "" {
		if err := l.public(samples); err != nil {
			return nil, err
		}
	}
	detect.Flush() // nothing held back for the pipeline of this process
	cache[k] = l.set
	return l.set, nil
}

type loader struct {
	root  string
	rules *rule.Set
	eval  *rule.Evaluator
	auto  normalize.Normalizer
	norms map[string]normalize.Normalizer
	seen  map[[32]byte]bool
	set   *templateSet
	p     fastjson.Parser
	alrt  []*alert.Alert
}

func newLoader(root string) (*loader, error) {
	rules, err := rule.Load([]string{filepath.Join(root, "detections")}, rule.Options{Root: root})
	if err != nil {
		return nil, fmt.Errorf("gen: loading the shipped rules: %w", err)
	}
	l := &loader{root: root, rules: rules, eval: rules.NewEvaluator(), norms: map[string]normalize.Normalizer{},
		seen: map[[32]byte]bool{}, set: &templateSet{by: map[string][classes][]*template{}, dropped: map[string]int{}, fired: map[string]int{}}}
	opts := normalize.Options{Raw: true}
	if l.auto, err = detect.New(detect.Auto, opts); err != nil {
		return nil, err
	}
	for _, s := range event.Sources {
		if l.norms[s], err = detect.New(s, opts); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// bundled adds the samples shipped in the repository: the demo's stories
// and every rule test's example events.
func (l *loader) bundled() error {
	files, err := filepath.Glob(filepath.Join(l.root, "deploy", "local", "samples", "*.jsonl"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := l.file(f); err != nil {
			return err
		}
	}
	for _, r := range l.rules.Rules {
		for _, t := range r.Tests {
			if len(t.Event) > 0 {
				l.add(t.Event, t.File, r.File, 0)
			}
			for _, e := range t.Events {
				l.add(e, "", r.File, 0)
			}
		}
	}
	return nil
}

// public adds every record of the public sample logs.
func (l *loader) public(dir string) error {
	files, err := replay.Files([]string{dir})
	if err != nil {
		return fmt.Errorf("gen: public samples: %w", err)
	}
	for _, f := range files {
		if err := l.file(f); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) file(path string) error {
	return replay.Read(path, func(r replay.Record) error {
		if r.Err != nil {
			l.set.dropped["unreadable"]++
			return nil
		}
		l.add(r.Data, r.File, r.Origin, 0)
		return nil
	})
}

// add normalizes one sample record and, when it is one event, compiles
// and classifies it. A record packing several events is split.
func (l *loader) add(data []byte, file, origin string, depth int) {
	data = bytes.TrimSpace(data)
	evs, errs := l.auto.Normalize(data, normalize.Meta{File: file})
	switch {
	case len(errs) > 0:
		l.set.dropped["normalize_error"]++
		return
	case len(evs) == 0:
		detect.Flush() // a partial container log line: not a whole message
		l.set.dropped["no_event"]++
		return
	case len(evs) > 1:
		parts := split(data)
		if parts == nil || depth > 0 {
			l.set.dropped["batch"]++
			return
		}
		for _, p := range parts {
			l.add(p, file, origin, depth+1)
		}
		return
	}
	ev := evs[0]
	if ev.Source == event.SourceContainerLog && ev.K8s.Pod != "" && !bytes.Contains(data, []byte(ev.K8s.Pod)) {
		// The pod came from the log file's name, which Kafka does not
		// carry: ship it as Fluent Bit's kubernetes filter would.
		data = fluentBit(ev)
		if evs, errs = l.auto.Normalize(data, normalize.Meta{}); len(errs) > 0 || len(evs) != 1 {
			l.set.dropped["normalize_error"]++
			return
		}
		ev = evs[0]
	}
	if len(data) > maxTemplateBytes {
		l.set.dropped["too_large"]++
		return
	}
	sum := sha256.Sum256(data)
	if l.seen[sum] {
		l.set.dropped["duplicate"]++
		return
	}
	l.seen[sum] = true
	t, ok := l.compile(data, ev)
	if !ok {
		l.set.dropped["not_compiled"]++
		return
	}
	t.origin = origin
	attack, signal, fired, reason := l.classify(t, ev)
	if reason != "" {
		l.set.dropped[reason]++
		return
	}
	class := classBenign
	switch {
	case attack:
		class = classAttack
	case signal:
		class = classSignal
	case strings.HasSuffix(origin, ".yaml"):
		// A rule test's negative example: written to come close to the
		// rule without matching, unlike ordinary traffic.
		class = classNearMiss
	}
	cls := l.set.by[t.source]
	cls[class] = append(cls[class], t)
	l.set.by[t.source] = cls
	for _, id := range fired {
		l.set.fired[id]++
	}
}

// split splits a batch record into one record per event: a CloudTrail
// {"Records":[...]} file, a Kubernetes EventList, an Event Hubs export
// (each record kept in its envelope).
func split(data []byte) [][]byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	for _, k := range []string{"Records", "items", "records"} {
		var items []json.RawMessage
		if raw, ok := doc[k]; !ok || json.Unmarshal(raw, &items) != nil {
			continue
		}
		out := make([][]byte, 0, len(items))
		for _, it := range items {
			if k == "records" {
				out = append(out, append(append([]byte(`{"records":[`), it...), "]}"...))
			} else {
				out = append(out, it)
			}
		}
		return out
	}
	return nil
}

// fluentBit writes a container log event as a Fluent Bit record with the
// kubernetes filter's metadata.
func fluentBit(ev *event.Event) []byte {
	stream := ev.Log.Stream
	if stream == "" {
		stream = "stdout"
	}
	k := map[string]string{"pod_name": ev.K8s.Pod, "namespace_name": ev.K8s.Namespace, "container_name": ev.K8s.Container}
	if ev.K8s.Image != "" {
		k["container_image"] = ev.K8s.Image
	}
	b, _ := json.Marshal(map[string]any{"time": ev.Time.Format(time.RFC3339Nano), "stream": stream, "log": ev.Message + "\n", "kubernetes": k})
	return b
}

// compile splits a record into segments around its substitutions.
func (l *loader) compile(data []byte, ev *event.Event) (*template, bool) {
	tok := &tokens{evTime: ev.Time, words: map[string]placeholder{}}
	if id := ev.ID; len(id) >= 4 {
		tok.id = append(tok.id, id)
		if i := strings.LastIndexByte(id, '/'); i >= 0 && len(id)-i > 4 {
			tok.id = append(tok.id, id[i+1:])
		}
	}
	found := false
	for _, id := range tok.id {
		found = found || bytes.Contains(data, []byte(`"`+id+`"`)) || bytes.Contains(data, []byte(`\"`+id+`\"`))
	}
	tok.hashID = !found
	if !found {
		tok.id = nil
	}
	var v *fastjson.Value
	if len(data) > 0 && (data[0] == '{' || data[0] == '[') {
		var err error
		if v, err = l.p.ParseBytes(data); err != nil {
			return nil, false
		}
		tok.words = identityWords(ev, v)
	}
	pods := []string{ev.K8s.Pod}
	if ev.Target.Type == "pods" {
		pods = append(pods, ev.Target.Name)
	}
	for _, p := range pods {
		if len(p) >= 3 {
			tok.words[p] = placeholder{kind: phPod}
		}
	}
	for _, ns := range []string{ev.K8s.Namespace, ev.Target.Namespace} {
		if !systemNamespace(ns) {
			tok.ns, tok.nsEnv = ns, envOf(ns)
			break
		}
	}
	b := &builder{tok: tok}
	if v != nil {
		b.value(v, "")
	} else {
		// A CRI line: "<time> <stream> <P|F> <message>".
		s := string(data)
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return nil, false
		}
		_, sep, frac, zone, ok := parseStamp(s[:sp])
		if !ok {
			return nil, false
		}
		b.ph(placeholder{kind: phTime, sep: sep, frac: max(frac, 9), zone: zone})
		b.lit = append(b.lit, s[sp:]...)
	}
	return &template{source: ev.Source, segs: b.finish(), size: len(data)}, true
}

// classify renders t with three different identities, pods and times and
// runs each through the source's own normalizer and the rules: it must
// give one event of the source with the new time and a new id each time,
// and the same class each time.
func (l *loader) classify(t *template, orig *event.Event) (attack, signal bool, fired []string, reason string) {
	n := l.norms[t.source]
	rc := newRenderCtx(DefaultIdentities, DefaultPods)
	base := time.Date(2030, 1, 2, 3, 4, 5, 678901234, time.UTC)
	ids := map[string]bool{orig.ID: true}
	for i, v := range [][2]int{{1, 5}, {42, 1234}, {777, 8888}} {
		rc.identity, rc.pod = v[0], v[1]
		rc.time = base.Add(time.Duration(i) * 37 * time.Second)
		rc.id = uint64(1000 + i)
		data := t.render(nil, &rc)
		evs, errs := n.Normalize(data, normalize.Meta{})
		if len(errs) > 0 || len(evs) != 1 {
			detect.Flush()
			return false, false, nil, "rendered_not_one_event"
		}
		ev := evs[0]
		if ev.Source != t.source {
			return false, false, nil, "rendered_other_source"
		}
		if d := ev.Time.Sub(rc.time); d < -time.Second || d > time.Second {
			return false, false, nil, "time_not_substituted"
		}
		if ids[ev.ID] {
			return false, false, nil, "id_not_substituted"
		}
		ids[ev.ID] = true
		l.alrt = l.eval.Eval(l.alrt[:0], ev)
		var ruleIDs []string
		sig := false
		for _, a := range l.alrt {
			if r := l.rules.Rule(a.Rule.ID); r != nil && !r.SignalOnly {
				ruleIDs = append(ruleIDs, a.Rule.ID)
			} else if r != nil {
				sig = true
			}
		}
		a := len(ruleIDs) > 0
		if i > 0 && (a != attack || sig != signal) {
			return false, false, nil, "unstable_class"
		}
		attack, signal, fired = a, sig, ruleIDs
	}
	return attack, signal, fired, ""
}
