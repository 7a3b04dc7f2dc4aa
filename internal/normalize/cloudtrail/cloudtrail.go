// Package cloudtrail decodes AWS CloudTrail records into normalized events
// (Source "aws_cloudtrail").
//
// # Shapes
//
//   - A CloudTrail log file as delivered to S3: {"Records":[...]}. Each bad
//     record is a *normalize.ItemError with its index in Records; an S3 event
//     notification ({"Records":[{"eventSource":"aws:s3",...}]}) is not
//     CloudTrail and is refused as normalize.ErrUnknownFormat.
//   - An EventBridge event whose detail-type ends in "via CloudTrail" ("AWS
//     API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS
//     Service Event via CloudTrail", "AWS Insight via CloudTrail", ...): the
//     record is its detail. The EventBridge id is not the CloudTrail event id
//     and is not used; the envelope's time, region and account fill in only
//     when the detail lacks them.
//   - A single record, as CloudTrail writes it to CloudWatch Logs or a
//     shipper sends it (also in JSON arrays and JSON lines, which the
//     dispatcher unwraps). Records that went through Logstash and lost
//     eventTime for "@timestamp" are accepted.
//
// A record is recognized by an eventName string beside an eventSource string
// that is not an S3 notification's "aws:...", and either a userIdentity
// object or an AWS endpoint as eventSource ("….amazonaws.com") with one of
// eventVersion, eventID, eventTime or @timestamp.
//
// # Normalized fields
//
//	normalized field   ← CloudTrail field
//	source             ← "aws_cloudtrail"
//	time               ← eventTime; else @timestamp (Logstash); else the EventBridge time
//	id                 ← eventID; else "sha256:" + the first 16 bytes of the SHA-256 of the record's compact JSON, hex (see below)
//	action             ← eventName
//	outcome            ← "failure" when errorCode is set; else responseElements.<eventName> "Success"/"Failure"
//	                     (ConsoleLogin, CheckMfa, SwitchRole, ...); else "failure" when errorMessage is set;
//	                     "unknown" for Insight events (eventType AwsCloudTrailInsight); else "success"
//	actor.name         ← the principal, by userIdentity.type (table below)
//	actor.id           ← userIdentity.principalId, else userIdentity.arn
//	actor.type         ← by userIdentity.type (table below)
//	actor.source_ip    ← sourceIPAddress when it is an address; an AWS service name
//	                     ("ec2.amazonaws.com", "AWS Internal") stays only in raw
//	actor.source_ips   ← [actor.source_ip] when set
//	actor.user_agent   ← userAgent
//	actor.session_id   ← userIdentity.accessKeyId (AKIA… long-term key, ASIA… temporary credentials)
//	actor.mfa          ← userIdentity.sessionContext.attributes.mfaAuthenticated == "true"
//	                     or additionalEventData.MFAUsed == "Yes"
//	target.type        ← resources[i].type; else the resource type derived from the request (below)
//	target.name        ← the request's main name parameter (below); else the name part of the resource ARN
//	target.id          ← resources[i].ARN; else the request's parameter when it is an ARN
//	cloud.provider     ← "aws"
//	cloud.account      ← recipientAccountId, else userIdentity.accountId, else the EventBridge account
//	cloud.region       ← awsRegion, else the EventBridge region
//	cloud.service      ← eventSource ("iam.amazonaws.com")
//	cloud.error_code   ← errorCode
//	issued.subject     ← responseElements.subjectFromWebIdentityToken   (successful AssumeRoleWithWebIdentity only)
//	issued.principal   ← responseElements.assumedRoleUser.arn           (idem)
//	issued.session_id  ← responseElements.credentials.accessKeyId       (idem)
//	issued.subject     ← responseElements.accessKey.userName            (successful CreateAccessKey)
//	issued.session_id  ← responseElements.accessKey.accessKeyId         (idem: the new key's id)
//	raw                ← the record (the EventBridge detail, never the envelope), secrets redacted; only with Options.Raw
//
// k8s, message, log and entity are left empty: identity resolution fills
// entity (it derives the role from an assumed-role session ARN; the role
// ARN is also in raw.userIdentity.sessionContext.sessionIssuer.arn).
//
// # Actor by userIdentity.type
//
//	userIdentity.type    actor.type        actor.name
//	Root                 root              arn, else "arn:aws:iam::<accountId>:root"
//	IAMUser              user              arn, else userName, else principalId
//	IdentityCenterUser   user              userName, else onBehalfOf.userId, else principalId
//	FederatedUser        user              arn (arn:aws:sts::ACCT:federated-user/NAME): a
//	                                       GetFederationToken session acts for the IAM user that made it
//	AssumedRole          role              arn (the session: arn:aws:sts::ACCT:assumed-role/ROLE/SESSION)
//	Role                 role              arn (service-linked and Lambda execution events)
//	AWSService           service           invokedBy, else principalId ("ec2.amazonaws.com")
//	WebIdentityUser      service_account   userName, when it is a Kubernetes service account
//	                                       ("system:serviceaccount:NS:NAME", EKS IRSA); else user
//	SAMLUser             user              userName, else principalId
//	AWSAccount           anonymous         "anonymous", when accountId is ANONYMOUS_PRINCIPAL or no principal is given
//	                     role or user      principalId of the other account's principal (AROA… role, else user)
//	Unknown, others      user              userName when given (Identity Center sign-in); else arn or principalId, type "unknown"
//	(no userIdentity)    service           "cloudtrail.amazonaws.com" for Insight events; otherwise name "" and type "unknown"
//
// # Target derivation
//
// The target is the object the call acts on. The request parameters are
// looked up in a fixed order, each key optionally restricted to the service
// that uses it; the first present gives the type and name:
//
//	userName (iam)            AWS::IAM::User            roleName (iam)         AWS::IAM::Role
//	groupName (iam)           AWS::IAM::Group           policyArn (iam)        AWS::IAM::Policy
//	policyName (iam)          AWS::IAM::Policy          instanceProfileName    AWS::IAM::InstanceProfile
//	roleArn (sts)             AWS::IAM::Role            bucketName             AWS::S3::Bucket
//	name, trailName (cloudtrail)  AWS::CloudTrail::Trail  eventDataStore (cloudtrail) AWS::CloudTrail::EventDataStore
//	detectorId                AWS::GuardDuty::Detector  secretId, name (secretsmanager) AWS::SecretsManager::Secret
//	name, names[0] (ssm)      AWS::SSM::Parameter       instanceIds[0], target (ssm) AWS::EC2::Instance
//	functionName              AWS::Lambda::Function     layerName              AWS::Lambda::LayerVersion
//	keyId (kms)               AWS::KMS::Key             name, clusterName (eks) AWS::EKS::Cluster
//	groupId, groupName (ec2)  AWS::EC2::SecurityGroup   snapshotId             AWS::EC2::Snapshot
//	imageId (ec2)             AWS::EC2::Image           instanceId             AWS::EC2::Instance
//	instancesSet.items[0].instanceId  AWS::EC2::Instance
//	flowLogIds[0], DeleteFlowLogsRequest.FlowLogId.content  AWS::EC2::FlowLog
//	vpcId                     AWS::EC2::VPC             keyName (ec2)          AWS::EC2::KeyPair
//	dBSnapshotIdentifier      AWS::RDS::DBSnapshot      dBClusterIdentifier    AWS::RDS::DBCluster
//	dBInstanceIdentifier      AWS::RDS::DBInstance      resolverQueryLogConfigId AWS::Route53Resolver::ResolverQueryLoggingConfig
//	logGroupName              AWS::Logs::LogGroup       stackName              AWS::CloudFormation::Stack
//	tableName (dynamodb)      AWS::DynamoDB::Table      queueUrl, queueName    AWS::SQS::Queue
//	topicArn                  AWS::SNS::Topic           repositoryName (ecr)   AWS::ECR::Repository
//	modelId (bedrock)         AWS::Bedrock::FoundationModel  restApiId         AWS::ApiGateway::RestApi
//
// RunInstances targets the first instance it launched
// (responseElements.instancesSet.items[0].instanceId). Types are the AWS
// resource type names CloudTrail itself writes in resources[].type, so a
// rule compares one vocabulary. When the record lists resources, the one
// of the derived type (else the first) gives target.type and target.id, and
// target.name falls back to the name part of its ARN. A parameter that is an
// ARN gives target.id, and its name part gives target.name.
//
// # Fallbacks and refusals
//
// A record without eventName, or without a parseable time, is
// normalize.ErrInvalidEvent: a rule cannot place it. A record without
// eventID (old eventVersion 1.0 files, hand-written samples) gets a
// deterministic id from a hash of its compact JSON, so a replay or a
// re-delivery of the same record names it the same way and the alert and
// ticket deduplication still hold. A record without userIdentity is kept
// (losing a StopLogging because a shipper dropped a field is worse) with an
// actor of type "unknown".
//
// # Secrets
//
// CloudTrail hides most secret values itself, but not all, and not in every
// version. Raw has these keys replaced by "[REDACTED]" wherever they occur
// under requestParameters, responseElements, additionalEventData and
// serviceEventDetails:
// credentials' secretAccessKey, secretKey and sessionToken (STS, Cognito, SSO
// role credentials), accessKey.secretAccessKey (CreateAccessKey), password,
// newPassword, oldPassword, masterUserPassword, privateKey, userData (EC2
// user data: RunInstances, ModifyInstanceAttribute, launch templates),
// secretString and secretBinary (Secrets Manager), webIdentityToken,
// sAMLAssertion, clientSecret, accessToken, refreshToken, idToken,
// authorizationToken (ECR) and tokenValue (SSM sessions); and the values of
// environment variables (Lambda environment.variables, ECS container
// definitions' environment[].value). Access key ids stay: they are
// identifiers. No secret value is ever copied into a normalized field.
package cloudtrail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// Detect reports whether v is a CloudTrail record, a CloudTrail log file
// ({"Records":[...]}) or an EventBridge event carrying a CloudTrail record.
func Detect(v *fastjson.Value) bool {
	if rs := v.Get("Records"); rs != nil {
		if rs.Type() != fastjson.TypeArray {
			return false
		}
		a, _ := rs.Array()
		return len(a) == 0 || a[0].Type() != fastjson.TypeObject || !isS3Notification(a[0])
	}
	if isEventBridge(v) {
		return true
	}
	return isRecord(v)
}

