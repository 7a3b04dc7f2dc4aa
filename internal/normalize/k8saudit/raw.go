package k8saudit

import (
	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// rawEvent converts an audit event to Event.Raw with its secrets
// redacted.
func rawEvent(a *alloc, v *fastjson.Value) map[string]any {
	m, _ := a.any(v).(map[string]any)
	ref := mapAt(m, "objectRef")
	resource, _ := ref["resource"].(string)
	sub, _ := ref["subresource"].(string)
	for _, f := range []string{"requestObject", "responseObject"} {
		if b, ok := m[f]; ok {
			m[f] = redactBody(b, resource, sub)
		}
	}
	return m
}

// redactBody removes secret values from a request or response body, and
// from the items of a list: Secret data and stringData (and the
// last-applied annotation that repeats them), TokenReview and TokenRequest
// tokens.
//
// A JSON patch (an array of operations) on a Secret has every operation's
// value redacted; a body of an unexpected type on a Secret is replaced
// whole. body is returned, so that a missing body stays missing.
func redactBody(body any, resource, sub string) any {
	switch b := body.(type) {
	case nil:
		return nil
	case map[string]any:
		redactObject(b, resource, sub)
		// The items of a list response usually carry no kind of their
		// own: they are of the list's kind, or of the listed resource.
		items, _ := b["items"].([]any)
		itemResource := ""
		if sub == "" {
			itemResource = resource
		}
		if lk, _ := b["kind"].(string); lk == "SecretList" {
			itemResource = "secrets"
		}
		for _, it := range items {
			if im, ok := it.(map[string]any); ok {
				redactObject(im, itemResource, "")
			}
		}
		return b
	case []any:
		if resource == "secrets" && sub == "" {
			for _, op := range b {
				if om, ok := op.(map[string]any); ok {
					if _, ok := om["value"]; ok {
						om["value"] = normalize.Redacted
					}
				}
			}
		}
		return b
	default:
		if resource == "secrets" && sub == "" {
			return normalize.Redacted
		}
		return b
	}
}

func redactObject(obj map[string]any, resource, sub string) {
	kind, _ := obj["kind"].(string)
	if kind == "" {
		// GKE names the type of a body in "@type": "core.k8s.io/v1.Secret".
		if t, ok := obj["@type"].(string); ok {
			for i := len(t) - 1; i >= 0; i-- {
				if t[i] == '.' {
					kind = t[i+1:]
					break
				}
			}
		}
	}
	if kind == "" && sub == "" {
		switch resource {
		case "secrets":
			kind = "Secret"
		case "tokenreviews":
			kind = "TokenReview"
		}
	}
	if kind == "" && resource == "serviceaccounts" && sub == "token" {
		kind = "TokenRequest"
	}
	switch {
	case kind == "Secret":
		for _, f := range []string{"data", "stringData"} {
			if d, ok := obj[f].(map[string]any); ok {
				for k := range d {
					d[k] = normalize.Redacted
				}
			}
		}
		if ann, ok := mapAt(obj, "metadata")["annotations"].(map[string]any); ok {
			if _, ok := ann[annLastApplied]; ok {
				ann[annLastApplied] = normalize.Redacted
			}
		}
	case kind == "TokenReview":
		if spec, ok := obj["spec"].(map[string]any); ok && spec["token"] != nil {
			spec["token"] = normalize.Redacted
		}
	case kind == "TokenRequest":
		if st, ok := obj["status"].(map[string]any); ok && st["token"] != nil {
			st["token"] = normalize.Redacted
		}
	}
}

// any converts v as normalize.Any does (map[string]any, []any, string,
// float64, bool, nil), with its keys and strings copied into the event's
// arena and the common words already boxed: about half the allocations.
func (a *alloc) any(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, v *fastjson.Value) { m[a.valueBytes(k)] = a.any(v) })
		return m
	case fastjson.TypeArray:
		arr, _ := v.Array()
		out := make([]any, len(arr))
		for i, it := range arr {
			out[i] = a.any(it)
		}
		return out
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) <= 48 {
			if x, ok := boxed[string(b)]; ok {
				return x
			}
		}
		return a.str(b)
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return f
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}

func mapAt(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}
