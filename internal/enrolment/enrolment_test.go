package enrolment

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/testenv"
)

func TestValidate(t *testing.T) {
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("d%d.example.nl", i)
	}
	tests := []struct {
		name   string
		edit   func(*NewEnrolment)
		fields []string // nil: valid
	}{
		{"valid with KvK", func(*NewEnrolment) {}, nil},
		{"valid with OIN", func(n *NewEnrolment) { n.KvK, n.OIN = "", "00000001234567890000" }, nil},
		{"empty name", func(n *NewEnrolment) { n.OrganisationName = "  " }, []string{"organisation.name"}},
		{"name too long", func(n *NewEnrolment) { n.OrganisationName = strings.Repeat("é", 201) }, []string{"organisation.name"}},
		{"name of 200 characters", func(n *NewEnrolment) { n.OrganisationName = strings.Repeat("é", 200) }, nil},
		{"control character in name", func(n *NewEnrolment) { n.OrganisationName = "Gemeente\x00X" }, []string{"organisation.name"}},
		{"KvK and OIN", func(n *NewEnrolment) { n.OIN = "00000001234567890000" }, []string{"organisation"}},
		{"neither KvK nor OIN", func(n *NewEnrolment) { n.KvK = "" }, []string{"organisation"}},
		{"KvK of 7 digits", func(n *NewEnrolment) { n.KvK = "1234567" }, []string{"organisation.kvk"}},
		{"KvK with letters", func(n *NewEnrolment) { n.KvK = "1234567a" }, []string{"organisation.kvk"}},
		{"OIN of 19 digits", func(n *NewEnrolment) { n.KvK, n.OIN = "", "0000000123456789000" }, []string{"organisation.oin"}},
		{"no domains", func(n *NewEnrolment) { n.Domains = nil }, []string{"admin.email", "domains"}},
		{"21 domains", func(n *NewEnrolment) { n.Domains = many; n.AdminEmail = "an@d0.example.nl" }, []string{"admin.email", "domains"}},
		{"invalid domain", func(n *NewEnrolment) { n.Domains = append(n.Domains, "bad_domain..nl") }, []string{"domains[1]"}},
		{"single label", func(n *NewEnrolment) { n.Domains = append(n.Domains, "localhost") }, []string{"domains[1]"}},
		{"duplicate in other case", func(n *NewEnrolment) { n.Domains = append(n.Domains, "Voorbeeld.NL.") }, []string{"domains[1]"}},
		{"admin at another domain", func(n *NewEnrolment) { n.AdminEmail = "an@elders.nl" }, []string{"admin.email"}},
		{"admin address malformed", func(n *NewEnrolment) { n.AdminEmail = "An Beheer <an@voorbeeld.nl>" }, []string{"admin.email"}},
		{"admin address without @", func(n *NewEnrolment) { n.AdminEmail = "voorbeeld.nl" }, []string{"admin.email"}},
		{"empty admin name", func(n *NewEnrolment) { n.AdminName = "" }, []string{"admin.name"}},
		{"national phone", func(n *NewEnrolment) { n.AdminPhone = "0612345678" }, []string{"admin.phone"}},
		{"phone too short", func(n *NewEnrolment) { n.AdminPhone = "+3161" }, []string{"admin.phone"}},
		{"phone with spaces", func(n *NewEnrolment) { n.AdminPhone = "+31 6 12345678" }, []string{"admin.phone"}},
		{"everything wrong", func(n *NewEnrolment) { *n = NewEnrolment{} }, []string{"admin.email", "admin.name", "admin.phone", "domains", "organisation", "organisation.name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := valid("voorbeeld.nl")
			tc.edit(&n)
			_, err := normalise(n)
			if tc.fields == nil && err != nil {
				t.Fatalf("normalise: %v", err)
			}
			if tc.fields != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("normalise: %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(tc.fields, fieldNames(err)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormaliseIDN(t *testing.T) {
	n := valid("Café.Example.NL", "b.example.nl")
	n.AdminEmail = "an@CAFÉ.example.nl"
	got, err := normalise(n)
	if err != nil {
		t.Fatal(err)
	}
	if got.Domains[0] != "xn--caf-dma.example.nl" {
		t.Errorf("domain = %q, want an A-label", got.Domains[0])
	}
	if got.AdminEmail != "an@"+got.Domains[0] {
		t.Errorf("admin e-mail = %q", got.AdminEmail)
	}
}

func TestCreateIssuesChallengesAndStoresNoSecretInClear(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{})
		c := e.create(t, valid("voorbeeld.nl", "Tweede.Voorbeeld.nl"), "192.0.2.7")
		if len(c.Challenges) != 2 {
			t.Fatalf("challenges = %d, want 2", len(c.Challenges))
		}
		seen := map[string]bool{c.StatusToken: true}
		for i, want := range []string{"voorbeeld.nl", "tweede.voorbeeld.nl"} {
			ch := c.Challenges[i]
			if ch.Domain != want || ch.Name != "_veilig-challenge."+want {
				t.Errorf("challenge %d = %+v", i, ch)
			}
			if raw, err := base64.RawURLEncoding.DecodeString(ch.Value); err != nil || len(raw) != 32 || seen[ch.Value] {
				t.Errorf("challenge value %q: not 256 fresh bits in base64url (%v)", ch.Value, err)
			}
			seen[ch.Value] = true
		}
		if raw, err := base64.RawURLEncoding.DecodeString(c.StatusToken); err != nil || len(raw) != 32 {
			t.Errorf("status token is not 256 bits in base64url: %v", err)
		}
		assertNotStored(t, db, c.StatusToken, "192.0.2.7")
		got, err := e.svc.Get(context.Background(), c.ID, c.StatusToken)
		if err != nil || got.Status != StatusPending || got.Domains[0].Report != nil {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	})
}

// assertNotStored scans every column of every enrolment row for the secrets.
func assertNotStored(t *testing.T, db *database.DB, secrets ...string) {
	t.Helper()
	for _, table := range []string{"enrolments", "enrolment_domains"} {
		var rows []map[string]any
		if err := db.Table(table).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			for col, v := range row {
				for _, s := range secrets {
					if strings.Contains(fmt.Sprint(v), s) {
						t.Errorf("%s.%s holds a secret in clear", table, col)
					}
				}
			}
		}
	}
}

