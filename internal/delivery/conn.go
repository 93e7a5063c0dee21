package delivery

import (
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// idleConn bounds every read and write: go-smtp sets deadlines around commands
// but clears them while the message streams, so each I/O without a deadline of
// its own gets now+idle.
type idleConn struct {
	net.Conn
	idle time.Duration

	mu       sync.Mutex
	deadline time.Time // the last deadline set by the user of the conn
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *idleConn) arm() error {
	c.mu.Lock()
	set := !c.deadline.IsZero()
	c.mu.Unlock()
	if set {
		return nil
	}
	return c.Conn.SetDeadline(time.Now().Add(c.idle))
}

// resumedConn lets go-smtp's client continue a session whose greeting, EHLO and
// STARTTLS were done by startTLS: it replays a greeting, after which go-smtp
// sends EHLO over TLS (RFC 3207 §4.2: the client discards what it knew and
// starts again with EHLO).
type resumedConn struct {
	net.Conn
	r io.Reader
}

func newResumedConn(c net.Conn) *resumedConn {
	return &resumedConn{Conn: c, r: io.MultiReader(strings.NewReader("220 TLS established\r\n"), c)}
}

func (c *resumedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
