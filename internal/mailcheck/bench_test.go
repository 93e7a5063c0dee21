package mailcheck

// Benchmarks of the mail check against the lab (issue 6 §7), run by
// scripts/bench-mailcheck.sh:
//
//	go test -run '^$' -bench BenchmarkCheckDomain -benchtime 1x ./internal/mailcheck/
//
// One signed zone, bulk.test, holds VEILIG_BENCH_DOMAINS (default 1000)
// domains per sub-benchmark, each publishing what pass.test does (2 MX, SPF,
// DMARC, DKIM, MTA-STS, TLS-RPT) and sharing the MX hosts mx1/mx2.bulk.test
// (two Postfix instances, DANE-EE + rollover TLSA). Every sub-benchmark uses
// its own names, so its domain records are not yet in the resolver's cache
// (the shared MX hosts' A and TLSA records are, after the first check).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// benchEnv reads a positive integer knob.
func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchSets are the name prefixes of the sub-benchmarks' domains.
var benchSets = []string{"one", "veilig", "tools"}

// benchDomain is the i-th domain of a set, e.g. "veilig0042.bulk.test".
func benchDomain(set string, i int) string { return fmt.Sprintf("%s%04d.bulk.test", set, i) }

// bulkRecords are the records of n domains per set in bulk.test.
func (l *mailLab) bulkRecords(n int) []string {
	r := []string{"mx1 A " + ipGood1, "mx2 A " + ipGood2}
	for _, h := range []string{"mx1", "mx2"} {
		ip := map[string]string{"mx1": ipGood1, "mx2": ipGood2}[h]
		r = append(r, l.tlsaOwner(h)+" TLSA "+l.tlsaByIP[ip], l.tlsaOwner(h)+" TLSA "+l.next)
	}
	for _, set := range benchSets {
		for i := range n {
			d := benchDomain(set, i)
			r = append(r, domainRecords(d)...)
		}
	}
	return r
}

// domainRecords are one bulk domain's own records (owner names absolute).
func domainRecords(d string) []string {
	return []string{
		d + ". MX 10 mx1.bulk.test.", d + ". MX 20 mx2.bulk.test.",
		d + `. TXT "` + goodSPF + `"`,
		"_dmarc." + d + `. TXT "` + fmt.Sprintf(goodDMARC, d) + `"`,
		"sel1._domainkey." + d + `. TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`,
		"_mta-sts." + d + `. TXT "v=STSv1; id=20261127"`,
		"_smtp._tls." + d + `. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@` + d + `"`,
	}
}

// startBenchLab starts the two MX hosts, the bulk zone and the policies.
func startBenchLab(b *testing.B, n int) *mailLab {
	b.Helper()
	l := startMailServers(b, labOptions{domains: []string{"bulk.test"}})
	policies := map[string]string{}
	for _, set := range benchSets {
		for i := range n {
			d := benchDomain(set, i)
			policies[d] = testenv.MTASTSPolicy("enforce", 7*24*time.Hour, "mx1.bulk.test", "mx2.bulk.test")
		}
	}
	l.startLabDNS(b, []testenv.Zone{{Name: "bulk.test", Signed: true, Records: l.bulkRecords(n)}}, policies)
	return l
}

func BenchmarkCheckDomain(b *testing.B) {
	n := benchEnv(b, "VEILIG_BENCH_DOMAINS", 1000)
	conc := benchEnv(b, "VEILIG_BENCH_CONCURRENCY", 32)
	l := startBenchLab(b, n)
	c := l.checker(b)
	b.Run("one-domain-2mx", func(b *testing.B) {
		i := 0
		for b.Loop() {
			_ = benchRequirePass(b, c.Report(context.Background(), benchDomain("one", i%n)))
			i++
		}
		b.ReportMetric(float64(b.Elapsed())/1e6/float64(b.N), "ms/check")
	})
	b.Run(fmt.Sprintf("veilig-%d-domains-c%d", n, conc), func(b *testing.B) {
		for b.Loop() {
			runDomains(b, n, conc, func(ctx context.Context, d string) error {
				return benchRequirePass(b, c.Report(ctx, d))
			}, "veilig")
		}
	})
	b.Run(fmt.Sprintf("kdig+openssl-%d-domains-c%d", n, conc), func(b *testing.B) {
		tools := l.toolsCheck(b)
		for b.Loop() {
			runDomains(b, n, conc, tools, "tools")
		}
	})
}

