package netdial

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// recorder refuses every address but ok, and remembers what it was asked.
type recorder struct {
	ok    string
	asked []string
}

func (r *recorder) DialContext(_ context.Context, _, address string) (net.Conn, error) {
	r.asked = append(r.asked, address)
	if address != r.ok {
		return nil, errors.New("refused " + address)
	}
	c, _ := net.Pipe()
	return c, nil
}

func TestVia(t *testing.T) {
	boom := errors.New("SERVFAIL")
	lookup := func(_ context.Context, host string) ([]net.IP, error) {
		switch host {
		case "mta-sts.twee.test":
			return []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")}, nil
		case "mta-sts.leeg.test":
			return nil, nil
		}
		return nil, boom
	}
	tests := []struct {
		name, address, ok string
		wantAsked         []string
		wantErr           error
	}{
		{"second address answers", "mta-sts.twee.test:443", "[2001:db8::1]:443",
			[]string{"192.0.2.1:443", "[2001:db8::1]:443"}, nil},
		{"first address answers", "mta-sts.twee.test:443", "192.0.2.1:443", []string{"192.0.2.1:443"}, nil},
		{"none answers", "mta-sts.twee.test:443", "", []string{"192.0.2.1:443", "[2001:db8::1]:443"}, nil},
		{"literal dialled as is", "198.51.100.7:443", "198.51.100.7:443", []string{"198.51.100.7:443"}, nil},
		{"lookup fails", "mta-sts.fout.test:443", "", nil, boom},
		{"no addresses", "mta-sts.leeg.test:443", "", nil, ErrNoAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &recorder{ok: tc.ok}
			conn, err := Via(lookup, d)(context.Background(), "tcp", tc.address)
			if conn != nil {
				conn.Close()
			}
			if !slices.Equal(d.asked, tc.wantAsked) {
				t.Errorf("dialled %v, want %v", d.asked, tc.wantAsked)
			}
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && (err == nil) != (tc.ok != ""):
				t.Errorf("err = %v, want a connection: %v", err, tc.ok != "")
			}
		})
	}
}

// silent never answers: it blocks until its context ends.
type silent struct{ deadlines []time.Duration }

func (s *silent) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	d, _ := ctx.Deadline()
	s.deadlines = append(s.deadlines, time.Until(d))
	<-ctx.Done()
	return nil, ctx.Err()
}

// With a deadline, each address gets a share of the time left, so the last
// one is still tried.
func TestViaSharesTheDeadline(t *testing.T) {
	lookup := func(context.Context, string) ([]net.IP, error) {
		return []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2"), net.ParseIP("192.0.2.3")}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d := &silent{}
	if _, err := Via(lookup, d)(ctx, "tcp", "mta-sts.drie.test:443"); err == nil {
		t.Fatal("connected to silent addresses")
	}
	if len(d.deadlines) != 3 || d.deadlines[0] > 1100*time.Millisecond {
		t.Fatalf("attempt budgets %v, want three, the first at most a third of 3 s", d.deadlines)
	}
}
