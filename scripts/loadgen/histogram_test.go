package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactPercentile is the nearest-rank definition on sorted samples.
func exactPercentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestPercentile(t *testing.T) {
	ramp := make([]time.Duration, 100) // 1 ms … 100 ms
	for i := range ramp {
		ramp[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", []time.Duration{3 * time.Millisecond}, 99, 3 * time.Millisecond},
		{"ramp p50", ramp, 50, 50 * time.Millisecond},
		{"ramp p90", ramp, 90, 90 * time.Millisecond},
		{"ramp p99", ramp, 99, 99 * time.Millisecond},
		{"ramp p100 is max", ramp, 100, 100 * time.Millisecond},
		{"outlier stays out of p50", []time.Duration{time.Millisecond, time.Millisecond, time.Second}, 50, time.Millisecond},
		{"sub-nanosecond", []time.Duration{0, 0}, 50, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, s := range tc.samples {
				h.record(s)
			}
			assertWithin(t, h.percentile(tc.p), tc.want)
		})
	}
}

// TestPercentileRandom checks the ≤1% bound against exact nearest-rank
// percentiles of a seeded log-uniform sample split over merged histograms.
func TestPercentileRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var parts [4]histogram
	samples := make([]time.Duration, 50_000)
	for i := range samples {
		samples[i] = time.Duration(math.Exp(math.Log(1e4) + rng.Float64()*math.Log(1e5))) // 10 µs … 1 s
		parts[i%len(parts)].record(samples[i])
	}
	var h histogram
	for i := range parts {
		h.merge(&parts[i])
	}
	slices.Sort(samples)
	if h.total != uint64(len(samples)) || h.max != samples[len(samples)-1] {
		t.Fatalf("total %d max %v, want %d %v", h.total, h.max, len(samples), samples[len(samples)-1])
	}
	for _, p := range []float64{0.1, 1, 50, 90, 99, 99.9, 100} {
		assertWithin(t, h.percentile(p), exactPercentile(samples, p))
	}
}

func assertWithin(t *testing.T, got, want time.Duration) {
	t.Helper()
	if want == 0 {
		if got > 1 {
			t.Errorf("got %v, want 0", got)
		}
		return
	}
	if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
		t.Errorf("got %v, want %v (error %.2f%% > 1%%)", got, want, rel*100)
	}
}
