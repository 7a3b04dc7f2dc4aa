package cloudtrail

import (
	"bytes"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigia-dev/vigia/internal/event"
)

// param is one request parameter that names a call's target.
type param struct {
	// path is the key, or a path into the request parameters; an array on
	// the way is entered at its first item.
	path []string
	// service restricts the key to calls of one service ("" for any): the
	// same key means different things elsewhere ("name", "groupName").
	service string
	typ     string
}

// params are tried in order; see the package doc.
var params = []param{
	{path: []string{"userName"}, service: "iam", typ: "AWS::IAM::User"},
	{path: []string{"roleName"}, service: "iam", typ: "AWS::IAM::Role"},
	{path: []string{"groupName"}, service: "iam", typ: "AWS::IAM::Group"},
	{path: []string{"policyArn"}, service: "iam", typ: "AWS::IAM::Policy"},
	{path: []string{"policyName"}, service: "iam", typ: "AWS::IAM::Policy"},
	{path: []string{"instanceProfileName"}, service: "iam", typ: "AWS::IAM::InstanceProfile"},
	{path: []string{"roleArn"}, service: "sts", typ: "AWS::IAM::Role"},
	{path: []string{"bucketName"}, typ: "AWS::S3::Bucket"},
	{path: []string{"name"}, service: "cloudtrail", typ: "AWS::CloudTrail::Trail"},
	{path: []string{"trailName"}, service: "cloudtrail", typ: "AWS::CloudTrail::Trail"},
	{path: []string{"eventDataStore"}, service: "cloudtrail", typ: "AWS::CloudTrail::EventDataStore"},
	{path: []string{"detectorId"}, typ: "AWS::GuardDuty::Detector"},
	{path: []string{"secretId"}, service: "secretsmanager", typ: "AWS::SecretsManager::Secret"},
	{path: []string{"name"}, service: "secretsmanager", typ: "AWS::SecretsManager::Secret"},
	{path: []string{"name"}, service: "ssm", typ: "AWS::SSM::Parameter"},
	{path: []string{"names"}, service: "ssm", typ: "AWS::SSM::Parameter"},
	{path: []string{"instanceIds"}, service: "ssm", typ: "AWS::EC2::Instance"},
	{path: []string{"target"}, service: "ssm", typ: "AWS::EC2::Instance"},
	{path: []string{"functionName"}, typ: "AWS::Lambda::Function"},
	{path: []string{"layerName"}, typ: "AWS::Lambda::LayerVersion"},
	{path: []string{"keyId"}, service: "kms", typ: "AWS::KMS::Key"},
	{path: []string{"name"}, service: "eks", typ: "AWS::EKS::Cluster"},
	{path: []string{"clusterName"}, service: "eks", typ: "AWS::EKS::Cluster"},
	{path: []string{"groupId"}, service: "ec2", typ: "AWS::EC2::SecurityGroup"},
	{path: []string{"groupName"}, service: "ec2", typ: "AWS::EC2::SecurityGroup"},
	{path: []string{"snapshotId"}, typ: "AWS::EC2::Snapshot"},
	{path: []string{"imageId"}, service: "ec2", typ: "AWS::EC2::Image"},
	{path: []string{"instanceId"}, typ: "AWS::EC2::Instance"},
	{path: []string{"instancesSet", "items", "instanceId"}, typ: "AWS::EC2::Instance"},
	{path: []string{"flowLogIds"}, typ: "AWS::EC2::FlowLog"},
	{path: []string{"DeleteFlowLogsRequest", "FlowLogId", "content"}, typ: "AWS::EC2::FlowLog"},
	{path: []string{"vpcId"}, typ: "AWS::EC2::VPC"},
	{path: []string{"keyName"}, service: "ec2", typ: "AWS::EC2::KeyPair"},
	{path: []string{"dBSnapshotIdentifier"}, typ: "AWS::RDS::DBSnapshot"},
	{path: []string{"dBClusterIdentifier"}, typ: "AWS::RDS::DBCluster"},
	{path: []string{"dBInstanceIdentifier"}, typ: "AWS::RDS::DBInstance"},
	{path: []string{"resolverQueryLogConfigId"}, typ: "AWS::Route53Resolver::ResolverQueryLoggingConfig"},
	{path: []string{"logGroupName"}, typ: "AWS::Logs::LogGroup"},
	{path: []string{"stackName"}, typ: "AWS::CloudFormation::Stack"},
	{path: []string{"tableName"}, service: "dynamodb", typ: "AWS::DynamoDB::Table"},
	{path: []string{"queueUrl"}, typ: "AWS::SQS::Queue"},
	{path: []string{"queueName"}, typ: "AWS::SQS::Queue"},
	{path: []string{"topicArn"}, typ: "AWS::SNS::Topic"},
	{path: []string{"repositoryName"}, service: "ecr", typ: "AWS::ECR::Repository"},
	{path: []string{"modelId"}, service: "bedrock", typ: "AWS::Bedrock::FoundationModel"},
	{path: []string{"restApiId"}, typ: "AWS::ApiGateway::RestApi"},
}

