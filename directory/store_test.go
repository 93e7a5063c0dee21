package directory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }

func org(src, name string, domains ...string) directory.Organisation {
	return directory.Organisation{SourceID: src, SourceDN: "o=" + name, Name: name, Domains: domains}
}

func person(src, orgSrc, name, mail string) directory.Person {
	return directory.Person{SourceID: src, OrganisationID: directory.OrganisationID(orgSrc), DisplayName: name, Mail: mail}
}

func write(t *testing.T, s *directory.Store, full bool, orgs []directory.Organisation, people []directory.Person) {
	t.Helper()
	err := s.Write(context.Background(), full, func(w *directory.Writer) error {
		if err := w.PutOrganisations(context.Background(), orgs); err != nil {
			return err
		}
		return w.PutPeople(context.Background(), people)
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestFullWriteReplacesAndKeepsIDs(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true,
			[]directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl"), org("u2", "Gemeente Zeist", "zeist.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen", "zoe.jansen@utrecht.nl"), person("p2", "u2", "Jan de Vries", "jan@zeist.nl")})
		gen1, _ := s.Generation(ctx)

		// Second full sync: Zeist gone, Utrecht renamed with another domain, p2 gone.
		write(t, s, true,
			[]directory.Organisation{org("u1", "Gemeente Utrecht (stad)", "utrecht.nl", "stad.utrecht.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen-Smit", "zoe.jansen@utrecht.nl")})
		gen2, _ := s.Generation(ctx)
		if gen2 <= gen1 {
			t.Errorf("generation did not grow: %d then %d", gen1, gen2)
		}
		got, err := s.Organisation(ctx, directory.OrganisationID("u1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Gemeente Utrecht (stad)" || !cmp.Equal(got.Domains, []string{"stad.utrecht.nl", "utrecht.nl"}) {
			t.Errorf("organisation after resync = %+v", got)
		}
		zeist, err := s.Organisation(ctx, directory.OrganisationID("u2"))
		if err != nil || zeist.Status != directory.StatusRemoved || len(zeist.Domains) != 0 {
			t.Errorf("removed organisation = %+v, %v; want status removed, no domains", zeist, err)
		}
		counts, _ := s.Counts(ctx)
		if diff := cmp.Diff(directory.Counts{Organisations: 1, Domains: 2, People: 1}, counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})
}

func TestFailedWriteLeavesDirectoryUnchanged(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen", "zoe@utrecht.nl")})
		boom := errors.New("ldap died")
		err := s.Write(ctx, true, func(w *directory.Writer) error {
			if err := w.PutOrganisations(ctx, []directory.Organisation{org("x", "Other", "other.nl")}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Write error = %v, want %v", err, boom)
		}
		counts, _ := s.Counts(ctx)
		if diff := cmp.Diff(directory.Counts{Organisations: 1, Domains: 1, People: 1}, counts); diff != "" {
			t.Errorf("counts after failed write (-want +got):\n%s", diff)
		}
	})
}

func TestIncrementalWrite(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl"), org("u2", "Gemeente Zeist", "zeist.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen", "zoe@utrecht.nl"), person("p2", "u2", "Jan", "jan@zeist.nl")})
		err := s.Write(ctx, false, func(w *directory.Writer) error {
			if err := w.PutOrganisations(ctx, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl", "u.nl")}); err != nil {
				return err
			}
			if err := w.PutPeople(ctx, []directory.Person{person("p3", "u1", "Piet", "piet@u.nl")}); err != nil {
				return err
			}
			if n, err := w.DeletePeople(ctx, []string{"p1", "nope"}); err != nil || n != 1 {
				t.Errorf("DeletePeople = %d, %v; want 1", n, err)
			}
			if n, err := w.RemoveOrganisations(ctx, []string{"u2"}); err != nil || n != 1 {
				t.Errorf("RemoveOrganisations = %d, %v; want 1", n, err)
			}
			return w.SaveState(ctx, "ldap", "cookie-1")
		})
		if err != nil {
			t.Fatal(err)
		}
		counts, _ := s.Counts(ctx)
		if diff := cmp.Diff(directory.Counts{Organisations: 1, Domains: 2, People: 1}, counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if st, _ := s.State(ctx, "ldap"); st != "cookie-1" {
			t.Errorf("State = %q, want cookie-1", st)
		}
	})
}

func TestDomainUniqueAcrossCommunity(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")}, nil)
		err := s.Write(ctx, false, func(w *directory.Writer) error {
			return w.PutOrganisations(ctx, []directory.Organisation{org("u2", "Impostor", "utrecht.nl")})
		})
		if !errors.Is(err, directory.ErrDomainTaken) {
			t.Fatalf("claiming a taken domain: %v, want ErrDomainTaken", err)
		}
	})
}

func TestOrganisationForDomain(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl"),
			org("u2", "Wijkteam", "wijk.utrecht.nl")}, nil)
		tests := []struct {
			domain string
			want   string
			match  directory.DomainMatch
		}{
			{"utrecht.nl", "Gemeente Utrecht", directory.ExactMatch},
			{"mail.utrecht.nl", "Gemeente Utrecht", directory.SubdomainMatch},
			{"wijk.utrecht.nl", "Wijkteam", directory.ExactMatch},
			{"a.wijk.utrecht.nl", "Wijkteam", directory.SubdomainMatch},
			{"notutrecht.nl", "", directory.NoMatch},
			{"nl", "", directory.NoMatch},
		}
		for _, tc := range tests {
			got, m, err := s.OrganisationForDomain(ctx, tc.domain)
			if tc.want == "" {
				if !errors.Is(err, directory.ErrNotFound) {
					t.Errorf("%s: got %q, %v; want ErrNotFound", tc.domain, got.Name, err)
				}
				continue
			}
			if err != nil || got.Name != tc.want || m != tc.match {
				t.Errorf("%s: got %q, %v, %v; want %q, %v", tc.domain, got.Name, m, err, tc.want, tc.match)
			}
		}
	})
}

