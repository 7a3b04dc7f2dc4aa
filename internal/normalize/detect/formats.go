package detect

import (
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
)

// formats are tried in order on every JSON object that is not an
// envelope; the first whose Detect accepts it decodes it. Put the most
// specific detectors first.
var formats = []Format{
	{Name: event.SourceK8sAudit, Detect: normalize.DetectK8sAudit, Decode: normalize.DecodeK8sAudit},
}

// textDecoder decodes messages that are not JSON (container log lines).
var textDecoder func(msg []byte, o normalize.Options, m normalize.Meta) ([]*event.Event, []error)
