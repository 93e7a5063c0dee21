package testenv

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// ServeDNS runs h as a DNS server on 127.0.0.1, UDP and TCP on one port, until
// the test ends, and returns its address: for the cases the knot + unbound lab
// cannot produce (SERVFAIL, truncation, silence).
func ServeDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue // the port is taken for TCP; try another
		}
		for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
			go func() { _ = srv.ActivateAndServe() }()
			t.Cleanup(func() { _ = srv.Shutdown() })
		}
		return pc.LocalAddr().String()
	}
	t.Fatal("no free port for UDP and TCP")
	return ""
}