func TestSyncRunsRecorded(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		if _, err := s.LastRun(ctx); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("LastRun on empty = %v, want ErrNotFound", err)
		}
		id, err := s.StartRun(ctx, directory.RunFull, "ldap://ldap.test")
		if err != nil {
			t.Fatal(err)
		}
		issues := []directory.SyncIssue{{DN: "cn=x,o=y", Reason: "no organisation above"}}
		if err := s.FinishRun(ctx, directory.SyncRun{ID: id, Outcome: directory.OutcomeFailed, Error: "ldap: connection lost",
			People: 3, Skipped: 1, Issues: issues}); err != nil {
			t.Fatal(err)
		}
		run, err := s.LastRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if run.Outcome != directory.OutcomeFailed || run.Error != "ldap: connection lost" || run.FinishedAt == nil ||
			run.People != 3 || !cmp.Equal(run.Issues, issues) {
			t.Errorf("LastRun = %+v", run)
		}
	})
}

// An incremental write that changes nothing must not make every process reload.
func TestEmptyIncrementalKeepsGeneration(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := directory.NewStore(db.DB, fixedNow)
		write(t, s, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")}, nil)
		before, _ := s.Generation(ctx)
		err := s.Write(ctx, false, func(w *directory.Writer) error {
			if _, err := w.DeletePeople(ctx, []string{"nobody"}); err != nil {
				return err
			}
			return w.SaveState(ctx, "ldap", "cookie")
		})
		if err != nil {
			t.Fatal(err)
		}
		if after, _ := s.Generation(ctx); after != before {
			t.Errorf("generation moved from %d to %d on a write that changed nothing", before, after)
		}
		write(t, s, false, nil, []directory.Person{person("p1", "u1", "Jan", "jan@utrecht.nl")})
		if after, _ := s.Generation(ctx); after <= before {
			t.Errorf("generation did not move on a real change (%d → %d)", before, after)
		}
	})
}
