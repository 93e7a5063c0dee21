package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Password length rules (NIST SP 800-63B §3.1.1.2): at least 12 characters, at
// most 1024 bytes, every character allowed, no composition rules.
const (
	MinPasswordLength = 12   // Unicode code points, after NFKC normalisation
	MaxPasswordBytes  = 1024 // bytes, before normalisation
)

// Argon2Params are the Argon2id cost parameters (RFC 9106 §3.1).
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultArgon2Params returns the OWASP Password Storage Cheat Sheet minimum for
// Argon2id: 19 MiB, 2 iterations, 1 lane, 128-bit salt, 256-bit output.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds on parameters, also applied to parameters read from a stored hash so
// that a corrupt row cannot make a login allocate gigabytes.
const (
	maxArgon2Memory     = 1 << 20 // KiB (1 GiB)
	maxArgon2Iterations = 64
	minSaltLength       = 8
	maxSaltLength       = 64
	minKeyLength        = 16
	maxKeyLength        = 64
)

func (p Argon2Params) validate() error {
	switch {
	case p.Parallelism < 1, p.Iterations < 1 || p.Iterations > maxArgon2Iterations,
		p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxArgon2Memory,
		p.SaltLength < minSaltLength || p.SaltLength > maxSaltLength,
		p.KeyLength < minKeyLength || p.KeyLength > maxKeyLength:
		return fmt.Errorf("%w: Argon2id parameters %+v out of bounds", ErrInvalidConfig, p)
	}
	return nil
}

// ValidatePassword applies the length rules to a new password.
func ValidatePassword(password string) error {
	if len(password) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	if utf8.RuneCountInString(normalisePassword(password)) < MinPasswordLength {
		return ErrPasswordTooShort
	}
	return nil
}

// normalisePassword applies NFKC (NIST SP 800-63B §3.1.1.2), so that the same
// password typed on different keyboards hashes the same.
func normalisePassword(password string) string { return norm.NFKC.String(password) }

// Hasher hashes and verifies passwords with Argon2id. It bounds how many hashes
// run at once, since each holds Params.Memory.
type Hasher struct {
	params Argon2Params
	sem    chan struct{}
	dummy  phc // a hash of nothing, verified when there is no real hash to verify
}

// NewHasher returns a hasher that hashes new passwords with p and runs at most
// maxConcurrent hashes at once.
func NewHasher(p Argon2Params, maxConcurrent int) (*Hasher, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if maxConcurrent < 1 {
		return nil, fmt.Errorf("%w: maxConcurrent must be positive", ErrInvalidConfig)
	}
	h := &Hasher{params: p, sem: make(chan struct{}, maxConcurrent)}
	salt, err := randomBytes(p.SaltLength)
	if err != nil {
		return nil, err
	}
	h.dummy = phc{params: p, salt: salt, key: make([]byte, p.KeyLength)}
	return h, nil
}

// Hash checks the password rules and returns the password's PHC string,
// $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	salt, err := randomBytes(h.params.SaltLength)
	if err != nil {
		return "", err
	}
	key, err := h.derive(ctx, password, h.params, salt)
	if err != nil {
		return "", err
	}
	return phc{params: h.params, salt: salt, key: key}.String(), nil
}

// Verify reports whether password matches the PHC string encoded, using the
// parameters stored in it. It returns ErrMalformedHash for a string it cannot use.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	return h.verify(ctx, password, stored)
}

// VerifyDummy spends as much time as one Verify with the current parameters and
// always fails; it hides whether an account exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.verify(ctx, password, h.dummy)
	return err
}

// NeedsRehash reports whether encoded was made with other parameters than the
// hasher's, so it should be replaced after the next successful login.
func (h *Hasher) NeedsRehash(encoded string) bool {
	stored, err := parsePHC(encoded)
	if err != nil {
		return true
	}
	return stored.params != h.params
}

func (h *Hasher) verify(ctx context.Context, password string, stored phc) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	key, err := h.derive(ctx, password, stored.params, stored.salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, stored.key) == 1, nil
}

// derive runs Argon2id once the semaphore admits it.
func (h *Hasher) derive(ctx context.Context, password string, p Argon2Params, salt []byte) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	pw := []byte(normalisePassword(password))
	return argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

// phc is a parsed Argon2id PHC string.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding.Strict()

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p.params.phcParams(),
		b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

func (p Argon2Params) phcParams() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Iterations, p.Parallelism)
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$hash in its canonical form.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return phc{}, fmt.Errorf("%w: not an Argon2id v19 PHC string", ErrMalformedHash)
	}
	var p Argon2Params
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism)
	if err != nil || p.phcParams() != parts[3] {
		return phc{}, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	salt, errSalt := b64.DecodeString(parts[4])
	key, errKey := b64.DecodeString(parts[5])
	if errSalt != nil || errKey != nil {
		return phc{}, fmt.Errorf("%w: bad base64", ErrMalformedHash)
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return phc{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return phc{params: p, salt: salt, key: key}, nil
}

func randomBytes(n uint32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("auth: random: %w", err)
	}
	return b, nil
}
