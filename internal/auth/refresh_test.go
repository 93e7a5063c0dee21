package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const janPassword = "jan's long password"

// login returns a fresh token pair for a new sender jan@utrecht.example.
func login(t *testing.T, e *env) (User, TokenPair) {
	t.Helper()
	u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
	return u, relogin(t, e, u)
}

func relogin(t *testing.T, e *env, u User) TokenPair {
	t.Helper()
	pair, err := e.svc.PasswordGrant(context.Background(), u.Email, janPassword, "192.0.2.1")
	if err != nil {
		t.Fatalf("PasswordGrant: %v", err)
	}
	return pair
}

func TestRefreshRotation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u, pair := login(t, e)
		seen := map[string]bool{pair.RefreshToken: true}
		for i := range 3 {
			e.clock.Advance(10 * time.Minute)
			next, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1")
			if err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if seen[next.RefreshToken] || next.TokenType != "Bearer" || next.ExpiresIn != 900 {
				t.Fatalf("refresh %d gave %+v", i, next)
			}
			seen[next.RefreshToken] = true
			p, err := e.svc.Verify(ctx, next.AccessToken)
			if err != nil || p.UserID != u.ID {
				t.Fatalf("access token of refresh %d: %+v, %v", i, p, err)
			}
			pair = next
		}
		var stored []refreshRow
		db.Find(&stored)
		for _, r := range stored {
			if seen[r.TokenHash] || len(r.TokenHash) != 64 {
				t.Errorf("stored token_hash %q is not a SHA-256 hash", r.TokenHash)
			}
		}
	})
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u, first := login(t, e)
		otherFamily := relogin(t, e, u)
		second, err := e.svc.RefreshGrant(ctx, first.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.RefreshGrant(ctx, first.RefreshToken, "198.51.100.7")
		if !errors.Is(err, ErrTokenReused) || !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("reuse = %v, want ErrInvalidCredentials and ErrTokenReused", err)
		}
		if _, err := e.svc.RefreshGrant(ctx, second.RefreshToken, "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) ||
			errors.Is(err, ErrTokenReused) {
			t.Errorf("successor after reuse = %v, want ErrInvalidCredentials (revoked)", err)
		}
		if _, err := e.svc.RefreshGrant(ctx, otherFamily.RefreshToken, "192.0.2.1"); err != nil {
			t.Errorf("another family of the same user: %v", err)
		}
	})
}

// TestConcurrentRedemption spends one token from many goroutines: exactly one wins,
// the others count as reuse.
func TestConcurrentRedemption(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		_, pair := login(t, e)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = e.svc.refresh.redeem(context.Background(), pair.RefreshToken)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrTokenReused):
				t.Errorf("redeemer %d: %v, want success or ErrTokenReused", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d redeemers won, want exactly 1", wins)
		}
	})
}

func TestRefreshExpiry(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		_, pair := login(t, e)
		e.clock.Advance(29 * 24 * time.Hour)
		pair, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatalf("refresh on day 29: %v", err)
		}
		e.clock.Advance(24 * time.Hour) // 30 days after login: the family has ended
		_, err = e.svc.refresh.redeem(ctx, pair.RefreshToken)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("refresh after 30 days = %v, want ErrInvalidToken", err)
		}
		if n, err := e.svc.Prune(ctx); err != nil || n != 2 {
			t.Errorf("Prune = %d, %v; want 2", n, err)
		}
	})
}

func TestRefreshChecksUser(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u, pair := login(t, e)

		// The role changed since login: the new access token carries it.
		if err := db.Exec("UPDATE users SET role = 'org-admin' WHERE id = ?", u.ID).Error; err != nil {
			t.Fatal(err)
		}
		pair, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := e.svc.Verify(ctx, pair.AccessToken); p.Role != RoleOrgAdmin || p.OrganisationID != orgUtrecht {
			t.Errorf("refreshed principal = %+v, want org-admin of %s", p, orgUtrecht)
		}

		// The organisation left the community: refresh fails and ends the family.
		if err := db.Exec("UPDATE organisations SET status = 'removed' WHERE id = ?", orgUtrecht).Error; err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.refresh.redeem(ctx, pair.RefreshToken)
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrNoOrganisation) {
			t.Errorf("refresh of a removed organisation's user = %v", err)
		}
		db.Exec("UPDATE organisations SET status = 'active' WHERE id = ?", orgUtrecht)
		var live int64
		db.Model(&refreshRow{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Count(&live)
		if live != 0 {
			t.Errorf("%d tokens of the family still live", live)
		}
	})
}

func TestRefreshMalformedAndUnknown(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		_, pair := login(t, e)
		for _, tok := range []string{"", "short", pair.RefreshToken + "A", pair.AccessToken,
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pair.RefreshToken[:42] + "+"} {
			if _, err := e.svc.RefreshGrant(ctx, tok, "192.0.2.9"); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("RefreshGrant(%.12q…) = %v, want ErrInvalidCredentials", tok, err)
			}
		}
	})
}

func TestLogout(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		_, pair := login(t, e)
		next, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Logout(ctx, pair.RefreshToken); err != nil { // an ancestor ends the family too
			t.Fatal(err)
		}
		if _, err := e.svc.RefreshGrant(ctx, next.RefreshToken, "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("refresh after logout = %v", err)
		}
		for _, tok := range []string{"", "nonsense", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			if err := e.svc.Logout(ctx, tok); err != nil {
				t.Errorf("Logout(%q) = %v, want nil", tok, err)
			}
		}
	})
}

// TestRedeemRacesOpenTransaction holds one redemption open while a rival starts:
// the rival must lose even though it read the token before the first committed.
func TestRedeemRacesOpenTransaction(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		_, pair := login(t, e)
		tx := db.WithContext(ctx).Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		first, refused, err := e.svc.refresh.redeemTx(ctx, tx, hashToken(pair.RefreshToken), e.clock.Now())
		if err != nil || refused != nil || first.next == "" {
			tx.Rollback()
			t.Fatalf("first redemption: %v, %v", refused, err)
		}
		rival := make(chan error)
		go func() {
			_, err := e.svc.refresh.redeem(ctx, pair.RefreshToken)
			rival <- err
		}()
		time.Sleep(200 * time.Millisecond) // let the rival reach its UPDATE; arriving later only makes it easier
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		if err := <-rival; !errors.Is(err, ErrTokenReused) {
			t.Errorf("rival redemption = %v, want ErrTokenReused", err)
		}
	})
}
