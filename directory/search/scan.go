package search

// Candidates come from the posting lists of one query word's tokens, walked in
// record order per list: either the records whose name starts with the first
// query word (for RankFirstWord only), or the records having a token that
// starts with the most selective query word, or an e-mail address that does if
// it has an "@" (for both ranks at once). Each list is ascending, so once
// enough hits of a rank are kept, a list is left at the first record that ranks
// below the worst of them: a single-word query checks about limit records per
// list. The lists of one word's tokens lie next to each other in memory, and
// each posting carries a mask of its record's token bigrams, so that the
// records a multi-word query rejects are mostly rejected without being read.

// region is the posting lists of token ids [lo, hi) in post, delimited by off,
// with their masks; and extra candidates, in any order, without masks.
type region struct {
	off, post, mask []uint32
	lo, hi          uint32
	extra           []uint32
}

// size returns how many candidates the region holds.
func (g region) size() uint32 {
	return g.off[g.hi] - g.off[g.lo] + uint32(len(g.extra))
}

// firstRegion returns the records whose name starts with the first query word.
func (s *searcher) firstRegion() region {
	w := &s.q.words[0]
	return region{s.ix.firstOff, s.ix.first, s.ix.firstMask, w.lo, w.hi, nil}
}

// wordRegion returns the smallest region of records having a token (or e-mail
// address) that starts with one of the query words.
func (s *searcher) wordRegion() region {
	var best region
	for i := range s.q.n {
		w := &s.q.words[i]
		g := region{s.ix.postOff, s.ix.post, s.ix.postMask, w.lo, w.hi, s.ix.byEmail[w.elo:w.ehi]}
		if i == 0 || g.size() < best.size() {
			best = g
		}
	}
	return best
}

// ranked adds the RankFirstWord hits, then the RankWord hits.
func (s *searcher) ranked() {
	need := s.limit - len(s.hits)
	if need <= 0 {
		return
	}
	first, word := s.firstRegion(), s.wordRegion()
	if first.size() <= word.size() {
		s.walk(first, need, 0)
		s.walk(word, 0, s.limit-len(s.hits))
		return
	}
	s.walk(word, need, need)
}

// walk collects the first need1 RankFirstWord and the first need2 RankWord hits
// among the candidates of a region and adds them, best first, up to the limit.
func (s *searcher) walk(g region, need1, need2 int) {
	if need1 <= 0 && need2 <= 0 {
		return
	}
	var c [2]collector
	c[0].need, c[1].need = need1, need2
	for t := g.lo; t < g.hi; t++ {
		for j := g.off[t]; j < g.off[t+1]; j++ {
			r := g.post[j]
			if !c[0].wants(r) && !c[1].wants(r) {
				break
			}
			s.scanned++
			if g.mask[j]&s.q.mask == s.q.mask {
				s.check(r, &c)
			}
		}
	}
	for _, r := range g.extra {
		if c[0].wants(r) || c[1].wants(r) {
			s.check(r, &c)
		}
	}
	for i, rank := range []int{RankFirstWord, RankWord} {
		for _, r := range c[i].got[:c[i].n] {
			if len(s.hits) < s.limit {
				s.add(r, rank)
			}
		}
	}
}

// check classifies candidate r and keeps it if a collector wants it.
func (s *searcher) check(r uint32, c *[2]collector) {
	s.checks++
	toks := s.ix.recTok[s.ix.recOff[r]:s.ix.recOff[r+1]]
	i := 1
	if s.q.words[0].has(toks[0]) {
		i = 0
	}
	if c[i].wants(r) && s.ix.matches(r, toks, &s.q) && !s.isExact(r) {
		c[i].insert(r)
	}
}

// collector keeps the first need records it is given, in record order.
type collector struct {
	need int
	got  [MaxLimit]uint32 // ascending
	n    int
}

// wants reports whether r would be kept.
func (c *collector) wants(r uint32) bool {
	return c.n < c.need || c.n > 0 && r < c.got[c.n-1]
}

// insert adds r in order, ignoring duplicates and dropping the worst record when
// full. The caller ensures that c wants r.
func (c *collector) insert(r uint32) {
	i := c.n
	for i > 0 && c.got[i-1] > r {
		i--
	}
	if i > 0 && c.got[i-1] == r {
		return
	}
	if c.n < c.need {
		c.n++
	}
	copy(c.got[i+1:c.n], c.got[i:c.n-1])
	c.got[i] = r
}
