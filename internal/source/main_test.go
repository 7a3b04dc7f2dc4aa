package source

import (
	"testing"

	"go.uber.org/goleak"
)

// The consumer starts workers, a committer and kafka-go's reader
// goroutines: all must be gone once Run returns. kafka-go's shared
// DefaultTransport (used by the test's producer) keeps pooled connections
// by design; those are ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*conn).run"),
	)
}
