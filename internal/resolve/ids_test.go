package resolve

import (
	"strings"
	"testing"
)

func TestRoleARN(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"arn:aws:iam::111122223333:role/web", "arn:aws:iam::111122223333:role/web", true},
		{"arn:aws:iam::111122223333:role/team/a/web", "arn:aws:iam::111122223333:role/web", true},
		{"arn:aws:sts::111122223333:assumed-role/web/session-1", "arn:aws:iam::111122223333:role/web", true},
		{"arn:aws-cn:sts::111122223333:assumed-role/web/s", "arn:aws-cn:iam::111122223333:role/web", true},
		{"arn:aws-us-gov:iam::111122223333:role/web", "arn:aws-us-gov:iam::111122223333:role/web", true},
		{"arn:aws:iam::111122223333:user/bob", "", false},
		{"arn:aws:iam::111122223333:root", "", false},
		{"arn:aws:iam::111122223333:role/", "", false},
		{"arn:aws:sts::111122223333:federated-user/bob", "", false},
		{"arn:aws:iam:::role/web", "", false},
		{"app@proj.iam.gserviceaccount.com", "", false},
		{"", "", false},
	} {
		got, ok := roleARN(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("roleARN(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCloudID(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::111122223333:role/team/web":              "arn:aws:iam::111122223333:role/web",
		"arn:aws:sts::111122223333:assumed-role/web/session-1": "arn:aws:sts::111122223333:assumed-role/web/session-1",
		" App@Proj.iam.gserviceaccount.com ":                   "app@proj.iam.gserviceaccount.com",
		"0D3C4B1A-9E2F-4A7B-8C6D-5E4F3A2B1C0D":                 "0d3c4b1a-9e2f-4a7b-8c6d-5e4f3a2b1c0d",
		"ASIAEXAMPLEKEY":                                       "ASIAEXAMPLEKEY",
		"arn:aws:iam::111122223333:user/Bob":                   "arn:aws:iam::111122223333:user/Bob",
	} {
		if got := cloudID(in); got != want {
			t.Errorf("cloudID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		parse    func(string) (string, bool)
	}{
		{"system:serviceaccount:shop:web", "shop/web", saUser},
		{"system:serviceaccount:shop", "", saUser},
		{"system:serviceaccount::web", "", saUser},
		{"system:serviceaccount:shop:web:extra", "", saUser},
		{"system:node:n1", "", saUser},
		{"serviceAccount:proj.svc.id.goog[ml/trainer]", "ml/trainer", gkeSubject},
		{"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/proj.svc.id.goog/subject/ns/ml/sa/scorer", "ml/scorer", gkeSubject},
		{"serviceAccount:proj.svc.id.goog[ml]", "", gkeSubject},
		{"serviceAccount:proj.svc.id.goog[ml/trainer", "", gkeSubject},
		{"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/subject/repo:org/x", "", gkeSubject},
		{"trainer@proj.iam.gserviceaccount.com", "", gkeSubject},
	} {
		got, ok := tc.parse(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("parse(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzIdentityParsers checks the identity parsers on arbitrary input: no
// panics, and what they return is a well-formed key part.
func FuzzIdentityParsers(f *testing.F) {
	for _, s := range []string{
		"arn:aws:sts::111122223333:assumed-role/web/s", "arn:aws:iam::1:role/a/b/c",
		"system:serviceaccount:a:b", "serviceAccount:p.svc.id.goog[a/b]",
		"principal://x/p.svc.id.goog/subject/ns/a/sa/b", "0d3c4b1a-9e2f-4a7b-8c6d-5e4f3a2b1c0d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if role, ok := roleARN(s); ok {
			if again, ok := roleARN(role); !ok || again != role {
				t.Errorf("roleARN(%q) = %q, which does not parse to itself (%q)", s, role, again)
			}
			if strings.Count(role[strings.Index(role, ":role/")+6:], "/") != 0 {
				t.Errorf("roleARN(%q) = %q keeps a path", s, role)
			}
		}
		for _, parse := range []func(string) (string, bool){saUser, gkeSubject} {
			if sa, ok := parse(s); ok {
				ns, name, found := strings.Cut(sa, "/")
				if !found || !validName(ns) || !validName(name) {
					t.Errorf("parse(%q) = %q, not NS/NAME", s, sa)
				}
			}
		}
		_ = cloudID(s)
	})
}
