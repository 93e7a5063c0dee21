package search

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Build indexes records. It takes ownership of the slice: records are reordered,
// their ID, Name and Email strings are packed into one allocation, and people of
// one organisation come to share its ID and name strings. It panics if there
// are more than MaxRecords records.
func Build(records []Record) *Index {
	if len(records) > MaxRecords {
		panic(fmt.Sprintf("search: %d records, more than %d", len(records), MaxRecords))
	}
	ix := &Index{recs: records, seed: maphash.MakeSeed()}
	an := analyseAll(records, ix.seed)
	sortRecords(records, an)
	packStrings(records)
	internOrganisations(records)
	ix.buildTokens(collectPairs(an), an)
	ix.buildExact(an)
	ix.buildByEmail()
	return ix
}

// analysis is what Build keeps of one record's terms.
type analysis struct {
	canon  string   // folded name words joined by single spaces
	first  string   // first word of the name, or ""
	tokens []string // sorted, distinct, prefix-reduced: see reduce
	exact  []uint64 // hashes of the exact-match keys
}

// analyseAll tokenises every record, in parallel.
func analyseAll(records []Record, seed maphash.Seed) []analysis {
	an := make([]analysis, len(records))
	parallel(len(records), func(lo, hi int) {
		var t terms
		tokens := make([]string, 0, 4*(hi-lo))
		exact := make([]uint64, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			t.analyse(&records[i])
			ts, es := len(tokens), len(exact)
			tokens = append(tokens, reduce(t.tokens)...)
			for _, k := range t.exact {
				exact = append(exact, maphash.String(seed, k))
			}
			an[i] = analysis{t.canon, t.first, tokens[ts:len(tokens):len(tokens)], exact[es:len(exact):len(exact)]}
		}
	})
	return an
}

// reduce sorts tokens in place and drops duplicates and every token that is a
// prefix of another: a query word that is a prefix of a dropped token is a prefix
// of the longer one too, so matching is unchanged. In sorted order a prefix comes
// right before the tokens it starts.
func reduce(tokens []string) []string {
	slices.Sort(tokens)
	tokens = slices.Compact(tokens)
	out := tokens[:0]
	for i, t := range tokens {
		if i+1 < len(tokens) && strings.HasPrefix(tokens[i+1], t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// workers returns how many goroutines Build uses for n items.
func workers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/4096))
}