func TestGetNeedsTheStatusToken(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{})
		a := e.create(t, valid("a.example.nl"), "192.0.2.1")
		b := e.create(t, valid("b.example.nl"), "192.0.2.1")
		tests := []struct {
			name, id, token string
			want            error
		}{
			{"right token", a.ID, a.StatusToken, nil},
			{"no token", a.ID, "", ErrUnauthorized},
			{"wrong token", a.ID, a.StatusToken + "x", ErrUnauthorized},
			{"other enrolment's token", a.ID, b.StatusToken, ErrUnauthorized},
			{"huge token", a.ID, strings.Repeat("a", 10000), ErrUnauthorized},
			{"unknown id", "00000000-0000-0000-0000-000000000000", a.StatusToken, ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.svc.Get(context.Background(), tc.id, tc.token)
				if !errors.Is(err, tc.want) {
					t.Fatalf("Get: %v, want %v", err, tc.want)
				}
				if tc.want == nil && got.ID != a.ID {
					t.Errorf("Get returned %q", got.ID)
				}
			})
		}
	})
}

func TestVerifyLooksUpChallenges(t *testing.T) {
	tests := []struct {
		name         string
		publish      func(e *env, c Created)
		wantStatus   string
		wantVerified []bool
	}{
		{"all found", func(e *env, c Created) {
			e.resolver.publish(c.Challenges[0])
			e.resolver.publish(c.Challenges[1])
		}, StatusVerified, []bool{true, true}},
		{"none published", func(*env, Created) {}, StatusPending, []bool{false, false}},
		{"one of two", func(e *env, c Created) { e.resolver.publish(c.Challenges[1]) }, StatusPending, []bool{false, true}},
		{"wrong value next to others", func(e *env, c Created) {
			e.resolver.txt[c.Challenges[0].Name] = []string{"v=spf1 -all", "not-the-value"}
			e.resolver.publish(c.Challenges[1])
		}, StatusPending, []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
				e := newEnv(t, db, Config{})
				c := e.create(t, valid("a.example.nl", "b.example.nl"), "192.0.2.1")
				tc.publish(e, c)
				e.clock.Advance(time.Second)
				got, err := e.svc.Verify(context.Background(), c.ID, c.StatusToken)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Status != tc.wantStatus {
					t.Errorf("status = %q, want %q", got.Status, tc.wantStatus)
				}
				for i, d := range got.Domains {
					if (d.VerifiedAt != nil) != tc.wantVerified[i] || (d.Report != nil) != tc.wantVerified[i] {
						t.Errorf("%s: verified %v, report %v; want %v", d.Name, d.VerifiedAt, d.Report != nil, tc.wantVerified[i])
					}
					if _, saved := e.trust.reports[d.Name]; saved != tc.wantVerified[i] {
						t.Errorf("%s: report saved = %v", d.Name, saved)
					}
				}
			})
		})
	}
}

