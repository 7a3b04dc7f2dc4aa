package route

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// Timing defaults, chosen for security alerts: a short group_wait gathers
// the burst one intrusion step makes (an exec's two audit stages, a
// scripted series of reads) without delaying the first page much.
const (
	DefaultGroupWait      = 10 * time.Second
	DefaultGroupInterval  = time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultResolveTimeout = time.Hour
)

// DefaultGroupBy groups the alerts of one rule about one identity and
// workload: the same fields the alert's dedup key hashes.
var DefaultGroupBy = []string{"rule", "identity", "namespace", "pod"}

// Spec is one node of the routing tree as configured. Unset (nil or empty)
// settings are inherited from the parent.
type Spec struct {
	Receivers           []string
	Matchers            []string
	Continue            bool
	GroupBy             []string
	GroupWait           *time.Duration
	GroupInterval       *time.Duration
	RepeatInterval      *time.Duration
	ResolveTimeout      *time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
	Routes              []Spec
}

// Node is one compiled route.
type Node struct {
	// ID is the node's path in the tree: "0" for the root, "0.2" for its
	// third child.
	ID                  string
	Receivers           []string
	Matchers            labels.Matchers
	Continue            bool
	GroupBy             []string // "..." groups by every label
	GroupWait           time.Duration
	GroupInterval       time.Duration
	RepeatInterval      time.Duration
	ResolveTimeout      time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
	Children            []*Node
}

// Tree is the compiled routing tree.
type Tree struct {
	Root *Node
	byID map[string]*Node
}

// Compile builds the tree from its spec. field prefixes errors with the
// config path ("route").
func Compile(spec Spec) (*Tree, error) {
	t := &Tree{byID: map[string]*Node{}}
	root := &Node{
		GroupBy:        DefaultGroupBy,
		GroupWait:      DefaultGroupWait,
		GroupInterval:  DefaultGroupInterval,
		RepeatInterval: DefaultRepeatInterval,
		ResolveTimeout: DefaultResolveTimeout,
	}
	n, err := t.compile(spec, root, "0", "route")
	if err != nil {
		return nil, err
	}
	if len(n.Matchers) > 0 {
		return nil, fmt.Errorf("route.matchers: the root route matches every alert; put matchers on child routes")
	}
	t.Root = n
	return t, nil
}

func (t *Tree) compile(s Spec, parent *Node, id, field string) (*Node, error) {
	n := &Node{
		ID:                  id,
		Receivers:           parent.Receivers,
		Continue:            s.Continue,
		GroupBy:             parent.GroupBy,
		GroupWait:           parent.GroupWait,
		GroupInterval:       parent.GroupInterval,
		RepeatInterval:      parent.RepeatInterval,
		ResolveTimeout:      parent.ResolveTimeout,
		MuteTimeIntervals:   parent.MuteTimeIntervals,
		ActiveTimeIntervals: parent.ActiveTimeIntervals,
	}
	if len(s.Receivers) > 0 {
		n.Receivers = s.Receivers
	}
	if len(s.GroupBy) > 0 {
		n.GroupBy = s.GroupBy
		if slices.Contains(s.GroupBy, "...") && len(s.GroupBy) > 1 {
			return nil, fmt.Errorf("%s.group_by: \"...\" (every label) cannot be combined with other labels", field)
		}
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		dst  *time.Duration
	}{{"group_wait", s.GroupWait, &n.GroupWait}, {"group_interval", s.GroupInterval, &n.GroupInterval},
		{"repeat_interval", s.RepeatInterval, &n.RepeatInterval}, {"resolve_timeout", s.ResolveTimeout, &n.ResolveTimeout}} {
		if d.v == nil {
			continue
		}
		if *d.v < 0 {
			return nil, fmt.Errorf("%s.%s: must not be negative", field, d.name)
		}
		*d.dst = *d.v
	}
	if n.GroupInterval <= 0 {
		return nil, fmt.Errorf("%s.group_interval: must be positive", field)
	}
	if s.MuteTimeIntervals != nil {
		n.MuteTimeIntervals = s.MuteTimeIntervals
	}
	if s.ActiveTimeIntervals != nil {
		n.ActiveTimeIntervals = s.ActiveTimeIntervals
	}
	for i, m := range s.Matchers {
		ms, err := labels.ParseMatchers(m)
		if err != nil {
			return nil, fmt.Errorf("%s.matchers[%d]: %q: %v", field, i, m, err)
		}
		n.Matchers = append(n.Matchers, ms...)
	}
	for i, c := range s.Routes {
		child, err := t.compile(c, n, fmt.Sprintf("%s.%d", id, i), fmt.Sprintf("%s.routes[%d]", field, i))
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, child)
	}
	if len(n.Receivers) == 0 && len(n.Children) == 0 {
		return nil, fmt.Errorf("%s.receivers: a route without child routes needs receivers", field)
	}
	t.byID[id] = n
	return n, nil
}

// Node returns the node with the given id, or nil.
func (t *Tree) Node(id string) *Node { return t.byID[id] }

// Match returns the nodes an alert with these labels is routed by, with
// Alertmanager's semantics: a node matches when its matchers do; its
// children are tried in order and the first that matches takes the alert
// unless it has continue set, in which case the next are tried too; when
// no child matches, the node itself takes it.
func (t *Tree) Match(lset map[string]string) []*Node {
	return t.Root.match(lset)
}

func (n *Node) match(lset map[string]string) []*Node {
	if !n.Matchers.Matches(labelSet(lset)) {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		m := c.match(lset)
		out = append(out, m...)
		if len(m) > 0 && !c.Continue {
			break
		}
	}
	if len(out) == 0 && len(n.Receivers) > 0 {
		out = append(out, n)
	}
	return out
}

// labelSet adapts a map to the matcher's model.LabelSet.
func labelSet(l map[string]string) modelLabelSet {
	ls := make(modelLabelSet, len(l))
	for k, v := range l {
		ls[modelLabelName(k)] = modelLabelValue(v)
	}
	return ls
}

// GroupLabels returns the labels of lset the node groups by.
func (n *Node) GroupLabels(lset map[string]string) map[string]string {
	if len(n.GroupBy) == 1 && n.GroupBy[0] == "..." {
		return maps(lset)
	}
	out := make(map[string]string, len(n.GroupBy))
	for _, k := range n.GroupBy {
		if v, ok := lset[k]; ok {
			out[k] = v
		}
	}
	return out
}

// GroupKey identifies a group: receiver, route and group labels.
func GroupKey(receiver, routeID string, groupLabels map[string]string) string {
	keys := make([]string, 0, len(groupLabels))
	for k := range groupLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(receiver + "\x00" + routeID + "\x00"))
	for _, k := range keys {
		h.Write([]byte(k + "=" + groupLabels[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// String renders a node for logs.
func (n *Node) String() string {
	return fmt.Sprintf("route %s (receivers %s)", n.ID, strings.Join(n.Receivers, ","))
}
