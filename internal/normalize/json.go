package normalize

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// The helpers below read fastjson values. Every string they return is a
// copy: a fastjson value aliases its parser's buffer, which is reused by
// the next Parse, so an event must never keep a slice of it.

// Str returns the string at keys, or "" when missing or not a string.
func Str(v *fastjson.Value, keys ...string) string {
	v = v.Get(keys...)
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	b, _ := v.StringBytes()
	return string(b)
}

// Strs returns the strings of the array at keys; non-strings are skipped.
func Strs(v *fastjson.Value, keys ...string) []string {
	a := v.GetArray(keys...)
	if len(a) == 0 {
		return nil
	}
	out := make([]string, 0, len(a))
	for _, it := range a {
		if it.Type() == fastjson.TypeString {
			b, _ := it.StringBytes()
			out = append(out, string(b))
		}
	}
	return out
}

// StrMap returns the string values of the object at keys.
func StrMap(v *fastjson.Value, keys ...string) map[string]string {
	o := v.GetObject(keys...)
	if o == nil || o.Len() == 0 {
		return nil
	}
	out := make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeString {
			b, _ := v.StringBytes()
			out[string(k)] = string(b)
		}
	})
	return out
}

// Int returns the integer at keys (a JSON number or a numeric string), or 0.
func Int(v *fastjson.Value, keys ...string) int {
	v = v.Get(keys...)
	if v == nil {
		return 0
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return int(f)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, _ := strconv.Atoi(string(b))
		return n
	}
	return 0
}

// Bool returns the boolean at keys (true, or the string "true"), or false.
func Bool(v *fastjson.Value, keys ...string) bool {
	v = v.Get(keys...)
	if v == nil {
		return false
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b) == "true" || string(b) == "True"
	}
	return false
}

// Time parses a timestamp: RFC 3339 with or without fraction or zone
// offset, or a number of Unix seconds or milliseconds (a JSON number or a
// numeric string).
func Time(v *fastjson.Value, keys ...string) (time.Time, bool) {
	v = v.Get(keys...)
	if v == nil {
		return time.Time{}, false
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return ParseTime(string(b))
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return epoch(f), f > 0
	}
	return time.Time{}, false
}

// ParseTime parses an RFC 3339 timestamp (fraction and zone optional,
// as cloud exports vary) or Unix seconds or milliseconds.
func ParseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if s[0] >= '0' && s[0] <= '9' && len(s) >= 10 && s[4] == '-' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		return epoch(f), true
	}
	return time.Time{}, false
}

// epoch reads f as Unix milliseconds when it is too large to be seconds.
func epoch(f float64) time.Time {
	if f > 1e11 {
		return time.UnixMilli(int64(f)).UTC()
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}

// Any converts v to the types encoding/json produces for an any:
// map[string]any, []any, string, float64, bool and nil. Used for Event.Raw.
func Any(v *fastjson.Value) any {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, v *fastjson.Value) { m[string(k)] = Any(v) })
		return m
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, it := range a {
			out[i] = Any(it)
		}
		return out
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
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

// DeferRaw returns a function that builds Event.Raw from v on first need
// (Event.SetRawFunc). v is serialized now, which costs a fraction of
// converting it; it is parsed again and converted by build only for the
// events whose raw a rule or the resolver reads. build must copy every
// string it keeps (the parser's buffer is reused).
//
// When v is o.Top, its text o.Text is copied instead of serializing v.
func DeferRaw(v *fastjson.Value, o Options, build func(*fastjson.Value) map[string]any) func() map[string]any {
	var buf []byte
	if v == o.Top && o.Text != nil {
		buf = bytes.Clone(o.Text)
	} else {
		buf = v.MarshalTo(nil)
	}
	return func() map[string]any {
		p := rawParsers.Get()
		defer rawParsers.Put(p)
		pv, err := p.ParseBytes(buf)
		if err != nil {
			return nil // cannot happen: buf is fastjson's own serialization
		}
		return build(pv)
	}
}

var rawParsers fastjson.ParserPool

// Map is Any for an object: nil when v is not one.
func Map(v *fastjson.Value) map[string]any {
	m, _ := Any(v).(map[string]any)
	return m
}

// TypeName names v's JSON type for error messages ("an array", "a string").
func TypeName(v *fastjson.Value) string {
	if v == nil {
		return "nothing"
	}
	switch v.Type() {
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	}
	return "null"
}

// Itemf wraps an error for item i of a batch.
func Itemf(i int, sentinel error, format string, args ...any) error {
	return &ItemError{Index: i, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}
