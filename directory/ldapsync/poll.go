package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/directory"
)

// Change-counter polling: the incremental sync for servers without RFC 4533
// content sync. Each run reads
//
//  1. every entry whose counter passed the stored position (uSNChanged above
//     the DC's highestCommittedUSN on Active Directory, modifyTimestamp at or
//     after a time on OpenLDAP), with a few attributes: a changed entry that
//     no longer matches the organisation or person filter is removed, and a
//     changed entry that may hold others (renamed or moved: its subordinates
//     keep their own counters) has its subtree re-read;
//  2. the changed organisations and people, applied as the RFC 4533 path
//     applies them (a changed organisation re-reads the people below it);
//  3. the deletions: tombstones on Active Directory; on OpenLDAP, which keeps
//     no record of deleted entries, the ids of every organisation and person
//     compared with the ids stored by the previous run.
//
// The new position is stored with the changes in one transaction. Any doubt
// (another server or mapping, another DC or a restored one, a counter going
// backwards, more than maxChanges changes) makes it a full sync.

// pollMargin widens the modifyTimestamp window: an operation takes its
// timestamp before it commits.
const pollMargin = time.Second

// generalizedTimeLayout formats and parses GeneralizedTime (RFC 4517 §3.3.13)
// in UTC; parsing also accepts fractions of a second and offsets.
const generalizedTimeLayout = "20060102150405Z0700"

