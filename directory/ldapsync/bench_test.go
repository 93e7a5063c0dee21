package ldapsync

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/testenv"
)

// BenchmarkFullSync measures a full sync of a generated community. Its size
// comes from VEILIG_BENCH_ORGS and VEILIG_BENCH_PEOPLE (people per
// organisation), 100 × 100 unless set; for the 14,000 × 36 target run e.g.
//
//	VEILIG_BENCH_ORGS=14000 VEILIG_BENCH_PEOPLE=36 go test -run '^$' -bench FullSync -benchtime 1x ./directory/ldapsync
func BenchmarkFullSync(b *testing.B) {
	orgs, people := envInt("VEILIG_BENCH_ORGS", 100), envInt("VEILIG_BENCH_PEOPLE", 100)
	file := filepath.Join(b.TempDir(), "bench.ldif")
	if err := os.WriteFile(file, []byte(generated(orgs, people)), 0o600); err != nil {
		b.Fatal(err)
	}
	slapd := testenv.StartSlapd(b, testenv.SlapdOptions{LDIFFile: file})
	b.Run("read-only", func(b *testing.B) { benchRead(b, slapd, orgs*people) })
	for _, dialect := range testenv.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := testenv.DB(b, dialect)
			store := directory.NewStore(db.DB, time.Now)
			sy, err := NewSyncer(Config{URL: slapd.URL(), BindDN: slapd.ReaderDN(), BindPassword: slapd.ReaderPassword(),
				BaseDN: base}, store, testenv.Discard())
			if err != nil {
				b.Fatal(err)
			}
			var peak uint64
			stop := sampleHeap(&peak)
			b.ResetTimer()
			for range b.N {
				run, err := sy.FullSync(context.Background())
				if err != nil || run.People != orgs*people {
					b.Fatalf("FullSync = %+v, %v", run.People, err)
				}
			}
			b.StopTimer()
			stop()
			b.ReportMetric(float64(orgs*people*b.N)/b.Elapsed().Seconds(), "people/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// sampleHeap records the largest live heap seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// benchRead measures reading and mapping alone, without the database.
func benchRead(b *testing.B, slapd *testenv.Slapd, want int) {
	sy, err := NewSyncer(Config{URL: slapd.URL(), BindDN: slapd.ReaderDN(), BindPassword: slapd.ReaderPassword(),
		BaseDN: base}, nil, testenv.Discard())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range b.N {
		c, err := sy.dial.service(ctx)
		if err != nil {
			b.Fatal(err)
		}
		iss := &issues{}
		cands, err := sy.readOrganisations(ctx, c, iss, &tracker{})
		if err != nil {
			b.Fatal(err)
		}
		idx, _ := buildIndex(cands, len(sy.s.base.RDNs), iss, enrolled{})
		out := make(chan []directory.Person, 2)
		n := 0
		go func() {
			for batch := range out {
				n += len(batch)
			}
		}()
		err = sy.mapPeople(ctx, idx, iss, func(ctx context.Context, emit func(record) error) error {
			req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				sy.s.PersonFilter, sy.personAttrs(), nil)
			return c.search(ctx, req, func(e *ldap.Entry) error { return emit(recordFromEntry(e)) })
		}, out)
		close(out)
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(want*b.N)/b.Elapsed().Seconds(), "people/s")
}
