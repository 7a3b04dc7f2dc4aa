package azure

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/valyala/fastjson"
)

// Azure writes the same record with different key casings: diagnostic
// settings exports and the REST API use camelCase ("operationName"), Log
// Analytics tables PascalCase ("OperationName"), and Log Analytics stores
// JSON columns (InitiatedBy, TargetResources, Claims) as JSON strings.
// The helpers below look keys up exactly first, then ignoring ASCII case,
// and read a JSON string as the value it holds where an object or array
// is expected.

// get returns the member name of object o: an exact match, else the first
// member whose key equals name ignoring ASCII case. nil when o is not an
// object or has no such member.
func get(o *fastjson.Value, name string) *fastjson.Value {
	if o == nil || o.Type() != fastjson.TypeObject {
		return nil
	}
	if v := o.Get(name); v != nil {
		return v
	}
	obj, _ := o.Object()
	var found *fastjson.Value
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if found == nil && equalFold(k, name) {
			found = v
		}
	})
	return found
}

// equalFold reports whether k equals s ignoring ASCII case.
func equalFold[T ~string | ~[]byte](k T, s string) bool {
	if len(k) != len(s) {
		return false
	}
	for i := range len(k) {
		a, b := k[i], s[i]
		if a == b {
			continue
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// path follows keys from o with get, reading JSON strings as values on
// the way (through s, which may be nil to skip that).
func (s *scratch) path(o *fastjson.Value, keys ...string) *fastjson.Value {
	for _, k := range keys {
		o = get(s.value(o), k)
		if o == nil {
			return nil
		}
	}
	return o
}

// strOf returns v as a string copy: a string as is, a number in its JSON
// spelling, or the "value" member of a {"value","localizedValue"} object
// (the REST API's localizable strings). "" for anything else.
func strOf(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if isNothing(b) {
			return ""
		}
		return string(b)
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return strconv.FormatFloat(f, 'f', -1, 64)
	case fastjson.TypeObject:
		if inner := v.Get("value"); inner != nil && inner.Type() == fastjson.TypeString {
			return strOf(inner)
		}
	}
	return ""
}

func isNothing(b []byte) bool {
	switch string(b) {
	case "null", "<null>", "None", "":
		return true
	}
	return false
}

// scratch holds the parsers of the JSON strings met while decoding one
// record. A fastjson value lives as long as its parser is not reused, so
// each JSON string gets its own parser; strings taken from the values are
// copies, so nothing refers to them once the record is decoded.
type scratch struct {
	ps [8]fastjson.Parser
	n  int
	// cache maps a string value already parsed to its parsed value.
	cache [8]struct{ from, to *fastjson.Value }
	// buf is scratch space for hashID.
	buf []byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratches.Get().(*scratch) }

func (s *scratch) release() {
	s.n = 0
	clear(s.cache[:])
	scratches.Put(s)
}

// value returns v, or the value a JSON string v holds when it is a JSON
// object or array. Strings that are not JSON, and strings beyond the
// scratch's capacity, give v itself.
func (s *scratch) value(v *fastjson.Value) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeString || s == nil {
		return v
	}
	for i := range s.n {
		if s.cache[i].from == v {
			return s.cache[i].to
		}
	}
	b, _ := v.StringBytes()
	b = bytes.TrimSpace(b)
	if len(b) < 2 || (b[0] != '{' && b[0] != '[') || s.n == len(s.ps) {
		return v
	}
	// ParseBytes copies b into the parser's own buffer.
	pv, err := s.ps[s.n].ParseBytes(b)
	if err != nil {
		return v
	}
	s.cache[s.n].from, s.cache[s.n].to = v, pv
	s.n++
	return pv
}

// object returns v as an object (parsing a JSON string), or nil.
func (s *scratch) object(v *fastjson.Value) *fastjson.Value {
	v = s.value(v)
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// array returns the elements of v as an array (parsing a JSON string).
func (s *scratch) array(v *fastjson.Value) []*fastjson.Value {
	v = s.value(v)
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	a, _ := v.Array()
	return a
}

// key is a slot of an index: one member name, matched ignoring case.
type key uint8

// The member names read from records and their properties.
const (
	kTime key = iota
	kEventTimestamp
	kTimeGenerated
	kResourceID
	kResourceIDLA // _ResourceId
	kOperationName
	kOperationNameValue
	kCategory
	kCategoryValue
	kResultType
	kResultSignature
	kStatus
	kActivityStatusValue
	kActivitySubstatusValue
	kCallerIPAddress
	kCorrelationID
	kIdentity
	kClaims
	kClaimsD
	kAuthorization
	kAuthorizationD
	kCaller
	kEventDataID
	kID
	kProperties
	kPropertiesD
	kSubscriptionID
	kLocation
	kResourceProviderName
	kResourceProviderValue
	kResourceType
	kHTTPRequest
	kUserAgent
	kInitiatedBy
	kActivityDisplayName
	kActivityDateTime
	kCreatedDateTime
	kUserPrincipalName
	kServicePrincipalID
	kServicePrincipalName
	kLoggedByService
	kResult
	kResultReason
	kAdditionalDetails
	kTargetResources
	kAppID
	kAppDisplayName
	kUserID
	kUserDisplayName
	kIPAddress
	kUniqueTokenIdentifier
	kAuthenticationRequirement
	kResourceDisplayName
	kResourceIdentity
	kEntity
	kClientInfo
	kHTTPStatusCode
	kStatusCode
	kStatusMessage
	kRequestURI
	kLog
	kStream
	nKeys
)

// keyOf returns the slot of a member name (any casing), or nKeys.
func keyOf(name []byte) key {
	var buf [32]byte
	if len(name) > len(buf) {
		return nKeys
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "time":
		return kTime
	case "eventtimestamp":
		return kEventTimestamp
	case "timegenerated":
		return kTimeGenerated
	case "resourceid":
		return kResourceID
	case "_resourceid":
		return kResourceIDLA
	case "operationname":
		return kOperationName
	case "operationnamevalue":
		return kOperationNameValue
	case "category":
		return kCategory
	case "categoryvalue":
		return kCategoryValue
	case "resulttype":
		return kResultType
	case "resultsignature":
		return kResultSignature
	case "status":
		return kStatus
	case "activitystatusvalue":
		return kActivityStatusValue
	case "activitysubstatusvalue":
		return kActivitySubstatusValue
	case "calleripaddress":
		return kCallerIPAddress
	case "correlationid":
		return kCorrelationID
	case "identity":
		return kIdentity
	case "claims":
		return kClaims
	case "claims_d":
		return kClaimsD
	case "authorization":
		return kAuthorization
	case "authorization_d":
		return kAuthorizationD
	case "caller":
		return kCaller
	case "eventdataid":
		return kEventDataID
	case "id":
		return kID
	case "properties":
		return kProperties
	case "properties_d":
		return kPropertiesD
	case "subscriptionid":
		return kSubscriptionID
	case "location":
		return kLocation
	case "resourceprovidername":
		return kResourceProviderName
	case "resourceprovidervalue":
		return kResourceProviderValue
	case "resourcetype":
		return kResourceType
	case "httprequest":
		return kHTTPRequest
	case "useragent":
		return kUserAgent
	case "initiatedby":
		return kInitiatedBy
	case "activitydisplayname":
		return kActivityDisplayName
	case "activitydatetime":
		return kActivityDateTime
	case "createddatetime":
		return kCreatedDateTime
	case "userprincipalname":
		return kUserPrincipalName
	case "serviceprincipalid":
		return kServicePrincipalID
	case "serviceprincipalname":
		return kServicePrincipalName
	case "loggedbyservice":
		return kLoggedByService
	case "result":
		return kResult
	case "resultreason":
		return kResultReason
	case "additionaldetails":
		return kAdditionalDetails
	case "targetresources":
		return kTargetResources
	case "appid":
		return kAppID
	case "appdisplayname":
		return kAppDisplayName
	case "userid":
		return kUserID
	case "userdisplayname":
		return kUserDisplayName
	case "ipaddress":
		return kIPAddress
	case "uniquetokenidentifier":
		return kUniqueTokenIdentifier
	case "authenticationrequirement":
		return kAuthenticationRequirement
	case "resourcedisplayname":
		return kResourceDisplayName
	case "resourceidentity":
		return kResourceIdentity
	case "entity":
		return kEntity
	case "clientinfo":
		return kClientInfo
	case "httpstatuscode":
		return kHTTPStatusCode
	case "statuscode":
		return kStatusCode
	case "statusmessage":
		return kStatusMessage
	case "requesturi":
		return kRequestURI
	case "log":
		return kLog
	case "stream":
		return kStream
	}
	return nKeys
}

// index holds the members of one object that decoding reads, found in a
// single pass over its keys; the first member of each name (any casing)
// wins. build expects a zero index; a nil object leaves it so.
type index [nKeys]*fastjson.Value

func (ix *index) build(o *fastjson.Value) {
	if o == nil || o.Type() != fastjson.TypeObject {
		return
	}
	obj, _ := o.Object()
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if s := keyOf(k); s < nKeys && ix[s] == nil {
			ix[s] = v
		}
	})
}

// bytesOf is strOf without the copy, for values only compared, parsed or
// hashed while the record is decoded: the bytes alias the parser's
// buffer and must not be kept. Numbers give nil.
func bytesOf(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if isNothing(b) {
			return nil
		}
		return b
	case fastjson.TypeObject:
		if inner := v.Get("value"); inner != nil && inner.Type() == fastjson.TypeString {
			return bytesOf(inner)
		}
	}
	return nil
}

// lookupFold looks b up in m, whose keys are lower case, without
// allocating.
func lookupFold[V any](m map[string]V, b []byte) (V, bool) {
	var buf [96]byte
	if len(b) > len(buf) {
		var zero V
		return zero, false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := m[string(buf[:len(b)])]
	return v, ok
}

// hasSuffixFold and containsFold are strings.HasSuffix and strings.Contains
// ignoring ASCII case; sub must be lower case.
func hasSuffixFold[T ~string | ~[]byte](b T, sub string) bool {
	return len(b) >= len(sub) && equalFold(b[len(b)-len(sub):], sub)
}

func containsFold[T ~string | ~[]byte](b T, sub string) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if equalFold(b[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
