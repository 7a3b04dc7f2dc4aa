package silence

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigia-dev/vigia/internal/config"
)

// intervalsYAML is a time_intervals block as written in the configuration.
const intervalsYAML = `
- name: business-hours-sp
  time_intervals:
    - weekdays: ['monday:friday']
      times:
        - start_time: '09:00'
          end_time: '18:00'
      location: America/Sao_Paulo
- name: weekend
  time_intervals:
    - weekdays: ['saturday', 'sunday']
- name: freeze
  time_intervals:
    - months: ['december']
      days_of_month: ['20:31']
    - months: ['january']
      days_of_month: ['1:5']
- name: never
  time_intervals: []
`

func loadIntervals(t *testing.T, src string) []config.TimeInterval {
	t.Helper()
	var defs []config.TimeInterval
	if err := yaml.Unmarshal([]byte(src), &defs); err != nil {
		t.Fatal(err)
	}
	return defs
}

func TestIntervalsActive(t *testing.T) {
	iv, err := NewIntervals(loadIntervals(t, intervalsYAML))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := time.LoadLocation("America/Sao_Paulo") // UTC-3, no DST since 2019
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		names []string
		at    time.Time
		want  bool
	}{
		// 2026-03-10 is a Tuesday.
		{"weekday 09:00 in São Paulo", []string{"business-hours-sp"}, time.Date(2026, 3, 10, 9, 0, 0, 0, sp), true},
		{"same instant in UTC", []string{"business-hours-sp"}, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), true},
		{"08:59 local is outside", []string{"business-hours-sp"}, time.Date(2026, 3, 10, 11, 59, 0, 0, time.UTC), false},
		{"end time is exclusive", []string{"business-hours-sp"}, time.Date(2026, 3, 10, 18, 0, 0, 0, sp), false},
		{"17:59 local is inside", []string{"business-hours-sp"}, time.Date(2026, 3, 10, 20, 59, 0, 0, time.UTC), true},
		{"saturday office hours", []string{"business-hours-sp"}, time.Date(2026, 3, 14, 10, 0, 0, 0, sp), false},
		{"UTC monday, still sunday in São Paulo", []string{"business-hours-sp"}, time.Date(2026, 3, 16, 1, 0, 0, 0, time.UTC), false},
		{"weekend in UTC", []string{"weekend"}, time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC), true},
		{"any of several names", []string{"business-hours-sp", "weekend"}, time.Date(2026, 3, 15, 3, 0, 0, 0, time.UTC), true},
		{"freeze, second period", []string{"freeze"}, time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC), true},
		{"freeze, outside", []string{"freeze"}, time.Date(2026, 12, 19, 23, 59, 0, 0, time.UTC), false},
		{"empty interval never contains", []string{"never"}, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), false},
		{"unknown name", []string{"nope"}, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), false},
		{"no names", nil, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := iv.Active(tc.names, tc.at); got != tc.want {
				t.Fatalf("Active(%v, %s) = %v, want %v", tc.names, tc.at.UTC().Format(time.RFC3339), got, tc.want)
			}
		})
	}
	if !iv.Has("never") || iv.Has("nope") {
		t.Error("Has")
	}
}

func TestNewIntervalsNames(t *testing.T) {
	_, err := NewIntervals(loadIntervals(t, `
- name: a
  time_intervals: [{weekdays: [monday]}]
- name: ""
- name: a
`))
	if err == nil || !strings.Contains(err.Error(), `time_intervals[2].name: duplicate time interval "a"`) || !strings.Contains(err.Error(), "time_intervals[1].name: is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestNilIntervals(t *testing.T) {
	var iv *Intervals
	if iv.Active([]string{"x"}, time.Now()) {
		t.Fatal("nil Intervals active")
	}
}
