package main

import (
	"math"
	"time"
)

// The histogram uses log-spaced buckets: bucket i holds [γ^i, γ^(i+1)) ns and
// reports γ^(i+0.5), so every reported percentile is within √γ−1 < 1% of a
// recorded sample. 1,500 buckets span 1 ns to over an hour in 12 KiB.
const (
	histGamma   = 1.02
	histBuckets = 1500
)

var histLogGamma = math.Log(histGamma)

// histogram records latencies in bounded memory. It is not safe for
// concurrent use: each worker owns one and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    time.Duration
}

func bucketOf(d time.Duration) int {
	if d < 1 {
		return 0
	}
	i := int(math.Log(float64(d)) / histLogGamma)
	return min(max(i, 0), histBuckets-1)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest recorded value with at least p% of samples at or below it.
// It returns 0 for an empty histogram.
func (h *histogram) percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			mid := time.Duration(math.Pow(histGamma, float64(i)+0.5))
			return min(mid, h.max)
		}
	}
	return h.max
}
