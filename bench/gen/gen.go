// Package gen generates a realistic, deterministic stream of security log
// messages for benchmarks: all five sources Vigia reads, mixed by volume as
// in a real organisation, re-timed onto a continuous event-time line, with
// many identities (a few very busy ones and a long tail) and many pods.
//
// Every message comes from a template: a real event of the bundled samples
// (deploy/local/samples and the example events of every rule test under
// detections/) or, when Options.Samples names it, of the public sample
// logs. Each template is compiled once into byte segments split where the
// message changes — the event id, every timestamp, the acting identity,
// the pod and its namespace — so a message costs a few appends, no JSON
// encoding.
//
// Each template is classified once, after those substitutions, by running
// it through the real normalizer of its source and the shipped rule set:
// an attack template raises at least one alert (signal-only rules do not
// count), a benign one raises none. A message is drawn from the attack
// templates with probability Options.AttackRatio.
//
//	g, err := gen.New(gen.Options{Events: 1_000_000, Seed: 1})
//	for range 1_000_000 {
//		m := g.Next() // m.Topic, m.Source, m.Value
//	}
package gen

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigia-dev/vigia/internal/corpus"
	"github.com/vigia-dev/vigia/internal/event"
)

// Options configure a Generator. Zero values take the defaults.
type Options struct {
	// Events is the number of messages the stream is planned for; it sets
	// the event-time span (Events/Rate) and the default Start. Next keeps
	// going past it. Default: 1,000,000.
	Events int
	// Seed makes the stream deterministic: the same options and templates
	// give the same messages.
	Seed int64
	// AttackRatio is the fraction of messages drawn from templates that
	// raise alerts. Default: 0.005. Use a negative value for none.
	AttackRatio float64
	// SignalRatio is the fraction drawn from templates that only feed
	// correlations (signal-only rules fire: refused requests, console
	// logins, long-term keys' calls, Secret reads). The public samples are
	// mostly attack detonations, whose quieter records are signals, so
	// drawing them uniformly would make a third of the stream signals.
	// Default: 0.05. Negative: none.
	SignalRatio float64
	// NearMissRatio is the fraction drawn from the rule tests' negative
	// examples, written to come as close to a rule as possible (each runs
	// a rule's regular expressions). Default: 0.01. Negative: none.
	NearMissRatio float64
	// Identities is the number of distinct human and workload identities.
	// Default: 10,000.
	Identities int
	// Pods is the number of distinct pods; namespaces are one per 20 pods.
	// Default: 10,000.
	Pods int
	// Samples is the directory of the public sample logs
	// (../shared/data/public beside the project). "" or a directory that
	// does not exist uses the bundled samples only (SampleSet tells).
	Samples string
	// Start is the event time of the first message. Default: now minus the
	// stream's event-time span, so the stream ends about now.
	Start time.Time
	// Rate is the event-time spacing in messages per second of event time.
	// Default: 20,000.
	Rate float64

	// Root is the project root holding detections/, runbooks/ and
	// deploy/local/samples. Default: the directory holding go.mod, found
	// walking up from the working directory.
	Root string
	// Mix is the share of messages of each source (event.Source* names);
	// shares are normalized to sum to 1. Default: DefaultMix.
	Mix map[string]float64
}

// DefaultMix is the share of each source in the stream, roughly the
// volumes of an organisation running Kubernetes on AWS with some GCP and
// Azure: the API server's audit log is the loudest, then container logs,
// then CloudTrail.
var DefaultMix = map[string]float64{
	event.SourceK8sAudit:      0.40,
	event.SourceContainerLog:  0.30,
	event.SourceCloudTrail:    0.20,
	event.SourceGCPAudit:      0.05,
	event.SourceAzureActivity: 0.05,
}

// Defaults.
const (
	DefaultEvents        = 1_000_000
	DefaultAttackRatio   = 0.005
	DefaultSignalRatio   = 0.05
	DefaultNearMissRatio = 0.01
	DefaultIdentities    = 10_000
	DefaultPods          = 10_000
	DefaultRate          = 20_000
)

// Topic is one topic of the stream: one per source.
type Topic struct {
	// Name is the topic name; Format its format in Vigia's config
	// (kafka.topics[].format); Source the source it carries.
	Name, Format, Source string
}

