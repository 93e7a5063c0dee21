package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func enrolledOrg(name string, domains ...string) directory.Organisation {
	return directory.Organisation{Name: name, KvK: "12345678", Domains: domains}
}

func addEnrolled(t *testing.T, s *directory.Store, o directory.Organisation) string {
	t.Helper()
	id, err := s.AddEnrolledOrganisation(context.Background(), o)
	if err != nil {
		t.Fatalf("AddEnrolledOrganisation(%s): %v", o.Name, err)
	}
	return id
}

func TestAddEnrolledOrganisation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")}, nil)
		before, _ := s.Generation(ctx)
		id := addEnrolled(t, s, enrolledOrg(" Partner B.V. ", "Partner.TEST.", "café.test", "partner.test"))
		if after, _ := s.Generation(ctx); after <= before {
			t.Errorf("generation did not move (%d → %d): other processes would not see the organisation", before, after)
		}
		got, err := s.Organisation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := directory.Organisation{ID: id, SourceID: "enrolment:" + id, Name: "Partner B.V.", KvK: "12345678",
			Status: directory.StatusActive, Origin: directory.OriginEnrolment,
			Domains: []string{"partner.test", "xn--caf-dma.test"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("enrolled organisation (-want +got):\n%s", diff)
		}
		if u, _ := s.Organisation(ctx, directory.OrganisationID("u1")); u.Origin != directory.OriginDirectory {
			t.Errorf("synced organisation origin = %q, want %q", u.Origin, directory.OriginDirectory)
		}
		tests := []struct {
			name string
			org  directory.Organisation
			want error
		}{
			{"domain of a synced organisation", enrolledOrg("Impostor", "new.test", "UTRECHT.nl"), directory.ErrDomainTaken},
			{"domain of an enrolled organisation", enrolledOrg("Impostor", "partner.test"), directory.ErrDomainTaken},
			{"subdomain of a synced organisation's", enrolledOrg("Impostor", "post.utrecht.nl"), directory.ErrDomainTaken},
			{"invalid domain", enrolledOrg("Impostor", "localhost"), directory.ErrInvalidDomain},
			{"no domain", enrolledOrg("Impostor"), directory.ErrInvalid},
			{"no name", enrolledOrg("  ", "free.test"), directory.ErrInvalid},
		}
		for _, tc := range tests {
			if _, err := s.AddEnrolledOrganisation(ctx, tc.org); !errors.Is(err, tc.want) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
			}
		}
		counts, _ := s.Counts(ctx)
		if diff := cmp.Diff(directory.Counts{Organisations: 2, Domains: 3}, counts); diff != "" {
			t.Errorf("counts after refused enrolments (-want +got):\n%s", diff)
		}
	})
}

func TestDomainTakenAndCommunityDomains(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl"),
			org("u2", "Gemeente Zeist", "zeist.nl")}, nil)
		id := addEnrolled(t, s, enrolledOrg("Partner", "partner.test"))
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")}, nil) // Zeist leaves
		tests := []struct {
			domain string
			want   bool
		}{
			{"utrecht.nl", true},
			{"UTRECHT.NL.", true},
			{"partner.test", true},
			{"zeist.nl", false}, // its organisation was removed
			{"nowhere.test", false},
			{"mail.utrecht.nl", true}, // mail to it already routes to Utrecht
			{"sub.partner.test", true},
		}
		for _, tc := range tests {
			if got, err := s.DomainTaken(ctx, tc.domain); err != nil || got != tc.want {
				t.Errorf("DomainTaken(%q) = %v, %v; want %v", tc.domain, got, err, tc.want)
			}
		}
		if _, err := s.DomainTaken(ctx, "localhost"); !errors.Is(err, directory.ErrInvalidDomain) {
			t.Errorf("DomainTaken(localhost) error = %v, want ErrInvalidDomain", err)
		}
		refs, err := s.CommunityDomains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []directory.DomainRef{
			{Domain: "partner.test", OrganisationID: id, Origin: directory.OriginEnrolment},
			{Domain: "utrecht.nl", OrganisationID: directory.OrganisationID("u1"), Origin: directory.OriginDirectory},
		}
		if diff := cmp.Diff(want, refs); diff != "" {
			t.Errorf("CommunityDomains (-want +got):\n%s", diff)
		}
	})
}