// isRecord reports whether v looks like one CloudTrail record.
func isRecord(v *fastjson.Value) bool {
	if v.Type() != fastjson.TypeObject {
		return false
	}
	if n := v.Get("eventName"); n == nil || n.Type() != fastjson.TypeString {
		return false
	}
	src := v.Get("eventSource")
	if src == nil || src.Type() != fastjson.TypeString {
		return false
	}
	b, _ := src.StringBytes()
	if bytes.HasPrefix(b, []byte("aws:")) {
		return false // an S3, SQS or SNS event notification
	}
	if ui := v.Get("userIdentity"); ui != nil && ui.Type() == fastjson.TypeObject {
		return true
	}
	// Without userIdentity (Insight events, trimmed records) the event
	// source must be an AWS endpoint name.
	return (bytes.HasSuffix(b, []byte(".amazonaws.com")) || bytes.HasSuffix(b, []byte(".amazonaws.com.cn"))) &&
		(v.Exists("eventVersion") || v.Exists("eventID") || v.Exists("eventTime") || v.Exists("@timestamp"))
}

// isS3Notification reports whether a Records item is an S3 (or SNS, SQS)
// event notification rather than a CloudTrail record.
func isS3Notification(v *fastjson.Value) bool {
	b := v.GetStringBytes("eventSource")
	return bytes.HasPrefix(b, []byte("aws:"))
}

