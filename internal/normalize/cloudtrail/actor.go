package cloudtrail

import (
	"bytes"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// Actor types for cloud sources (see event.Actor.Type).
const (
	typeRoot           = "root"
	typeUser           = "user"
	typeRole           = "role"
	typeService        = "service"
	typeServiceAccount = "service_account"
	typeAnonymous      = "anonymous"
	typeUnknown        = "unknown"
)

// anonymousPrincipal is the accountId CloudTrail gives unauthenticated
// S3 requests.
const anonymousPrincipal = "ANONYMOUS_PRINCIPAL"

// actor fills act from userIdentity (see the package doc's table).
func actor(a *arena, act *event.Actor, ui *fastjson.Value, insight bool) {
	if ui == nil || ui.Type() != fastjson.TypeObject {
		if insight {
			act.Name, act.Type = "cloudtrail.amazonaws.com", typeService
			return
		}
		act.Type = typeUnknown
		return
	}
	var id identity
	o, _ := ui.Object()
	o.Visit(id.visit)
	a.add(&act.ID, first(id.principalID, id.arn))
	a.add(&act.SessionID, bs(id.accessKeyID))
	if id.sessionContext != nil && string(id.sessionContext.GetStringBytes("attributes", "mfaAuthenticated")) == "true" {
		act.MFA = true
	}

	switch string(bs(id.typ)) {
	case "Root":
		act.Type = typeRoot
		if arn := bs(id.arn); len(arn) > 0 {
			a.add(&act.Name, arn)
		} else if acct := bs(id.accountID); len(acct) > 0 {
			act.Name = "arn:aws:iam::" + string(acct) + ":root"
		}
	case "IAMUser":
		act.Type = typeUser
		a.add(&act.Name, first(id.arn, id.userName, id.principalID))
	case "IdentityCenterUser":
		act.Type = typeUser
		name := bs(id.userName)
		if len(name) == 0 && id.onBehalfOf != nil {
			name = id.onBehalfOf.GetStringBytes("userId")
		}
		if len(name) == 0 {
			name = bs(id.principalID)
		}
		a.add(&act.Name, name)
	case "FederatedUser":
		act.Type = typeUser
		a.add(&act.Name, first(id.arn, id.principalID))
	case "AssumedRole", "Role":
		act.Type = typeRole
		a.add(&act.Name, first(id.arn, id.principalID))
	case "AWSService":
		act.Type = typeService
		a.add(&act.Name, first(id.invokedBy, id.principalID))
	case "WebIdentityUser":
		name := first(id.userName, id.principalID)
		a.add(&act.Name, name)
		act.Type = typeUser
		if bytes.HasPrefix(name, []byte("system:serviceaccount:")) {
			act.Type = typeServiceAccount
		}
	case "SAMLUser":
		act.Type = typeUser
		a.add(&act.Name, first(id.userName, id.principalID))
	case "AWSAccount":
		pid := bs(id.principalID)
		if len(pid) == 0 || string(bs(id.accountID)) == anonymousPrincipal {
			act.Type, act.Name = typeAnonymous, typeAnonymous
			return
		}
		a.add(&act.Name, pid)
		act.Type = typeUser
		if bytes.HasPrefix(pid, []byte("AROA")) {
			act.Type = typeRole
		}
	default:
		if name := bs(id.userName); len(name) > 0 {
			act.Type = typeUser
			a.add(&act.Name, name)
			return
		}
		act.Type = typeUnknown
		a.add(&act.Name, first(id.arn, id.principalID))
	}
}

// identity holds the userIdentity fields, gathered in one pass.
type identity struct {
	typ, principalID, arn, accountID, userName, invokedBy *fastjson.Value
	accessKeyID, sessionContext, onBehalfOf               *fastjson.Value
}

func (id *identity) visit(k []byte, v *fastjson.Value) {
	switch string(k) {
	case "type":
		id.typ = v
	case "principalId":
		id.principalID = v
	case "arn":
		id.arn = v
	case "accountId":
		id.accountID = v
	case "userName":
		id.userName = v
	case "invokedBy":
		id.invokedBy = v
	case "accessKeyId":
		id.accessKeyID = v
	case "sessionContext":
		id.sessionContext = v
	case "onBehalfOf":
		id.onBehalfOf = v
	}
}

// first returns the first non-empty string value, as a view of the
// parser's buffer.
func first(vs ...*fastjson.Value) []byte {
	for _, v := range vs {
		if b := bs(v); len(b) > 0 {
			return b
		}
	}
	return nil
}