// Topics returns one topic per source, in event.Sources order.
func Topics() []Topic {
	var ts []Topic
	for _, s := range event.Sources {
		ts = append(ts, Topic{Name: "bench-" + strings.ReplaceAll(s, "_", "-"), Format: s, Source: s})
	}
	return ts
}

func topicOf(source string) string { return "bench-" + strings.ReplaceAll(source, "_", "-") }

// Message is one generated Kafka message.
type Message struct {
	Topic, Source string
	Value         []byte
	// Attack says whether the message came from an attack template (one
	// that raises at least one alert).
	Attack bool
	// Time is the message's event time.
	Time time.Time
}

// Template classes. A template's class is what the shipped rules make of
// it: an attack raises an alert; a signal only feeds correlations (a
// refused request, a console login, a long-term key's call); a near miss
// is a rule test's negative example, written to come close to a rule;
// benign is the rest of the real samples.
const (
	classBenign = iota
	classAttack
	classSignal
	classNearMiss
	classes
)

var classNames = [classes]string{"benign", "attack", "signal", "near_miss"}

// fallback is the order classes are tried in when a source has no
// template of the class drawn.
var fallback = [classes][]int{
	classBenign:   {classNearMiss, classSignal, classAttack},
	classAttack:   {classSignal, classBenign, classNearMiss},
	classSignal:   {classBenign, classNearMiss, classAttack},
	classNearMiss: {classBenign, classSignal, classAttack},
}

// Generator produces the stream. It is not safe for concurrent use.
type Generator struct {
	opts    Options
	set     *templateSet
	rng     *rand.Rand
	zipf    *zipf
	sources []string  // sources with templates, in event.Sources order
	cum     []float64 // cumulative mix over sources
	step    float64   // nanoseconds of event time per message
	n       uint64    // messages generated
	idBase  uint64    // seed-derived prefix of event ids
	rc      renderCtx
}

// New loads and classifies the templates and returns a generator.
func New(opts Options) (*Generator, error) {
	if opts.Events <= 0 {
		opts.Events = DefaultEvents
	}
	if opts.AttackRatio == 0 {
		opts.AttackRatio = DefaultAttackRatio
	}
	opts.AttackRatio = min(max(opts.AttackRatio, 0), 1)
	if opts.SignalRatio == 0 {
		opts.SignalRatio = DefaultSignalRatio
	}
	opts.SignalRatio = min(max(opts.SignalRatio, 0), 1)
	if opts.NearMissRatio == 0 {
		opts.NearMissRatio = DefaultNearMissRatio
	}
	opts.NearMissRatio = min(max(opts.NearMissRatio, 0), 1)
	if opts.Identities <= 0 {
		opts.Identities = DefaultIdentities
	}
	if opts.Pods <= 0 {
		opts.Pods = DefaultPods
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Start.IsZero() {
		span := time.Duration(float64(opts.Events) / opts.Rate * float64(time.Second))
		opts.Start = time.Now().Add(-span).UTC()
	}
	if opts.Root == "" {
		root, err := ModuleRoot()
		if err != nil {
			return nil, fmt.Errorf("gen: project root not found (set Options.Root): %w", err)
		}
		opts.Root = root
	}
	if opts.Mix == nil {
		opts.Mix = DefaultMix
	}
	if opts.Samples != "" {
		if fi, err := os.Stat(opts.Samples); err != nil || !fi.IsDir() {
			opts.Samples = "" // absent, as in a user's clone: SampleSet says so
		}
	}
	set, err := loadTemplates(opts.Root, opts.Samples)
	if err != nil {
		return nil, err
	}
	g := &Generator{opts: opts, set: set}
	g.rng = rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed_0f_b3c4))
	g.zipf = newZipf(opts.Identities, 1.1)
	g.idBase = splitmix(uint64(opts.Seed)) & 0xffffffff
	g.step = float64(time.Second) / opts.Rate
	g.rc = newRenderCtx(opts.Identities, opts.Pods)
	total := 0.0
	for _, s := range event.Sources {
		w := opts.Mix[s]
		n := 0
		for _, c := range set.by[s] {
			n += len(c)
		}
		if w <= 0 || n == 0 {
			continue
		}
		g.sources = append(g.sources, s)
		total += w
		g.cum = append(g.cum, total)
	}
	if len(g.sources) == 0 {
		return nil, errors.New("gen: no templates for any source in the mix")
	}
	for i := range g.cum {
		g.cum[i] /= total
	}
	return g, nil
}

