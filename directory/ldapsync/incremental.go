package ldapsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/directory"
)

// maxChanges bounds an incremental sync; with more changes a full sync is
// cheaper than applying them one by one, and memory stays bounded.
const maxChanges = 50_000

// changes is the result of one refreshOnly content synchronisation (RFC 4533
// §3.3): the entries added or modified, the ids deleted, and the new cookie.
type changes struct {
	upserts map[string]record // by entryUUID
	deleted map[string]struct{}
	cookie  []byte
}

func (ch *changes) size() int { return len(ch.upserts) + len(ch.deleted) }

// currentCookie asks for the server's position now: a content synchronisation
// of the base entry alone ends with a cookie at the current contextCSN.
func (c *client) currentCookie(ctx context.Context) ([]byte, error) {
	ch, err := c.refresh(ctx, ldap.ScopeBaseObject, "(objectClass=*)", []string{"1.1"}, nil)
	if err != nil {
		return nil, err
	}
	if len(ch.cookie) == 0 {
		return nil, errors.New("server sent no sync cookie")
	}
	return ch.cookie, nil
}

// refresh runs a refreshOnly content synchronisation from cookie. When the
// server would send the present phase (it cannot tell what was deleted since
// the cookie) or refuses the cookie, the result is errRefreshRequired.
func (c *client) refresh(ctx context.Context, scope int, filter string, attrs []string, cookie []byte) (*changes, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := ldap.NewSearchRequest(c.s.BaseDN, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	r := c.conn.Syncrepl(ctx, req, 64, ldap.SyncRequestModeRefreshOnly, cookie, false)
	ch := &changes{upserts: map[string]record{}, deleted: map[string]struct{}{}, cookie: cookie}
	done := false
	for r.Next() {
		var err error
		done, err = ch.take(r, len(cookie) > 0)
		if err == nil && ch.size() > maxChanges {
			err = fmt.Errorf("%w: more than %d changes", errRefreshRequired, maxChanges)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := r.Err(); err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultSyncRefreshRequired, ldap.LDAPResultUnavailableCriticalExtension) {
			return nil, fmt.Errorf("%w: %v", errRefreshRequired, err)
		}
		return nil, fmt.Errorf("%w: content sync: %w", ErrUnavailable, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !done {
		return nil, fmt.Errorf("%w: content sync ended without a sync done control", ErrUnavailable)
	}
	for id := range ch.upserts { // an entry sent with its attributes exists
		delete(ch.deleted, id)
	}
	return ch, nil
}

// take applies one response message; done reports the final Sync Done control.
func (ch *changes) take(r ldap.Response, fromCookie bool) (done bool, err error) {
	ctrls := r.Controls()
	if e := r.Entry(); e != nil {
		st, ok := ldap.FindControl(ctrls, ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
		if !ok {
			return false, fmt.Errorf("%w: entry %s without sync state control", ErrUnavailable, e.DN)
		}
		return false, ch.entry(e, st)
	}
	if info, ok := ldap.FindControl(ctrls, ldap.ControlTypeSyncInfo).(*ldap.ControlSyncInfo); ok {
		return false, ch.info(info)
	}
	if d, ok := ldap.FindControl(ctrls, ldap.ControlTypeSyncDone).(*ldap.ControlSyncDone); ok {
		if fromCookie && !d.RefreshDeletes {
			// The present phase: whatever was not sent is gone, which we could
			// only act on by comparing every id.
			return true, fmt.Errorf("%w: server used the present phase", errRefreshRequired)
		}
		ch.setCookie(d.Cookie)
		return true, nil
	}
	return false, nil
}

func (ch *changes) entry(e *ldap.Entry, st *ldap.ControlSyncState) error {
	id := st.EntryUUID.String()
	switch st.State {
	case ldap.SyncStateAdd, ldap.SyncStateModify:
		ch.upserts[id] = recordFromEntry(e)
		delete(ch.deleted, id)
	case ldap.SyncStateDelete:
		ch.deleted[id] = struct{}{}
		delete(ch.upserts, id)
	default:
		return fmt.Errorf("%w: server used the present phase", errRefreshRequired)
	}
	ch.setCookie(st.Cookie)
	return nil
}

func (ch *changes) info(info *ldap.ControlSyncInfo) error {
	switch {
	case info.NewCookie != nil:
		ch.setCookie(info.NewCookie.Cookie)
	case info.RefreshDelete != nil:
		ch.setCookie(info.RefreshDelete.Cookie)
	case info.RefreshPresent != nil:
		return fmt.Errorf("%w: server used the present phase", errRefreshRequired)
	case info.SyncIdSet != nil:
		if !info.SyncIdSet.RefreshDeletes {
			return fmt.Errorf("%w: server used the present phase", errRefreshRequired)
		}
		for _, u := range info.SyncIdSet.SyncUUIDs {
			ch.deleted[u.String()] = struct{}{}
		}
		ch.setCookie(info.SyncIdSet.Cookie)
	}
	return nil
}

func (ch *changes) setCookie(c []byte) {
	if len(c) > 0 {
		ch.cookie = c
	}
}

// incremental applies the changes since pos in one transaction.
func (sy *Syncer) incremental(ctx context.Context, run *directory.SyncRun, iss *issues, pos syncState) error {
	c, err := sy.dial.service(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	orgs, err := c.refresh(ctx, ldap.ScopeWholeSubtree, sy.s.OrgFilter, sy.orgAttrs(), pos.Orgs)
	if err != nil {
		return fmt.Errorf("organisation changes: %w", err)
	}
	people, err := c.refresh(ctx, ldap.ScopeWholeSubtree, sy.s.PersonFilter, sy.personAttrs(), pos.People)
	if err != nil {
		return fmt.Errorf("people changes: %w", err)
	}
	next, err := syncState{Fingerprint: pos.Fingerprint, Mode: modeContentSync, Orgs: orgs.cookie, People: people.cookie}.encode()
	if err != nil {
		return err
	}
	return sy.store.Write(ctx, false, func(w *directory.Writer) error {
		a := newApplier(sy, c, w, run, iss)
		roots, err := a.organisations(ctx, orgs)
		if err != nil {
			return err
		}
		if err := a.people(ctx, people, roots); err != nil {
			return err
		}
		return w.SaveState(ctx, StateName, next)
	})
}

// applier applies one incremental sync inside the directory transaction.
type applier struct {
	sy       *Syncer
	c        *client
	w        writer
	run      *directory.SyncRun
	iss      *issues
	m        mapper
	cache    map[string]orgRef // organisation entries by normalised DN, read as needed
	orgsDone map[string]bool   // organisations written or removed in this run, by source id
	orgsPut  map[string]bool   // organisations written in this run, by source id
	written  map[string]bool   // people written in this run, by source id
	seen     map[string]bool   // people entries handled in this run, by source id
	stale    map[string]bool   // skipped people to delete, by source id; never in written
	batch    []directory.Person
}

func newApplier(sy *Syncer, c *client, w writer, run *directory.SyncRun, iss *issues) *applier {
	return &applier{sy: sy, c: c, w: w, run: run, iss: iss, m: mapper{sy.s}, cache: map[string]orgRef{},
		orgsDone: map[string]bool{}, orgsPut: map[string]bool{}, written: map[string]bool{}, seen: map[string]bool{},
		stale: map[string]bool{}}
}

// organisations applies the organisation changes and returns the subtrees whose
// people must be re-read: those of changed (perhaps renamed or moved)
// organisations, and of entries that stopped being organisations.
func (a *applier) organisations(ctx context.Context, ch *changes) ([]dnPath, error) {
	roots, err := a.removedOrganisations(ctx, slices.Sorted(maps.Keys(ch.deleted)))
	if err != nil {
		return nil, err
	}
	return a.changedOrganisations(ctx, ch.upserts, roots)
}

// changedOrganisations writes the changed organisations (by id) top-down and
// returns the outermost of roots and their paths, after rewriting the
// organisations below them.
func (a *applier) changedOrganisations(ctx context.Context, upserts map[string]record, roots []dnPath) ([]dnPath, error) {
	var cands []orgCandidate
	for _, r := range upserts {
		if c, ok := a.candidate(r); ok {
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, func(x, y orgCandidate) int { return cmp.Compare(x.order, y.order) })
	for _, c := range cands {
		ok, err := a.organisation(ctx, c)
		if err != nil {
			return nil, err
		}
		if ok {
			roots = append(roots, c.path)
		}
	}
	roots = outermost(roots)
	// A renamed or moved organisation took its sub-organisations along, and
	// the server sends no change for them.
	for _, root := range roots {
		if err := a.subOrganisations(ctx, root); err != nil {
			return nil, err
		}
	}
	return roots, nil
}

func (a *applier) candidate(r record) (orgCandidate, bool) {
	p, err := parseDNPath(r.dn)
	if err != nil {
		a.iss.skip(r.dn, err.Error())
		return orgCandidate{}, false
	}
	c := a.m.organisation(r, p)
	c.order = p.sortKey()
	return c, true
}

// subOrganisations rewrites the organisations below root not yet written in
// this run.
func (a *applier) subOrganisations(ctx context.Context, root dnPath) error {
	req := ldap.NewSearchRequest(root.ancestorDN(0), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		a.sy.s.OrgFilter, a.sy.orgAttrs(), nil)
	var cands []orgCandidate
	err := a.c.search(ctx, req, func(e *ldap.Entry) error {
		if c, ok := a.candidate(recordFromEntry(e)); ok && !a.orgsDone[c.org.SourceID] {
			cands = append(cands, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("re-read organisations below %s: %w", root.ancestorDN(0), err)
	}
	slices.SortFunc(cands, func(x, y orgCandidate) int { return cmp.Compare(x.order, y.order) })
	for _, c := range cands {
		if _, err := a.organisation(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// organisation writes one changed organisation, or removes it when it can no
// longer be used.
func (a *applier) organisation(ctx context.Context, c orgCandidate) (bool, error) {
	a.orgsDone[c.org.SourceID] = true
	if c.reason == "" {
		var err error
		if c, err = a.claimFromStore(ctx, c); err != nil {
			return false, err
		}
	}
	if c.reason != "" {
		a.iss.skip(c.org.SourceDN, c.reason)
		n, err := a.w.RemoveOrganisations(ctx, []string{c.org.SourceID})
		a.run.Deleted += n
		return false, err
	}
	if err := a.w.PutOrganisations(ctx, []directory.Organisation{c.org}); err != nil {
		return false, err
	}
	a.orgsPut[c.org.SourceID] = true
	a.run.Organisations++
	return true, nil
}

// claimFromStore keeps the domains that no other organisation holds; a domain
// an enrolled organisation holds is reported as a conflict.
func (a *applier) claimFromStore(ctx context.Context, c orgCandidate) (orgCandidate, error) {
	own := directory.OrganisationID(c.org.SourceID)
	var kept, lost, held []string
	for _, d := range c.org.Domains {
		h, err := a.w.DomainHolder(ctx, d)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return c, err
		}
		switch {
		case err != nil || h.OrganisationID == own:
			kept = append(kept, d)
		case h.Origin == directory.OriginEnrolment:
			a.sy.enrolledConflict(a.iss, c.org.SourceDN, d)
			held = append(held, d+heldByEnrolled)
		default:
			lost = append(lost, fmt.Sprintf("%s (held by organisation %s)", d, h.OrganisationID))
		}
	}
	c.org.Domains = kept
	return settleDomains(c, lost, held, func(string) {}, a.iss), nil
}

// removedOrganisations removes organisations by id. An entry that merely stopped
// matching the organisation filter keeps its people, who now belong to an
// organisation further up: its subtree is returned for re-reading.
func (a *applier) removedOrganisations(ctx context.Context, ids []string) ([]dnPath, error) {
	n, err := a.w.RemoveOrganisations(ctx, ids)
	if err != nil || n == 0 {
		return nil, err
	}
	a.run.Deleted += n
	var roots []dnPath
	for _, id := range ids {
		dn, found, err := a.findByUUID(ctx, id)
		if err != nil {
			return nil, err
		}
		if p, perr := parseDNPath(dn); found && perr == nil {
			roots = append(roots, p)
		}
	}
	return roots, nil
}

func (a *applier) findByUUID(ctx context.Context, id string) (string, bool, error) {
	req := ldap.NewSearchRequest(a.sy.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false,
		"(entryUUID="+ldap.EscapeFilter(id)+")", []string{"1.1"}, nil)
	var dn string
	err := a.c.searchSmall(ctx, req, func(e *ldap.Entry) error { dn = e.DN; return nil })
	return dn, dn != "", err
}

// people applies the people changes, then re-reads the people below roots.
// Re-reading more than maxChanges people makes it a full sync, which is cheaper.
func (a *applier) people(ctx context.Context, ch *changes, roots []dnPath) error {
	n, err := a.w.DeletePeople(ctx, slices.Sorted(maps.Keys(ch.deleted)))
	if err != nil {
		return err
	}
	a.run.Deleted += n
	for _, id := range slices.Sorted(maps.Keys(ch.upserts)) {
		if err := a.person(ctx, ch.upserts[id], id); err != nil {
			return err
		}
	}
	reread := 0
	for _, root := range roots {
		req := ldap.NewSearchRequest(root.ancestorDN(0), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			a.sy.s.PersonFilter, a.sy.personAttrs(), nil)
		err := a.c.search(ctx, req, func(e *ldap.Entry) error {
			if reread++; reread > maxChanges {
				return tooMany(reread)
			}
			return a.person(ctx, recordFromEntry(e), "")
		})
		if err != nil {
			return fmt.Errorf("re-read people below %s: %w", root.ancestorDN(0), err)
		}
	}
	return a.flush(ctx)
}

// person writes a changed or re-read person entry; id is its source id when
// the entry came as a change, else "".
func (a *applier) person(ctx context.Context, r record, id string) error {
	if id == "" {
		id, _ = a.m.entryID(r)
	}
	if id != "" {
		if a.seen[id] { // read as a change and again below a changed organisation
			return nil
		}
		a.seen[id] = true
	}
	find := func(p dnPath) (orgRef, bool, error) { return a.nearest(ctx, p) }
	per, ok, err := placePerson(a.m, r, find, a.iss)
	if err != nil {
		return err
	}
	if !ok {
		return a.dropStale(ctx, r, id)
	}
	if a.written[per.SourceID] {
		return nil
	}
	a.written[per.SourceID] = true
	delete(a.stale, per.SourceID)
	a.batch = append(a.batch, per)
	if len(a.batch) >= batchSize {
		return a.flush(ctx)
	}
	return nil
}

// dropStale deletes the person of a skipped entry: the directory may still
// hold an older version of it that could be used (its mail became invalid, it
// left every organisation, or its organisation is skipped). A full sync would
// not write it either.
func (a *applier) dropStale(ctx context.Context, r record, id string) error {
	if id == "" {
		p, err := parseDNPath(r.dn)
		if err != nil {
			return nil
		}
		id = a.m.sourceID(r, p)
	}
	if a.written[id] {
		return nil
	}
	a.stale[id] = true
	if len(a.stale) >= batchSize {
		return a.flush(ctx)
	}
	return nil
}

// flush deletes the stale people and writes the batch; the two sets are
// disjoint, so their order does not matter.
func (a *applier) flush(ctx context.Context) error {
	if len(a.stale) > 0 {
		n, err := a.w.DeletePeople(ctx, slices.Sorted(maps.Keys(a.stale)))
		if err != nil {
			return err
		}
		a.run.Deleted += n
		clear(a.stale)
	}
	if len(a.batch) == 0 {
		return nil
	}
	if err := putPeople(ctx, a.w, a.batch); err != nil {
		return err
	}
	a.run.People += len(a.batch)
	a.batch = a.batch[:0]
	return nil
}

// nearest finds the nearest organisation entry above p, reading ancestors from
// LDAP once per run.
func (a *applier) nearest(ctx context.Context, p dnPath) (orgRef, bool, error) {
	for up := 1; up < p.depth() && up <= p.depth()-len(a.sy.s.base.RDNs); up++ {
		key := p.ancestorKey(up)
		ref, ok := a.cache[key]
		if !ok {
			var err error
			if ref, err = a.readOrganisation(ctx, p.ancestorDN(up)); err != nil {
				return orgRef{}, false, err
			}
			a.cache[key] = ref
		}
		if ref.isOrg {
			return ref, true, nil
		}
	}
	return orgRef{}, false, nil
}

// readOrganisation reads dn if it is an organisation, and tells whether the
// directory holds it (it does when it holds one of its domains).
func (a *applier) readOrganisation(ctx context.Context, dn string) (orgRef, error) {
	e, found, err := a.c.lookup(ctx, dn, a.sy.s.OrgFilter, a.sy.orgAttrs())
	if err != nil || !found {
		return orgRef{}, err
	}
	p, err := parseDNPath(e.DN)
	if err != nil {
		return orgRef{}, nil
	}
	c := a.m.organisation(recordFromEntry(e), p)
	ref := orgRef{isOrg: true, id: directory.OrganisationID(c.org.SourceID), dn: e.DN, reason: c.reason}
	if ref.reason != "" {
		return ref, nil
	}
	for _, d := range c.org.Domains {
		owner, err := a.w.DomainOwner(ctx, d)
		if err == nil && owner == ref.id {
			return ref, nil
		}
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return orgRef{}, err
		}
	}
	ref.reason = "it is not in the directory"
	return ref, nil
}

// outermost drops the paths that lie below another path of the list.
func outermost(paths []dnPath) []dnPath {
	var out []dnPath
	for i, p := range paths {
		covered := false
		for j, q := range paths {
			if i != j && p.under(q) && (p.key != q.key || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}
