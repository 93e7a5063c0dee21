package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Stream format, version 1:
//
//	header  = version (1 byte, 0x01) || salt (32 bytes) || nonce prefix (7 bytes)
//	segment = AES-256-GCM(subkey, nonce, plaintext, aad) with a 16-byte tag
//	subkey  = HKDF-SHA256(dk, salt, info = streamLabel || objectID)
//	nonce   = nonce prefix || segment index (uint32 big endian) || last flag (0x00 or 0x01)
//	aad     = header || segment index (uint64 big endian) || objectID
//
// Every segment but the last carries exactly SegmentSize bytes of plaintext; the last carries 0 to
// SegmentSize bytes and is the only one sealed with the last flag, so truncation at a segment boundary
// fails authentication. An empty plaintext is one empty last segment.
const (
	// SegmentSize is the plaintext size of every segment except the last.
	SegmentSize = 64 << 10

	streamVersion = 0x01
	saltSize      = 32
	prefixSize    = 7
	headerSize    = 1 + saltSize + prefixSize
	tagSize       = 16
	segCTSize     = SegmentSize + tagSize
	maxSegments   = math.MaxUint32
	streamLabel   = "veilig/seal/stream/v1"
)

// segmenter holds the per-object AEAD state shared by the writer and the reader.
type segmenter struct {
	aead     cipher.AEAD
	header   [headerSize]byte
	objectID []byte
	index    uint64
	nonce    [12]byte
	aad      []byte
}

// newSegmenter derives the per-object subkey from dk and the header's salt.
func newSegmenter(dk DataKey, header []byte, objectID []byte) (*segmenter, error) {
	s := &segmenter{objectID: append([]byte(nil), objectID...)}
	copy(s.header[:], header)
	key, err := hkdf.Key(sha256.New, dk.b[:], header[1:1+saltSize], streamLabel+string(objectID), 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive stream key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: stream cipher: %w", err)
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("seal: stream cipher: %w", err)
	}
	copy(s.nonce[:], header[1+saltSize:])
	s.aad = make([]byte, 0, headerSize+8+len(objectID))
	return s, nil
}

// next prepares nonce and aad for the current segment and advances the index.
func (s *segmenter) next(last bool) ([]byte, []byte, error) {
	if s.index > maxSegments || (s.index == maxSegments && !last) {
		return nil, nil, ErrTooLarge
	}
	binary.BigEndian.PutUint32(s.nonce[prefixSize:], uint32(s.index))
	s.nonce[11] = 0
	if last {
		s.nonce[11] = 1
	}
	s.aad = append(s.aad[:0], s.header[:]...)
	s.aad = binary.BigEndian.AppendUint64(s.aad, s.index)
	s.aad = append(s.aad, s.objectID...)
	s.index++
	return s.nonce[:], s.aad, nil
}

// writer encrypts a stream segment by segment with one segment buffer.
type writer struct {
	w      io.Writer
	seg    *segmenter
	buf    []byte // plaintext of the pending segment; capacity for the tag
	err    error  // sticky
	closed bool
}

// NewWriter returns a writer that encrypts everything written to it under dk, bound to objectID, and
// writes the ciphertext to w. Close must be called to write the authenticated last segment.
func NewWriter(w io.Writer, dk DataKey, objectID []byte) io.WriteCloser {
	var header [headerSize]byte
	header[0] = streamVersion
	rand.Read(header[1:]) // never fails since Go 1.24
	seg, err := newSegmenter(dk, header[:], objectID)
	wr := &writer{w: w, seg: seg, err: err, buf: make([]byte, 0, segCTSize)}
	if err == nil {
		_, wr.err = w.Write(header[:])
	}
	return wr
}

// Write buffers p and seals every full segment once more data follows it.
func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	n := 0
	for w.err == nil && len(p) > 0 {
		if len(w.buf) == SegmentSize {
			w.err = w.flush(false)
			continue
		}
		c := copy(w.buf[len(w.buf):SegmentSize], p)
		w.buf = w.buf[:len(w.buf)+c]
		p, n = p[c:], n+c
	}
	return n, w.err
}

// Close seals the pending data as the last segment. It does not close the underlying writer.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.err = w.flush(true)
	}
	return w.err
}

// flush seals the buffer in place and writes it.
func (w *writer) flush(last bool) error {
	nonce, aad, err := w.seg.next(last)
	if err != nil {
		return err
	}
	ct := w.seg.aead.Seal(w.buf[:0], nonce, w.buf, aad)
	w.buf = w.buf[:0]
	if _, err := w.w.Write(ct); err != nil {
		return fmt.Errorf("seal: write segment: %w", err)
	}
	return nil
}

// reader decrypts a stream, releasing only authenticated segments.
type reader struct {
	r        io.Reader
	dk       DataKey
	objectID []byte
	seg      *segmenter
	buf      []byte // ciphertext buffer with room for one byte of look-ahead
	ahead    byte   // look-ahead byte read past the previous segment
	hasAhead bool
	plain    []byte // authenticated plaintext not yet returned
	done     bool   // last segment authenticated
	err      error  // sticky
}

// NewReader returns a reader that decrypts a stream written by NewWriter with the same dk and objectID.
// Read returns ErrAuth, ErrTruncated or ErrFormat on any tampering; it never returns plaintext of a
// segment that failed authentication.
func NewReader(r io.Reader, dk DataKey, objectID []byte) io.Reader {
	return &reader{r: r, dk: dk, objectID: append([]byte(nil), objectID...)}
}

// Read returns authenticated plaintext.
func (r *reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.nextSegment()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// nextSegment reads the header if needed, then reads and opens one segment.
func (r *reader) nextSegment() error {
	if r.seg == nil {
		if err := r.readHeader(); err != nil {
			return err
		}
	}
	carry := 0
	if r.hasAhead {
		r.buf[0], carry = r.ahead, 1
	}
	n, err := io.ReadFull(r.r, r.buf[carry:])
	n += carry
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("seal: read segment: %w", err)
	}
	last := n <= segCTSize
	if last && n < tagSize {
		return fmt.Errorf("%w: short segment", ErrTruncated)
	}
	return r.open(min(n, segCTSize), last)
}

// open authenticates and decrypts buf[:n] in place, first saving the look-ahead byte buf[segCTSize].
func (r *reader) open(n int, last bool) error {
	nonce, aad, err := r.seg.next(last)
	if err != nil {
		return err
	}
	r.hasAhead = !last
	if !last {
		r.ahead = r.buf[segCTSize]
	}
	pt, err := r.seg.aead.Open(r.buf[:0], nonce, r.buf[:n], aad)
	if err != nil {
		return fmt.Errorf("%w: segment %d", ErrAuth, r.seg.index-1)
	}
	r.plain, r.done = pt, last
	return nil
}

// readHeader reads and checks the stream header and derives the segment key.
func (r *reader) readHeader() error {
	var header [headerSize]byte
	if _, err := io.ReadFull(r.r, header[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: short header", ErrTruncated)
		}
		return fmt.Errorf("seal: read header: %w", err)
	}
	if header[0] != streamVersion {
		return fmt.Errorf("%w: unknown stream version %d", ErrFormat, header[0])
	}
	seg, err := newSegmenter(r.dk, header[:], r.objectID)
	if err != nil {
		return err
	}
	r.seg, r.buf = seg, make([]byte, segCTSize+1)
	return nil
}
