package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
)

// seal encrypts pt under dk for objectID.
func sealBytes(t testing.TB, dk DataKey, objectID, pt []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, dk, objectID)
	if _, err := w.Write(pt); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// openBytes decrypts ct, returning what Read released and the final error.
func openBytes(dk DataKey, objectID, ct []byte) ([]byte, error) {
	return io.ReadAll(NewReader(bytes.NewReader(ct), dk, objectID))
}

func mustDataKey(t testing.TB) DataKey {
	t.Helper()
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// segOffset is the ciphertext offset of segment i.
func segOffset(i int) int { return headerSize + i*segCTSize }

func TestRoundTrip(t *testing.T) {
	dk := mustDataKey(t)
	id := []byte("blob-1")
	for _, size := range []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 1<<20 + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pt := randomBytes(size)
			ct := sealBytes(t, dk, id, pt)
			segs := max(1, (size+SegmentSize-1)/SegmentSize)
			if want := headerSize + size + segs*tagSize; len(ct) != want {
				t.Errorf("ciphertext length %d, want %d", len(ct), want)
			}
			got, err := openBytes(dk, id, ct)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatal("plaintext differs")
			}
		})
	}
}

func TestRoundTripSmallWritesAndReads(t *testing.T) {
	dk := mustDataKey(t)
	pt := randomBytes(3*SegmentSize + 17)
	var out bytes.Buffer
	w := NewWriter(&out, dk, nil)
	for rest := pt; len(rest) > 0; {
		n := min(len(rest), 999)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	r := NewReader(&out, dk, nil)
	var got []byte
	buf := make([]byte, 777)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("plaintext differs")
	}
}

// checkRejected asserts err is a seal error and released is an authenticated prefix of pt
// that ends on a segment boundary before the segment containing byte bad (or before cut).
func checkRejected(t *testing.T, pt, released []byte, err error, bad int) {
	t.Helper()
	if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrFormat) {
		t.Fatalf("error %v, want ErrAuth, ErrTruncated or ErrFormat", err)
	}
	if !bytes.HasPrefix(pt, released) || len(released)%SegmentSize != 0 {
		t.Fatalf("released %d bytes that are not whole authenticated segments", len(released))
	}
	if bad >= headerSize && len(released) > (bad-headerSize)/segCTSize*SegmentSize {
		t.Fatalf("released %d bytes including the bad segment at ciphertext offset %d", len(released), bad)
	}
}

func TestTamperEveryByteSmall(t *testing.T) {
	dk := mustDataKey(t)
	pt := []byte("canary: the quick brown fox")
	ct := sealBytes(t, dk, []byte("m1"), pt)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		got, err := openBytes(dk, []byte("m1"), bad)
		checkRejected(t, pt, got, err, i)
	}
}

func TestTamperClasses(t *testing.T) {
	dk := mustDataKey(t)
	id := []byte("m2")
	pt := randomBytes(2*SegmentSize + 100)
	ct := sealBytes(t, dk, id, pt)
	tests := []struct {
		name string
		pos  int
	}{
		{"version", 0},
		{"salt first", 1},
		{"salt last", saltSize},
		{"nonce prefix first", 1 + saltSize},
		{"nonce prefix last", headerSize - 1},
		{"segment 0 first ciphertext", segOffset(0)},
		{"segment 0 last ciphertext", segOffset(1) - tagSize - 1},
		{"segment 0 tag", segOffset(1) - 1},
		{"segment 1 middle", segOffset(1) + SegmentSize/2},
		{"segment 1 tag", segOffset(2) - tagSize},
		{"last segment first", segOffset(2)},
		{"last segment tag end", len(ct) - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(ct)
			bad[tc.pos] ^= 0x80
			got, err := openBytes(dk, id, bad)
			checkRejected(t, pt, got, err, tc.pos)
		})
	}
}

