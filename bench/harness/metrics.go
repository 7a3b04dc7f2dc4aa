package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// scrape is one read of Vigia's /metrics: each series' value summed over
// its labels, and the alert latency histogram's buckets.
type scrape struct {
	sums    map[string]float64  // metric name -> sum over label sets
	buckets map[float64]float64 // vigia_alert_latency_seconds: le -> cumulative count
	// lag is vigia_consumer_lag per partition (its label set): messages
	// behind the high watermark as of the last message fetched from it.
	lag map[string]float64
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func scrapeMetrics(ctx context.Context, addr string) (*scrape, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format.
func parseMetrics(r io.Reader) (*scrape, error) {
	s := &scrape{sums: map[string]float64{}, buckets: map[float64]float64{}, lag: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		series := line[:sp]
		name, labels := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 {
			name, labels = series[:i], series[i:]
		}
		s.sums[name] += v
		if name == "vigia_consumer_lag" {
			s.lag[labels] = v
		}
		if name == "vigia_alert_latency_seconds_bucket" {
			if i := strings.Index(labels, `le="`); i >= 0 {
				rest := labels[i+4:]
				le, err := strconv.ParseFloat(rest[:strings.IndexByte(rest, '"')], 64)
				if err == nil {
					s.buckets[le] += v
				}
			}
		}
	}
	return s, sc.Err()
}

func (s *scrape) get(name string) float64 {
	if s == nil {
		return 0
	}
	return s.sums[name]
}

// addScrapes sums the scrapes of several processes. A partition's lag is
// the smallest any process reports: a process that lost the partition in
// a rebalance keeps reporting the lag it had then.
func addScrapes(ss ...*scrape) *scrape {
	out := &scrape{sums: map[string]float64{}, buckets: map[float64]float64{}, lag: map[string]float64{}}
	for _, s := range ss {
		if s == nil {
			continue
		}
		for k, v := range s.lag {
			if old, ok := out.lag[k]; !ok || v < old {
				out.lag[k] = v
			}
		}
		for k, v := range s.sums {
			out.sums[k] += v
		}
		for k, v := range s.buckets {
			out.buckets[k] += v
		}
	}
	return out
}

// quantile returns the q-quantile of the histogram of the observations
// made between two scrapes (before may be nil), interpolating linearly
// within the bucket it falls in, as Prometheus' histogram_quantile does.
// It returns NaN without observations.
func quantile(q float64, before, after *scrape) (float64, int64) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for le, n := range after.buckets {
		if before != nil {
			n -= before.buckets[le]
		}
		bs = append(bs, bucket{le, n})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return math.NaN(), 0
	}
	total := bs[len(bs)-1].n
	rank := q * total
	lower, prev := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return lower, int64(total) // beyond the last bound: report it
			}
			if b.n == prev {
				return b.le, int64(total)
			}
			return lower + (b.le-lower)*(rank-prev)/(b.n-prev), int64(total)
		}
		lower, prev = b.le, b.n
	}
	return lower, int64(total)
}

// caughtUp reports whether every one of partitions partitions was
// fetched to its end (lag 0) and nothing fetched is still being handled.
func (s *scrape) caughtUp(partitions int) bool {
	if s == nil || len(s.lag) < partitions || s.get("vigia_messages_in_flight") != 0 {
		return false
	}
	for _, v := range s.lag {
		if v != 0 {
			return false
		}
	}
	return true
}
