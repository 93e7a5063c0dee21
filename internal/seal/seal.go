// Package seal provides the encryption-at-rest primitives of Veilig: a master key ring loaded from a file,
// per-object 256-bit data keys wrapped under the ring's primary master key (envelope encryption, NIST SP
// 800-57 key hierarchy), and a segmented streaming AEAD over AES-256-GCM (NIST SP 800-38D) in the style of
// the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár: "Online Authenticated-Encryption and its
// Nonce-Reuse Misuse-Resistance", CRYPTO 2015) and Tink's AES-GCM-HKDF streaming AEAD. Per-object keys are
// derived with HKDF-SHA256 (RFC 5869).
//
// No cipher is implemented here: everything composes crypto/aes, crypto/cipher, crypto/hkdf and
// crypto/rand from the standard library. Key material never appears in errors, String or slog output.
package seal

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrAuth means a ciphertext, wrapped key or stream segment failed authentication.
	ErrAuth = errors.New("seal: message authentication failed")
	// ErrTruncated means a stream ended before its authenticated last segment.
	ErrTruncated = errors.New("seal: stream truncated")
	// ErrFormat means a stream header or wrapped key is malformed or of an unknown version.
	ErrFormat = errors.New("seal: malformed input")
	// ErrKeyNotFound means a wrapped key names a master key that is not in the ring.
	ErrKeyNotFound = errors.New("seal: master key not found")
	// ErrKeyRing means the key ring file is invalid.
	ErrKeyRing = errors.New("seal: invalid key ring")
	// ErrInsecureKeyFile means the key ring file is readable or writable by group or others.
	ErrInsecureKeyFile = errors.New("seal: key ring file permissions too open")
	// ErrClosed means a stream writer was used after Close.
	ErrClosed = errors.New("seal: writer closed")
	// ErrTooLarge means a stream exceeded the maximum number of segments.
	ErrTooLarge = errors.New("seal: stream too large")
)
