package search

import "strings"

// lookup returns the range [lo, hi) of ids of the tokens that start with w,
// which is not empty and contains no NUL byte.
func (ix *Index) lookup(w string) (lo, hi uint32) {
	b0 := uint32(w[0])
	if len(w) == 1 {
		return ix.bucket[b0<<8], ix.bucket[(b0+1)<<8]
	}
	b := b0<<8 | uint32(w[1])
	lo, hi = ix.bucket[b], ix.bucket[b+1]
	if len(w) == 2 || lo == hi {
		return lo, hi
	}
	// Tokens starting with w have keys in [kw, last]; when w is longer than a
	// key, the rest of the token decides.
	kw, last := key8(w), key8(w)
	if len(w) < 8 {
		last |= ^uint64(0) >> (8 * len(w))
	}
	lo = ix.keyAtLeast(lo, hi, kw)
	if last != ^uint64(0) {
		hi = ix.keyAtLeast(lo, hi, last+1)
	}
	if len(w) <= 8 {
		return lo, hi
	}
	return ix.tailRange(lo, hi, w)
}

// keyAtLeast returns the first id in [lo, hi) whose key is at least k, or hi.
func (ix *Index) keyAtLeast(lo, hi uint32, k uint64) uint32 {
	for lo < hi {
		m := lo + (hi-lo)/2
		if ix.tokKey[m] < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// tailRange narrows [lo, hi), tokens whose first eight bytes equal w's, to those
// that start with w.
func (ix *Index) tailRange(lo, hi uint32, w string) (uint32, uint32) {
	a, b := lo, hi
	for a < b { // first token >= w
		m := a + (b-a)/2
		if ix.token(m) < w {
			a = m + 1
		} else {
			b = m
		}
	}
	lo = a
	for b = hi; a < b; { // first token after lo that does not start with w
		m := a + (b-a)/2
		if strings.HasPrefix(ix.token(m), w) {
			a = m + 1
		} else {
			b = m
		}
	}
	return lo, a
}

// token returns the text of token id.
func (ix *Index) token(id uint32) string {
	return ix.tokText[ix.tokOff[id]:ix.tokOff[id+1]]
}

// email returns the folded e-mail address of record r, as indexed.
func (ix *Index) email(r uint32) string {
	return cleanWord(Fold(ix.recs[r].Email))
}

// lookupEmail returns the range of byEmail whose addresses start with w.
func (ix *Index) lookupEmail(w string) (lo, hi uint32) {
	a, b := uint32(0), uint32(len(ix.byEmail))
	for a < b { // first address >= w
		m := a + (b-a)/2
		if ix.email(ix.byEmail[m]) < w {
			a = m + 1
		} else {
			b = m
		}
	}
	lo = a
	for b = uint32(len(ix.byEmail)); a < b; { // first address after lo not starting with w
		m := a + (b-a)/2
		if strings.HasPrefix(ix.email(ix.byEmail[m]), w) {
			a = m + 1
		} else {
			b = m
		}
	}
	return lo, a
}
