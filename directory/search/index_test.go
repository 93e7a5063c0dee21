package search

import (
	"hash/maphash"
	"slices"
	"strings"
	"testing"
)

// TestIndexInvariants builds an index with tokens that share their first eight
// bytes and checks its structure against the records it came from.
func TestIndexInvariants(t *testing.T) {
	recs := genRecords(9, 100, 3000)
	for _, name := range []string{"Abcdefghi Abcdefghj", "abcdefgh", "Abcdefghij Abcdefg", "Abcdefghi", "Abcdefgh-ij"} {
		recs = append(recs, Record{Kind: KindPerson, ID: name, Name: name, Email: strings.ReplaceAll(name, " ", ".") + "@x.example"})
	}
	ix := Build(recs)
	checkTokens(t, ix)
	checkPostings(t, ix)
	checkRecords(t, ix)
}

// checkTokens checks that tokens are distinct, sorted and findable.
func checkTokens(t *testing.T, ix *Index) {
	t.Helper()
	for i := range uint32(len(ix.tokKey)) {
		tok := ix.token(i)
		if i > 0 && ix.token(i-1) >= tok {
			t.Fatalf("tokens %d and %d out of order: %q, %q", i-1, i, ix.token(i-1), tok)
		}
		if ix.tokKey[i] != key8(tok) {
			t.Fatalf("key of token %q is %x", tok, ix.tokKey[i])
		}
		if lo, hi := ix.lookup(tok); lo != i || hi <= i {
			t.Fatalf("lookup(%q) = [%d, %d), want it to start at %d", tok, lo, hi, i)
		}
	}
}

// checkPostings checks that posting lists are ascending and agree with the
// records' token ids.
func checkPostings(t *testing.T, ix *Index) {
	t.Helper()
	for tok := range uint32(len(ix.tokKey)) {
		for _, list := range [][]uint32{ix.post[ix.postOff[tok]:ix.postOff[tok+1]], ix.first[ix.firstOff[tok]:ix.firstOff[tok+1]]} {
			if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
				t.Fatalf("posting list of %q is not strictly ascending: %v", ix.token(tok), list)
			}
		}
		for _, r := range ix.post[ix.postOff[tok]:ix.postOff[tok+1]] {
			if !slices.Contains(ix.recTok[ix.recOff[r]+1:ix.recOff[r+1]], tok) {
				t.Fatalf("record %d is in the list of %q but lacks the token", r, ix.token(tok))
			}
		}
		for _, r := range ix.first[ix.firstOff[tok]:ix.firstOff[tok+1]] {
			if ix.recTok[ix.recOff[r]] != tok {
				t.Fatalf("record %d is in the first-word list of %q but starts otherwise", r, ix.token(tok))
			}
		}
	}
	if !slices.IsSortedFunc(ix.byEmail, func(a, b uint32) int { return strings.Compare(ix.email(a), ix.email(b)) }) {
		t.Fatal("byEmail is not sorted")
	}
}

// checkRecords checks each record's token ids, masks and exact keys against
// its terms.
func checkRecords(t *testing.T, ix *Index) {
	t.Helper()
	for r := range uint32(len(ix.recs)) {
		var a terms
		a.analyse(&ix.recs[r])
		want := []string{a.first}
		want = append(want, reduce(a.tokens)...)
		var got []string
		for _, id := range ix.recTok[ix.recOff[r]:ix.recOff[r+1]] {
			if id == noToken {
				got = append(got, "")
				continue
			}
			got = append(got, ix.token(id))
			if !maskHas(ix, r, id) {
				t.Fatalf("record %d: masks miss token %q", r, ix.token(id))
			}
		}
		if !slices.Equal(want, got) {
			t.Fatalf("record %d (%q): tokens %q, want %q", r, ix.recs[r].Name, got, want)
		}
		for _, k := range a.exact {
			h := maphash.String(ix.seed, k)
			i, _ := slices.BinarySearch(ix.exactHash, h)
			for i < len(ix.exactHash) && ix.exactHash[i] == h && ix.exactRec[i] != r {
				i++
			}
			if i == len(ix.exactHash) || ix.exactHash[i] != h {
				t.Fatalf("record %d: exact key %q missing", r, k)
			}
		}
	}
}

// maskHas reports whether the postings of record r carry the bits of token id.
func maskHas(ix *Index, r, id uint32) bool {
	want := tokenMask(ix.token(id))
	i, _ := slices.BinarySearch(ix.post[ix.postOff[id]:ix.postOff[id+1]], r)
	if j := ix.postOff[id] + uint32(i); j < ix.postOff[id+1] && ix.post[j] == r {
		return ix.postMask[j]&want == want
	}
	i, _ = slices.BinarySearch(ix.first[ix.firstOff[id]:ix.firstOff[id+1]], r)
	j := ix.firstOff[id] + uint32(i)
	return ix.firstMask[j]&want == want
}