// Full and incremental directory writes never touch an enrolled organisation.
func TestWritesLeaveEnrolledOrganisations(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen", "zoe@utrecht.nl")})
		id := addEnrolled(t, s, enrolledOrg("Partner", "partner.test", "partner2.test"))

		write(t, s, true, []directory.Organisation{org("u2", "Gemeente Zeist", "zeist.nl")}, nil)
		err := s.Write(ctx, false, func(w *directory.Writer) error {
			if _, err := w.RemoveOrganisations(ctx, []string{"enrolment:" + id, id}); err != nil {
				return err
			}
			return w.PutOrganisations(ctx, []directory.Organisation{org("enrolment:"+id, "Overwrite", "x.test")})
		})
		if !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("writing a directory entry with an enrolment source id: %v, want ErrInvalid", err)
		}
		err = s.Write(ctx, false, func(w *directory.Writer) error {
			n, err := w.RemoveOrganisations(ctx, []string{"enrolment:" + id, id, "u2"})
			if n != 1 {
				t.Errorf("RemoveOrganisations removed %d, want 1 (only u2)", n)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Organisation(ctx, id)
		if err != nil || got.Status != directory.StatusActive || !cmp.Equal(got.Domains, []string{"partner.test", "partner2.test"}) {
			t.Errorf("enrolled organisation after syncs = %+v, %v; want active with both domains", got, err)
		}
		if u1, _ := s.Organisation(ctx, directory.OrganisationID("u1")); u1.Status != directory.StatusRemoved {
			t.Errorf("synced organisation left out of a full write: status %q, want removed", u1.Status)
		}
	})
}

// The in-memory view serves an enrolled organisation exactly like a synced
// one, in another process too.
func TestLiveServesEnrolledOrganisations(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		writer := directory.NewStore(db.DB, fixedNow)
		write(t, writer, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")}, nil)
		live := directory.NewLive(directory.NewStore(db.DB, fixedNow), testenv.Discard(), fixedNow)
		if _, err := live.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		id := addEnrolled(t, writer, enrolledOrg("Partnerbedrijf Zoëtermeer", "partner.test"))
		if loaded, err := live.Refresh(ctx); err != nil || !loaded {
			t.Fatalf("Refresh after an enrolment = %v, %v; want a load", loaded, err)
		}
		snap := live.Snapshot()
		partner := &directory.OrgRef{ID: id, Name: "Partnerbedrijf Zoëtermeer"}
		tests := []struct {
			addr, route, reason string
			org                 *directory.OrgRef
		}{
			{"jan@partner.test", directory.RouteInternal, directory.ReasonCommunityDomain, partner},
			{"jan@mail.PARTNER.test", directory.RouteInternal, directory.ReasonCommunitySubdomain, partner},
			{"jan@other.test", directory.RouteExternal, directory.ReasonNotInCommunity, nil},
		}
		for _, tc := range tests {
			r := snap.Resolve([]string{tc.addr})[0]
			if r.Route != tc.route || r.Reason != tc.reason || !cmp.Equal(r.Organisation, tc.org) {
				t.Errorf("Resolve(%q) = %+v; want %s, %s, %v", tc.addr, r, tc.route, tc.reason, tc.org)
			}
		}
		hits := snap.Index.Search("zoetermeer", 10)
		if len(hits) != 1 || hits[0].Record.ID != id || !strings.Contains(strings.Join(hits[0].Record.Domains, ","), "partner.test") {
			t.Errorf("search for the enrolled organisation = %+v", hits)
		}
	})
}

func TestAddEnrolledOrganisationKeepsAGivenID(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		o := enrolledOrg("Partner", "partner.test")
		o.ID = "5f0c1c52-8a47-4d8e-9f54-1f3a0c6b2d11"
		if id := addEnrolled(t, s, o); id != o.ID {
			t.Errorf("id %q, want the given %q", id, o.ID)
		}
		o.Domains, o.ID = []string{"other.test"}, "not-a-uuid"
		if _, err := s.AddEnrolledOrganisation(ctx, o); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("non-UUID id: %v, want ErrInvalid", err)
		}
	})
}
