package ldapsync

import (
	"errors"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

func TestVerifyPassword(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{LDIF: fixture()})
	cfg := Config{URL: s.URL(), BindDN: s.ReaderDN(), BindPassword: s.ReaderPassword(), BaseDN: base}
	a, err := NewAuthenticator(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	tests := []struct {
		name, mail, password string
		wantDN               string
		wantErr              error
	}{
		{"right password", "anna.devries@zuidnoord.test", "anna-secret", annaDN, nil},
		{"mail in another case", "ANNA.deVries@ZuidNoord.test", "anna-secret", annaDN, nil},
		{"non-ASCII password", "celik@waterschap.test", "çelik-secret", celikDN, nil},
		{"wrong password", "anna.devries@zuidnoord.test", "fout", "", ErrBadCredentials},
		{"empty password", "anna.devries@zuidnoord.test", "", "", ErrBadCredentials},
		{"unknown mail", "niemand@zuidnoord.test", "anna-secret", "", ErrUnknownUser},
		{"empty mail", "", "anna-secret", "", ErrUnknownUser},
		{"injection", "*)(uid=*", "anna-secret", "", ErrUnknownUser},
		{"injection with a user's password", "*)(|(mail=anna.devries@zuidnoord.test", "anna-secret", "", ErrUnknownUser},
		{"wildcard", "*", "anna-secret", "", ErrUnknownUser},
		{"wildcard in a mail", "anna*", "anna-secret", "", ErrUnknownUser},
		{"two people with one mail", "dubbel@zeta.test", "a-secret", "", ErrAmbiguousUser},
		{"person without a password", "zoe@zeta.test", "x", "", ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dn, err := a.VerifyPassword(ctxT(t), tc.mail, tc.password)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("VerifyPassword = %q, %v; want error %v", dn, err, tc.wantErr)
			}
			if tc.wantErr == nil && key(t, dn) != key(t, tc.wantDN) {
				t.Errorf("DN = %q, want %q", dn, tc.wantDN)
			}
		})
	}

	t.Run("server down", func(t *testing.T) {
		s.Kill()
		_, err := a.VerifyPassword(ctxT(t), "anna.devries@zuidnoord.test", "anna-secret")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("VerifyPassword with the server down = %v, want ErrUnavailable", err)
		}
	})
}

func TestTLS(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{LDIF: fixture()})
	tests := []struct {
		name     string
		url      string
		startTLS bool
		caFile   string
		wantErr  error
	}{
		{"ldaps with the CA", s.LDAPSURL(), false, s.CAFile(), nil},
		{"StartTLS with the CA", s.URL(), true, s.CAFile(), nil},
		{"ldaps without the CA", s.LDAPSURL(), false, "", ErrUnavailable},
		{"StartTLS without the CA", s.URL(), true, "", ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{URL: tc.url, StartTLS: tc.startTLS, CAFile: tc.caFile, BaseDN: base,
				BindDN: s.ReaderDN(), BindPassword: s.ReaderPassword()}
			a, err := NewAuthenticator(cfg, testenv.Logger(t))
			if err != nil {
				t.Fatalf("NewAuthenticator: %v", err)
			}
			_, err = a.VerifyPassword(ctxT(t), "anna.devries@zuidnoord.test", "anna-secret")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("VerifyPassword = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
