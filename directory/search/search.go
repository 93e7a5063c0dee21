package search

import (
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
)

// qword is one query word.
type qword struct {
	lo, hi uint32 // ids of the tokens that start with the word
	// A word with an "@" also matches the records whose e-mail address starts
	// with it: byEmail[elo:ehi].
	email    string
	elo, ehi uint32
}

// has reports whether the word is a prefix of token t.
func (w *qword) has(t uint32) bool { return t-w.lo < w.hi-w.lo }

// query is a parsed search query.
type query struct {
	words [MaxQueryWords]qword
	n     int
	hash  uint64 // of the folded words joined by single spaces, for RankExact
	mask  uint32 // bigram bits every candidate's mask has, see wordMask
}

// parse folds and splits s and looks up each word. It reports false when the
// query cannot match anything.
func (ix *Index) parse(s string, q *query) bool {
	if len(s) > MaxQueryBytes {
		return false
	}
	var buf [MaxQueryWords + 1]string
	ws := words(buf[:0], Fold(s), len(buf))
	if len(ws) == 0 || len(ws) > MaxQueryWords {
		return false
	}
	var h maphash.Hash
	h.SetSeed(ix.seed)
	runes := 0
	for i, w := range ws {
		if i > 0 {
			h.WriteByte(' ')
		}
		h.WriteString(w)
		runes += utf8.RuneCountInString(w)
		if !ix.lookupWord(w, &q.words[i]) {
			return false
		}
		q.mask |= wordMask(w)
	}
	q.n, q.hash = len(ws), h.Sum64()
	return runes >= minQueryRunes
}

// lookupWord fills in qw for w and reports whether any record can match it.
func (ix *Index) lookupWord(w string, qw *qword) bool {
	qw.lo, qw.hi = ix.lookup(w)
	qw.email, qw.elo, qw.ehi = "", 0, 0
	if strings.IndexByte(w, '@') >= 0 {
		qw.email = w
		qw.elo, qw.ehi = ix.lookupEmail(w)
	}
	return qw.lo < qw.hi || qw.elo < qw.ehi
}

// Search returns up to limit records matching q, best first (see the package
// documentation). limit is capped at MaxLimit; a limit below one, or a query that
// is empty, shorter than two characters or too long, returns nil.
func (ix *Index) Search(q string, limit int) []Hit {
	if ix == nil || limit <= 0 || len(ix.recs) == 0 {
		return nil
	}
	s := searcher{ix: ix, limit: min(limit, MaxLimit)}
	if !ix.parse(q, &s.q) {
		return nil
	}
	s.exact()
	s.ranked()
	return s.hits
}

// searcher is the state of one Search call.
type searcher struct {
	ix      *Index
	q       query
	limit   int
	hits    []Hit
	nExact  int // the first nExact hits are RankExact
	checks  int // candidates read, for tests
	scanned int // postings visited, for tests
}

// add appends a hit.
func (s *searcher) add(r uint32, rank int) {
	if s.hits == nil {
		s.hits = make([]Hit, 0, s.limit)
	}
	s.hits = append(s.hits, Hit{Record: &s.ix.recs[r], Rank: rank})
}

// exact adds the records with an exact-match key equal to the query, in record
// order: those whose name or domain hashes like the query, and those whose
// e-mail address is the query.
func (s *searcher) exact() {
	var buf [2 * MaxLimit]uint32
	got := s.exactEmails(s.exactHashes(buf[:0]))
	slices.Sort(got)
	got = slices.Compact(got)
	for _, r := range got[:min(len(got), s.limit)] {
		s.add(r, RankExact)
	}
	s.nExact = len(s.hits)
}

// exactHashes appends the records with an exact-match key hashing like the
// query, up to the limit, ascending (entries with one hash are sorted by record).
func (s *searcher) exactHashes(dst []uint32) []uint32 {
	ix := s.ix
	lo, hi := 0, len(ix.exactHash)
	for lo < hi {
		m := lo + (hi-lo)/2
		if ix.exactHash[m] < s.q.hash {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(ix.exactHash) && ix.exactHash[i] == s.q.hash && len(dst) < s.limit; i++ {
		dst = append(dst, ix.exactRec[i])
	}
	return dst
}

// exactEmails appends the records whose e-mail address is the query, up to the
// limit, ascending: they start the query word's byEmail range, sorted by record.
func (s *searcher) exactEmails(dst []uint32) []uint32 {
	w := &s.q.words[0]
	if s.q.n != 1 || w.email == "" {
		return dst
	}
	for i, r := range s.ix.byEmail[w.elo:w.ehi] {
		if i == s.limit || s.ix.email(r) != w.email {
			break
		}
		dst = append(dst, r)
	}
	return dst
}

// isExact reports whether record r is already a RankExact hit.
func (s *searcher) isExact(r uint32) bool {
	for _, h := range s.hits[:s.nExact] {
		if h.Record == &s.ix.recs[r] {
			return true
		}
	}
	return false
}

// wordMask returns the mask bits that the record of every token starting with w
// has: the bit of its first byte, and of its first two bytes unless w has an
// "@" (an address matching w may have a one-letter local part).
func wordMask(w string) uint32 {
	if len(w) < 2 || strings.IndexByte(w, '@') >= 0 {
		return tokenMask(w[:1])
	}
	return tokenMask(w)
}

// tokenMask returns the mask bits of token t: bits 0-7 hash its first byte, bits
// 8-31 its first two bytes.
func tokenMask(t string) uint32 {
	m := uint32(1) << (t[0] & 7)
	if len(t) >= 2 {
		h := (uint32(t[0])<<8 | uint32(t[1])) * 2654435761
		m |= 1 << (8 + (h>>24)%24)
	}
	return m
}

// matches reports whether every query word matches record r, whose token ids
// are toks.
func (ix *Index) matches(r uint32, toks []uint32, q *query) bool {
	for i := range q.n {
		w := &q.words[i]
		found := false
		for _, t := range toks {
			if w.has(t) {
				found = true
				break
			}
		}
		if !found && (w.email == "" || !strings.HasPrefix(ix.email(r), w.email)) {
			return false
		}
	}
	return true
}