// parallel calls fn(lo, hi) on consecutive chunks of [0, n) concurrently.
func parallel(n int, fn func(lo, hi int)) {
	w := workers(n)
	var wg sync.WaitGroup
	for i := range w {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// parallelSort sorts s by sorting chunks concurrently and merging them.
func parallelSort[T any](s []T, cmp func(a, b T) int) {
	w := workers(len(s))
	if w == 1 {
		slices.SortFunc(s, cmp)
		return
	}
	bounds := make([]int, w+1)
	for i := range bounds {
		bounds[i] = len(s) * i / w
	}
	parallel(len(s), func(lo, hi int) { slices.SortFunc(s[lo:hi], cmp) })
	tmp := make([]T, len(s))
	for step := 1; step < w; step *= 2 {
		for i := 0; i+step < w; i += 2 * step {
			lo, mid, hi := bounds[i], bounds[i+step], bounds[min(i+2*step, w)]
			merge(tmp[lo:hi], s[lo:mid], s[mid:hi], cmp)
			copy(s[lo:hi], tmp[lo:hi])
		}
	}
}

// merge merges sorted a and b into dst.
func merge[T any](dst, a, b []T, cmp func(a, b T) int) {
	i, j := 0, 0
	for k := range dst {
		if j == len(b) || i < len(a) && cmp(a[i], b[j]) <= 0 {
			dst[k] = a[i]
			i++
		} else {
			dst[k] = b[j]
			j++
		}
	}
}

// kindOrder puts organisations before everything else.
func kindOrder(k Kind) int {
	if k == KindOrganisation {
		return 0
	}
	return 1
}

// sortRecords puts records, and their analyses, in tie-break order. Records
// are sorted by a key holding the order's leading part, to spare comparing
// strings.
func sortRecords(records []Record, an []analysis) {
	type item struct {
		key uint64
		i   int32
	}
	items := make([]item, len(records))
	for i := range items {
		items[i] = item{recordKey(&records[i], an[i].canon), int32(i)}
	}
	parallelSort(items, func(a, b item) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return compareRecords(&records[a.i], &records[b.i], an[a.i].canon, an[b.i].canon)
	})
	perm := make([]int32, len(items))
	for i, it := range items {
		perm[i] = it.i
	}
	permute(perm, records, an)
}

// recordKey packs the start of the tie-break order into an integer: the kind in
// bit 63, the name length (capped) in bits 48-62, the name's first six bytes in
// bits 0-47. Records with equal keys need compareRecords.
func recordKey(r *Record, canon string) uint64 {
	return uint64(kindOrder(r.Kind))<<63 | uint64(min(len(canon), 1<<15-1))<<48 | key8(canon)>>16
}

// compareRecords orders records of one rank: organisations first, then by
// shorter folded name, folded name and ID.
func compareRecords(a, b *Record, canonA, canonB string) int {
	if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(canonA), len(canonB)); c != 0 {
		return c
	}
	if c := strings.Compare(canonA, canonB); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// permute reorders records and an in place so that position i holds what was at
// perm[i], following the cycles of the permutation. perm is destroyed.
func permute(perm []int32, records []Record, an []analysis) {
	for i := range perm {
		if perm[i] < 0 {
			continue
		}
		rec, a := records[i], an[i]
		j := i
		for {
			k := int(perm[j])
			perm[j] = -1
			if k == i {
				records[j], an[j] = rec, a
				break
			}
			records[j], an[j] = records[k], an[k]
			j = k
		}
	}
}

// packStrings copies the ID, Name and Email of every record into one string
// and points the records into it: this saves the rounding of millions of small
// allocations and leaves the garbage collector one object to mark instead.
func packStrings(records []Record) {
	size := 0
	for i := range records {
		r := &records[i]
		size += len(r.ID) + len(r.Name) + len(r.Email)
	}
	var b strings.Builder
	b.Grow(size)
	for i := range records {
		r := &records[i]
		b.WriteString(r.ID)
		b.WriteString(r.Name)
		b.WriteString(r.Email)
	}
	arena, off := b.String(), 0
	next := func(n int) string {
		off += n
		return arena[off-n : off]
	}
	for i := range records {
		r := &records[i]
		r.ID, r.Name, r.Email = next(len(r.ID)), next(len(r.Name)), next(len(r.Email))
	}
}

// internOrganisations makes the records of one organisation share the strings of
// its id and name, which the caller may have allocated per row.
func internOrganisations(records []Record) {
	type org struct{ id, name string }
	orgs := make(map[string]org)
	for i := range records {
		if r := &records[i]; r.Kind == KindOrganisation {
			orgs[r.ID] = org{r.ID, r.Name}
		}
	}
	for i := range records {
		r := &records[i]
		o, ok := orgs[r.OrganisationID]
		if !ok {
			o = org{r.OrganisationID, r.OrganisationName}
			orgs[r.OrganisationID] = o
		}
		r.OrganisationID = o.id
		if r.OrganisationName == o.name {
			r.OrganisationName = o.name
		}
	}
}

// firstFlag marks a pair whose token is the first word of the record's name.
const firstFlag = 1 << 31

// pair says that a record has a token, or starts its name with it.
type pair struct {
	key uint64 // key8(tok)
	tok string
	rec uint32 // record, with firstFlag for a first word
}

// comparePairs orders pairs by token, then plain before first-word pairs, then
// by record. Tokens with equal keys differ only after their eighth byte.
func comparePairs(a, b pair) int {
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	if len(a.tok) > 8 || len(b.tok) > 8 {
		if c := strings.Compare(a.tok[min(8, len(a.tok)):], b.tok[min(8, len(b.tok)):]); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.rec, b.rec)
}

// collectPairs returns every (token, record) and (first word, record) pair,
// sorted: bucketed by the first two bytes, buckets sorted in parallel.
func collectPairs(an []analysis) []pair {
	var counts [1<<16 + 1]int
	each := func(yield func(p pair)) {
		for r := range an {
			for _, t := range an[r].tokens {
				yield(pair{key8(t), t, uint32(r)})
			}
			if f := an[r].first; f != "" {
				yield(pair{key8(f), f, uint32(r) | firstFlag})
			}
		}
	}
	each(func(p pair) { counts[p.key>>48+1]++ })
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	ps := make([]pair, counts[1<<16])
	next := counts
	each(func(p pair) {
		ps[next[p.key>>48]] = p
		next[p.key>>48]++
	})
	// Each worker sorts the buckets that start in its share of the pairs.
	parallel(len(ps), func(lo, hi int) {
		b, _ := slices.BinarySearch(counts[:], lo)
		for ; b < 1<<16 && counts[b] < hi; b++ {
			slices.SortFunc(ps[counts[b]:counts[b+1]], comparePairs)
		}
	})
	return ps
}

// sameToken reports whether a and b are pairs of one token; a key covers eight
// bytes.
func sameToken(a, b pair) bool {
	return a.key == b.key && len(a.tok) == len(b.tok) && (len(a.tok) <= 8 || a.tok[8:] == b.tok[8:])
}

// key8 returns the first eight bytes of s, big-endian and zero-padded, so that
// keys order like the strings they come from (tokens contain no NUL bytes).
func key8(s string) uint64 {
	if len(s) >= 8 {
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	var k uint64
	for i := range len(s) {
		k |= uint64(s[i]) << (56 - 8*i)
	}
	return k
}

// buildTokens lays out the sorted pairs as the token arena, the posting lists,
// and each record's first word and token ids.
func (ix *Index) buildTokens(ps []pair, an []analysis) {
	next := ix.layoutRecords(an)
	masks := recordMasks(an)
	tokens, size := countTokens(ps)
	if size > math.MaxUint32 {
		panic("search: token text over 4 GiB")
	}
	ix.tokOff = make([]uint32, 0, tokens+1)
	ix.tokKey = make([]uint64, 0, tokens)
	ix.postOff = make([]uint32, 0, tokens+1)
	ix.firstOff = make([]uint32, 0, tokens+1)
	ix.post = make([]uint32, 0, len(ix.recTok)-len(an))
	ix.postMask = make([]uint32, 0, len(ix.recTok)-len(an))
	ix.first = make([]uint32, 0, len(an))
	ix.firstMask = make([]uint32, 0, len(an))
	var text strings.Builder
	text.Grow(size)
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && sameToken(ps[j], ps[i]) {
			j++
		}
		ix.tokOff = append(ix.tokOff, uint32(text.Len()))
		text.WriteString(ps[i].tok)
		ix.addToken(ps[i:j], masks, next)
		i = j
	}
	ix.tokOff = append(ix.tokOff, uint32(text.Len()))
	ix.postOff = append(ix.postOff, uint32(len(ix.post)))
	ix.firstOff = append(ix.firstOff, uint32(len(ix.first)))
	ix.tokText = text.String()
	ix.first, ix.firstMask = slices.Clip(ix.first), slices.Clip(ix.firstMask)
	ix.buildBuckets()
}

// layoutRecords sizes each record's token ids, marks its first word missing,
// and returns where its next token id goes.
func (ix *Index) layoutRecords(an []analysis) (next []uint32) {
	n := len(an)
	ix.recOff = make([]uint32, n+1)
	for r := range an {
		ix.recOff[r+1] = ix.recOff[r] + 1 + uint32(len(an[r].tokens))
	}
	ix.recTok = make([]uint32, ix.recOff[n])
	next = make([]uint32, n)
	for r := range next {
		ix.recTok[ix.recOff[r]] = noToken
		next[r] = ix.recOff[r] + 1
	}
	return next
}

// addToken adds the next token, whose pairs (plain ones first, each kind by
// record) are ps, to the posting lists and to its records.
func (ix *Index) addToken(ps []pair, masks, next []uint32) {
	id := uint32(len(ix.tokKey))
	ix.tokKey = append(ix.tokKey, ps[0].key)
	ix.postOff = append(ix.postOff, uint32(len(ix.post)))
	ix.firstOff = append(ix.firstOff, uint32(len(ix.first)))
	for _, p := range ps {
		r := p.rec &^ firstFlag
		if p.rec&firstFlag != 0 {
			ix.first = append(ix.first, r)
			ix.firstMask = append(ix.firstMask, masks[r])
			ix.recTok[ix.recOff[r]] = id
			continue
		}
		ix.post = append(ix.post, r)
		ix.postMask = append(ix.postMask, masks[r])
		ix.recTok[next[r]] = id
		next[r]++
	}
}

// recordMasks returns the mask of each record: the bits of its tokens and of
// its first word.
func recordMasks(an []analysis) []uint32 {
	masks := make([]uint32, len(an))
	parallel(len(an), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for _, t := range an[r].tokens {
				masks[r] |= tokenMask(t)
			}
			if f := an[r].first; f != "" {
				masks[r] |= tokenMask(f)
			}
		}
	})
	return masks
}