// pollSync applies the changes since pos in one transaction.
func (sy *Syncer) pollSync(ctx context.Context, run *directory.SyncRun, iss *issues, pos syncState) error {
	c, err := sy.dial.service(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	p := &poller{sy: sy, c: c, m: mapper{sy.s}, fingerprint: pos.Fingerprint, prev: *pos.Poll, next: *pos.Poll}
	if err := p.begin(ctx); err != nil {
		return err
	}
	if p.idle {
		return nil
	}
	if err := p.read(ctx); err != nil {
		return err
	}
	return sy.store.Write(ctx, false, func(w *directory.Writer) error {
		a := newApplier(sy, c, w, run, iss)
		if err := p.apply(ctx, a); err != nil {
			return err
		}
		return p.save(ctx, w, a)
	})
}

// poller is one polling run.
type poller struct {
	sy          *Syncer
	c           *client
	m           mapper
	fingerprint string
	prev, next  pollState
	base        dnPath
	scope       string // where changed entries are looked for
	counter     string // filter matching the entries changed since prev
	idle        bool   // nothing committed since prev
	newest      time.Time
	orgs        *changes
	people      *changes
	roots       []dnPath // changed entries whose subtrees are re-read
	had, now    idLists  // modifyTimestamp: ids stored by the previous run, and read now
}

// begin checks the position against the server and prepares the searches.
func (p *poller) begin(ctx context.Context) error {
	var err error
	if p.base, err = parseDNPath(p.sy.s.BaseDN); err != nil {
		return fmt.Errorf("%w: base DN: %v", ErrConfig, err)
	}
	p.scope = p.sy.s.BaseDN
	switch p.prev.Attr {
	case attrUSN:
		return p.beginUSN(ctx)
	case attrTimestamp:
		return p.beginTimestamp(ctx)
	}
	return fmt.Errorf("%w: unknown change counter %q", errRefreshRequired, p.prev.Attr)
}

// beginUSN reads the DC's position. Changed entries are looked for in the whole
// naming context, so that entries moved out of the base are seen and removed.
func (p *poller) beginUSN(ctx context.Context) error {
	dc, err := p.c.readDC(ctx)
	if errors.Is(err, ErrUnsupported) {
		return fmt.Errorf("%w: %v", errRefreshRequired, err)
	}
	if err != nil {
		return err
	}
	if err := checkDC(&p.prev, dc); err != nil {
		return err
	}
	p.next.USN, p.scope, p.idle = dc.usn, dc.nc, dc.usn == p.prev.USN
	p.counter = usnFilter(p.prev.USN)
	return nil
}

func (p *poller) beginTimestamp(ctx context.Context) error {
	raw, err := p.sy.store.State(ctx, idsStateName)
	if err != nil {
		return err
	}
	if p.had, err = decodeIDs(raw, p.prev.IDs); err != nil {
		return fmt.Errorf("%w: %v", errRefreshRequired, err)
	}
	p.counter = fmt.Sprintf("(%s>=%s)", attrTimestamp, generalizedTime(p.prev.Since))
	return nil
}

// read finds the changes; nothing is written yet.
func (p *poller) read(ctx context.Context) error {
	started := time.Now()
	touched, err := p.readTouched(ctx)
	if err != nil {
		return fmt.Errorf("changed entries: %w", err)
	}
	if p.orgs, err = p.readChanged(ctx, p.sy.s.OrgFilter, p.sy.orgAttrs()); err != nil {
		return fmt.Errorf("organisation changes: %w", err)
	}
	if p.people, err = p.readChanged(ctx, p.sy.s.PersonFilter, p.sy.personAttrs()); err != nil {
		return fmt.Errorf("people changes: %w", err)
	}
	if p.prev.Attr == attrTimestamp {
		p.next.Since = nextSince(p.prev.Since, p.newest, time.Since(started))
	}
	for id := range touched { // changed, but no longer an organisation or a person
		if _, ok := p.orgs.upserts[id]; !ok {
			if _, ok := p.people.upserts[id]; !ok {
				p.gone(id, true, true)
			}
		}
	}
	if err := p.readDeleted(ctx); err != nil {
		return fmt.Errorf("deleted entries: %w", err)
	}
	return nil
}

// gone records a deleted id; deletion wins over a change read before it.
func (p *poller) gone(id string, org, person bool) {
	if org {
		p.orgs.deleted[id] = struct{}{}
		delete(p.orgs.upserts, id)
	}
	if person {
		p.people.deleted[id] = struct{}{}
		delete(p.people.upserts, id)
	}
}

// readTouched reads the ids of all entries changed since the position, and
// notes those that may have moved entries below the base with them.
func (p *poller) readTouched(ctx context.Context) (map[string]struct{}, error) {
	attrs := []string{p.sy.s.idAttr, p.prev.Attr, "objectClass"}
	if p.prev.Attr == attrTimestamp {
		attrs = append(attrs, "hasSubordinates") // OpenLDAP; Active Directory has no such attribute
	}
	req := ldap.NewSearchRequest(p.scope, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		p.counter, attrs, nil)
	touched := map[string]struct{}{}
	err := p.c.search(ctx, req, func(e *ldap.Entry) error {
		p.observe(e)
		r := recordFromEntry(e)
		path, err := parseDNPath(r.dn)
		if err != nil {
			return nil // not usable as an organisation or person either
		}
		touched[p.m.sourceID(r, path)] = struct{}{}
		if path.depth() > p.base.depth() && path.under(p.base) && mayHoldEntries(r) {
			p.roots = append(p.roots, path)
		}
		return tooMany(len(touched))
	})
	return touched, err
}

// readChanged reads the entries matching filter changed since the position.
func (p *poller) readChanged(ctx context.Context, filter string, attrs []string) (*changes, error) {
	req := ldap.NewSearchRequest(p.sy.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&"+filter+p.counter+")", append(attrs, p.prev.Attr), nil)
	ch := &changes{upserts: map[string]record{}, deleted: map[string]struct{}{}}
	err := p.c.search(ctx, req, func(e *ldap.Entry) error {
		p.observe(e)
		r := recordFromEntry(e)
		id, ok := p.m.entryID(r)
		if !ok {
			id = "bad:" + r.dn // the applier reports it
		}
		ch.upserts[id] = r
		return tooMany(len(ch.upserts))
	})
	return ch, err
}

// readDeleted finds the entries deleted since the position.
func (p *poller) readDeleted(ctx context.Context) error {
	if p.prev.Attr == attrUSN {
		return p.readTombstones(ctx)
	}
	var err error
	if p.now.Orgs, err = p.idsOf(ctx, p.sy.s.OrgFilter); err != nil {
		return err
	}
	if p.now.People, err = p.idsOf(ctx, p.sy.s.PersonFilter); err != nil {
		return err
	}
	p.now.normalise()
	// An entry read as changed but missing now was deleted in between.
	orgs := missing(union(p.had.Orgs, setOf(p.orgs.upserts)), p.now.Orgs)
	people := missing(union(p.had.People, setOf(p.people.upserts)), p.now.People)
	if err := tooMany(len(orgs) + len(people)); err != nil {
		return err
	}
	for _, id := range orgs {
		p.gone(id, true, false)
	}
	for _, id := range people {
		p.gone(id, false, true)
	}
	return nil
}

func (p *poller) readTombstones(ctx context.Context) error {
	n := 0
	req := tombstoneRequest(p.scope, p.sy.s.idAttr, p.prev.USN)
	return p.c.search(ctx, req, func(e *ldap.Entry) error {
		if id := p.m.attrID(recordFromEntry(e)); id != "" {
			p.gone(id, true, true)
			n++
		}
		return tooMany(n)
	})
}

// idsOf reads the ids of every entry matching filter, sorted.
func (p *poller) idsOf(ctx context.Context, filter string) ([]string, error) {
	req := ldap.NewSearchRequest(p.sy.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{p.sy.s.idAttr}, nil)
	var ids []string
	err := p.c.search(ctx, req, func(e *ldap.Entry) error {
		if id, ok := p.m.entryID(recordFromEntry(e)); ok {
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// observe notes the newest modifyTimestamp read.
func (p *poller) observe(e *ldap.Entry) {
	if p.prev.Attr == attrTimestamp {
		p.newest = newer(p.newest, e)
	}
}

// apply writes the changes: removals first, then organisations, then people.
func (p *poller) apply(ctx context.Context, a *applier) error {
	removed := slices.Sorted(maps.Keys(p.orgs.deleted))
	n, err := a.w.RemoveOrganisations(ctx, removed)
	if err != nil {
		return err
	}
	a.run.Deleted += n
	for _, id := range removed {
		a.orgsDone[id] = true
	}
	roots, err := a.changedOrganisations(ctx, p.orgs.upserts, p.roots)
	if err != nil {
		return err
	}
	return a.people(ctx, p.people, roots)
}

// save stores the new position, and on OpenLDAP the ids the directory may now
// hold: those read plus those written (an entry added after the ids were read).
func (p *poller) save(ctx context.Context, w writer, a *applier) error {
	if p.prev.Attr == attrTimestamp {
		l := idLists{Orgs: union(p.now.Orgs, a.orgsPut), People: union(p.now.People, a.written)}
		raw, digest, err := l.encode()
		if err != nil {
			return err
		}
		if digest != p.prev.IDs {
			if err := w.SaveState(ctx, idsStateName, raw); err != nil {
				return err
			}
		}
		p.next.IDs = digest
	}
	st, err := syncState{Fingerprint: p.fingerprint, Mode: modePoll, Poll: &p.next}.encode()
	if err != nil {
		return err
	}
	return w.SaveState(ctx, StateName, st)
}

// tooMany stops a run with more changes than an incremental sync should apply.
func tooMany(n int) error {
	if n > maxChanges {
		return fmt.Errorf("%w: more than %d changes", errRefreshRequired, maxChanges)
	}
	return nil
}

// mayHoldEntries reports whether a changed entry may have entries below it:
// hasSubordinates where the server offers it (OpenLDAP), else a container class.
func mayHoldEntries(r record) bool {
	if v := r.first([]string{"hasSubordinates"}); v != "" {
		return strings.EqualFold(v, "TRUE")
	}
	for _, oc := range r.attrs["objectclass"] {
		switch strings.ToLower(oc) {
		case "organizationalunit", "container", "organization", "locality", "country", "domain", "dcobject":
			return true
		}
	}
	return false
}

func setOf(m map[string]record) map[string]bool {
	out := make(map[string]bool, len(m))
	for id := range m {
		out[id] = true
	}
	return out
}

// nextSince is where the next modifyTimestamp poll starts. Every timestamp
// read is at most the server's clock when the reads ended, so newest minus
// the reads' duration is at most the server's clock when they began: a change
// the reads missed is not older. Timestamps are whole seconds, truncated, so
// the bound truncated to the second still holds; pollMargin covers operations
// that took their timestamp before committing.
func nextSince(prev, newest time.Time, elapsed time.Duration) time.Time {
	if newest.IsZero() {
		return prev
	}
	next := newest.Add(-elapsed - pollMargin).Truncate(time.Second).UTC()
	if next.After(prev) {
		return next
	}
	return prev
}

// newer returns the later of t and the entry's modifyTimestamp.
func newer(t time.Time, e *ldap.Entry) time.Time {
	v := e.GetEqualFoldAttributeValue(attrTimestamp)
	if v == "" {
		return t
	}
	ts, err := time.Parse(generalizedTimeLayout, v)
	if err != nil || !ts.After(t) {
		return t
	}
	return ts
}

// generalizedTime formats t for a filter; the zero time is the epoch.
func generalizedTime(t time.Time) string {
	if t.Before(time.Unix(0, 0)) {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format("20060102150405Z")
}