// isEventBridge reports whether v is an EventBridge event for a CloudTrail record.
func isEventBridge(v *fastjson.Value) bool {
	dt := v.GetStringBytes("detail-type")
	if !bytes.HasSuffix(dt, []byte("via CloudTrail")) {
		return false
	}
	d := v.Get("detail")
	return d != nil && d.Type() == fastjson.TypeObject
}

// envelope holds what an EventBridge event says about its record, used
// only where the record itself is silent.
type envelope struct {
	time    time.Time
	region  string
	account string
}

// Decode decodes a value Detect accepted: a log file, an EventBridge event
// or a single record.
func Decode(v *fastjson.Value, o normalize.Options, _ normalize.Meta) ([]*event.Event, []error) {
	if rs := v.Get("Records"); rs != nil {
		a, err := rs.Array()
		if err != nil {
			return nil, []error{fmt.Errorf("%w: CloudTrail Records is %s, not an array", normalize.ErrInvalidEvent, normalize.TypeName(rs))}
		}
		evs := make([]*event.Event, 0, len(a))
		var errs []error
		for i, it := range a {
			if it.Type() != fastjson.TypeObject {
				errs = append(errs, normalize.Itemf(i, normalize.ErrUnknownFormat, "%s is not a CloudTrail record", normalize.TypeName(it)))
				continue
			}
			if isS3Notification(it) {
				errs = append(errs, normalize.Itemf(i, normalize.ErrUnknownFormat, "an S3 event notification, not a CloudTrail record"))
				continue
			}
			ev, err := record(it, o, nil)
			if err != nil {
				errs = append(errs, &normalize.ItemError{Index: i, Err: err})
				continue
			}
			evs = append(evs, ev)
		}
		return evs, errs
	}
	var env *envelope
	rec := v
	if isEventBridge(v) {
		rec = v.Get("detail")
		env = &envelope{region: normalize.Str(v, "region"), account: normalize.Str(v, "account")}
		env.time, _ = normalize.Time(v, "time")
	}
	ev, err := record(rec, o, env)
	if err != nil {
		return nil, []error{err}
	}
	return []*event.Event{ev}, nil
}

