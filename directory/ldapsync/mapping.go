package ldapsync

import (
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/veilig/veilig/directory"
)

// record is one directory entry, from LDAP or LDIF: its DN and its values by
// lower-cased attribute type. Values hold the raw octets of the attribute
// values (a Go string may hold any bytes), so binary values such as objectGUID
// arrive unchanged.
type record struct {
	dn    string
	attrs map[string][]string
}

func recordFromEntry(e *ldap.Entry) record {
	r := record{dn: e.DN, attrs: make(map[string][]string, len(e.Attributes))}
	for _, a := range e.Attributes {
		r.attrs[strings.ToLower(a.Name)] = rawValues(a)
	}
	return r
}

// rawValues returns the attribute's values as the server sent them.
func rawValues(a *ldap.EntryAttribute) []string {
	if len(a.ByteValues) != len(a.Values) {
		return a.Values
	}
	out := make([]string, len(a.ByteValues))
	for i, b := range a.ByteValues {
		out[i] = string(b)
	}
	return out
}

// firstRaw returns the first non-empty value of attr exactly as stored: for
// binary values, where trimming or case folding would corrupt the octets.
func (r record) firstRaw(attr string) string {
	for _, v := range r.attrs[strings.ToLower(attr)] {
		if v != "" {
			return v
		}
	}
	return ""
}