// benchRequirePass fails the benchmark for a report that is not a pass: a
// fast check that does not work measures nothing.
func benchRequirePass(b *testing.B, rep Report) error {
	if rep.Status != StatusPass || !rep.Transport.DANE {
		b.Errorf("%s: status %s, transport %+v: %s", rep.Domain, rep.Status, rep.Transport, describe(rep))
		return fmt.Errorf("%s: %s", rep.Domain, rep.Status)
	}
	return nil
}

// runDomains checks the n domains of set, conc at a time, and reports the
// throughput in checks per minute and the mean time per check.
func runDomains(b *testing.B, n, conc int, check func(context.Context, string) error, set string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var busy atomic.Int64 // summed check durations, ns
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			if err := check(ctx, benchDomain(set, i)); err != nil {
				failed.Add(1)
			}
			busy.Add(int64(time.Since(t0)))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d checks failed", f, n)
	}
	b.ReportMetric(float64(n)/elapsed.Minutes(), "checks/min")
	b.ReportMetric(float64(busy.Load())/float64(n)/1e6, "ms/check")
}

// toolsCheck is the same work done with standard tools per domain: one kdig
// asking the validating resolver every question the check asks (MX, SPF,
// DMARC, DKIM node, MTA-STS and TLS-RPT records, each MX host's A and TLSA),
// openssl s_client doing STARTTLS with each MX host, and curl fetching the
// MTA-STS policy. The tools only fetch; they parse and rate nothing.
func (l *mailLab) toolsCheck(b *testing.B) func(context.Context, string) error {
	b.Helper()
	bins := map[string]string{}
	for _, name := range []string{"kdig", "openssl", "curl"} {
		p, err := exec.LookPath(name)
		if err != nil {
			testenv.Missing(b, name)
		}
		bins[name] = p
	}
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, l.ca.PEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context, d string) error {
		for _, argv := range l.toolCommands(bins, caFile, d) {
			if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %w\n%s", argv, err, out)
			}
		}
		return nil
	}
}

// toolCommands are the commands toolsCheck runs for domain d.
func (l *mailLab) toolCommands(bins map[string]string, caFile, d string) [][]string {
	host, port, _ := net.SplitHostPort(l.dns.ResolverAddr())
	p := strconv.Itoa(l.port)
	kdig := []string{bins["kdig"], "@" + host, "-p", port, "+dnssec", "+retry=0", "+time=10",
		d, "MX", d, "TXT", "_dmarc." + d, "TXT", "_domainkey." + d, "TXT", "_mta-sts." + d, "TXT",
		"_smtp._tls." + d, "TXT"}
	cmds := [][]string{}
	for _, mx := range []struct{ name, ip string }{{"mx1.bulk.test", ipGood1}, {"mx2.bulk.test", ipGood2}} {
		kdig = append(kdig, mx.name, "A", mx.name, "AAAA", "_"+p+"._tcp."+mx.name, "TLSA")
		cmds = append(cmds, []string{bins["openssl"], "s_client", "-brief", "-starttls", "smtp",
			"-connect", mx.ip + ":" + p, "-servername", mx.name, "-verify_return_error", "-verify_hostname", mx.name, "-CAfile", caFile})
	}
	stsHost, stsPort, _ := net.SplitHostPort(l.sts.Addr())
	curl := []string{bins["curl"], "-sSf", "--max-time", "10", "--cacert", caFile,
		"--connect-to", "mta-sts." + d + ":443:" + stsHost + ":" + stsPort,
		"https://mta-sts." + d + "/.well-known/mta-sts.txt", "-o", "/dev/null"}
	return append([][]string{kdig}, append(cmds, curl)...)
}