func TestTakenDomains(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		e.dir.taken["held.example.nl"] = true
		_, err := e.svc.Create(ctx, valid("free.example.nl", "held.example.nl"), "192.0.2.1")
		if !errors.Is(err, ErrDomainTaken) {
			t.Fatalf("claiming a held domain: %v, want ErrDomainTaken", err)
		}

		// Two unverified claims coexist; the first to verify wins.
		a := e.create(t, valid("shared.example.nl"), "192.0.2.1")
		b := e.create(t, valid("shared.example.nl"), "192.0.2.2")
		e.resolver.publish(a.Challenges[0])
		e.resolver.publish(b.Challenges[0])
		e.clock.Advance(time.Second)
		if _, err := e.svc.Verify(ctx, a.ID, a.StatusToken); err != nil {
			t.Fatalf("first verification: %v", err)
		}
		if _, err := e.svc.Verify(ctx, b.ID, b.StatusToken); !errors.Is(err, ErrDomainTaken) {
			t.Fatalf("second verification: %v, want ErrDomainTaken", err)
		}
		if _, err := e.svc.Create(ctx, valid("shared.example.nl"), "192.0.2.3"); !errors.Is(err, ErrDomainTaken) {
			t.Fatalf("claiming a verified domain: %v, want ErrDomainTaken", err)
		}
		if got, _ := e.svc.Get(ctx, b.ID, b.StatusToken); got.Domains[0].Report != nil {
			t.Error("the losing enrolment sees the winner's report")
		}

		// Once the winner expires, its claim blocks no one.
		e.clock.Advance(15 * 24 * time.Hour)
		if n, err := e.svc.Expire(ctx); err != nil || n != 2 {
			t.Fatalf("Expire = %d, %v; want 2", n, err)
		}
		c := e.create(t, valid("shared.example.nl"), "192.0.2.4")
		e.resolver.publish(c.Challenges[0])
		e.clock.Advance(time.Second)
		if got, err := e.svc.Verify(ctx, c.ID, c.StatusToken); err != nil || got.Status != StatusVerified {
			t.Fatalf("verification after expiry = %q, %v", got.Status, err)
		}
		if got, _ := e.svc.Get(ctx, a.ID, a.StatusToken); got.Status != StatusExpired || got.Domains[0].Report != nil {
			t.Errorf("expired enrolment: status %q, report shown %v", got.Status, got.Domains[0].Report != nil)
		}

		// A domain taken by an organisation after the claim is refused at verification.
		d := e.create(t, valid("later.example.nl"), "192.0.2.5")
		e.dir.taken["later.example.nl"] = true
		e.clock.Advance(time.Second)
		if _, err := e.svc.Verify(ctx, d.ID, d.StatusToken); !errors.Is(err, ErrDomainTaken) {
			t.Fatalf("verifying a domain taken meanwhile: %v, want ErrDomainTaken", err)
		}
	})
}

