package rule

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestTechniqueTable(t *testing.T) {
	id := regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	for k, name := range Techniques {
		if !id.MatchString(k) || strings.TrimSpace(name) == "" {
			t.Errorf("bad entry %q: %q", k, name)
		}
		if _, ok := TechniqueName(k); !ok {
			t.Errorf("%s: its parent technique is missing", k)
		}
	}
	if got, _ := TechniqueName("T1098.006"); got != "Account Manipulation: Additional Container Cluster Roles" {
		t.Errorf("T1098.006 reads %q", got)
	}
	if _, ok := TechniqueName("T9999"); ok {
		t.Error("an unknown id has a name")
	}
}

func TestLintMetadata(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"r.yaml": `id: r
title: t
description: d
severity: low
tags: [attack.t1609, attack.t1599]
source: k8s_audit
condition: "true"
runbook: testdata/runbooks/rb.md
tests:
  - {name: p, match: true, event: {auditID: a, verb: get, timestamp: "2024-01-01T00:00:00Z", user: {username: eve}, objectRef: {resource: pods}}}
  - {name: n, match: true, event: {auditID: b, verb: get, timestamp: "2024-01-01T00:00:00Z", user: {username: eve}, objectRef: {resource: pods}}}
`})
	_, err := Load([]string{dir}, Options{Root: ".", Strict: true})
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatalf("want LoadErrors, got %v", err)
	}
	for _, want := range []string{
		"at least one ATT&CK tactic",
		"ATT&CK technique T1599 is not in the technique table",
		"false_positives: is required",
	} {
		if !strings.Contains(les.Error(), want) {
			t.Errorf("lint lacks %q:\n%s", want, les.Error())
		}
	}
	// Not strict: the same rule loads.
	if _, err := Load([]string{dir}, Options{Root: "."}); err != nil {
		t.Errorf("non-strict load: %v", err)
	}
}