// countTokens returns the number of distinct tokens in sorted pairs and their
// total size.
func countTokens(ps []pair) (tokens, size int) {
	for i := range ps {
		if i == 0 || !sameToken(ps[i], ps[i-1]) {
			tokens++
			size += len(ps[i].tok)
		}
	}
	return tokens, size
}

// buildBuckets fills the table of first token ids per two-byte prefix.
func (ix *Index) buildBuckets() {
	ix.bucket = make([]uint32, 1<<16+1)
	n := uint32(len(ix.tokKey))
	id := uint32(0)
	for b := range 1 << 16 {
		for id < n && ix.tokKey[id]>>48 < uint64(b) {
			id++
		}
		ix.bucket[b] = id
	}
	ix.bucket[1<<16] = n
}

// exactEntry is one exact-match key hash of a record.
type exactEntry struct {
	h uint64
	r uint32
}

// buildExact stores the hashes of every record's exact-match keys, sorted.
func (ix *Index) buildExact(an []analysis) {
	total := 0
	for r := range an {
		total += len(an[r].exact)
	}
	es := make([]exactEntry, 0, total)
	for r := range an {
		for _, h := range an[r].exact {
			es = append(es, exactEntry{h, uint32(r)})
		}
	}
	parallelSort(es, func(a, b exactEntry) int {
		return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.r, b.r))
	})
	es = slices.Compact(es)
	ix.exactHash = make([]uint64, len(es))
	ix.exactRec = make([]uint32, len(es))
	for i, e := range es {
		ix.exactHash[i], ix.exactRec[i] = e.h, e.r
	}
}

// buildByEmail orders the records that have an e-mail address by it.
func (ix *Index) buildByEmail() {
	emails := make([]string, len(ix.recs))
	for r := range ix.recs {
		if e := ix.email(uint32(r)); e != "" {
			ix.byEmail = append(ix.byEmail, uint32(r))
			emails[r] = e
		}
	}
	parallelSort(ix.byEmail, func(a, b uint32) int {
		return cmp.Or(strings.Compare(emails[a], emails[b]), cmp.Compare(a, b))
	})
	ix.byEmail = slices.Clip(ix.byEmail)
}
