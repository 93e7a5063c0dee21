package ldapsync

import (
	"context"
	"fmt"
	"strconv"

	"github.com/go-ldap/ldap/v3"
)

// Active Directory change polling follows Microsoft's "Polling for Changes
// Using the USNChanged Attribute": remember the DC's highestCommittedUSN from
// its rootDSE (MS-ADTS §3.1.1.3.2) before reading, and next time read the
// entries with uSNChanged above it. USNs are local to one DC: a position is
// only good against the same DC (dsServiceName) with the same database
// (invocationId of its NTDS Settings object, which changes when the database
// is restored). Deleted objects are tombstones under CN=Deleted Objects of the
// naming context, visible with the Show Deleted control (MS-ADTS §3.1.1.3.4.1.14).

// dcInfo identifies a domain controller and its update sequence.
type dcInfo struct {
	usn        int64  // highestCommittedUSN
	dsa        string // dsServiceName: the DN of the DC's NTDS Settings object
	invocation string // invocationId of that object, as a UUID
	nc         string // the naming context that holds the base DN
}

// readDC reads the domain controller's rootDSE and invocationId.
func (c *client) readDC(ctx context.Context) (dcInfo, error) {
	attrs := []string{"highestCommittedUSN", "dsServiceName", "namingContexts"}
	root, found, err := c.lookup(ctx, "", "(objectClass=*)", attrs)
	if err != nil {
		return dcInfo{}, err
	}
	if !found {
		return dcInfo{}, fmt.Errorf("%w: the server shows no rootDSE", ErrUnsupported)
	}
	dc, err := parseRootDSE(recordFromEntry(root), c.s.BaseDN)
	if err != nil {
		return dcInfo{}, err
	}
	dsa, found, err := c.lookup(ctx, dc.dsa, "(objectClass=*)", []string{"invocationId"})
	if err != nil {
		return dcInfo{}, err
	}
	if !found {
		return dcInfo{}, fmt.Errorf("%w: cannot read %s", ErrUnsupported, dc.dsa)
	}
	if dc.invocation, err = parseInvocation(recordFromEntry(dsa)); err != nil {
		return dcInfo{}, err
	}
	return dc, nil
}

// parseRootDSE takes the USN position and the DC's name from a rootDSE, and
// the naming context holding baseDN.
func parseRootDSE(r record, baseDN string) (dcInfo, error) {
	usn, err := strconv.ParseInt(r.first([]string{"highestCommittedUSN"}), 10, 64)
	if err != nil || usn <= 0 {
		return dcInfo{}, fmt.Errorf("%w: the rootDSE has no highestCommittedUSN (not Active Directory?)", ErrUnsupported)
	}
	dc := dcInfo{usn: usn, dsa: r.first([]string{"dsServiceName"})}
	if dc.dsa == "" {
		return dcInfo{}, fmt.Errorf("%w: the rootDSE has no dsServiceName", ErrUnsupported)
	}
	if dc.nc, err = namingContextOf(baseDN, r.values([]string{"namingContexts"})); err != nil {
		return dcInfo{}, err
	}
	return dc, nil
}

// namingContextOf returns the deepest naming context at or above baseDN.
func namingContextOf(baseDN string, ncs []string) (string, error) {
	base, err := parseDNPath(baseDN)
	if err != nil {
		return "", fmt.Errorf("%w: base DN: %v", ErrConfig, err)
	}
	best, depth := "", 0
	for _, nc := range ncs {
		p, err := parseDNPath(nc)
		if err == nil && base.under(p) && p.depth() > depth {
			best, depth = nc, p.depth()
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: no naming context of the server holds %s", ErrUnsupported, baseDN)
	}
	return best, nil
}

func parseInvocation(r record) (string, error) {
	raw := r.firstRaw("invocationId")
	if raw == "" {
		return "", fmt.Errorf("%w: the domain controller shows no invocationId", ErrUnsupported)
	}
	return binaryID(raw), nil
}

// checkDC tells whether a USN position taken from prev still applies to dc.
func checkDC(prev *pollState, dc dcInfo) error {
	switch {
	case !sameDN(prev.DSA, dc.dsa):
		return fmt.Errorf("%w: another domain controller answers (%s, was %s)", errRefreshRequired, dc.dsa, prev.DSA)
	case prev.Invocation != dc.invocation:
		return fmt.Errorf("%w: the domain controller's database was restored or replaced (invocationId %s, was %s)",
			errRefreshRequired, dc.invocation, prev.Invocation)
	case !sameDN(prev.NC, dc.nc):
		return fmt.Errorf("%w: the base DN lies in another naming context (%s, was %s)", errRefreshRequired, dc.nc, prev.NC)
	case dc.usn < prev.USN:
		return fmt.Errorf("%w: highestCommittedUSN went backwards (%d, was %d)", errRefreshRequired, dc.usn, prev.USN)
	}
	return nil
}

// sameDN compares two DNs as distinguishedNameMatch would.
func sameDN(a, b string) bool {
	pa, errA := parseDNPath(a)
	pb, errB := parseDNPath(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.key == pb.key
}

// position is the USN position as of this rootDSE reading.
func (dc dcInfo) position() *pollState {
	return &pollState{Attr: attrUSN, USN: dc.usn, DSA: dc.dsa, Invocation: dc.invocation, NC: dc.nc}
}

// usnFilter matches the entries changed after the position usn.
func usnFilter(usn int64) string { return fmt.Sprintf("(%s>=%d)", attrUSN, usn+1) }

// tombstoneRequest searches the objects of nc deleted after the position usn,
// for their ids (tombstones keep objectGUID). The Show Deleted control is
// critical: a server that ignores it would report no deletions.
func tombstoneRequest(nc, idAttr string, usn int64) *ldap.SearchRequest {
	filter := "(&(isDeleted=TRUE)" + usnFilter(usn) + ")"
	showDeleted := ldap.NewControlString(ldap.ControlTypeMicrosoftShowDeleted, true, "")
	return ldap.NewSearchRequest("CN=Deleted Objects,"+nc, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{idAttr}, []ldap.Control{showDeleted})
}