func TestCreationRateLimits(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		for i := range 5 {
			e.create(t, valid(fmt.Sprintf("c%d.example.nl", i)), "2001:db8::1")
			e.clock.Advance(time.Minute)
		}
		// The same /64 counts as the same client.
		_, err := e.svc.Create(ctx, valid("c5.example.nl"), "[2001:db8::2]:4711")
		var rl *RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.RetryAfter != 55*time.Minute {
			t.Fatalf("sixth creation: %v, want RateLimitError after 55m", err)
		}
		e.create(t, valid("c5.example.nl"), "192.0.2.9") // another client
		e.clock.Advance(55 * time.Minute)
		e.create(t, valid("c6.example.nl"), "2001:db8::1") // the first left the window

		for i := range 3 {
			e.create(t, valid("popular.example.nl"), fmt.Sprintf("198.51.100.%d", i))
		}
		_, err = e.svc.Create(ctx, valid("other.example.nl", "popular.example.nl"), "198.51.100.99")
		if !errors.As(err, &rl) || rl.RetryAfter != time.Hour {
			t.Fatalf("fourth claim of a domain: %v, want RateLimitError after 1h", err)
		}
		var n int64
		db.Table("enrolment_domains").Where("domain = ?", "other.example.nl").Count(&n)
		if n != 0 {
			t.Error("a refused creation left rows behind")
		}
	})
}

func TestVerifyCooldown(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		c := e.create(t, valid("a.example.nl"), "192.0.2.1")
		e.clock.Advance(time.Second)
		steps := []struct {
			advance time.Duration
			want    error
		}{
			{0, nil},
			{0, ErrRateLimited},
			{29 * time.Second, ErrRateLimited},
			{time.Second, nil},
		}
		for i, st := range steps {
			e.clock.Advance(st.advance)
			_, err := e.svc.Verify(ctx, c.ID, c.StatusToken)
			if !errors.Is(err, st.want) {
				t.Fatalf("verification %d: %v, want %v", i, err, st.want)
			}
		}
		if _, err := e.svc.Verify(ctx, c.ID, "wrong"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("verification with a wrong token: %v", err)
		}
	})
}

func TestApproveOnlyFromVerified(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		pending := e.create(t, valid("pending.example.nl"), "192.0.2.1")
		rejected := e.create(t, valid("rejected.example.nl"), "192.0.2.1")
		if _, err := e.svc.Reject(ctx, rejected.ID, "op-1", "onbekende organisatie"); err != nil {
			t.Fatal(err)
		}
		approved := e.verified(t, "approved.example.nl")
		if _, err := e.svc.Approve(ctx, approved.ID, "op-1"); err != nil {
			t.Fatal(err)
		}
		expired := e.create(t, valid("expired.example.nl"), "192.0.2.1")
		db.Exec("UPDATE enrolments SET status = 'expired' WHERE id = ?", expired.ID)
		tests := []struct {
			name, id string
			want     error
		}{
			{"pending", pending.ID, ErrConflict},
			{"rejected", rejected.ID, ErrConflict},
			{"approved", approved.ID, ErrConflict},
			{"expired", expired.ID, ErrConflict},
			{"unknown", "00000000-0000-0000-0000-000000000000", ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := e.svc.Approve(ctx, tc.id, "op-1"); !errors.Is(err, tc.want) {
					t.Fatalf("Approve: %v, want %v", err, tc.want)
				}
			})
		}
		if e.dir.adds != 1 || e.accounts.creates != 1 {
			t.Errorf("organisations added %d, admins created %d; want 1 each", e.dir.adds, e.accounts.creates)
		}
	})
}