// fields are the top-level values of a record, gathered in one pass.
type fields struct {
	eventTime, timestamp, eventID, eventName, eventSource, eventType *fastjson.Value
	awsRegion, recipientAccountID, sourceIP, userAgent               *fastjson.Value
	errorCode, errorMessage                                          *fastjson.Value
	userIdentity, requestParameters, responseElements, additional    *fastjson.Value
	resources                                                        *fastjson.Value
}

func (f *fields) visit(k []byte, v *fastjson.Value) {
	switch string(k) {
	case "eventTime":
		f.eventTime = v
	case "@timestamp":
		f.timestamp = v
	case "eventID":
		f.eventID = v
	case "eventName":
		f.eventName = v
	case "eventSource":
		f.eventSource = v
	case "eventType":
		f.eventType = v
	case "awsRegion":
		f.awsRegion = v
	case "recipientAccountId":
		f.recipientAccountID = v
	case "sourceIPAddress":
		f.sourceIP = v
	case "userAgent":
		f.userAgent = v
	case "errorCode":
		f.errorCode = v
	case "errorMessage":
		f.errorMessage = v
	case "userIdentity":
		f.userIdentity = v
	case "requestParameters":
		f.requestParameters = v
	case "responseElements":
		f.responseElements = v
	case "additionalEventData":
		f.additional = v
	case "resources":
		f.resources = v
	}
}

