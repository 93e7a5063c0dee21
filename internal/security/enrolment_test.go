package security

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// applicant is one client of POST /api/v1/enrolments: the address it
// connects from and the X-Forwarded-For it claims (believed only from the
// trusted proxy).
type applicant struct{ from, xff string }

// viaProxy is the client addr as the trusted proxy forwards it.
func viaProxy(addr string) applicant { return applicant{from: trustedProxy, xff: addr} }

// enrolmentSpam: POST /api/v1/enrolments is limited per client (5 creations
// an hour, counted in the database), per domain (3 creations an hour) and per
// client over every attempt, refused ones included (20 an hour, so probing
// which domains are taken is no faster than enrolling). Over a limit the
// answer is 429 problem+json with Retry-After and nothing is created. Each
// sub-case has client addresses of its own (198.18.0.0/15, RFC 2544), so
// that the limits of one do not spill into another.
func (x *suite) enrolmentSpam(t *testing.T) {
	t.Run("per client", x.enrolClientLimit)
	t.Run("untrusted X-Forwarded-For", x.enrolSpoofedClient)
	t.Run("per domain", x.enrolDomainLimit)
	t.Run("every attempt", x.enrolAttemptLimit)
}

// enrolClientLimit: a client's sixth creation within the hour is refused; a
// second client behind the same proxy still enrols.
func (x *suite) enrolClientLimit(t *testing.T) {
	before := x.enrolmentRows(t)
	c := viaProxy("198.18.0.1")
	for i := 1; i <= 5; i++ {
		expect(t, fmt.Sprintf("creation %d", i), x.apply(t, c, fmt.Sprintf("klant%d.spam.test", i)), http.StatusCreated)
	}
	x.refusedEnrolment(t, "sixth creation", c, "klant6.spam.test")
	expect(t, "another client via the proxy", x.apply(t, viaProxy("198.18.0.2"), "klant7.spam.test"), http.StatusCreated)
	x.expectCreated(t, before, 6)
}

// enrolSpoofedClient: from an untrusted address a new X-Forwarded-For per
// request is ignored: the connecting address is the client, and its sixth
// creation is refused.
func (x *suite) enrolSpoofedClient(t *testing.T) {
	before := x.enrolmentRows(t)
	for i := 1; i <= 5; i++ {
		c := applicant{from: "127.0.0.4", xff: fmt.Sprintf("198.18.1.%d", i)}
		expect(t, fmt.Sprintf("creation %d", i), x.apply(t, c, fmt.Sprintf("vals%d.spam.test", i)), http.StatusCreated)
	}
	x.refusedEnrolment(t, "sixth creation with a new X-Forwarded-For", applicant{from: "127.0.0.4", xff: "198.18.1.6"}, "vals6.spam.test")
	x.expectCreated(t, before, 5)
}

// enrolDomainLimit: three clients claim one domain (a pending, unverified
// claim does not block another); the fourth claim within the hour is
// refused, from a client with no creations of its own.
func (x *suite) enrolDomainLimit(t *testing.T) {
	before := x.enrolmentRows(t)
	const domain = "gedeeld.spam.test"
	for i := 1; i <= 3; i++ {
		expect(t, fmt.Sprintf("claim %d", i), x.apply(t, viaProxy(fmt.Sprintf("198.18.2.%d", i)), domain), http.StatusCreated)
	}
	x.refusedEnrolment(t, "fourth claim", viaProxy("198.18.2.4"), domain)
	x.expectCreated(t, before, 3)
}

// enrolAttemptLimit: twenty attempts at a community domain are refused as
// taken (409) and count; the twenty-first attempt, at a free domain and from
// a client that created nothing, is refused as too many.
func (x *suite) enrolAttemptLimit(t *testing.T) {
	c := viaProxy("198.18.3.1")
	x.unchanged(t, func() {
		for i := 1; i <= 20; i++ {
			expect(t, fmt.Sprintf("attempt %d at a taken domain", i), x.apply(t, c, domainA), http.StatusConflict)
		}
	})
	x.refusedEnrolment(t, "attempt 21", c, "vrij.spam.test")
}

// apply posts a valid enrolment claiming domain as c.
func (x *suite) apply(t *testing.T, c applicant, domain string) reply {
	t.Helper()
	body := fmt.Sprintf(`{"organisation":{"name":"Stichting Spam","kvk":"12345678"},"domains":[%q],`+
		`"admin":{"name":"Beheer","email":"beheer@%s","phone":"+31612345678"}}`, domain, domain)
	h := http.Header{}
	if c.xff != "" {
		h.Set("X-Forwarded-For", c.xff)
	}
	return x.s.do(call{method: "POST", path: "/api/v1/enrolments", ctype: "application/json", body: []byte(body),
		header: h, from: c.from})
}

// refusedEnrolment: the attempt gets 429 problem+json with a Retry-After of
// at most the hour, and changes no row and sends nothing.
func (x *suite) refusedEnrolment(t *testing.T, what string, c applicant, domain string) {
	t.Helper()
	x.unchanged(t, func() {
		r := x.apply(t, c, domain)
		expect(t, what, r, http.StatusTooManyRequests)
		if r.status != http.StatusTooManyRequests {
			return
		}
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || time.Duration(secs)*time.Second > time.Hour {
			t.Errorf("%s: Retry-After %q, want 1 to 3600 seconds", what, r.header.Get("Retry-After"))
		}
	})
}

func (x *suite) enrolmentRows(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := x.s.db.Table("enrolments").Count(&n).Error; err != nil {
		t.Fatalf("count enrolments: %v", err)
	}
	return n
}

// expectCreated: exactly want enrolments were stored since before.
func (x *suite) expectCreated(t *testing.T, before, want int64) {
	t.Helper()
	if got := x.enrolmentRows(t) - before; got != want {
		t.Errorf("enrolments created: %d, want %d", got, want)
	}
}
