package gen

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// A template is one sample event compiled into literal byte segments and
// the placeholders between them.
type template struct {
	source string
	segs   []segment
	size   int // bytes of the original, to size the output buffer
	origin string
}

type segment struct {
	lit []byte
	ph  placeholder // kind phNone for the last segment
}

type phKind uint8

const (
	phNone       phKind = iota
	phID                // the event id: a UUID, or hex of the original's length
	phTime              // an RFC 3339 timestamp, re-timed
	phEpoch             // Unix seconds as a JSON number, re-timed
	phHuman             // a person: userN, or userN@DOMAIN
	phSA                // system:serviceaccount:NS:NAME
	phSAGroup           // system:serviceaccounts:NS
	phAWSUser           // an IAM user name
	phAWSRole           // an IAM role name
	phAWSSession        // an assumed-role session name
	phAWSID             // a principal id: a 4-letter prefix (AIDA, AROA) and 17 characters
	phAccessKey         // an access key id: a 4-letter prefix (AKIA, ASIA) and 16 characters
	phGSA               // a GCP service account: sa-N@DOMAIN
	phPod               // the pod's name
	phNS                // the pod's namespace
)

type placeholder struct {
	kind  phKind
	delta time.Duration // phTime, phEpoch: offset from the event time
	frac  int           // phTime, phEpoch: fraction digits
	sep   byte          // phTime: 'T' or ' '
	zone  string        // phTime: "", "Z" or "+00:00"
	text  string        // phHuman, phGSA: the domain; phAWSID, phAccessKey: the prefix; phNS: env suffix; phID: "uuid" or ""
	n     int           // phID: length of a hex id
}

// renderCtx holds what one message substitutes.
type renderCtx struct {
	time     time.Time
	id       uint64
	identity int
	pod      int
	nsCount  int
}

func newRenderCtx(identities, pods int) renderCtx {
	return renderCtx{nsCount: max(1, pods/20)}
}