func TestApproveCreatesOrganisationAdminAndPins(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{PublicURL: "https://veilig.example.test/"})
		e.checker.reports["b.example.nl"] = weakReport()
		c := e.verified(t, "a.example.nl", "b.example.nl")
		got, err := e.svc.Approve(ctx, c.ID, "op-7")
		if err != nil {
			t.Fatalf("Approve: %v", err)
		}
		if got.Status != StatusApproved || got.DecidedBy != "op-7" || got.DecidedAt == nil || got.OrganisationID == "" {
			t.Fatalf("approved enrolment = %+v", got)
		}
		org := e.dir.orgs[got.OrganisationID]
		if org.Name != "Gemeente Voorbeeld" || org.KvK != "12345678" ||
			!cmp.Equal(org.Domains, []string{"a.example.nl", "b.example.nl"}) {
			t.Errorf("organisation = %+v", org)
		}
		if _, ok := e.accounts.admins[got.OrganisationID+"|an@a.example.nl"]; !ok {
			t.Errorf("first admin not created: %v", e.accounts.admins)
		}
		wantPins := map[string]pinCall{
			"a.example.nl": {"a.example.nl", got.OrganisationID, "dane", []string{"mx1.example.test", "mx2.example.test"}},
			"b.example.nl": {"b.example.nl", got.OrganisationID, "pkix", []string{"mx.weak.test"}},
		}
		if diff := cmp.Diff(wantPins, e.trust.pins); diff != "" {
			t.Errorf("pins (-want +got):\n%s", diff)
		}
		if len(e.mailer.sent) != 1 {
			t.Fatalf("mails = %d, want 1", len(e.mailer.sent))
		}
		m := e.mailer.sent[0]
		if !cmp.Equal(m.To, []string{"an@a.example.nl"}) || strings.Contains(m.Text, c.StatusToken) ||
			!strings.Contains(m.Text, "https://veilig.example.test/api/v1/enrolments/"+c.ID+"/activate") {
			t.Errorf("approval mail = %+v", m)
		}
	})
}

func TestInterruptedApprovalCompletesOnRerun(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		c := e.verified(t, "a.example.nl")
		e.accounts.createFail = errors.New("fake: accounts down")
		if _, err := e.svc.Approve(ctx, c.ID, "op-1"); err == nil {
			t.Fatal("Approve succeeded with accounts down")
		}
		if s := e.status(t, c.ID); s != StatusVerified {
			t.Fatalf("status after failed approval = %q", s)
		}
		if _, err := e.svc.Reject(ctx, c.ID, "op-2", "te laat"); !errors.Is(err, ErrConflict) {
			t.Fatalf("Reject during approval: %v, want ErrConflict", err)
		}
		e.clock.Advance(30 * 24 * time.Hour)
		if n, _ := e.svc.Expire(ctx); n != 0 {
			t.Fatalf("Expire ended an enrolment under approval")
		}
		e.accounts.createFail = nil
		got, err := e.svc.Approve(ctx, c.ID, "op-2")
		if err != nil || got.Status != StatusApproved || got.DecidedBy != "op-1" {
			t.Fatalf("re-run = %q by %q, %v", got.Status, got.DecidedBy, err)
		}
		if e.dir.adds != 1 || len(e.accounts.admins) != 1 || len(e.mailer.sent) != 1 {
			t.Errorf("adds %d, admins %d, mails %d; want 1 each", e.dir.adds, len(e.accounts.admins), len(e.mailer.sent))
		}
	})
}

func TestAutoAdmission(t *testing.T) {
	tests := []struct {
		name       string
		autoAdmit  bool
		floor      string
		report     mailcheck.Report
		wantStatus string
	}{
		{"meets the default floor", true, "", goodReport(), StatusApproved},
		{"misses the default floor", true, "", weakReport(), StatusVerified},
		{"check could not run", true, "", mailcheck.Report{Status: mailcheck.StatusError}, StatusVerified},
		{"meets a lower floor", true, "dkim|dmarc|starttls|spf|all", func() mailcheck.Report {
			r := weakReport()
			r.Status = mailcheck.StatusPass
			return r
		}(), StatusApproved},
		{"not enabled", false, "", goodReport(), StatusVerified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
				e := newEnv(t, db, Config{AutoAdmit: tc.autoAdmit, Floor: tc.floor})
				e.checker.reports["b.example.nl"] = tc.report
				c := e.verified(t, "a.example.nl", "b.example.nl")
				got, err := e.svc.Get(context.Background(), c.ID, c.StatusToken)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.wantStatus {
					t.Fatalf("status = %q, want %q", got.Status, tc.wantStatus)
				}
				if tc.wantStatus == StatusApproved && got.DecidedBy != DecidedByAuto {
					t.Errorf("decided by %q, want %q", got.DecidedBy, DecidedByAuto)
				}
			})
		})
	}
}

