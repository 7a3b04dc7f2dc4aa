package resolve

import (
	"encoding/json"
	"slices"
)

// Key prefixes. See the package documentation for the layout.
const (
	podPrefix   = "pod:"
	saPrefix    = "sa:"
	cloudPrefix = "cloud:"
)

// Caps on the lists kept per entry, so that a hostile or odd stream cannot
// grow one value without bound.
const (
	maxImages   = 32
	maxObserved = 8
)

// meta is the part every value shares.
type meta struct {
	// Cluster is the cluster the fact was learned in, "" when unknown.
	Cluster string `json:"c,omitempty"`
	// Updated is when the value was last written (Unix seconds): a value
	// in use is written again once half its TTL has passed.
	Updated int64 `json:"t"`
	// Gone marks a deleted pod or service account kept for DeleteGrace.
	Gone bool `json:"x,omitempty"`
}

func (m *meta) m() *meta { return m }

// record is a value type stored under a cluster-qualified key.
type record interface{ m() *meta }

// podInfo is the value under pod:NS/NAME.
type podInfo struct {
	meta
	SA     string   `json:"sa,omitempty"`  // service account name (same namespace)
	Images []string `json:"img,omitempty"` // container images
	Node   string   `json:"node,omitempty"`
	Owner  string   `json:"own,omitempty"` // controlling owner "Kind/name"
}

// saInfo is the value under sa:NS/NAME.
type saInfo struct {
	meta
	// Annotated are the cloud identities of the service account's
	// annotations, verbatim, replaced on every update of the object.
	Annotated []string `json:"ids,omitempty"`
	// Observed are roles and Google service accounts seen issued to its
	// tokens (AssumeRoleWithWebIdentity, GenerateAccessToken).
	Observed []string `json:"obs,omitempty"`
}

// link is the value under cloud:ID: the service account a cloud identity
// or credential belongs to.
type link struct {
	meta
	SA string `json:"sa"` // "NS/NAME"
}

// cloudIdentities merges the annotated and observed identities, one per
// key form.
func (s saInfo) cloudIdentities() []string {
	out := make([]string, 0, len(s.Annotated)+len(s.Observed))
	seen := make(map[string]bool, cap(out))
	for _, id := range slices.Concat(s.Annotated, s.Observed) {
		if k := cloudID(id); !seen[k] {
			seen[k] = true
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // the value types hold only strings, ints and bools
		panic(err)
	}
	return string(b)
}

// decode parses a stored value; an empty or unreadable one is missing.
func decode[T any](s string) (T, bool) {
	var v T
	if s == "" || json.Unmarshal([]byte(s), &v) != nil {
		return v, false
	}
	return v, true
}
