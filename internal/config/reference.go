package config

import _ "embed"

// The configuration reference is generated from the structs of this
// package by ./gen: YAML keys and Go types by reflection, doc comments
// from the source, defaults by running Defaults. go generate writes it
// twice, to reference.md (embedded here, so a built binary prints it
// without the source tree) and to docs/config.md; gen's test fails when
// either no longer matches the structs.
//
//go:generate go run ./gen reference.md ../../docs/config.md

//go:embed reference.md
var reference string

// Reference returns the configuration reference as markdown.
func Reference() string { return reference }
