package ldapsync

import (
	"context"
	"crypto/sha1"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/directory"
)

// batchSize is the number of people read before they are handed to the writer.
const batchSize = 1000

// writeChunk is the number of people per PutPeople call, so per INSERT. The
// pure-Go SQLite driver binds parameters in time quadratic in their number:
// measured on 50,000 people, 100-row statements made the SQLite sync ~1.8×
// faster than 1000-row ones, and PostgreSQL no slower.
const writeChunk = 100

// putPeople writes people in statements of writeChunk rows.
func putPeople(ctx context.Context, w writer, people []directory.Person) error {
	for start := 0; start < len(people); start += writeChunk {
		if err := w.PutPeople(ctx, people[start:min(start+writeChunk, len(people))]); err != nil {
			return err
		}
	}
	return nil
}

// fullSync reads every organisation, then streams every person into one
// transaction that replaces the directory.
func (sy *Syncer) fullSync(ctx context.Context, run *directory.SyncRun, iss *issues) error {
	c, err := sy.dial.service(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Take the position before reading: changes made while we read are replayed
	// by the next incremental sync (upserts and deletes are idempotent).
	tr := sy.startPosition(ctx, c)
	cands, err := sy.readOrganisations(ctx, c, iss, tr)
	if err != nil {
		return err
	}
	return sy.store.Write(ctx, true, func(w *directory.Writer) error {
		idx, orgs, err := sy.settle(ctx, w, cands, len(sy.s.base.RDNs), iss)
		if err != nil {
			return err
		}
		if err := putOrganisations(ctx, w, orgs); err != nil {
			return err
		}
		run.Organisations = len(orgs)
		people := func(ctx context.Context, emit func(record) error) error {
			req := ldap.NewSearchRequest(sy.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				sy.s.PersonFilter, append(sy.personAttrs(), tr.attrs()...), nil)
			return c.search(ctx, req, func(e *ldap.Entry) error {
				tr.observe(e)
				return emit(recordFromEntry(e))
			})
		}
		if err := sy.streamPeople(ctx, w, run, iss, idx, people, tr.wrote); err != nil {
			return err
		}
		return sy.savePosition(ctx, w, tr, orgs)
	})
}

// settle reads the enrolled organisations' domains inside the replacing
// transaction (it has bumped the generation, so no enrolment commits meanwhile)
// and builds the organisation index around them.
func (sy *Syncer) settle(ctx context.Context, w writer, cands []orgCandidate, baseDepth int, iss *issues) (
	*orgIndex, []directory.Organisation, error) {
	held, err := w.EnrolledDomains(ctx)
	if err != nil {
		return nil, nil, err
	}
	report := func(dn, domain string) { sy.enrolledConflict(iss, dn, domain) }
	idx, orgs := buildIndex(cands, baseDepth, iss, enrolled{held: held, report: report})
	return idx, orgs, nil
}

// enrolledConflict records and logs that the entry dn lists a domain a
// self-enrolled organisation holds: it is not resolved here, an operator is.
func (sy *Syncer) enrolledConflict(iss *issues, dn, domain string) {
	iss.note(dn, enrolledConflict(domain))
	sy.log.Warn("directory sync: domain held by a self-enrolled organisation left with it", "dn", dn, "domain", domain)
}

func (sy *Syncer) orgAttrs() []string    { return append(sy.s.orgAttrs.all(), sy.s.idAttr) }
func (sy *Syncer) personAttrs() []string { return append(sy.s.personAttrs.all(), sy.s.idAttr) }

// readOrganisations reads and maps every organisation entry.
func (sy *Syncer) readOrganisations(ctx context.Context, c *client, iss *issues, tr *tracker) ([]orgCandidate, error) {
	m := mapper{sy.s}
	var cands []orgCandidate
	req := ldap.NewSearchRequest(sy.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		sy.s.OrgFilter, append(sy.orgAttrs(), tr.attrs()...), nil)
	err := c.search(ctx, req, func(e *ldap.Entry) error {
		tr.observe(e)
		p, err := parseDNPath(e.DN)
		if err != nil {
			iss.skip(e.DN, err.Error())
			return nil
		}
		cands = append(cands, m.organisation(recordFromEntry(e), p))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read organisations: %w", err)
	}
	return cands, nil
}

// tracker builds the position a full sync leaves for the next incremental
// one. observe runs on the reading side, wrote on the writing side; finish
// after both.
type tracker struct {
	st      syncState // Mode "" when the next sync must be full again
	started time.Time
	newest  time.Time // newest modifyTimestamp read
	people  []string  // source ids of the people written
}

// startPosition takes the position as of now: an RFC 4533 cookie where the
// server offers content synchronisation, else a polling position.
func (sy *Syncer) startPosition(ctx context.Context, c *client) *tracker {
	tr := &tracker{started: time.Now()}
	if sy.s.contentSync {
		cookie, err := c.currentCookie(ctx)
		if err == nil {
			tr.st = syncState{Mode: modeContentSync, Orgs: cookie, People: cookie}
			return tr
		}
		if sy.s.pollAttr == "" {
			sy.log.Warn("ldap sync: server offers no content synchronisation (RFC 4533); every sync will be full", "err", err)
			return tr
		}
		sy.log.Info("ldap sync: server offers no content synchronisation (RFC 4533); polling "+sy.s.pollAttr+" instead",
			"err", err)
	}
	switch sy.s.pollAttr {
	case attrTimestamp:
		tr.st = syncState{Mode: modePoll, Poll: &pollState{Attr: attrTimestamp}}
	case attrUSN:
		dc, err := c.readDC(ctx)
		if err != nil {
			sy.log.Warn("ldap sync: cannot read the domain controller's update sequence; every sync will be full", "err", err)
			return tr
		}
		tr.st = syncState{Mode: modePoll, Poll: dc.position()}
	}
	return tr
}

func (tr *tracker) timestamps() bool {
	return tr.st.Mode == modePoll && tr.st.Poll.Attr == attrTimestamp
}

// attrs are the attributes the tracker needs besides the mapped ones.
func (tr *tracker) attrs() []string {
	if tr.timestamps() {
		return []string{attrTimestamp}
	}
	return nil
}

func (tr *tracker) observe(e *ldap.Entry) {
	if tr.timestamps() {
		tr.newest = newer(tr.newest, e)
	}
}

func (tr *tracker) wrote(people []directory.Person) {
	if tr.timestamps() {
		for _, p := range people {
			tr.people = append(tr.people, p.SourceID)
		}
	}
}

// savePosition stores the position the tracker built, or none.
func (sy *Syncer) savePosition(ctx context.Context, w writer, tr *tracker, orgs []directory.Organisation) error {
	if tr.st.Mode == "" {
		return w.SaveState(ctx, StateName, "")
	}
	tr.st.Fingerprint = sy.s.fingerprint()
	if tr.timestamps() {
		if tr.newest.IsZero() && len(orgs)+len(tr.people) > 0 {
			sy.log.Warn("ldap sync: entries come without " + attrTimestamp + "; every sync will be full")
			return w.SaveState(ctx, StateName, "")
		}
		l := idLists{People: tr.people}
		for _, o := range orgs {
			l.Orgs = append(l.Orgs, o.SourceID)
		}
		l.normalise()
		raw, digest, err := l.encode()
		if err != nil {
			return err
		}
		if err := w.SaveState(ctx, idsStateName, raw); err != nil {
			return err
		}
		tr.st.Poll.Since = nextSince(time.Time{}, tr.newest, time.Since(tr.started))
		tr.st.Poll.IDs = digest
	}
	enc, err := tr.st.encode()
	if err != nil {
		return err
	}
	return w.SaveState(ctx, StateName, enc)
}

func putOrganisations(ctx context.Context, w writer, orgs []directory.Organisation) error {
	for start := 0; start < len(orgs); start += batchSize {
		if err := w.PutOrganisations(ctx, orgs[start:min(start+batchSize, len(orgs))]); err != nil {
			return err
		}
	}
	return nil
}

// producer calls emit for each person record of a source until done or error.
type producer func(ctx context.Context, emit func(record) error) error

// streamPeople maps the producer's records in one goroutine and writes them in
// batches in this one, so reading LDAP and writing the database overlap. Either
// side's failure stops the other.
// wrote, when not nil, is called with each batch written.
func (sy *Syncer) streamPeople(ctx context.Context, w writer, run *directory.SyncRun, iss *issues, idx *orgIndex,
	produce producer, wrote func([]directory.Person)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []directory.Person, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		errc <- sy.mapPeople(ctx, idx, iss, produce, batches)
	}()
	for batch := range batches {
		if err := putPeople(ctx, w, batch); err != nil {
			cancel()
			for range batches { // let the producer finish
			}
			<-errc
			return err
		}
		run.People += len(batch)
		if wrote != nil {
			wrote(batch)
		}
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("read people: %w", err)
	}
	return nil
}

func (sy *Syncer) mapPeople(ctx context.Context, idx *orgIndex, iss *issues, produce producer, out chan<- []directory.Person) error {
	m := mapper{sy.s}
	find := func(p dnPath) (orgRef, bool, error) { ref, ok := idx.nearest(p); return ref, ok, nil }
	seen := make(map[[sha1.Size]byte]struct{})
	batch := make([]directory.Person, 0, batchSize)
	read := 0
	send := func() error {
		read += len(batch)
		sy.batchRead(read)
		select {
		case out <- batch:
			batch = make([]directory.Person, 0, batchSize)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := produce(ctx, func(r record) error {
		per, ok, _ := placePerson(m, r, find, iss)
		if !ok {
			return nil
		}
		h := sha1.Sum([]byte(per.SourceID))
		if _, dup := seen[h]; dup {
			iss.skip(r.dn, "another entry has the same id "+per.SourceID)
			return nil
		}
		seen[h] = struct{}{}
		if batch = append(batch, per); len(batch) == batchSize {
			return send()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = send()
	}
	return err
}