// record decodes one CloudTrail record.
func record(v *fastjson.Value, o normalize.Options, env *envelope) (*event.Event, error) {
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a CloudTrail record", normalize.ErrUnknownFormat, normalize.TypeName(v))
	}
	var f fields
	obj.Visit(f.visit)

	name := bs(f.eventName)
	if len(name) == 0 {
		return nil, fmt.Errorf("%w: CloudTrail record without eventName", normalize.ErrInvalidEvent)
	}
	ev := &event.Event{Source: event.SourceCloudTrail}

	var ok bool
	switch {
	case f.eventTime != nil:
		if ev.Time, ok = normalize.Time(f.eventTime); !ok {
			return nil, fmt.Errorf("%w: CloudTrail %s record: eventTime %s is not a time", normalize.ErrInvalidEvent, name, shown(f.eventTime))
		}
	case f.timestamp != nil:
		if ev.Time, ok = normalize.Time(f.timestamp); !ok {
			return nil, fmt.Errorf("%w: CloudTrail %s record: @timestamp %s is not a time", normalize.ErrInvalidEvent, name, shown(f.timestamp))
		}
	case env != nil && !env.time.IsZero():
		ev.Time = env.time
	default:
		return nil, fmt.Errorf("%w: CloudTrail %s record without eventTime", normalize.ErrInvalidEvent, name)
	}

	// Every string below is a view of the parser's buffer until a.flush
	// copies them all at once.
	var a arena
	a.add(&ev.Action, name)
	if id := bs(f.eventID); len(id) > 0 {
		a.add(&ev.ID, id)
	} else {
		ev.ID = hashID(v)
	}
	insight := string(bs(f.eventType)) == "AwsCloudTrailInsight"

	c := &ev.Cloud
	c.Provider = event.ProviderAWS
	src := bs(f.eventSource)
	a.add(&c.Service, src)
	a.add(&c.Region, bs(f.awsRegion))
	a.add(&c.ErrorCode, bs(f.errorCode))
	if acct := bs(f.recipientAccountID); len(acct) > 0 {
		a.add(&c.Account, acct)
	} else if f.userIdentity != nil {
		a.add(&c.Account, f.userIdentity.GetStringBytes("accountId"))
	}

	actor(&a, &ev.Actor, f.userIdentity, insight)
	ip := bs(f.sourceIP)
	if isAddr(ip) {
		a.add(&ev.Actor.SourceIP, ip)
	}
	a.add(&ev.Actor.UserAgent, bs(f.userAgent))
	if ad := f.additional; ad != nil && string(ad.GetStringBytes("MFAUsed")) == "Yes" {
		ev.Actor.MFA = true
	}

	nameFromID := target(&a, &ev.Target, name, src, f.requestParameters, f.responseElements, f.resources)

	if string(name) == "AssumeRoleWithWebIdentity" && len(bs(f.errorCode)) == 0 && len(bs(f.errorMessage)) == 0 && f.responseElements != nil {
		re := f.responseElements
		a.add(&ev.Issued.Subject, re.GetStringBytes("subjectFromWebIdentityToken"))
		a.add(&ev.Issued.Principal, re.GetStringBytes("assumedRoleUser", "arn"))
		a.add(&ev.Issued.SessionID, re.GetStringBytes("credentials", "accessKeyId"))
	}
	// A new long-term key: its id, so that its first use can be joined to
	// its creation (the secret is never logged).
	if string(name) == "CreateAccessKey" && len(bs(f.errorCode)) == 0 && f.responseElements != nil {
		re := f.responseElements
		a.add(&ev.Issued.Subject, re.GetStringBytes("accessKey", "userName"))
		a.add(&ev.Issued.SessionID, re.GetStringBytes("accessKey", "accessKeyId"))
	}

	a.flush()

	if ev.Actor.SourceIP != "" {
		ev.Actor.SourceIPs = []string{ev.Actor.SourceIP}
	}
	if nameFromID && ev.Target.ID != "" {
		ev.Target.Name = arnName(ev.Target.ID)
	}
	if env != nil {
		if c.Region == "" {
			c.Region = env.region
		}
		if c.Account == "" {
			c.Account = env.account
		}
	}
	ev.Outcome = outcome(ev.Action, &f, insight)

	if o.Raw {
		ev.SetRawFunc(normalize.DeferRaw(v, o, func(v *fastjson.Value) map[string]any {
			raw := normalize.Map(v)
			redact(raw)
			return raw
		}))
	}
	return ev, nil
}

// outcome maps the error fields and console-style responses to an outcome.
func outcome(name string, f *fields, insight bool) string {
	if len(bs(f.errorCode)) > 0 {
		return event.OutcomeFailure
	}
	if insight {
		return event.OutcomeUnknown
	}
	// ConsoleLogin, CheckMfa, SwitchRole, ExitRole, ... report
	// {"<eventName>": "Success"|"Failure"}.
	if re := f.responseElements; re != nil && re.Type() == fastjson.TypeObject {
		switch string(re.GetStringBytes(name)) {
		case "Success":
			return event.OutcomeSuccess
		case "Failure":
			return event.OutcomeFailure
		}
	}
	if len(bs(f.errorMessage)) > 0 {
		return event.OutcomeFailure
	}
	return event.OutcomeSuccess
}

// hashID is the id of a record without eventID: a hash of its compact JSON.
func hashID(v *fastjson.Value) string {
	var buf [256]byte
	sum := sha256.Sum256(v.MarshalTo(buf[:0]))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// isAddr reports whether s is an IP address rather than the name of the
// AWS service that made the call ("ec2.amazonaws.com", "AWS Internal").
// Dotted quads with zero-padded parts, which anonymized samples contain,
// count as addresses too.
func isAddr(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	if _, err := netip.ParseAddr(string(s)); err == nil {
		return true
	}
	parts := 0
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits > 3 {
				return false
			}
		case c == '.':
			if digits == 0 {
				return false
			}
			parts++
			digits = 0
		default:
			return false
		}
	}
	return parts == 3 && digits > 0
}

// shown renders a value for an error message: a string quoted and cut
// short, anything else by its type.
func shown(v *fastjson.Value) string {
	if v.Type() != fastjson.TypeString {
		return normalize.TypeName(v)
	}
	s := str(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// bs returns the bytes of a string value, or nil. They alias the parser's
// buffer: never keep them.
func bs(v *fastjson.Value) []byte {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// str returns a copy of a string value, or "".
func str(v *fastjson.Value) string {
	return string(bs(v))
}
