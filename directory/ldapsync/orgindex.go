package ldapsync

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/veilig/veilig/directory"
)

// orgRef is what a person needs to know about the nearest organisation entry
// above it.
type orgRef struct {
	isOrg  bool   // the entry matches the organisation filter
	id     string // directory.OrganisationID of it
	dn     string
	reason string // why the organisation was skipped; "" if it is in the directory
}

// orgIndex holds every organisation entry by normalised DN, for the full sync and
// the import, where all organisations are read before any person.
type orgIndex struct {
	byKey map[string]orgRef
	base  int // depth of the base DN; no organisation lies above it
}

// enrolled are the domains self-enrolled organisations hold, which no
// directory entry takes; report records each conflict.
type enrolled struct {
	held   map[string]string // domain → organisation id
	report func(dn, domain string)
}

// take reports whether d is held by an enrolled organisation, recording the
// conflict for the entry dn when it is.
func (e enrolled) take(dn, d string) bool {
	if _, ok := e.held[d]; !ok {
		return false
	}
	if e.report != nil {
		e.report(dn, d)
	}
	return true
}

// enrolledConflict is the issue recorded when an entry lists an enrolled domain.
func enrolledConflict(domain string) string {
	return "domain " + domain + " is held by a self-enrolled organisation: it stays with that organisation " +
		"and is ignored for this entry"
}

// buildIndex settles domain conflicts in top-down DN order (an organisation
// above, or sorting before, another keeps a contested domain; an enrolled
// organisation keeps its domains) and returns the index and the organisations
// to write. Lost domains and unusable organisations are recorded in iss.
func buildIndex(cands []orgCandidate, baseDepth int, iss *issues, en enrolled) (*orgIndex, []directory.Organisation) {
	for i := range cands {
		cands[i].order = cands[i].path.sortKey()
	}
	slices.SortStableFunc(cands, func(a, b orgCandidate) int { return cmp.Compare(a.order, b.order) })
	idx := &orgIndex{byKey: make(map[string]orgRef, len(cands)), base: baseDepth}
	claimed := make(map[string]string) // domain → DN of the organisation holding it
	var orgs []directory.Organisation
	for _, c := range cands {
		if _, dup := idx.byKey[c.path.key]; dup {
			iss.skip(c.org.SourceDN, "duplicate entry")
			continue
		}
		c = claimDomains(c, claimed, en, iss)
		ref := orgRef{isOrg: true, id: directory.OrganisationID(c.org.SourceID), dn: c.org.SourceDN, reason: c.reason}
		idx.byKey[c.path.key] = ref
		if c.reason != "" {
			iss.skip(c.org.SourceDN, c.reason)
			continue
		}
		orgs = append(orgs, c.org)
	}
	return idx, orgs
}

// claimDomains keeps the candidate's domains that are still free and claims them.
func claimDomains(c orgCandidate, claimed map[string]string, en enrolled, iss *issues) orgCandidate {
	if c.reason != "" {
		return c
	}
	var kept, lost, held []string
	for _, d := range c.org.Domains {
		if en.take(c.org.SourceDN, d) {
			held = append(held, d+heldByEnrolled)
			continue
		}
		if holder, taken := claimed[d]; taken {
			lost = append(lost, fmt.Sprintf("%s (held by %s)", d, holder))
			continue
		}
		kept = append(kept, d)
	}
	c.org.Domains = kept
	return settleDomains(c, lost, held, func(d string) { claimed[d] = c.org.SourceDN }, iss)
}

// heldByEnrolled follows a domain name in a skip reason.
const heldByEnrolled = " (held by a self-enrolled organisation)"

// settleDomains records lost domains: a note when the organisation keeps
// others, else the reason it is skipped. held are the domains lost to enrolled
// organisations, already reported. claim is called for each kept domain.
func settleDomains(c orgCandidate, lost, held []string, claim func(string), iss *issues) orgCandidate {
	if len(c.org.Domains) == 0 {
		c.reason = "every domain of this organisation belongs to another organisation: " +
			strings.Join(append(lost, held...), ", ")
		return c
	}
	for _, d := range c.org.Domains {
		claim(d)
	}
	if len(lost) > 0 {
		iss.note(c.org.SourceDN, "domain already belongs to another organisation, ignored here: "+strings.Join(lost, ", "))
	}
	return c
}

// nearest returns the nearest organisation entry strictly above p.
func (idx *orgIndex) nearest(p dnPath) (orgRef, bool) {
	for up := 1; up < p.depth() && up <= p.depth()-idx.base; up++ {
		if ref, ok := idx.byKey[p.ancestorKey(up)]; ok {
			return ref, true
		}
	}
	return orgRef{}, false
}

// placePerson maps a person record under its organisation; ok is false when the
// entry was skipped (and recorded in iss).
func placePerson(m mapper, r record, find func(dnPath) (orgRef, bool, error), iss *issues) (directory.Person, bool, error) {
	p, err := parseDNPath(r.dn)
	if err != nil {
		iss.skip(r.dn, err.Error())
		return directory.Person{}, false, nil
	}
	ref, found, err := find(p)
	if err != nil {
		return directory.Person{}, false, err
	}
	if !found {
		iss.skip(r.dn, "no organisation above this person")
		return directory.Person{}, false, nil
	}
	if ref.reason != "" {
		iss.skip(r.dn, "the organisation above, "+ref.dn+", was skipped")
		return directory.Person{}, false, nil
	}
	per, reason := m.person(r, p)
	if reason != "" {
		iss.skip(r.dn, reason)
		return directory.Person{}, false, nil
	}
	per.OrganisationID = ref.id
	return per, true, nil
}