// Next returns the next message. The stream is deterministic for a seed.
func (g *Generator) Next() Message {
	r := g.rng.Float64()
	si := 0
	for si < len(g.cum)-1 && r >= g.cum[si] {
		si++
	}
	src := g.sources[si]
	class := classBenign
	switch u := g.rng.Float64(); {
	case u < g.opts.AttackRatio:
		class = classAttack
	case u < g.opts.AttackRatio+g.opts.SignalRatio:
		class = classSignal
	case u < g.opts.AttackRatio+g.opts.SignalRatio+g.opts.NearMissRatio:
		class = classNearMiss
	}
	cls := g.set.by[src][class]
	for _, c := range fallback[class] { // this source has no template of the class drawn
		if len(cls) > 0 {
			break
		}
		class, cls = c, g.set.by[src][c]
	}
	attack := class == classAttack
	t := cls[g.rng.IntN(len(cls))]

	k := g.n
	g.n++
	// Event time: evenly spaced, arriving up to 100 ms out of order, as
	// events of several shippers do.
	ns := int64(float64(k)*g.step) - g.rng.Int64N(int64(100*time.Millisecond))
	g.rc.time = g.opts.Start.Add(time.Duration(ns))
	g.rc.id = g.idBase<<32 ^ k
	g.rc.identity = g.zipf.next(g.rng)
	g.rc.pod = g.rng.IntN(g.opts.Pods)
	v := t.render(make([]byte, 0, t.size+64), &g.rc)
	return Message{Topic: topicOf(src), Source: src, Value: v, Attack: attack, Time: g.rc.time}
}

// Generate returns the next n messages.
func (g *Generator) Generate(n int) []Message {
	out := make([]Message, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Stats returns the number of templates per source and class
// ("k8s_audit/benign", "k8s_audit/attack", ...) and of the sample
// records left out, per reason ("dropped/<reason>").
func (g *Generator) Stats() map[string]int {
	m := map[string]int{}
	for _, s := range event.Sources {
		for c, name := range classNames {
			m[s+"/"+name] = len(g.set.by[s][c])
		}
	}
	for k, v := range g.set.dropped {
		m["dropped/"+k] = v
	}
	return m
}

// SampleSet says which samples the templates came from: "bundled" or
// "bundled+public (DIR)".
func (g *Generator) SampleSet() string {
	if g.opts.Samples == "" {
		return "bundled"
	}
	return "bundled+public (" + g.opts.Samples + ")"
}

// Options returns the options in effect, defaults filled in.
func (g *Generator) Options() Options { return g.opts }

// Span returns the event-time span of Options.Events messages.
func (g *Generator) Span() time.Duration {
	return time.Duration(float64(g.opts.Events) * g.step)
}

// Rules returns the ids of the rules that fire on each source's attack
// templates, with the number of templates each fires on.
func (g *Generator) Rules() map[string]int { return maps.Clone(g.set.fired) }

// PublicSamples returns the public sample directory beside the project
// root (ROOT/../shared/data/public, or $VIGIA_CORPUS), or "" when it does
// not exist.
func PublicSamples(root string) string {
	d := os.Getenv("VIGIA_CORPUS")
	if d == "" {
		d = filepath.Join(root, "..", "shared", "data", "public")
	}
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// ModuleRoot returns the directory holding go.mod, walking up from the
// working directory.
func ModuleRoot() (string, error) { return corpus.ModuleRoot() }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// zipf draws identity indexes with P(k) ∝ 1/(k+1)^s by inverting a
// precomputed cumulative table (rand.Zipf wants s > 1 and its own source).
type zipf struct{ cum []float64 }

func newZipf(n int, s float64) *zipf {
	z := &zipf{cum: make([]float64, n)}
	total := 0.0
	for k := range n {
		total += 1 / math.Pow(float64(k+1), s)
		z.cum[k] = total
	}
	for k := range z.cum {
		z.cum[k] /= total
	}
	return z
}

func (z *zipf) next(r *rand.Rand) int {
	i, _ := slices.BinarySearch(z.cum, r.Float64())
	return min(i, len(z.cum)-1)
}

// splitmix is SplitMix64's finalizer: a well-mixed 64-bit hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