// target fills t from the request, the response and the resources list.
// It reports whether t.Name is to be taken from t.ID once the arena is
// flushed: the target was named by an ARN.
func target(a *arena, t *event.Target, action, eventSource []byte, req, resp, resources *fastjson.Value) (nameFromID bool) {
	svc := eventSource
	if i := bytes.IndexByte(svc, '.'); i >= 0 {
		svc = svc[:i]
	}
	var val []byte
	if string(action) == "RunInstances" && resp != nil {
		if val = at(resp, []string{"instancesSet", "items", "instanceId"}); len(val) > 0 {
			t.Type = "AWS::EC2::Instance"
		}
	}
	if t.Type == "" && req != nil && req.Type() == fastjson.TypeObject {
		for i := range params {
			p := &params[i]
			if p.service != "" && p.service != string(svc) {
				continue
			}
			if val = at(req, p.path); len(val) > 0 {
				t.Type = p.typ
				break
			}
		}
	}
	switch {
	case len(val) == 0:
	case bytes.HasPrefix(val, []byte("arn:")):
		a.add(&t.ID, val)
		nameFromID = true
	case string(svc) == "sqs" && bytes.HasPrefix(val, []byte("https://")):
		a.add(&t.Name, val[bytes.LastIndexByte(val, '/')+1:])
	default:
		a.add(&t.Name, val)
	}

	// The resources list, when the record has one: the resource of the
	// derived type, else the first.
	rs := resources.GetArray()
	if len(rs) == 0 {
		return nameFromID
	}
	pick := rs[0]
	if t.Type != "" {
		for _, r := range rs {
			if string(r.GetStringBytes("type")) == t.Type {
				pick = r
				break
			}
		}
	}
	typ := pick.GetStringBytes("type")
	switch {
	case t.Type == "":
		a.add(&t.Type, typ)
	case t.Type != string(typ):
		// The resource is not the derived target: do not mix their ids.
		return nameFromID
	}
	arn := pick.GetStringBytes("ARN")
	if len(arn) == 0 {
		arn = pick.GetStringBytes("arn")
	}
	if len(arn) > 0 {
		a.add(&t.ID, arn)
		if len(val) == 0 {
			nameFromID = true
		}
	}
	return nameFromID
}

// at returns the string at path in v; an array on the way (or at the end)
// is entered at its first item.
func at(v *fastjson.Value, path []string) []byte {
	for _, k := range path {
		if v.Type() == fastjson.TypeArray {
			a, _ := v.Array()
			if len(a) == 0 {
				return nil
			}
			v = a[0]
		}
		if v.Type() != fastjson.TypeObject {
			return nil
		}
		if v = v.Get(k); v == nil {
			return nil
		}
	}
	if v.Type() == fastjson.TypeArray {
		a, _ := v.Array()
		if len(a) == 0 {
			return nil
		}
		v = a[0]
	}
	return bs(v)
}

// arnName returns the name part of an ARN: "NAME" of
// "arn:aws:iam::123456789012:role/path/NAME", "bucket" of
// "arn:aws:s3:::bucket/key", "NAME" of "arn:aws:lambda:r:a:function:NAME:3",
// "prod/db-AbCdEf" of "arn:aws:secretsmanager:r:a:secret:prod/db-AbCdEf".
func arnName(arn string) string {
	// arn:partition:service:region:account:resource
	var colons [5]int
	n := 0
	for i := 0; i < len(arn) && n < 5; i++ {
		if arn[i] == ':' {
			colons[n] = i
			n++
		}
	}
	if n < 5 {
		return arn
	}
	res := arn[colons[4]+1:]
	if arn[colons[1]+1:colons[2]] == "s3" {
		if i := strings.IndexByte(res, '/'); i >= 0 {
			return res[:i]
		}
		return res
	}
	i := strings.IndexAny(res, ":/")
	switch {
	case i < 0:
		return res
	case res[i] == '/':
		// type/path/NAME (IAM paths, instance/ID, trail/NAME)
		return res[strings.LastIndexByte(res, '/')+1:]
	}
	// type:NAME[:qualifier] (secret:prod/db-AbCdEf, function:NAME:3)
	name, _, _ := strings.Cut(res[i+1:], ":")
	return name
}