func (t *template) render(dst []byte, rc *renderCtx) []byte {
	for i := range t.segs {
		s := &t.segs[i]
		dst = append(dst, s.lit...)
		if s.ph.kind != phNone {
			dst = s.ph.render(dst, rc)
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// podAlphabet is the alphabet of Kubernetes' generated name suffixes.
const podAlphabet = "bcdfghjklmnpqrstvwxz2456789"

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func (p *placeholder) render(dst []byte, rc *renderCtx) []byte {
	switch p.kind {
	case phID:
		x, y := splitmix(rc.id), rc.id
		if p.text == "uuid" {
			// 8-4-4-4-12: 32 bits of hash, then the counter (unique).
			dst = appendHex(dst, x>>32, 8)
			dst = append(dst, '-')
			dst = appendHex(dst, x>>16, 4)
			dst = append(dst, '-', '4')
			dst = appendHex(dst, x, 3)
			dst = append(dst, '-', '8')
			dst = appendHex(dst, y>>48, 3)
			dst = append(dst, '-')
			return appendHex(dst, y, 12)
		}
		n := max(p.n, 16)
		dst = appendHex(dst, x, n-16)
		return appendHex(dst, y, 16)
	case phTime:
		return appendTime(dst, rc.time.Add(p.delta), p.sep, p.frac, p.zone)
	case phEpoch:
		t := rc.time.Add(p.delta)
		dst = strconv.AppendInt(dst, t.Unix(), 10)
		if p.frac > 0 {
			dst = append(dst, '.')
			dst = appendFrac(dst, t.Nanosecond(), p.frac)
		}
		return dst
	case phHuman:
		dst = append(dst, "user"...)
		dst = strconv.AppendInt(dst, int64(rc.identity), 10)
		if p.text != "" {
			dst = append(dst, '@')
			dst = append(dst, p.text...)
		}
		return dst
	case phSA:
		dst = append(dst, "system:serviceaccount:"...)
		dst = appendNS(dst, rc.identity%rc.nsCount, "")
		dst = append(dst, ":sa-"...)
		return strconv.AppendInt(dst, int64(rc.identity), 10)
	case phSAGroup:
		dst = append(dst, "system:serviceaccounts:"...)
		return appendNS(dst, rc.identity%rc.nsCount, "")
	case phAWSUser:
		dst = append(dst, "user"...)
		return strconv.AppendInt(dst, int64(rc.identity), 10)
	case phAWSRole:
		dst = append(dst, "role-"...)
		return strconv.AppendInt(dst, int64(rc.identity), 10)
	case phAWSSession:
		dst = append(dst, "session-"...)
		return strconv.AppendInt(dst, int64(rc.identity), 10)
	case phAWSID:
		dst = append(dst, p.text...)
		return appendKey(dst, splitmix(uint64(rc.identity)<<1), 17)
	case phAccessKey:
		dst = append(dst, p.text...)
		return appendKey(dst, splitmix(uint64(rc.identity)<<1|1), 16)
	case phGSA:
		dst = append(dst, "sa-"...)
		dst = strconv.AppendInt(dst, int64(rc.identity), 10)
		dst = append(dst, '@')
		return append(dst, p.text...)
	case phPod:
		// DEPLOYMENT-RSHASH-SUFFIX; five pods per deployment.
		d := rc.pod / 5
		dst = append(dst, "svc-"...)
		dst = strconv.AppendInt(dst, int64(d), 10)
		dst = append(dst, '-')
		dst = appendAlpha(dst, splitmix(uint64(d)), 10)
		dst = append(dst, '-')
		return appendAlpha(dst, splitmix(uint64(rc.pod)^0xabcdef), 5)
	case phNS:
		return appendNS(dst, (rc.pod/5)%rc.nsCount, p.text)
	}
	return dst
}

func appendNS(dst []byte, j int, env string) []byte {
	dst = append(dst, "team-"...)
	dst = strconv.AppendInt(dst, int64(j), 10)
	if env != "" {
		dst = append(dst, '-')
		dst = append(dst, env...)
	}
	return dst
}

func appendHex(dst []byte, x uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(x>>(4*uint(i%16)))&0xf])
	}
	return dst
}

func appendAlpha(dst []byte, x uint64, n int) []byte {
	for range n {
		dst = append(dst, podAlphabet[x%uint64(len(podAlphabet))])
		x /= uint64(len(podAlphabet))
	}
	return dst
}

func appendKey(dst []byte, x uint64, n int) []byte {
	for i := range n {
		if i == 12 {
			x = splitmix(x)
		}
		dst = append(dst, keyAlphabet[x&31])
		x >>= 5
	}
	return dst
}

func appendFrac(dst []byte, nsec, digits int) []byte {
	var buf [9]byte
	for i := 8; i >= 0; i-- {
		buf[i] = byte('0' + nsec%10)
		nsec /= 10
	}
	return append(dst, buf[:min(digits, 9)]...)
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

// appendTime writes t in UTC as YYYY-MM-DD{sep}hh:mm:ss[.frac][zone].
func appendTime(dst []byte, t time.Time, sep byte, frac int, zone string) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = strconv.AppendInt(dst, int64(y), 10)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, sep)
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	if frac > 0 {
		dst = append(dst, '.')
		dst = appendFrac(dst, t.Nanosecond(), frac)
	}
	return append(dst, zone...)
}

