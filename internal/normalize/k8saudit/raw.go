package k8saudit

import (
	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/normalize"
)

// rawEvent converts an audit event to Event.Raw with its secrets
// redacted.
func rawEvent(v *fastjson.Value) map[string]any {
	m := normalize.Map(v)
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

func mapAt(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}
