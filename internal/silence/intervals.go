package silence

import (
	"errors"
	"fmt"
	"time"
	// Interval locations ("America/Sao_Paulo") resolve even on images
	// without a zoneinfo database.
	_ "time/tzdata"

	"github.com/prometheus/alertmanager/timeinterval"

	"github.com/vigia-dev/vigia/internal/config"
)

// Intervals are the named time intervals of the configuration
// (time_intervals), which routes reference in mute_time_intervals and
// active_time_intervals. An interval is a list of periods in
// Alertmanager's format (times, weekdays, days_of_month, months, years,
// location); it contains an instant when any of its periods does, and a
// period contains it when every field it sets does (in its location, UTC
// by default). Intervals is immutable and safe for concurrent use.
type Intervals struct {
	byName map[string][]timeinterval.TimeInterval
}

// NewIntervals checks that every interval has a unique name.
func NewIntervals(defs []config.TimeInterval) (*Intervals, error) {
	iv := &Intervals{byName: make(map[string][]timeinterval.TimeInterval, len(defs))}
	var errs []error
	for i, d := range defs {
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("time_intervals[%d].name: is required", i))
		case iv.byName[d.Name] != nil:
			errs = append(errs, fmt.Errorf("time_intervals[%d].name: duplicate time interval %q", i, d.Name))
		default:
			// A named interval without periods never contains anything;
			// a non-nil empty slice marks the name as known.
			iv.byName[d.Name] = append([]timeinterval.TimeInterval{}, d.TimeIntervals...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return iv, nil
}

// Active reports whether any of the named intervals contains t. Unknown
// names (the configuration rejects them) contain nothing.
func (iv *Intervals) Active(names []string, t time.Time) bool {
	if iv == nil {
		return false
	}
	for _, n := range names {
		for _, p := range iv.byName[n] {
			if p.ContainsTime(t) {
				return true
			}
		}
	}
	return false
}

// Has reports whether name is defined.
func (iv *Intervals) Has(name string) bool {
	_, ok := iv.byName[name]
	return ok
}
