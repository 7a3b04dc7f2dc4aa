// Package outbox is Vigia's durable delivery queue. Every alert a route
// sends to a receiver is written here before the Kafka offset that produced
// it is committed, and leaves only once the receiver took it (Ack) or
// refused it for good (Bury). Two implementations share this contract:
// Redis Streams with a consumer group, shared by every replica, and a
// local file for the embedded default.
//
// The package also keeps each receiver's per-group delivery state (the
// Slack message to thread under, the ticket to comment on) so repeats and
// resolutions update instead of duplicating, across restarts.
package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
)

// Entry is one alert routed to one receiver, waiting to be delivered.
type Entry struct {
	// ID is assigned by the queue on Enqueue (a Redis stream id, a file
	// sequence number); ids of one receiver sort in enqueue order.
	ID string `json:"-"`
	// Receiver is the receiver's name.
	Receiver string `json:"receiver"`
	// Route identifies the route that sent it ("0.2.1": the path in the
	// routing tree), whose grouping and timing settings apply.
	Route string `json:"route"`
	// GroupKey and GroupLabels identify the alert's group on this route.
	GroupKey    string            `json:"group_key"`
	GroupLabels map[string]string `json:"group_labels"`
	// Alert is the alert, labels set.
	Alert *alert.Alert `json:"alert"`
	// Enqueued is when the router wrote it.
	Enqueued time.Time `json:"enqueued"`
	// Trace carries the W3C trace context of the message that produced the
	// alert (traceparent, tracestate), so the delivery span joins the
	// producer's trace although delivery is asynchronous.
	Trace map[string]string `json:"trace,omitempty"`
	// Deliveries counts the times the entry was claimed before (a claim by a
	// consumer that died without acknowledging counts).
	Deliveries int `json:"-"`
}

// Dead is an entry a receiver refused for good.
type Dead struct {
	Entry
	// DeadID identifies the dead letter for Revive.
	DeadID string    `json:"dead_id"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Queue is the durable outbox.
type Queue interface {
	// Enqueue stores entries durably: once it returns nil they survive a
	// crash of this process (the file is synced; Redis acknowledged XADD).
	// It sets each entry's ID. It is idempotent per group and alert: an
	// entry whose group (GroupKey, which names the receiver) already took
	// an entry for the same alert id within the dedup window is skipped
	// (its ID stays ""), so a Kafka message processed again after a crash
	// does not queue its alerts twice however many alerts the group has
	// notified since.
	Enqueue(ctx context.Context, entries ...*Entry) error
	// Claim returns up to max undelivered entries of receiver, oldest
	// first, for this consumer to deliver: entries never claimed, and
	// entries claimed by a consumer that has not acknowledged them within
	// the queue's claim timeout (it died). It waits up to wait for one
	// when there is none, and returns an empty slice then.
	Claim(ctx context.Context, receiver string, max int, wait time.Duration) ([]*Entry, error)
	// Ack removes delivered entries.
	Ack(ctx context.Context, receiver string, ids ...string) error
	// Bury moves entries to the dead letter with reason (they are acked).
	Bury(ctx context.Context, reason string, entries ...*Entry) error
	// Dead lists dead letters, oldest first, at most limit (0: all).
	Dead(ctx context.Context, limit int) ([]*Dead, error)
	// Revive moves dead letters back into the queue for another try, and
	// returns how many it moved. Unknown ids are ignored.
	Revive(ctx context.Context, deadIDs ...string) (int, error)
	// Len returns the number of undelivered entries of receiver (claimed
	// or not), for the backlog metric.
	Len(ctx context.Context, receiver string) (int64, error)
	Close() error
}

// GroupState is what the dispatcher keeps about a group between
// notifications.
type GroupState struct {
	// Receiver state returned by the receiver's last delivery.
	State notify.State `json:"state,omitempty"`
	// Route, GroupLabels: as in Entry.
	Route       string            `json:"route"`
	GroupLabels map[string]string `json:"group_labels"`
	// Total alerts notified so far; First and Last span them.
	Total int       `json:"total"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Notified is when the group was last notified (repeat_interval).
	Notified time.Time `json:"notified"`
	// Resolved is set once a resolution was delivered (after the quiet
	// resolve_timeout, or a person's resolve through internal/lifecycle).
	Resolved bool `json:"resolved,omitempty"`
	// Acknowledged and AcknowledgedBy record a person's acknowledgement
	// (internal/lifecycle), so a second one — the echo of the first from
	// PagerDuty's webhook — changes nothing.
	Acknowledged   time.Time `json:"acknowledged,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	// Seen holds the ids of the group's most recently notified alerts
	// (bounded), so an alert routed again after a restart — its Kafka
	// offset was not yet committed — is not notified twice.
	Seen []string `json:"seen,omitempty"`
	// Sending is the notification being delivered: stored before the
	// receiver is called and cleared with the state its success returns.
	// Found set at the next flush (the process died meanwhile), the
	// notification is sent again first, with the same id and alerts, so a
	// receiver that deduplicates on the id (webhook Idempotency-Key,
	// PagerDuty's dedup key) does not notify twice.
	Sending *Sending `json:"sending,omitempty"`
}

// Sending identifies a notification whose delivery outcome is unknown.
type Sending struct {
	// ID is the notification id (the idempotency key).
	ID string `json:"id"`
	// Alerts are the ids of the alerts it carries.
	Alerts []string `json:"alerts"`
}

// States stores GroupStates per receiver and group key.
type States interface {
	// Get returns the group's state; ok is false when there is none.
	Get(ctx context.Context, receiver, groupKey string) (st *GroupState, ok bool, err error)
	// Put stores the group's state, kept for ttl after its last Put.
	Put(ctx context.Context, receiver, groupKey string, st *GroupState, ttl time.Duration) error
	// Delete forgets the group.
	Delete(ctx context.Context, receiver, groupKey string) error
	// List calls fn for every stored group of receiver (resolution timers
	// are rebuilt from it at start-up). Stops early when fn returns false.
	List(ctx context.Context, receiver string, fn func(groupKey string, st *GroupState) bool) error
	// Lock takes a short lease on the group so two replicas do not deliver
	// the same group's notification at once; it returns a release func, or
	// ok false when another holder has it.
	Lock(ctx context.Context, receiver, groupKey string, ttl time.Duration) (release func(), ok bool, err error)
}

// DefaultDedupWindow is how long Enqueue remembers a group's alert ids by
// default.
const DefaultDedupWindow = time.Hour

// dedupKey identifies an entry's group and alert; "" for entries without
// an alert.
func dedupKey(e *Entry) string {
	if e.Alert == nil || e.Alert.ID == "" {
		return ""
	}
	h := sha256.Sum256([]byte(e.GroupKey + "\x00" + e.Alert.ID))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// Syncer is implemented by queues whose writes reach the disk only when
// synced (File): call Sync before committing the Kafka offsets of the
// messages whose entries were enqueued.
type Syncer interface {
	Sync() error
}
