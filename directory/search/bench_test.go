package search

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Benchmarks over a synthetic directory of the production size:
//
//	go test -run '^$' -bench . -benchmem ./directory/search/
const (
	benchOrgs    = 14_000
	benchPeople  = 500_000
	benchQueries = 20_000
)

// BenchmarkBuild measures indexing the full directory, reporting also the CPU
// time used in all threads (on Linux), which a busy machine does not inflate.
func BenchmarkBuild(b *testing.B) {
	recs := genRecords(1, benchOrgs, benchPeople)
	work := make([]Record, len(recs))
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		copy(work, recs)
		runtime.GC()
		b.StartTimer()
		c0, ok := processCPU()
		Build(work)
		if c1, _ := processCPU(); ok {
			cpu += c1 - c0
		}
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkSearch measures queries against the full directory. Sub-benchmarks
// share one index; Latency reports percentiles over typed-ahead queries, Memory
// the heap the records and the index take.
func BenchmarkSearch(b *testing.B) {
	runtime.GC()
	before := heapBytes()
	ix := Build(genRecords(1, benchOrgs, benchPeople))
	runtime.GC()
	total := heapBytes() - before
	queries := typeAheadQueries(ix, 7, benchQueries)

	b.Run("Memory", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(ix.sizeBytes())/(1<<20), "index-MB")
		b.ReportMetric(float64(total)/(1<<20), "heap-MB")
	})
	for _, bc := range []struct{ name, q string }{
		{"OneWord", "vermeu"},
		{"CommonPrefix", "ja"},
		{"TwoWords", "jan de"},
		{"ThreeWords", "anne-marie van der"},
		{"Email", "j.jansen@"},
		{"Domain", "gemeente-utrecht"},
		{"NoMatch", "zzqx"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Search(bc.q, 10)
			}
		})
	}
	b.Run("Latency", func(b *testing.B) {
		benchLatency(b, ix, queries)
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				ix.Search(queries[i%len(queries)], 10)
			}
		})
	})
}

// benchLatency runs every query once per iteration and reports percentiles of
// the single-query latency: wall-clock time, and (on Linux) the CPU time of the
// thread, which leaves out waiting for a core on a busy machine.
func benchLatency(b *testing.B, ix *Index, queries []string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var wall, cpu []time.Duration
	for b.Loop() {
		for _, q := range queries {
			c0, ok := threadCPU()
			t := time.Now()
			ix.Search(q, 10)
			wall = append(wall, time.Since(t))
			if c1, _ := threadCPU(); ok {
				cpu = append(cpu, c1-c0)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(len(wall)), "ns/query")
	reportPercentiles(b, "", wall)
	reportPercentiles(b, "cpu-", cpu)
}

// reportPercentiles reports p50, p99, p99.9 and the maximum of ds.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}, {"p99.9", 0.999}, {"max", 1}} {
		b.ReportMetric(float64(ds[int(p.q*float64(len(ds)-1))]), prefix+p.name+"-ns")
	}
}

// heapBytes returns the live heap size.
func heapBytes() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// typeAheadQueries returns n queries as a user types them: a prefix of one word
// of a random record, or some whole words of its name followed by a prefix of
// the next, in the record's original spelling.
func typeAheadQueries(ix *Index, seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 1))
	qs := make([]string, 0, n)
	for len(qs) < n {
		r := &ix.recs[rng.IntN(len(ix.recs))]
		text := r.Name
		if r.Email != "" && rng.IntN(5) == 0 {
			text = r.Email
		}
		ws := strings.Fields(text)
		if len(ws) == 0 {
			continue
		}
		start := rng.IntN(len(ws))
		if rng.IntN(2) == 0 {
			start = 0
		}
		end := start + rng.IntN(min(3, len(ws)-start))
		last := []rune(ws[end])
		q := strings.Join(append(slices.Clone(ws[start:end]), string(last[:1+rng.IntN(len(last))])), " ")
		if len([]rune(q)) >= 2 {
			qs = append(qs, q)
		}
	}
	return qs
}
