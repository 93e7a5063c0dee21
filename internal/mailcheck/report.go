package mailcheck

import (
	"fmt"
	"strings"
	"time"
)

// StatusError marks a report that could not be completed (a lookup or
// probe failed); the check is to be retried, the domain is not rated.
const StatusError Status = "error"

// Report is the whole mail-standards check of one domain: every test, the
// MX hosts it covered and the transport security a sender can rely on.
type Report struct {
	Domain    string    `json:"domain"`
	CheckedAt time.Time `json:"checked_at"`
	Status    Status    `json:"status"` // worst of Tests (info counts as pass); StatusError if it could not run
	Error     string    `json:"error,omitempty"`
	Tests     []Result  `json:"tests"`
	MXHosts   []string  `json:"mx_hosts"`
	Transport Transport `json:"transport"`
}

// Transport is what a sender can rely on when delivering to the domain.
type Transport struct {
	DNSSEC        bool   `json:"dnssec"`          // the domain and every MX zone are DNSSEC-secure
	DANE          bool   `json:"dane"`            // every MX has DNSSEC-secure TLSA records that matched its certificate
	MTASTSEnforce bool   `json:"mta_sts_enforce"` // a valid MTA-STS policy in mode enforce covers every MX
	Policy        string `json:"policy"`          // the transport pin to record: "dane", "mta-sts" or "pkix"
}

// Transport policies a domain can be pinned to.
const (
	PolicyDANE   = "dane"
	PolicyMTASTS = "mta-sts"
	PolicyPKIX   = "pkix"
)

// Test returns the first result of the named test (and, when host is not
// empty, for that host).
func (r Report) Test(name, host string) (Result, bool) {
	for _, t := range r.Tests {
		if t.Test == name && (host == "" || t.Host == host) {
			return t, true
		}
	}
	return Result{}, false
}

// passed reports whether every result of the named test is pass or info.
func (r Report) passed(name string) bool {
	found := false
	for _, t := range r.Tests {
		if t.Test != name {
			continue
		}
		found = true
		if t.Status != StatusPass && t.Status != StatusInfo {
			return false
		}
	}
	return found
}

// DefaultFloor is what automatic admission requires unless configured:
// DNSSEC with DANE, or MTA-STS in enforce mode, and a DMARC policy of
// quarantine or reject.
const DefaultFloor = "dnssec+dane|mta-sts,dmarc"

// Floor is a minimum a report must meet: every clause must hold, and a
// clause holds when any of its alternatives does. An alternative is one or
// more requirements joined with "+", all of which must hold.
type Floor struct {
	clauses [][][]string
}

// requirements are the words a floor is written in.
var requirements = map[string]func(Report) bool{
	"dnssec":   func(r Report) bool { return r.Transport.DNSSEC },
	"dane":     func(r Report) bool { return r.Transport.DANE },
	"mta-sts":  func(r Report) bool { return r.Transport.MTASTSEnforce },
	"dmarc":    func(r Report) bool { return r.passed(TestDMARC) },
	"spf":      func(r Report) bool { return r.passed(TestSPF) },
	"dkim":     func(r Report) bool { return r.passed(TestDKIM) },
	"starttls": func(r Report) bool { return r.passed(TestSTARTTLS) },
	"all":      func(r Report) bool { return r.Status == StatusPass || r.Status == StatusInfo },
}

// ParseFloor reads a floor such as DefaultFloor: clauses separated by ",",
// alternatives by "|", requirements within an alternative by "+". Known
// requirements: all, dane, dkim, dmarc, dnssec, mta-sts, spf, starttls.
func ParseFloor(s string) (Floor, error) {
	var f Floor
	for clause := range strings.SplitSeq(s, ",") {
		var alts [][]string
		for alt := range strings.SplitSeq(clause, "|") {
			var reqs []string
			for req := range strings.SplitSeq(alt, "+") {
				req = strings.ToLower(strings.TrimSpace(req))
				if _, ok := requirements[req]; !ok {
					return Floor{}, fmt.Errorf("mailcheck: floor %q: unknown requirement %q", s, req)
				}
				reqs = append(reqs, req)
			}
			alts = append(alts, reqs)
		}
		f.clauses = append(f.clauses, alts)
	}
	return f, nil
}

// Meets reports whether r meets f and, when not, the clauses it misses
// (as written, e.g. "dnssec+dane|mta-sts"). A report with StatusError never
// meets a floor.
func (r Report) Meets(f Floor) (ok bool, missing []string) {
	if r.Status == StatusError {
		return false, []string{"complete check"}
	}
	for _, alts := range f.clauses {
		if !anyHolds(r, alts) {
			missing = append(missing, clauseText(alts))
		}
	}
	return len(missing) == 0, missing
}

func anyHolds(r Report, alts [][]string) bool {
	for _, reqs := range alts {
		all := true
		for _, req := range reqs {
			all = all && requirements[req](r)
		}
		if all {
			return true
		}
	}
	return false
}

func clauseText(alts [][]string) string {
	parts := make([]string, len(alts))
	for i, reqs := range alts {
		parts[i] = strings.Join(reqs, "+")
	}
	return strings.Join(parts, "|")
}