func TestReject(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		c := e.create(t, valid("a.example.nl"), "192.0.2.1")
		if _, err := e.svc.Reject(ctx, c.ID, "op-1", " "); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Reject without reason: %v, want ErrInvalid", err)
		}
		got, err := e.svc.Reject(ctx, c.ID, "op-1", "KvK-nummer hoort niet bij deze organisatie")
		if err != nil || got.Status != StatusRejected || got.DecisionReason != "KvK-nummer hoort niet bij deze organisatie" {
			t.Fatalf("Reject = %+v, %v", got, err)
		}
		if len(e.mailer.sent) != 1 || !strings.Contains(e.mailer.sent[0].Text, "KvK-nummer hoort niet") {
			t.Errorf("rejection mail = %+v", e.mailer.sent)
		}
		if _, err := e.svc.Reject(ctx, c.ID, "op-1", "nogmaals"); !errors.Is(err, ErrConflict) {
			t.Fatalf("second Reject: %v, want ErrConflict", err)
		}
		if _, err := e.svc.Verify(ctx, c.ID, c.StatusToken); !errors.Is(err, ErrConflict) {
			t.Fatalf("Verify after rejection: %v, want ErrConflict", err)
		}
	})
}

func TestActivateOnce(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		c := e.verified(t, "a.example.nl")
		const pw = "correct horse battery staple"
		if err := e.svc.Activate(ctx, c.ID, c.StatusToken, pw); !errors.Is(err, ErrConflict) {
			t.Fatalf("Activate before approval: %v, want ErrConflict", err)
		}
		got, err := e.svc.Approve(ctx, c.ID, "op-1")
		if err != nil {
			t.Fatal(err)
		}
		userID := e.accounts.admins[got.OrganisationID+"|an@a.example.nl"]
		steps := []struct {
			name, token, password string
			want                  error
		}{
			{"wrong token", "wrong", pw, ErrUnauthorized},
			{"password refused", c.StatusToken, "short", nil},
			{"activation", c.StatusToken, pw, nil},
			{"second activation", c.StatusToken, "another long password", ErrConflict},
		}
		for _, st := range steps {
			err := e.svc.Activate(ctx, c.ID, st.token, st.password)
			if st.name == "password refused" {
				if err == nil {
					t.Fatal("a refused password activated")
				}
				continue
			}
			if !errors.Is(err, st.want) {
				t.Fatalf("%s: %v, want %v", st.name, err, st.want)
			}
		}
		if e.accounts.passwords[userID] != pw {
			t.Errorf("password of %s = %q", userID, e.accounts.passwords[userID])
		}
		after, err := e.svc.Get(ctx, c.ID, c.StatusToken)
		if err != nil || !after.Activated {
			t.Fatalf("Get after activation = %+v, %v", after, err)
		}
		assertNotStored(t, db, c.StatusToken)
	})
}

