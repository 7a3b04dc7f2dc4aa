// Package console writes alerts as JSON lines (the alert contract) to a
// writer: standard output or a file.
package console

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/vigia-dev/vigia/internal/alert"
	"github.com/vigia-dev/vigia/internal/notify"
)

// Notifier writes one JSON line per alert.
type Notifier struct {
	mu  sync.Mutex
	w   io.Writer
	enc *json.Encoder
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a notifier writing to w.
func New(w io.Writer) *Notifier {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &Notifier{w: w, enc: enc}
}

// Notify implements notify.Notifier. A write error is permanent.
func (n *Notifier) Notify(_ context.Context, alerts ...*alert.Alert) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range alerts {
		if err := n.enc.Encode(a); err != nil {
			return false, err
		}
	}
	return false, nil
}
