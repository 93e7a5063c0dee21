package message

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/seal"
)

// Vault keeps content sealed (internal/seal: AES-256-GCM segments bound to the
// blob key) under per-message data keys, which are stored only wrapped by the
// key ring's master key and bound to their message id.
type Vault struct {
	blobs blob.Store
	ring  *seal.KeyRing
}

// NewVault returns a Vault over blobs with ring.
func NewVault(blobs blob.Store, ring *seal.KeyRing) *Vault { return &Vault{blobs: blobs, ring: ring} }

// Blobs returns the underlying store of ciphertext (for the sweeper).
func (v *Vault) Blobs() blob.Store { return v.blobs }

// Ring returns the key ring.
func (v *Vault) Ring() *seal.KeyRing { return v.ring }

func keyAAD(messageID string) []byte { return []byte("message/" + messageID) }

// newKey draws a data key for messageID and wraps it.
func (v *Vault) newKey(messageID string) (seal.DataKey, seal.Wrapped, error) {
	dk, err := seal.NewDataKey()
	if err != nil {
		return seal.DataKey{}, seal.Wrapped{}, err
	}
	w, err := seal.Wrap(v.ring, dk, keyAAD(messageID))
	if err != nil {
		return seal.DataKey{}, seal.Wrapped{}, fmt.Errorf("message: wrap data key: %w", err)
	}
	return dk, w, nil
}

// unwrap returns the data key of messageID.
func (v *Vault) unwrap(messageID string, w seal.Wrapped) (seal.DataKey, error) {
	dk, err := seal.Unwrap(v.ring, w, keyAAD(messageID))
	if err != nil {
		return seal.DataKey{}, fmt.Errorf("message: unwrap data key of %s: %w", messageID, err)
	}
	return dk, nil
}

// With returns the blob store that seals and opens content under dk.
func (v *Vault) With(dk seal.DataKey) blob.Store { return sealedStore{blobs: v.blobs, dk: dk} }

// sealBytes seals a small value (a phone number) under dk, bound to objectID.
func sealBytes(dk seal.DataKey, objectID string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := seal.NewWriter(&buf, dk, []byte(objectID))
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("message: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("message: seal: %w", err)
	}
	return buf.Bytes(), nil
}

// openBytes reverses sealBytes.
func openBytes(dk seal.DataKey, objectID string, sealed []byte) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(seal.NewReader(bytes.NewReader(sealed), dk, []byte(objectID)), 1<<20))
	if err != nil {
		return nil, fmt.Errorf("message: open sealed value: %w", err)
	}
	return out, nil
}

// sealedStore is a blob.Store whose content is sealed under one data key.
type sealedStore struct {
	blobs blob.Store
	dk    seal.DataKey
}

func (s sealedStore) Create(ctx context.Context, key string) (blob.Writer, error) {
	w, err := s.blobs.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return &sealedWriter{w: w, sw: seal.NewWriter(w, s.dk, []byte(key))}, nil
}

func (s sealedStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{seal.NewReader(r, s.dk, []byte(key)), r}, nil
}

func (s sealedStore) Delete(ctx context.Context, key string) error { return s.blobs.Delete(ctx, key) }

// sealedWriter seals into a blob; Commit seals the last segment first.
type sealedWriter struct {
	w  blob.Writer
	sw io.WriteCloser
}

func (w *sealedWriter) Write(p []byte) (int, error) { return w.sw.Write(p) }

func (w *sealedWriter) Commit() error {
	if err := w.sw.Close(); err != nil {
		_ = w.w.Abort()
		return fmt.Errorf("message: seal: %w", err)
	}
	return w.w.Commit()
}

func (w *sealedWriter) Abort() error { return w.w.Abort() }

// ErrPurged: the content's data key is destroyed (withdrawn, expired, or
// delivered to everyone on the internal route).
var ErrPurged = errors.New("message: content destroyed")

// OpenBlob opens the plaintext of blob key — a message's content or one of its
// notices — with the data key of the message that owns it.
func (s *Store) OpenBlob(ctx context.Context, key string) (io.ReadCloser, error) {
	owner, err := s.blobOwner(ctx, key)
	if err != nil {
		return nil, err
	}
	c, err := s.content(ctx, owner)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrPurged, owner)
	}
	return c.Open(ctx, key)
}

// blobOwner returns the id of the message whose data key seals blob key.
func (s *Store) blobOwner(ctx context.Context, key string) (string, error) {
	if id, ok := strings.CutPrefix(key, "messages/"); ok && !strings.Contains(id, "/") {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var ids []string
	if err := s.db.WithContext(ctx).Model(&deliveryRow{}).Where("blob_key = ?", key).Limit(1).
		Pluck("message_id", &ids).Error; err != nil {
		return "", fmt.Errorf("message: find blob owner: %w", err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("%w: blob %s", ErrNotFound, key)
	}
	return ids[0], nil
}
