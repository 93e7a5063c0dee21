package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// deriveLabel separates derived secrets from every other use of a master key.
const deriveLabel = "veilig/seal/derive/v1/"

// DeriveSecret returns a 32-byte secret for purpose (e.g. "otp", "viewer-csrf")
// derived with HKDF-SHA256 (RFC 5869) from the ring's oldest key, which stays
// in the ring through rotations, so every process sharing the ring derives the
// same secret.
func (r *KeyRing) DeriveSecret(purpose string) ([]byte, error) {
	oldest := r.keys[0]
	for _, k := range r.keys[1:] {
		if k.Version < oldest.Version {
			oldest = k
		}
	}
	out, err := hkdf.Key(sha256.New, oldest.key, nil, deriveLabel+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive %s: %w", purpose, err)
	}
	return out, nil
}