func TestExpire(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{ExpireAfter: 48 * time.Hour})
		old := e.create(t, valid("old.example.nl"), "192.0.2.1")
		done := e.verified(t, "done.example.nl")
		if _, err := e.svc.Approve(ctx, done.ID, "op-1"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(24 * time.Hour)
		fresh := e.create(t, valid("fresh.example.nl"), "192.0.2.1")
		e.clock.Advance(24 * time.Hour)
		n, err := e.svc.Expire(ctx)
		if err != nil || n != 1 {
			t.Fatalf("Expire = %d, %v; want 1", n, err)
		}
		want := map[string]string{old.ID: StatusExpired, done.ID: StatusApproved, fresh.ID: StatusPending}
		for id, status := range want {
			if got := e.status(t, id); got != status {
				t.Errorf("%s: status %q, want %q", id, got, status)
			}
		}
		if _, err := e.svc.Verify(ctx, old.ID, old.StatusToken); !errors.Is(err, ErrConflict) {
			t.Errorf("Verify of an expired enrolment: %v, want ErrConflict", err)
		}
	})
}

func TestList(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{})
		a := e.create(t, valid("a.example.nl"), "192.0.2.1")
		e.clock.Advance(time.Second)
		b := e.verified(t, "b.example.nl")
		tests := []struct {
			status string
			want   []string
		}{
			{"", []string{b.ID, a.ID}},
			{StatusPending, []string{a.ID}},
			{StatusVerified, []string{b.ID}},
			{StatusRejected, nil},
		}
		for _, tc := range tests {
			got, err := e.svc.List(ctx, tc.status, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, en := range got {
				ids = append(ids, en.ID)
				if len(en.Domains) != 1 {
					t.Errorf("%s: %d domains", en.ID, len(en.Domains))
				}
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("List(%q) (-want +got):\n%s", tc.status, diff)
			}
		}
		if _, err := e.svc.List(ctx, "bogus", 0, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("List of an unknown status: %v", err)
		}
	})
}

// TestProbingTakenDomainsIsLimited: refused attempts count too, so asking
// which domains are in the community is no faster than enrolling.
func TestProbingTakenDomainsIsLimited(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{AttemptLimit: 3})
		e.dir.taken["held.example.nl"] = true
		for i := range 3 {
			if _, err := e.svc.Create(ctx, valid("held.example.nl"), "192.0.2.9"); !errors.Is(err, ErrDomainTaken) {
				t.Fatalf("probe %d: %v, want ErrDomainTaken", i+1, err)
			}
		}
		var rl *RateLimitError
		if _, err := e.svc.Create(ctx, valid("held.example.nl"), "192.0.2.9"); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
			t.Fatalf("fourth probe: %v, want a RateLimitError", err)
		}
		if _, err := e.svc.Create(ctx, valid("free.example.nl"), "192.0.2.10"); err != nil {
			t.Fatalf("another client: %v", err)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Create(ctx, valid("held.example.nl"), "192.0.2.9"); !errors.Is(err, ErrDomainTaken) {
			t.Fatalf("after the window: %v, want ErrDomainTaken", err)
		}
	})
}

// Verifications make Veilig look up and connect to hosts the applicants
// chose; only Config.VerifyAtOnce run at once, one more is refused without
// spending its enrolment's cooldown.
func TestVerifyConcurrencyBounded(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db, Config{VerifyAtOnce: 1})
		first := e.create(t, valid("first.example.nl"), "192.0.2.1")
		second := e.create(t, valid("second.example.nl"), "192.0.2.2")
		for _, ch := range append(first.Challenges, second.Challenges...) {
			e.resolver.publish(ch)
		}
		e.clock.Advance(time.Minute)
		e.checker.entered, e.checker.gate = make(chan string, 1), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := e.svc.Verify(ctx, first.ID, first.StatusToken)
			done <- err
		}()
		if got := <-e.checker.entered; got != "first.example.nl" {
			t.Fatalf("checking %s", got)
		}
		if _, err := e.svc.Verify(ctx, second.ID, second.StatusToken); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("a second verification at once: %v, want ErrRateLimited", err)
		}
		close(e.checker.gate)
		if err := <-done; err != nil {
			t.Fatalf("first verification: %v", err)
		}
		e.checker.entered = nil
		got, err := e.svc.Verify(ctx, second.ID, second.StatusToken)
		if err != nil || got.Status != StatusVerified {
			t.Fatalf("second verification afterwards: %v, status %q", err, got.Status)
		}
	})
}
