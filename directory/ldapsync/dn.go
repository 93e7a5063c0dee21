package ldapsync

import (
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/text/unicode/norm"
)

// dnPath is a parsed distinguished name (RFC 4514) with a normalised key: two
// names that denote the same entry under distinguishedNameMatch (RFC 4517
// §4.2.15) with case-insensitive naming attributes have the same key. Attribute
// types are lower-cased, values NFKC-normalised, lower-cased and their spaces
// folded (the caseIgnoreMatch preparation of RFC 4518, near enough), the values
// of a multi-valued RDN sorted, and the separators escaped, so that the key of
// an ancestor is a suffix of the key, cut at an RDN boundary.
type dnPath struct {
	dn   *ldap.DN
	key  string
	cuts []int // cuts[i] is where RDN i starts in key; RDN 0 is the entry's own
}

func parseDNPath(s string) (dnPath, error) {
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return dnPath{}, fmt.Errorf("bad DN: %v", err)
	}
	if len(dn.RDNs) == 0 {
		return dnPath{}, fmt.Errorf("empty DN")
	}
	p := dnPath{dn: dn, cuts: make([]int, len(dn.RDNs))}
	var b strings.Builder
	for i, rdn := range dn.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		p.cuts[i] = b.Len()
		b.WriteString(normRDN(rdn))
	}
	p.key = b.String()
	return p, nil
}

func normRDN(rdn *ldap.RelativeDN) string {
	avas := make([]string, len(rdn.Attributes))
	for i, a := range rdn.Attributes {
		avas[i] = escapeKey(strings.ToLower(strings.TrimSpace(a.Type))) + "=" + escapeKey(normValue(a.Value))
	}
	slices.Sort(avas)
	return strings.Join(avas, "+")
}

func normValue(v string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(v))), " ")
}

var keyEscaper = strings.NewReplacer(`\`, `\5c`, `,`, `\2c`, `+`, `\2b`, `=`, `\3d`, "\x00", `\00`)

func escapeKey(s string) string { return keyEscaper.Replace(s) }

// depth is the number of RDNs.
func (p dnPath) depth() int { return len(p.cuts) }

// ancestorKey is the key of the ancestor up levels above (1 = the parent).
func (p dnPath) ancestorKey(up int) string { return p.key[p.cuts[up]:] }

// ancestorDN is the ancestor's DN as a string an LDAP server accepts.
func (p dnPath) ancestorDN(up int) string {
	parts := make([]string, 0, len(p.dn.RDNs)-up)
	for _, rdn := range p.dn.RDNs[up:] {
		parts = append(parts, rdn.String())
	}
	return strings.Join(parts, ",")
}

// under reports whether the entry is at or below ancestor.
func (p dnPath) under(ancestor dnPath) bool {
	up := p.depth() - ancestor.depth()
	return up >= 0 && p.ancestorKey(up) == ancestor.key
}

// sortKey orders names top-down: an entry sorts after its ancestors, and
// siblings by their normalised RDN. Domain conflicts are settled in this order.
func (p dnPath) sortKey() string {
	parts := make([]string, 0, p.depth())
	for i := p.depth() - 1; i >= 0; i-- {
		end := len(p.key)
		if i+1 < p.depth() {
			end = p.cuts[i+1] - 1
		}
		parts = append(parts, p.key[p.cuts[i]:end])
	}
	return strings.Join(parts, "\x00")
}
