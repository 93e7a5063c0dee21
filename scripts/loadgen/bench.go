package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// stats is one worker's (or the merged) outcome of a phase. Latency and hits
// are recorded for successful requests only, so fast failures cannot flatter
// the percentiles.
type stats struct {
	hist     histogram
	requests int64
	errors   int64
	hits     int64
	firstErr error
}

func (s *stats) add(d time.Duration, hits int, err error) {
	s.requests++
	if err != nil {
		s.errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.hist.record(d)
	s.hits += int64(hits)
}

func (s *stats) merge(o *stats) {
	s.hist.merge(&o.hist)
	s.requests += o.requests
	s.errors += o.errors
	s.hits += o.hits
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
}

// budget hands out request numbers across workers, which pick queries round
// robin by number; limit 0 is unbounded.
type budget struct {
	limit int64
	next  atomic.Int64
}

func (b *budget) take() (int64, bool) {
	k := b.next.Add(1) - 1
	return k, b.limit == 0 || k < b.limit
}

// bench connects c workers, warms up, runs the measured phase and reports.
func bench(ctx context.Context, log *slog.Logger, cfg config, stdout io.Writer) error {
	queries, err := loadQueries(cfg)
	if err != nil {
		return err
	}
	workers, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	log.Info("loadgen start", "mode", cfg.mode, "url", cfg.url, "c", cfg.concurrency,
		"duration", cfg.duration, "n", cfg.n, "warmup", cfg.warmup, "prefixes", len(queries))
	if cfg.warmup > 0 {
		runPhase(ctx, cfg, workers, queries, cfg.warmup, 0)
	}
	st, elapsed := runPhase(ctx, cfg, workers, queries, cfg.duration, cfg.n)
	if st.firstErr != nil {
		log.Warn("loadgen requests failed", "errors", st.errors, "first", st.firstErr)
	}
	if err := writeReport(stdout, cfg, newReport(cfg.mode, cfg.concurrency, len(queries), st, elapsed)); err != nil {
		return err
	}
	if st.requests == st.errors {
		return fmt.Errorf("%w (%d requests)", errAllFailed, st.requests)
	}
	return nil
}

func connect(ctx context.Context, cfg config) ([]searcher, error) {
	workers := make([]searcher, 0, cfg.concurrency)
	if cfg.mode == "http" {
		s := newHTTPSearcher(cfg)
		for range cfg.concurrency {
			workers = append(workers, s)
		}
		return workers, nil
	}
	for range cfg.concurrency {
		s, err := dialLDAP(ctx, cfg)
		if err != nil {
			for _, w := range workers {
				w.close()
			}
			return nil, err
		}
		workers = append(workers, s)
	}
	return workers, nil
}

// runPhase runs every worker until d has passed (d > 0) or n requests were
// issued (n > 0). Requests in flight at the deadline finish and count.
func runPhase(ctx context.Context, cfg config, workers []searcher, queries []string, d time.Duration, n int64) (stats, time.Duration) {
	stop := ctx
	if d > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	b := &budget{limit: n}
	per := make([]stats, len(workers))
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range workers {
		wg.Go(func() { per[i] = work(ctx, stop, cfg.timeout, w, queries, b) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total stats
	for i := range per {
		total.merge(&per[i])
	}
	return total, elapsed
}

func work(ctx, stop context.Context, timeout time.Duration, s searcher, queries []string, b *budget) stats {
	var st stats
	for stop.Err() == nil {
		k, ok := b.take()
		if !ok {
			break
		}
		q := queries[k%int64(len(queries))]
		rctx, cancel := context.WithTimeout(ctx, timeout)
		t0 := time.Now()
		hits, err := s.search(rctx, q)
		elapsed := time.Since(t0)
		cancel()
		if ctx.Err() != nil {
			break // interrupted: the aborted request is not a server error
		}
		st.add(elapsed, hits, err)
	}
	return st
}

// report is the -json output; times are in milliseconds unless named _s.
type report struct {
	Mode          string  `json:"mode"`
	Concurrency   int     `json:"concurrency"`
	Prefixes      int     `json:"prefixes"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	DurationS     float64 `json:"duration_s"`
	ThroughputRPS float64 `json:"throughput_rps"`
	P50MS         float64 `json:"p50_ms"`
	P90MS         float64 `json:"p90_ms"`
	P99MS         float64 `json:"p99_ms"`
	MaxMS         float64 `json:"max_ms"`
	AvgHits       float64 `json:"avg_hits"`
}

// newReport derives the figures; throughput counts successful requests only.
func newReport(mode string, c, prefixes int, st stats, elapsed time.Duration) report {
	ok := st.requests - st.errors
	r := report{
		Mode: mode, Concurrency: c, Prefixes: prefixes,
		Requests: st.requests, Errors: st.errors,
		DurationS: round3(elapsed.Seconds()),
		P50MS:     ms(st.hist.percentile(50)),
		P90MS:     ms(st.hist.percentile(90)),
		P99MS:     ms(st.hist.percentile(99)),
		MaxMS:     ms(st.hist.max),
	}
	if elapsed > 0 {
		r.ThroughputRPS = round3(float64(ok) / elapsed.Seconds())
	}
	if ok > 0 {
		r.AvgHits = round3(float64(st.hits) / float64(ok))
	}
	return r
}

func writeReport(w io.Writer, cfg config, r report) error {
	var err error
	if cfg.json {
		err = json.NewEncoder(w).Encode(r)
	} else {
		_, err = fmt.Fprintf(w, "%s c=%d: %d requests, %d errors in %.2fs = %.0f req/s; "+
			"p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %.2f hits/query over %d prefixes\n",
			r.Mode, r.Concurrency, r.Requests, r.Errors, r.DurationS, r.ThroughputRPS,
			r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.AvgHits, r.Prefixes)
	}
	if err != nil {
		return fmt.Errorf("loadgen: write report: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
