package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"io"
	"testing"
)

// The throughput benchmarks of issue 4 §10, compared by scripts/bench-external.sh
// with `openssl speed -evp aes-256-gcm -bytes 65536` on the same machine:
//
//	go test -run '^$' -bench 'Stream|GCM64KiB' -benchmem ./internal/seal/
//
// BenchmarkStreamSeal64MiB and BenchmarkStreamOpen64MiB push one 64 MiB object
// through NewWriter and NewReader, per-object key derivation (HKDF) and header
// included; BenchmarkGCM64KiB is one bare AES-256-GCM seal of a 64 KiB segment,
// the unit openssl speed measures, so the difference between them is the cost
// of the stream construction. Neither loop allocates per segment: the writer
// seals in its own buffer, the reader opens in place, and the consumer reads
// into one reused 64 KiB buffer (allocs/op covers the whole object).

// benchObjectSize is the plaintext size of one benchmarked object.
const benchObjectSize = 64 << 20

var benchObjectID = []byte("bench/object")

// countingWriter discards what it is given and counts it, so the benchmark
// can check that a whole stream was written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// streamCTSize is the ciphertext size of a stream of n plaintext bytes.
func streamCTSize(n int) int64 {
	segs := max(1, (n+SegmentSize-1)/SegmentSize) // an empty stream is one empty last segment
	return int64(headerSize + n + segs*tagSize)
}

func BenchmarkStreamSeal64MiB(b *testing.B) {
	dk := mustDataKey(b)
	pt := randomBytes(benchObjectSize)
	b.SetBytes(benchObjectSize)
	b.ReportAllocs()
	for b.Loop() {
		var cw countingWriter
		w := NewWriter(&cw, dk, benchObjectID)
		if _, err := w.Write(pt); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if cw.n != streamCTSize(benchObjectSize) {
			b.Fatalf("wrote %d bytes, want %d", cw.n, streamCTSize(benchObjectSize))
		}
	}
}

func BenchmarkStreamOpen64MiB(b *testing.B) {
	dk := mustDataKey(b)
	ct := sealBytes(b, dk, benchObjectID, randomBytes(benchObjectSize))
	buf := make([]byte, SegmentSize)
	b.SetBytes(benchObjectSize)
	b.ReportAllocs()
	for b.Loop() {
		n, err := drain(NewReader(bytes.NewReader(ct), dk, benchObjectID), buf)
		if err != nil {
			b.Fatal(err)
		}
		if n != benchObjectSize {
			b.Fatalf("read %d bytes, want %d", n, benchObjectSize)
		}
	}
}

// drain reads r to the end into buf, as a consumer streaming to a socket would.
func drain(r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// BenchmarkGCM64KiB seals one 64 KiB buffer in place with AES-256-GCM: what
// `openssl speed -evp aes-256-gcm -bytes 65536` measures.
func BenchmarkGCM64KiB(b *testing.B) {
	block, err := aes.NewCipher(randomBytes(32))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	buf := make([]byte, SegmentSize, SegmentSize+aead.Overhead())
	copy(buf, randomBytes(SegmentSize))
	b.SetBytes(SegmentSize)
	b.ReportAllocs()
	for b.Loop() {
		nonce[0]++ // never the same nonce twice in a row; the key is thrown away
		aead.Seal(buf[:0], nonce, buf[:SegmentSize], nil)
	}
}

// TestStreamCTSize keeps the benchmark's size check honest.
func TestStreamCTSize(t *testing.T) {
	dk := mustDataKey(t)
	for _, n := range []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3 * SegmentSize} {
		if got, want := int64(len(sealBytes(t, dk, benchObjectID, randomBytes(n)))), streamCTSize(n); got != want {
			t.Errorf("stream of %d bytes: %d ciphertext bytes, streamCTSize says %d", n, got, want)
		}
	}
}
