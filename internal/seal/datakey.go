package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
)

// DataKeySize is the size of a data key in bytes (AES-256).
const DataKeySize = 32

// wrapLabel separates wrapped data keys from any other use of a master key.
const wrapLabel = "veilig/seal/wrap/v1"

// DataKey is a per-object 256-bit content key. It is only ever stored wrapped; printing it shows no bytes.
type DataKey struct {
	b [DataKeySize]byte
}

// Wrapped is a data key encrypted under a master key. Ciphertext is nonce || AES-256-GCM(dk) || tag.
type Wrapped struct {
	KeyID      string
	KeyVersion int
	Ciphertext []byte
}

// NewDataKey draws a random data key from crypto/rand.
func NewDataKey() (DataKey, error) {
	var dk DataKey
	if _, err := rand.Read(dk.b[:]); err != nil {
		return DataKey{}, fmt.Errorf("seal: new data key: %w", err)
	}
	return dk, nil
}

// String hides the key bytes.
func (DataKey) String() string { return "seal.DataKey(redacted)" }

// GoString hides the key bytes from %#v.
func (d DataKey) GoString() string { return d.String() }

// LogValue hides the key bytes from slog.
func (d DataKey) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Wrap encrypts dk under the ring's primary master key. aad binds the wrapped key to its owner (the
// blob or message id); the same aad must be given to Unwrap.
func Wrap(ring *KeyRing, dk DataKey, aad []byte) (Wrapped, error) {
	mk := ring.Primary()
	aead, err := wrapAEAD(mk)
	if err != nil {
		return Wrapped{}, err
	}
	ct := aead.Seal(nil, nil, dk.b[:], wrapAAD(mk, aad))
	return Wrapped{KeyID: mk.ID, KeyVersion: mk.Version, Ciphertext: ct}, nil
}

// Unwrap decrypts a wrapped data key with the master key it names.
func Unwrap(ring *KeyRing, w Wrapped, aad []byte) (DataKey, error) {
	mk, err := ring.lookup(w.KeyID, w.KeyVersion)
	if err != nil {
		return DataKey{}, err
	}
	aead, err := wrapAEAD(mk)
	if err != nil {
		return DataKey{}, err
	}
	if len(w.Ciphertext) != aead.NonceSize()+DataKeySize+aead.Overhead() {
		return DataKey{}, fmt.Errorf("%w: wrapped key has %d bytes", ErrFormat, len(w.Ciphertext))
	}
	var dk DataKey
	if _, err := aead.Open(dk.b[:0], nil, w.Ciphertext, wrapAAD(mk, aad)); err != nil {
		return DataKey{}, fmt.Errorf("%w: unwrap data key", ErrAuth)
	}
	return dk, nil
}

// Rewrap re-encrypts a wrapped data key under the current primary master key. A key already wrapped
// under the primary is returned unchanged. Content encrypted with the data key is untouched.
func Rewrap(ring *KeyRing, w Wrapped, aad []byte) (Wrapped, error) {
	p := ring.Primary()
	if w.KeyID == p.ID && w.KeyVersion == p.Version {
		return w, nil
	}
	dk, err := Unwrap(ring, w, aad)
	if err != nil {
		return Wrapped{}, err
	}
	return Wrap(ring, dk, aad)
}

// wrapAEAD returns AES-256-GCM with a random 96-bit nonce prepended to the ciphertext.
func wrapAEAD(mk MasterKey) (cipher.AEAD, error) {
	block, err := aes.NewCipher(mk.key)
	if err != nil {
		return nil, fmt.Errorf("seal: master key %s v%d: %w", mk.ID, mk.Version, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: master key %s v%d: %w", mk.ID, mk.Version, err)
	}
	return aead, nil
}

// wrapAAD is label || len(id) || id || version || aad: it binds the master key identity and the owner.
func wrapAAD(mk MasterKey, aad []byte) []byte {
	b := make([]byte, 0, len(wrapLabel)+4+len(mk.ID)+8+len(aad))
	b = append(b, wrapLabel...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(mk.ID)))
	b = append(b, mk.ID...)
	b = binary.BigEndian.AppendUint64(b, uint64(mk.Version))
	return append(b, aad...)
}
