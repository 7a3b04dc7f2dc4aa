package detect

import (
	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/normalize"
	"github.com/vigia-dev/vigia/internal/normalize/azure"
	"github.com/vigia-dev/vigia/internal/normalize/cloudtrail"
	"github.com/vigia-dev/vigia/internal/normalize/containerlog"
	"github.com/vigia-dev/vigia/internal/normalize/gcpaudit"
	"github.com/vigia-dev/vigia/internal/normalize/k8saudit"
)

// formats are tried in order on every JSON object that is not an
// envelope; the first whose Detect accepts it decodes it. Put the most
// specific detectors first.
var formats = []Format{
	{Name: event.SourceK8sAudit, Detect: k8saudit.Detect, Decode: k8saudit.Decode},
	{Name: event.SourceGCPAudit, Detect: gcpaudit.Detect, Decode: gcpaudit.Decode},
	{Name: event.SourceCloudTrail, Detect: cloudtrail.Detect, Decode: cloudtrail.Decode},
	{Name: event.SourceAzureActivity, Detect: azure.Detect, Decode: azure.Decode},
	{Name: event.SourceContainerLog, Detect: containerlog.Detect, Decode: containerlog.Decode},
}

// textDecoder decodes messages that are not JSON (container log lines).
var textDecoder func(msg []byte, o normalize.Options, m normalize.Meta) ([]*event.Event, []error) = containerlog.DecodeText

// Flush returns the events held back waiting for the rest of a split line
// (CRI partial lines, docker 16 KiB chunks), delivered as they are. Call
// it when input ends: at the end of a replay, at shutdown.
func Flush() []*event.Event { return containerlog.Flush() }
