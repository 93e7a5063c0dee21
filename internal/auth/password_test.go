package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func newTestHasher(t *testing.T, p Argon2Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p, 2)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashAndVerify(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, DefaultArgon2Params())
	const pw = "correct horse battery staple"
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q lacks the OWASP parameters", hash)
	}
	again, _ := h.Hash(ctx, pw)
	if again == hash {
		t.Error("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{pw, true},
		{pw + " ", false},
		{"Correct horse battery staple", false},
		{"", false},
		{strings.Repeat("a", MaxPasswordBytes+1), false},
	} {
		got, err := h.Verify(ctx, tc.password, hash)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%.20q) = %v, %v; want %v", tc.password, got, err, tc.want)
		}
	}
}

func TestVerifyUsesStoredParameters(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, fastArgon2)
	raised := fastArgon2
	raised.Memory, raised.Iterations = 128, 2
	current := newTestHasher(t, raised)
	hash, err := old.Hash(ctx, "an old but fine password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := current.Verify(ctx, "an old but fine password", hash); !ok || err != nil {
		t.Errorf("Verify with raised parameters = %v, %v; want true", ok, err)
	}
	if !current.NeedsRehash(hash) {
		t.Error("NeedsRehash = false for a hash with old parameters")
	}
	if old.NeedsRehash(hash) {
		t.Error("NeedsRehash = true for a hash with current parameters")
	}
}

func TestVerifyNormalisesUnicode(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, fastArgon2)
	composed, decomposed := "caf\u00e9 au lait, s'il vous pla\u00eet", "cafe\u0301 au lait, s'il vous plai\u0302t"
	hash, err := h.Hash(ctx, composed)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(ctx, decomposed, hash); !ok {
		t.Error("NFD form of the password did not verify against its NFC form")
	}
}

func TestParsePHC(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for _, tc := range []struct {
		name, in string
		want     Argon2Params // zero: malformed
	}{
		{"valid", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
			Argon2Params{Memory: 65536, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 29}},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key, Argon2Params{}},
		{"old version", "$argon2id$v=16$m=65536,t=3,p=4$" + salt + "$" + key, Argon2Params{}},
		{"no version", "$argon2id$m=65536,t=3,p=4$" + salt + "$" + key, Argon2Params{}},
		{"order", "$argon2id$v=19$t=3,m=65536,p=4$" + salt + "$" + key, Argon2Params{}},
		{"leading zero", "$argon2id$v=19$m=065536,t=3,p=4$" + salt + "$" + key, Argon2Params{}},
		{"trailing junk", "$argon2id$v=19$m=65536,t=3,p=4,x=1$" + salt + "$" + key, Argon2Params{}},
		{"huge memory", "$argon2id$v=19$m=4194304,t=3,p=4$" + salt + "$" + key, Argon2Params{}},
		{"p overflow", "$argon2id$v=19$m=65536,t=3,p=256$" + salt + "$" + key, Argon2Params{}},
		{"zero time", "$argon2id$v=19$m=65536,t=0,p=4$" + salt + "$" + key, Argon2Params{}},
		{"padded salt", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "==$" + key, Argon2Params{}},
		{"short salt", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + key, Argon2Params{}},
		{"short key", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$a2V5", Argon2Params{}},
		{"extra field", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key + "$", Argon2Params{}},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", Argon2Params{}},
		{"empty", "", Argon2Params{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePHC(tc.in)
			if tc.want == (Argon2Params{}) {
				if !errors.Is(err, ErrMalformedHash) {
					t.Fatalf("parsePHC = %+v, %v; want ErrMalformedHash", got.params, err)
				}
				return
			}
			if err != nil || got.params != tc.want {
				t.Fatalf("parsePHC = %+v, %v; want %+v", got.params, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		want           error
	}{
		{"11 characters", "abcdefghijk", ErrPasswordTooShort},
		{"12 characters", "abcdefghijkl", nil},
		{"12 spaces", strings.Repeat(" ", 12), nil},
		{"11 two-byte characters", strings.Repeat("é", 11), ErrPasswordTooShort},
		{"12 two-byte characters", strings.Repeat("é", 12), nil},
		{"emoji", strings.Repeat("🔐", 12), nil},
		{"1024 bytes", strings.Repeat("a", 1024), nil},
		{"1025 bytes", strings.Repeat("a", 1025), ErrPasswordTooLong},
		{"no composition rules", "aaaaaaaaaaaa", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidatePassword(tc.password); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("ValidatePassword = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHashRefusesBadPasswords(t *testing.T) {
	h := newTestHasher(t, fastArgon2)
	if _, err := h.Hash(context.Background(), "short"); !errors.Is(err, ErrPasswordTooShort) {
		t.Errorf("Hash(short) = %v, want ErrPasswordTooShort", err)
	}
}

func TestVerifyDummyFails(t *testing.T) {
	h := newTestHasher(t, fastArgon2)
	if err := h.VerifyDummy(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.verify(context.Background(), "", h.dummy); ok {
		t.Error("the dummy hash verified a password")
	}
}

func TestHasherWaitsForContext(t *testing.T) {
	h, err := NewHasher(fastArgon2, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // the one slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "long enough password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a full semaphore and a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNewHasherRejectsWeakParameters(t *testing.T) {
	for _, p := range []Argon2Params{
		{},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 4, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 8},
		{Memory: 4, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
	} {
		if _, err := NewHasher(p, 1); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewHasher(%+v) = %v, want ErrInvalidConfig", p, err)
		}
	}
}