// parseStamp recognizes a whole string that is an RFC 3339 timestamp
// (also with a space for T, without a zone, any fraction) and returns it
// with the layout to write a new one in.
func parseStamp(s string) (t time.Time, sep byte, frac int, zone string, ok bool) {
	if len(s) < 19 || len(s) > 40 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return
		}
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		frac = j - 1
		rest = rest[j:]
	}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		zone = "Z"
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zone = "+00:00"
	case rest == " UTC": // BigQuery
		zone = rest
		s = s[:len(s)-4] + "Z"
	default:
		return
	}
	layout := "2006-01-02T15:04:05.999999999"
	str := s
	if s[10] == ' ' {
		str = s[:10] + "T" + s[11:]
	}
	if zone != "" {
		layout += "Z07:00"
	}
	var err error
	if t, err = time.Parse(layout, str); err != nil {
		return
	}
	return t.UTC(), s[10], frac, zone, true
}

// tokens are what a template's strings are searched for.
type tokens struct {
	id     []string               // whole string values equal to the event id
	words  map[string]placeholder // identity and pod names, replaced wherever they stand as a word
	ns     string                 // the pod's namespace (non-system)
	nsEnv  string
	evTime time.Time
	hashID bool // the source derives the event id from content: write timestamps to the nanosecond
}

// nsKeys hold a namespace as their whole value.
var nsKeys = map[string]bool{"namespace": true, "namespace_name": true, "kube_namespace": true, "pod_namespace": true, "namespaceName": true}

// builder compiles one JSON value into segments.
type builder struct {
	tok  *tokens
	segs []segment
	lit  []byte
}

func (b *builder) ph(p placeholder) {
	b.segs = append(b.segs, segment{lit: b.lit, ph: p})
	b.lit = nil
}

func (b *builder) finish() []segment {
	b.segs = append(b.segs, segment{lit: b.lit})
	b.lit = nil
	return b.segs
}

func (b *builder) value(v *fastjson.Value, key string) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		b.lit = append(b.lit, '{')
		first := true
		o.Visit(func(k []byte, v *fastjson.Value) {
			if !first {
				b.lit = append(b.lit, ',')
			}
			first = false
			b.lit = appendQuoted(b.lit, string(k))
			b.lit = append(b.lit, ':')
			b.value(v, string(k))
		})
		b.lit = append(b.lit, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		b.lit = append(b.lit, '[')
		for i, e := range a {
			if i > 0 {
				b.lit = append(b.lit, ',')
			}
			b.value(e, key)
		}
		b.lit = append(b.lit, ']')
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		b.str(string(s), key)
	case fastjson.TypeNumber:
		raw := v.MarshalTo(nil)
		if key == "_time" {
			if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f > 1e9 && f < 1e11 {
				sec, fr := splitNum(string(raw))
				t := time.Unix(sec, 0).Add(fr)
				digits := 0
				if i := strings.IndexByte(string(raw), '.'); i >= 0 {
					digits = len(raw) - i - 1
				}
				if b.tok.hashID {
					digits = 6
				}
				b.ph(placeholder{kind: phEpoch, delta: t.Sub(b.tok.evTime), frac: digits})
				return
			}
		}
		b.lit = append(b.lit, raw...)
	default:
		b.lit = v.MarshalTo(b.lit)
	}
}

func splitNum(s string) (int64, time.Duration) {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n, 0
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	f, _ := strconv.ParseFloat("0"+s[i:], 64)
	return n, time.Duration(f * float64(time.Second))
}

type match struct {
	start, end int
	ph         placeholder
}

