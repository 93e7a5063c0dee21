// Package metrics holds Veilig's Prometheus collectors on a registry of their own
// (no global default registry), exposed at /metrics in the Prometheus text format.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors the server updates.
type Metrics struct {
	Registry     *prometheus.Registry
	HTTPDuration *prometheus.HistogramVec // route, method, status
	SyncDuration *prometheus.HistogramVec // kind, outcome
	SyncEntries  *prometheus.CounterVec   // kind, what (organisations, people, deleted, skipped)
	IndexRecords prometheus.Gauge
	IndexLoad    prometheus.Histogram
}

// New registers every collector, plus the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "veilig_http_request_duration_seconds",
			Help: "Time to serve HTTP requests, by route template, method and status.",
			// Fine below 2 ms: the autocomplete budget is a p99 under 2 ms server-side.
			Buckets: []float64{.00005, .0001, .00015, .0002, .0003, .0004, .0005, .00075, .001, .0015, .002, .003, .005,
				.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "veilig_directory_sync_duration_seconds",
			Help:    "Duration of directory syncs and imports, by kind and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"kind", "outcome"}),
		SyncEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veilig_directory_sync_entries_total",
			Help: "Entries written, deleted or skipped by directory syncs, by kind.",
		}, []string{"kind", "what"}),
		IndexRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "veilig_directory_index_records",
			Help: "Organisations and people in the in-memory autocomplete index.",
		}),
		IndexLoad: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veilig_directory_index_load_seconds",
			Help:    "Time to load the in-memory directory index from the database.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	m.Registry.MustRegister(m.HTTPDuration, m.SyncDuration, m.SyncEntries, m.IndexRecords, m.IndexLoad,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