func TestStructuralAttacks(t *testing.T) {
	dk := mustDataKey(t)
	pt := randomBytes(3*SegmentSize + 5)
	a := sealBytes(t, dk, []byte("A"), pt)
	b := sealBytes(t, dk, []byte("B"), pt)
	seg := func(ct []byte, i int) []byte { return ct[segOffset(i):min(len(ct), segOffset(i+1))] }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		ct   []byte
		id   string
		bad  int
	}{
		{"swap segments 0 and 1", cat(a[:headerSize], seg(a, 1), seg(a, 0), seg(a, 2), seg(a, 3)), "A", headerSize},
		{"segment 1 from other object", cat(a[:headerSize], seg(a, 0), seg(b, 1), seg(a, 2), seg(a, 3)), "A", segOffset(1)},
		{"header from other object", cat(b[:headerSize], a[headerSize:]), "A", headerSize},
		{"duplicate segment 0", cat(a[:headerSize], seg(a, 0), seg(a, 0), seg(a, 2), seg(a, 3)), "A", segOffset(1)},
		{"trailing garbage", cat(a, []byte{0}), "A", segOffset(3)},
		{"appended segment", cat(a, seg(a, 3)), "A", segOffset(3)},
		{"wrong object id", a, "B", headerSize},
		{"empty input", nil, "A", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openBytes(dk, []byte(tc.id), tc.ct)
			checkRejected(t, pt, got, err, tc.bad)
		})
	}
}

func TestWrongKey(t *testing.T) {
	ct := sealBytes(t, mustDataKey(t), []byte("m"), []byte("secret"))
	got, err := openBytes(mustDataKey(t), []byte("m"), ct)
	if !errors.Is(err, ErrAuth) || len(got) != 0 {
		t.Fatalf("got %d bytes, err %v; want nothing and ErrAuth", len(got), err)
	}
}

func TestTruncationAtEveryBoundary(t *testing.T) {
	dk := mustDataKey(t)
	for _, size := range []int{0, SegmentSize, 3*SegmentSize + 9} {
		pt := randomBytes(size)
		ct := sealBytes(t, dk, nil, pt)
		cuts := []int{0, 1, headerSize - 1, headerSize, headerSize + tagSize - 1, len(ct) - 1}
		for i := 1; segOffset(i) < len(ct); i++ {
			cuts = append(cuts, segOffset(i), segOffset(i)-1, segOffset(i)+1)
		}
		for _, cut := range cuts {
			t.Run(fmt.Sprintf("size %d cut %d", size, cut), func(t *testing.T) {
				got, err := openBytes(dk, nil, ct[:cut])
				checkRejected(t, pt, got, err, max(headerSize, cut-1))
			})
		}
	}
}

func TestFreshSaltPerObject(t *testing.T) {
	dk := mustDataKey(t)
	a := sealBytes(t, dk, []byte("x"), []byte("same"))
	b := sealBytes(t, dk, []byte("x"), []byte("same"))
	if bytes.Equal(a[:headerSize], b[:headerSize]) || bytes.Equal(a, b) {
		t.Fatal("two encryptions of one object share a header")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterPropagatesErrors(t *testing.T) {
	w := NewWriter(&failWriter{n: 1}, mustDataKey(t), nil)
	_, err := w.Write(randomBytes(2*SegmentSize + 1))
	if err == nil {
		t.Fatal("Write: want error from the underlying writer")
	}
	if cerr := w.Close(); cerr == nil {
		t.Fatal("Close: want the sticky error")
	}
}

func FuzzReader(f *testing.F) {
	var dk DataKey
	copy(dk.b[:], "fuzz key fuzz key fuzz key fuzz!")
	for _, n := range []int{0, 5, SegmentSize + 1} {
		f.Add(sealBytes(f, dk, []byte("obj"), randomBytes(n)))
	}
	f.Add([]byte{streamVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := openBytes(dk, []byte("obj"), data)
		if err == nil && len(data) < headerSize+tagSize {
			t.Fatalf("accepted %d bytes", len(data))
		}
		if err != nil && len(got)%SegmentSize != 0 {
			t.Fatalf("released a partial segment before error %v", err)
		}
	})
}

func benchPlaintext() []byte { return randomBytes(1 << 20) }

func BenchmarkSealThroughput(b *testing.B) {
	dk := mustDataKey(b)
	pt := benchPlaintext()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		w := NewWriter(io.Discard, dk, []byte("bench"))
		if _, err := w.Write(pt); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenThroughput(b *testing.B) {
	dk := mustDataKey(b)
	pt := benchPlaintext()
	ct := sealBytes(b, dk, []byte("bench"), pt)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(ct), dk, []byte("bench"))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
