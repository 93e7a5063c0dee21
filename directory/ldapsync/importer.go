package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/ldif"
)

// importLDIF reads the LDIF twice: organisations first (so that domain conflicts
// are settled and every person's organisation is known), then people, streamed
// into the same full-replacement transaction a full sync uses.
func (sy *Syncer) importLDIF(ctx context.Context, r io.Reader, run *directory.SyncRun, iss *issues) error {
	isOrg, err := compileMatcher(sy.s.OrgFilter)
	if err != nil {
		return err
	}
	isPerson, err := compileMatcher(sy.s.PersonFilter)
	if err != nil {
		return err
	}
	rs, cleanup, err := rewindable(r)
	if err != nil {
		return err
	}
	defer cleanup()
	m := mapper{sy.s}
	var cands []orgCandidate
	err = eachRecord(ctx, rs, iss, func(r record) error {
		if !isOrg(r.attrs) {
			return nil
		}
		p, err := parseDNPath(r.dn)
		if err != nil {
			iss.skip(r.dn, err.Error())
			return nil
		}
		cands = append(cands, m.organisation(r, p))
		return nil
	})
	if err != nil {
		return err
	}
	return sy.store.Write(ctx, true, func(w *directory.Writer) error {
		idx, orgs, err := sy.settle(ctx, w, cands, 0, iss)
		if err != nil {
			return err
		}
		if err := putOrganisations(ctx, w, orgs); err != nil {
			return err
		}
		run.Organisations = len(orgs)
		people := func(ctx context.Context, emit func(record) error) error {
			if err := rs.rewind(); err != nil {
				return err
			}
			return eachRecord(ctx, rs, nil, func(r record) error {
				if isPerson(r.attrs) {
					return emit(r)
				}
				return nil
			})
		}
		if err := sy.streamPeople(ctx, w, run, iss, idx, people, nil); err != nil {
			return err
		}
		// The directory no longer reflects LDAP: the next sync must be full.
		return w.SaveState(ctx, StateName, "")
	})
}

// eachRecord calls fn for every entry of the LDIF. Malformed records are
// reported in iss (when not nil) and skipped.
func eachRecord(ctx context.Context, r io.Reader, iss *issues, fn func(record) error) error {
	rd := ldif.NewReader(r)
	for n := 0; ; n++ {
		if n%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var rerr *ldif.RecordError
		if errors.As(err, &rerr) {
			if iss != nil {
				iss.skip(recordName(rerr), rerr.Error())
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read LDIF: %w", err)
		}
		if err := fn(record{dn: e.DN, attrs: e.Attributes}); err != nil {
			return err
		}
	}
}

func recordName(e *ldif.RecordError) string {
	if e.DN != "" {
		return e.DN
	}
	return fmt.Sprintf("(line %d)", e.Line)
}

// rewinder is an input that can be read again from its start.
type rewinder struct {
	io.ReadSeeker
	start int64
}

func (r *rewinder) rewind() error {
	if _, err := r.Seek(r.start, io.SeekStart); err != nil {
		return fmt.Errorf("rewind LDIF: %w", err)
	}
	return nil
}

// rewindable returns r itself when it can seek, else a temporary copy of it.
func rewindable(r io.Reader) (*rewinder, func(), error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if pos, err := rs.Seek(0, io.SeekCurrent); err == nil {
			return &rewinder{ReadSeeker: rs, start: pos}, func() {}, nil
		}
	}
	f, err := os.CreateTemp("", "veilig-import-*.ldif")
	if err != nil {
		return nil, nil, fmt.Errorf("ldapsync: spool LDIF: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("ldapsync: spool LDIF: %w", err)
	}
	rw := &rewinder{ReadSeeker: f}
	if err := rw.rewind(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return rw, cleanup, nil
}
