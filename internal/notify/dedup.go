package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// DedupKey returns a group's stable key: "vigia-" and the first 32 hex
// digits of the group key, lower case (of its SHA-256 when the key does
// not start with 32 hex digits). Every receiver names the group's page,
// alert or ticket with it (the PagerDuty dedup_key, the Opsgenie alias,
// the Jira and GitHub label, the ServiceNow correlation_id, the webhook
// dedup_key), so every event of the group, from any replica and after
// any restart, lands on the same one.
func DedupKey(groupKey string) string {
	if len(groupKey) >= 32 && !strings.ContainsFunc(groupKey[:32], notHex) {
		return "vigia-" + strings.ToLower(groupKey[:32])
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "vigia-" + hex.EncodeToString(sum[:16])
}

func notHex(r rune) bool {
	return (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F')
}