// first returns the first non-blank value of the first listed attribute that has one.
func (r record) first(attrs []string) string {
	for _, a := range attrs {
		for _, v := range r.attrs[strings.ToLower(a)] {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// values returns every value of the listed attributes.
func (r record) values(attrs []string) []string {
	var out []string
	for _, a := range attrs {
		out = append(out, r.attrs[strings.ToLower(a)]...)
	}
	return out
}

// mapper turns records into directory entries with the configured attributes.
type mapper struct{ s *settings }

// sourceID is the entry's stable id: the id attribute (an objectGUID formatted as
// a UUID), or, without one, an id derived from the normalised DN.
func (m mapper) sourceID(r record, p dnPath) string {
	if id := m.attrID(r); id != "" {
		return id
	}
	return "dn:" + p.key
}

// attrID is the id from the id attribute, "" when the entry has none.
func (m mapper) attrID(r record) string {
	if m.s.binaryID {
		if raw := r.firstRaw(m.s.idAttr); raw != "" {
			return binaryID(raw)
		}
		return ""
	}
	if v := r.first([]string{m.s.idAttr}); v != "" {
		return textID(v)
	}
	return ""
}

// entryID is sourceID for a record whose DN is not parsed yet; ok is false
// when the id must come from a DN that does not parse.
func (m mapper) entryID(r record) (id string, ok bool) {
	if id := m.attrID(r); id != "" {
		return id, true
	}
	p, err := parseDNPath(r.dn)
	if err != nil {
		return "", false
	}
	return "dn:" + p.key, true
}

// binaryID formats a binary id (objectGUID, MS-ADTS §2.2.4 GUID): 16 octets as
// a UUID; a GUID exported as text (LDIF tools do) in its canonical form; any
// other value hex-encoded. The raw octets are never trimmed or case-folded:
// that would merge distinct GUIDs and can leave NUL bytes, which PostgreSQL
// refuses in text.
func binaryID(raw string) string {
	if len(raw) == 16 {
		return formatGUID([]byte(raw))
	}
	if u, err := uuid.Parse(strings.TrimSpace(raw)); err == nil {
		return u.String()
	}
	return "hex:" + hex.EncodeToString([]byte(raw))
}

// textID lower-cases a textual id (entryUUID is case-insensitive, RFC 4530);
// a value that is not printable UTF-8 is hex-encoded instead, so that no
// binary id reaches a text column.
func textID(v string) string {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "hex:" + hex.EncodeToString([]byte(v))
	}
	return strings.ToLower(v)
}

// formatGUID writes a Windows GUID (little-endian first three fields) as a UUID.
func formatGUID(b []byte) string {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5], u[6], u[7] = b[5], b[4], b[7], b[6]
	copy(u[8:], b[8:16])
	return u.String()
}

// orgCandidate is a mapped organisation entry before domain conflicts are settled.
type orgCandidate struct {
	path   dnPath
	org    directory.Organisation
	reason string // why it cannot be used, "" if it can
	order  string // path.sortKey(), once computed
}

func (m mapper) organisation(r record, p dnPath) orgCandidate {
	a := m.s.orgAttrs
	c := orgCandidate{path: p, org: directory.Organisation{
		SourceID: m.sourceID(r, p), SourceDN: r.dn, Name: r.first(a[fName]),
		Description: r.first(a[fDescription]), OIN: r.first(a[fOIN]), KvK: r.first(a[fKvK]),
		Status: directory.StatusActive,
	}}
	if strings.HasPrefix(c.org.SourceID, directory.EnrolmentSourcePrefix) {
		c.reason = "the id " + c.org.SourceID + " is reserved for self-enrolled organisations"
		return c
	}
	if c.org.Name == "" {
		c.reason = "organisation has no name (" + strings.Join(a[fName], ", ") + ")"
		return c
	}
	var bad []string
	for _, d := range r.values(a[fDomains]) {
		n, err := directory.NormalizeDomain(d)
		if err != nil {
			bad = append(bad, d)
			continue
		}
		if !slices.Contains(c.org.Domains, n) {
			c.org.Domains = append(c.org.Domains, n)
		}
	}
	if len(c.org.Domains) == 0 {
		c.reason = "organisation has no valid domain"
		if len(bad) > 0 {
			c.reason += fmt.Sprintf(" (invalid: %q)", bad)
		}
	}
	return c
}

// person maps a person entry; the caller sets OrganisationID. A non-empty reason
// means the entry is skipped.
func (m mapper) person(r record, p dnPath) (directory.Person, string) {
	a := m.s.personAttrs
	per := directory.Person{SourceID: m.sourceID(r, p), SourceDN: r.dn,
		DisplayName: r.first(a[fName]), Department: r.first(a[fDept])}
	if raw := r.first(a[fMail]); raw != "" {
		addr, err := normalizeMail(raw)
		if err != nil {
			return per, fmt.Sprintf("invalid mail address %q: %v", raw, err)
		}
		per.Mail = addr
	}
	if per.DisplayName == "" {
		per.DisplayName = per.Mail
	}
	if per.DisplayName == "" {
		return per, "person has neither a name nor a mail address"
	}
	return per, ""
}

// normalizeMail checks an RFC 5322 addr-spec and returns it lower-cased with its
// domain as an IDNA A-label.
func normalizeMail(s string) (string, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	if addr.Name != "" || strings.ContainsAny(s, "<>") {
		return "", fmt.Errorf("not a bare address")
	}
	at := strings.LastIndexByte(addr.Address, '@')
	local := addr.Address[:at]
	if strings.ContainsAny(local, " \t\"\\") {
		return "", fmt.Errorf("quoted local parts are not supported")
	}
	domain, err := directory.NormalizeDomain(addr.Address[at+1:])
	if err != nil {
		return "", err
	}
	return strings.ToLower(local) + "@" + domain, nil
}

// issues collects skipped entries, keeping the first directory.MaxIssuesKept.
type issues struct {
	mu      sync.Mutex
	list    []directory.SyncIssue
	skipped int
}

// skip records an entry that was not written.
func (is *issues) skip(dn, reason string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.skipped++
	is.addLocked(dn, reason)
}

// note records a problem with an entry that was still written.
func (is *issues) note(dn, reason string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.addLocked(dn, reason)
}

func (is *issues) addLocked(dn, reason string) {
	if len(is.list) < directory.MaxIssuesKept {
		is.list = append(is.list, directory.SyncIssue{DN: dn, Reason: reason})
	}
}

func (is *issues) fill(run *directory.SyncRun) {
	is.mu.Lock()
	defer is.mu.Unlock()
	run.Skipped = is.skipped
	run.Issues = slices.Clone(is.list)
}
