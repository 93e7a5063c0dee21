package faults

// Switchable stand-ins for a peer's network presence: a TCP relay (an MX or an
// LDAP server that is "down" refuses connections) and a DNS relay in front of
// the lab's validating resolver (a resolver that is "down" has no port open).

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// relayListenTries bounds re-binding a port that was closed a moment ago.
const relayListenTries = 50

// tcpRelay forwards connections on addr to target while it is up; down closes
// the port and cuts every open connection, as a crashed server would.
type tcpRelay struct {
	addr, target string
	// fromTarget counts the bytes relayed from target to clients.
	fromTarget atomic.Int64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	trip  *tripwire
}

// tripwire runs fn once, synchronously, when fromTarget reaches at.
type tripwire struct {
	at   int64
	fn   func()
	once sync.Once
}

// onBytes arms a tripwire: fn runs (blocking the relay) once fromTarget
// reaches at, before any further byte is relayed; a nil fn disarms it.
func (r *tcpRelay) onBytes(at int64, fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trip = nil
	if fn != nil {
		r.trip = &tripwire{at: at, fn: fn}
	}
}

func (r *tcpRelay) tripwire() *tripwire {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trip
}

// startRelay relays addr ("IP:0" picks a free port) to target until the test ends.
func startRelay(t *testing.T, addr, target string) *tcpRelay {
	t.Helper()
	r := &tcpRelay{addr: addr, target: target, conns: map[net.Conn]struct{}{}}
	if err := r.up(); err != nil {
		t.Fatalf("relay %s: %v", addr, err)
	}
	r.addr = r.ln.Addr().String()
	t.Cleanup(r.down)
	return r
}

// up opens the port again (retrying briefly while the kernel still holds it).
func (r *tcpRelay) up() error {
	var err error
	for range relayListenTries {
		var ln net.Listener
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.mu.Lock()
			r.ln = ln
			r.mu.Unlock()
			go r.accept(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (r *tcpRelay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go r.serve(c)
	}
}

func (r *tcpRelay) serve(c net.Conn) {
	u, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil || !r.track(c, u) {
		c.Close()
		if u != nil {
			u.Close()
		}
		return
	}
	go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
	_, _ = io.Copy(countingWriter{c, r}, u)
	u.Close()
	c.Close()
	r.untrack(c, u)
}

// track registers an open pair; it reports false when the relay went down.
func (r *tcpRelay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return false
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *tcpRelay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
	}
}

// down closes the port and every relayed connection.
func (r *tcpRelay) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
		delete(r.conns, c)
	}
}

// countingWriter counts what the relay passes to the client and springs its
// tripwire.
type countingWriter struct {
	w io.Writer
	r *tcpRelay
}

func (cw countingWriter) Write(p []byte) (int, error) {
	if tw := cw.r.tripwire(); tw != nil && cw.r.fromTarget.Load()+int64(len(p)) >= tw.at {
		tw.once.Do(tw.fn)
		cw.r.onBytes(0, nil)
		return 0, io.ErrClosedPipe
	}
	n, err := cw.w.Write(p)
	cw.r.fromTarget.Add(int64(n))
	return n, err
}

// dnsRelay is the resolver address Veilig is given: it forwards every query
// to the lab's validating resolver (answers, AD bit and all, unchanged) while
// up; down closes its UDP and TCP ports.
type dnsRelay struct {
	addr, upstream string

	mu      sync.Mutex
	servers []*dns.Server
}

func startDNSRelay(t *testing.T, upstream string) *dnsRelay {
	t.Helper()
	r := &dnsRelay{upstream: upstream}
	pc, ln, err := dualListen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("dns relay: %v", err)
	}
	r.addr = pc.LocalAddr().String()
	r.serve(pc, ln)
	t.Cleanup(r.down)
	return r
}

// dualListen binds UDP and TCP on the same port.
func dualListen(addr string) (net.PacketConn, net.Listener, error) {
	var err error
	for range relayListenTries {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		pc.Close()
		time.Sleep(100 * time.Millisecond)
	}
	return nil, nil, err
}

func (r *dnsRelay) serve(pc net.PacketConn, ln net.Listener) {
	h := dns.HandlerFunc(r.forward)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	r.mu.Lock()
	r.servers = []*dns.Server{udp, tcp}
	r.mu.Unlock()
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
}

func (r *dnsRelay) forward(w dns.ResponseWriter, q *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(q, r.upstream)
	if err != nil {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	_ = w.WriteMsg(resp)
}

// down closes both ports.
func (r *dnsRelay) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.servers {
		_ = s.Shutdown()
	}
	r.servers = nil
}

// up opens both ports again on the same address.
func (r *dnsRelay) up(t *testing.T) {
	t.Helper()
	pc, ln, err := dualListen(r.addr)
	if err != nil {
		t.Fatalf("dns relay: reopen %s: %v", r.addr, err)
	}
	r.serve(pc, ln)
}