// str compiles one string value.
func (b *builder) str(s, key string) {
	tok := b.tok
	for _, id := range tok.id {
		if s == id {
			p := placeholder{kind: phID, n: len(s)}
			if isUUID(s) {
				p.text = "uuid"
			}
			b.lit = append(b.lit, '"')
			b.ph(p)
			b.lit = append(b.lit, '"')
			return
		}
	}
	if t, sep, frac, zone, ok := parseStamp(s); ok {
		if tok.hashID || (sep == 'T' && frac > 0 && frac < 6 && t.Equal(tok.evTime)) {
			frac = 9
		}
		b.lit = append(b.lit, '"')
		b.ph(placeholder{kind: phTime, delta: t.Sub(tok.evTime), sep: sep, frac: frac, zone: zone})
		b.lit = append(b.lit, '"')
		return
	}
	if inner := strings.TrimSpace(s); len(inner) > 2 && inner[0] == '{' && inner[len(inner)-1] == '}' {
		// JSON inside a string (an AKS record's properties.log, a
		// CloudWatch log event's message): compile it too, escaped.
		var p fastjson.Parser
		if v, err := p.Parse(inner); err == nil {
			lead, trail := s[:strings.Index(s, inner)], s[strings.Index(s, inner)+len(inner):]
			sub := &builder{tok: tok}
			sub.value(v, "")
			b.lit = append(b.lit, '"')
			b.lit = appendEscaped(b.lit, lead)
			for _, seg := range sub.finish() {
				b.lit = appendEscaped(b.lit, string(seg.lit))
				if seg.ph.kind != phNone {
					b.ph(seg.ph)
				}
			}
			b.lit = appendEscaped(b.lit, trail)
			b.lit = append(b.lit, '"')
			return
		}
	}
	if tok.ns != "" && nsKeys[key] && s == tok.ns {
		b.lit = append(b.lit, '"')
		b.ph(placeholder{kind: phNS, text: tok.nsEnv})
		b.lit = append(b.lit, '"')
		return
	}
	var ms []match
	for w, p := range tok.words {
		for i := 0; ; {
			j := strings.Index(s[i:], w)
			if j < 0 {
				break
			}
			j += i
			if bounded(s, j, j+len(w)) {
				ms = append(ms, match{j, j + len(w), p})
			}
			i = j + 1
		}
	}
	if tok.ns != "" {
		seg := "/namespaces/" + tok.ns
		for i := 0; ; {
			j := strings.Index(s[i:], seg)
			if j < 0 {
				break
			}
			j += i
			end := j + len(seg)
			if end == len(s) || s[end] == '/' || s[end] == '?' {
				ms = append(ms, match{j + len("/namespaces/"), end, placeholder{kind: phNS, text: tok.nsEnv}})
			}
			i = j + 1
		}
	}
	// Longest first at each position, no overlaps.
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].start != ms[j].start {
			return ms[i].start < ms[j].start
		}
		return ms[i].end > ms[j].end
	})
	b.lit = append(b.lit, '"')
	pos := 0
	for _, m := range ms {
		if m.start < pos {
			continue
		}
		b.lit = appendEscaped(b.lit, s[pos:m.start])
		b.ph(m.ph)
		pos = m.end
	}
	b.lit = appendEscaped(b.lit, s[pos:])
	b.lit = append(b.lit, '"')
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// bounded reports whether s[i:j] stands alone: not part of a longer name.
func bounded(s string, i, j int) bool {
	return (i == 0 || !wordByte(s[i-1])) && (j == len(s) || !wordByte(s[j]))
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped writes s as the inside of a JSON string.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// systemNamespace reports namespaces the control plane and cluster add-ons
// own: they keep their names.
func systemNamespace(ns string) bool {
	return ns == "" || strings.HasPrefix(ns, "kube-") || strings.HasPrefix(ns, "gke-") || strings.HasPrefix(ns, "openshift") ||
		strings.HasSuffix(ns, "-system") || ns == "gmp-public" || ns == "calico-system"
}

var envWords = []string{"production", "prod", "staging", "stage", "dev", "test", "qa"}

// envOf returns the environment a namespace's name says (payments-prod:
// prod), kept in its replacement so rules keyed on naming conventions see
// the same kind of namespace.
func envOf(ns string) string {
	for _, w := range envWords {
		if ns == w || strings.HasSuffix(ns, "-"+w) || strings.HasPrefix(ns, w+"-") {
			return w
		}
	}
	return ""
}

// identityWords returns the identity names of ev (and of its raw record v)
// to replace, each with its placeholder, keeping its class: a Kubernetes
// service account stays one, system components are kept, people become
// other people, IAM users, roles and sessions other ones.
func identityWords(ev *event.Event, v *fastjson.Value) map[string]placeholder {
	w := map[string]placeholder{}
	sa := func(name string) bool {
		rest, ok := strings.CutPrefix(name, "system:serviceaccount:")
		if !ok {
			return false
		}
		ns, _, ok := strings.Cut(rest, ":")
		if ok && !systemNamespace(ns) {
			w[name] = placeholder{kind: phSA}
			w["system:serviceaccounts:"+ns] = placeholder{kind: phSAGroup}
		}
		return true
	}
	human := func(name string) {
		if name == "" || strings.ContainsAny(name, " /:") {
			return
		}
		if local, domain, ok := strings.Cut(name, "@"); ok {
			if local != "" && domain != "" && !strings.HasSuffix(domain, "gserviceaccount.com") {
				w[name] = placeholder{kind: phHuman, text: domain}
			}
			return
		}
		if len(name) >= 3 {
			w[name] = placeholder{kind: phHuman}
		}
	}
	name := ev.Actor.Name
	switch ev.Source {
	case event.SourceK8sAudit:
		switch {
		case sa(name):
		case strings.HasPrefix(name, "system:"), ev.Actor.Type == "anonymous", ev.Actor.Type == "node":
		default:
			human(name)
		}
	case event.SourceCloudTrail:
		ui := v.Get("userIdentity")
		if ui == nil {
			ui = v.Get("detail", "userIdentity")
		}
		if ui == nil {
			break
		}
		str := func(keys ...string) string { return string(ui.GetStringBytes(keys...)) }
		key := str("accessKeyId")
		if len(key) >= 16 && (strings.HasPrefix(key, "AKIA") || strings.HasPrefix(key, "ASIA")) {
			w[key] = placeholder{kind: phAccessKey, text: key[:4]}
		}
		switch str("type") {
		case "IAMUser":
			if u := str("userName"); len(u) >= 2 {
				w[u] = placeholder{kind: phAWSUser}
			}
			if id := str("principalId"); strings.HasPrefix(id, "AIDA") {
				w[id] = placeholder{kind: phAWSID, text: "AIDA"}
			}
		case "AssumedRole":
			arn := str("arn")
			if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
				parts := strings.SplitN(arn[i+len(":assumed-role/"):], "/", 2)
				if len(parts) == 2 && !strings.HasPrefix(parts[0], "AWSServiceRole") && !strings.HasPrefix(parts[0], "AWSReservedSSO") {
					w[parts[0]] = placeholder{kind: phAWSRole}
					if len(parts[1]) >= 3 {
						w[parts[1]] = placeholder{kind: phAWSSession}
					}
					if id, _, _ := strings.Cut(str("principalId"), ":"); strings.HasPrefix(id, "AROA") {
						w[id] = placeholder{kind: phAWSID, text: "AROA"}
					}
				}
			}
		case "WebIdentityUser":
			sa(str("userName"))
		case "FederatedUser":
			arn := str("arn")
			if i := strings.Index(arn, ":federated-user/"); i >= 0 {
				if u := arn[i+len(":federated-user/"):]; len(u) >= 2 {
					w[u] = placeholder{kind: phAWSUser}
				}
			}
		}
	case event.SourceGCPAudit:
		if local, domain, ok := strings.Cut(name, "@"); ok && local != "" {
			switch {
			case strings.HasSuffix(domain, ".iam.gserviceaccount.com") && !strings.HasPrefix(domain, "gcp-sa-") && !strings.HasPrefix(local, "service-"):
				w[name] = placeholder{kind: phGSA, text: domain}
			case !strings.HasSuffix(domain, "gserviceaccount.com"):
				human(name)
			}
		}
	case event.SourceAzureActivity:
		if ev.Actor.Type == "user" {
			human(name)
		}
	}
	return w
}
