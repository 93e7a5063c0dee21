package seal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// masterKeySize is the AES-256 key size in bytes.
const masterKeySize = 32

// MasterKey is one key-encryption key of a ring. The key bytes are unexported and never printed.
type MasterKey struct {
	ID      string
	Version int
	Created time.Time
	key     []byte
}

// KeyRing holds the master keys; Primary wraps new data keys, all keys can unwrap. It is immutable.
type KeyRing struct {
	keys    []MasterKey
	primary int
}

// keyFile is the on-disk JSON form of a key ring.
type keyFile struct {
	Keys    []keyEntry `json:"keys"`
	Primary string     `json:"primary"`
}

type keyEntry struct {
	ID      string    `json:"id"`
	Version int       `json:"version"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
}

// Primary returns the master key that wraps new data keys (without exposing its bytes to callers
// outside the package).
func (r *KeyRing) Primary() MasterKey { return r.keys[r.primary] }

// Keys returns the ids and versions of all master keys, oldest first.
func (r *KeyRing) Keys() []MasterKey { return append([]MasterKey(nil), r.keys...) }

// lookup finds the master key with the given id and version.
func (r *KeyRing) lookup(id string, version int) (MasterKey, error) {
	for _, k := range r.keys {
		if k.ID == id && k.Version == version {
			return k, nil
		}
	}
	return MasterKey{}, fmt.Errorf("%w: %q version %d", ErrKeyNotFound, id, version)
}

// String describes the ring without key material.
func (r *KeyRing) String() string {
	p := r.Primary()
	return fmt.Sprintf("seal.KeyRing(%d keys, primary %s v%d)", len(r.keys), p.ID, p.Version)
}

// LogValue keeps key material out of slog output.
func (r *KeyRing) LogValue() slog.Value { return slog.StringValue(r.String()) }

// String describes the key without key material.
func (k MasterKey) String() string { return fmt.Sprintf("seal.MasterKey(%s v%d)", k.ID, k.Version) }

// GoString keeps key material out of %#v.
func (k MasterKey) GoString() string { return k.String() }

// LogValue keeps key material out of slog output.
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// LoadKeyRing reads a key ring file. The file must not be accessible to group or others.
func LoadKeyRing(path string) (*KeyRing, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeyRing(data)
}

// readPrivateFile reads path after checking, on the opened file, that its mode is owner-only.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open key ring: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat key ring: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyRing, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrInsecureKeyFile, path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("seal: read key ring: %w", err)
	}
	return data, nil
}

// parseKeyRing decodes and validates a key ring. Decoder errors are not wrapped: they may quote file
// content, which contains key material.
func parseKeyRing(data []byte) (*KeyRing, error) {
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: malformed JSON at offset %d", ErrKeyRing, se.Offset)
		}
		return nil, fmt.Errorf("%w: malformed JSON", ErrKeyRing)
	}
	ring := &KeyRing{primary: -1}
	for _, e := range kf.Keys {
		k, err := decodeEntry(e)
		if err != nil {
			return nil, err
		}
		if _, err := ring.lookup(k.ID, k.Version); err == nil {
			return nil, fmt.Errorf("%w: duplicate key %q version %d", ErrKeyRing, k.ID, k.Version)
		}
		ring.keys = append(ring.keys, k)
	}
	return ring, ring.setPrimary(kf.Primary)
}

// decodeEntry validates one key entry.
func decodeEntry(e keyEntry) (MasterKey, error) {
	if e.ID == "" || e.Version < 1 {
		return MasterKey{}, fmt.Errorf("%w: key needs an id and a version >= 1", ErrKeyRing)
	}
	key, err := base64.StdEncoding.DecodeString(e.Key)
	if err != nil || len(key) != masterKeySize {
		return MasterKey{}, fmt.Errorf("%w: key %q: not base64 of %d bytes", ErrKeyRing, e.ID, masterKeySize)
	}
	return MasterKey{ID: e.ID, Version: e.Version, Created: e.Created, key: key}, nil
}

// setPrimary selects the primary key by id; with several versions of one id the highest wins.
func (r *KeyRing) setPrimary(id string) error {
	for i, k := range r.keys {
		if k.ID == id && (r.primary < 0 || k.Version > r.keys[r.primary].Version) {
			r.primary = i
		}
	}
	if r.primary < 0 {
		return fmt.Errorf("%w: primary %q is not in the ring", ErrKeyRing, id)
	}
	return nil
}

// GenerateKeyRing creates a new key ring file with mode 0600 holding one random key. It refuses to
// overwrite an existing file.
func GenerateKeyRing(path string) (*KeyRing, error) {
	ring := &KeyRing{keys: []MasterKey{newMasterKey("k1", 1)}, primary: 0}
	data, err := ring.marshal()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: create key ring: %w", err)
	}
	if err := writeAndSync(f, data); err != nil {
		os.Remove(path)
		return nil, err
	}
	return ring, nil
}

// AddKey rotates the ring at path: a new random key becomes primary, old keys stay for unwrapping. The
// file is replaced atomically. Rotations must not run concurrently on one file.
func AddKey(path string) (*KeyRing, error) {
	ring, err := LoadKeyRing(path)
	if err != nil {
		return nil, err
	}
	next := len(ring.keys) + 1
	for _, k := range ring.keys {
		next = max(next, k.Version+1)
	}
	n := strconv.Itoa(next)
	ring = &KeyRing{keys: append(ring.keys, newMasterKey("k"+n, next)), primary: len(ring.keys)}
	data, err := ring.marshal()
	if err != nil {
		return nil, err
	}
	return ring, replaceFile(path, data)
}

// newMasterKey draws a random 256-bit master key.
func newMasterKey(id string, version int) MasterKey {
	key := make([]byte, masterKeySize)
	rand.Read(key) // never fails since Go 1.24
	return MasterKey{ID: id, Version: version, Created: time.Now().UTC().Truncate(time.Second), key: key}
}

// marshal encodes the ring in its file form.
func (r *KeyRing) marshal() ([]byte, error) {
	kf := keyFile{Primary: r.Primary().ID}
	for _, k := range r.keys {
		kf.Keys = append(kf.Keys, keyEntry{ID: k.ID, Version: k.Version, Created: k.Created,
			Key: base64.StdEncoding.EncodeToString(k.key)})
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("seal: encode key ring: %w", err)
	}
	return append(data, '\n'), nil
}

// replaceFile writes data to a 0600 temporary file next to path and renames it over path.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("seal: create key ring: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("seal: chmod key ring: %w", err)
	}
	if err := writeAndSync(f, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("seal: replace key ring: %w", err)
	}
	return nil
}

// writeAndSync writes data, fsyncs and closes f.
func writeAndSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seal: write key ring: %w", err)
	}
	return nil
}
