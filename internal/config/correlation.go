package config

import "time"

// Correlation tunes the correlation engine: windows and first-seen sets
// live in Redis when `redis` is configured (shared by replicas), else in
// memory.
type Correlation struct {
	// Lateness is how far an event may trail the newest event of its
	// source and still count in windows. Later events are counted
	// (vigia_correlation_late_events_total) and left out. Default: 15m
	// (CloudTrail delivers up to about 15 minutes after the call).
	Lateness time.Duration `yaml:"lateness"`
	// MaxEventsPerGroup bounds the events a window keeps per group; the
	// oldest go first. Default: 1000.
	MaxEventsPerGroup int `yaml:"max_events_per_group"`
	// MaxValuesPerGroup bounds the values a first_seen rule remembers per
	// group; the least recently seen go first. Default: 10000.
	MaxValuesPerGroup int `yaml:"max_values_per_group"`
	// MaxGroups bounds the windows and first-seen sets kept in memory
	// (without Redis); the least recently used go first. Default: 1000000.
	MaxGroups int `yaml:"max_groups"`
}

func (c *Config) correlationDefaults() {
	k := &c.Correlation
	if k.Lateness == 0 {
		k.Lateness = 15 * time.Minute
	}
	if k.MaxEventsPerGroup == 0 {
		k.MaxEventsPerGroup = 1000
	}
	if k.MaxValuesPerGroup == 0 {
		k.MaxValuesPerGroup = 10000
	}
	if k.MaxGroups == 0 {
		k.MaxGroups = 1_000_000
	}
}

func (c *Config) validateCorrelation(bad func(field, format string, args ...any)) {
	k := c.Correlation
	if k.Lateness < 0 {
		bad("correlation.lateness", "must not be negative")
	}
	if k.MaxEventsPerGroup < 0 {
		bad("correlation.max_events_per_group", "must not be negative")
	}
	if k.MaxValuesPerGroup < 0 {
		bad("correlation.max_values_per_group", "must not be negative")
	}
	if k.MaxGroups < 0 {
		bad("correlation.max_groups", "must not be negative")
	}
}
