package jira

// Jira's limits. Jira runs on the JVM and measures strings in UTF-16 code
// units, which is never less than the number of runes, so a text that fits
// here fits however it is counted.
const (
	maxSummary = 255   // issue summary
	maxLabel   = 255   // one label
	maxDoc     = 32767 // description or comment (the serialized ADF in v3)

	maxValue = 500  // one event-derived value
	maxText  = 2000 // the alert summary paragraph
	maxStep  = 1000 // one runbook step
)
