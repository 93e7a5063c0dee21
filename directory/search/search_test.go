package search

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"
)

// smallDirectory returns a hand-made directory; IDs tell what the records are.
func smallDirectory() []Record {
	org := func(id, name string, domains ...string) Record {
		return Record{Kind: KindOrganisation, ID: id, Name: name, OrganisationID: id, OrganisationName: name, Domains: domains}
	}
	person := func(id, name, email, orgID string) Record {
		return Record{Kind: KindPerson, ID: id, Name: name, Email: email, OrganisationID: orgID}
	}
	return []Record{
		person("p1-zoe", "Zoë de Vries", "zoe.devries@utrecht.nl", "o1"),
		person("p2-jan", "Jan Jansen", "j.jansen@utrecht.nl", "o1"),
		person("p3-janwillem", "Jan-Willem Jansen", "jw.jansen@s-hertogenbosch.nl", "o2"),
		person("p4-janneke", "Janneke Utrecht", "j.utrecht@ijsselstein.nl", "o3"),
		person("p5-anna", "Utrecht, Anna", "a.utrecht@dommel.nl", "o5"),
		person("p6-ingrid", "Ingrid IJsselstein", "i.ijsselstein@dommel.nl", "o5"),
		person("p7-jan", "Jan Jansen", "jan.jansen@provincie-utrecht.nl", "o4"),
		person("p8-pieter", "Pieter van ’t Hof", "p.vanthof@dommel.nl", "o5"),
		person("p9-jansen", "Jansen", "jansen@dommel.nl", "o5"),
		org("o1", "Gemeente Utrecht", "utrecht.nl"),
		org("o2", "Gemeente 's-Hertogenbosch", "s-hertogenbosch.nl"),
		org("o3", "Gemeente Ĳsselstein", "ijsselstein.nl"),
		org("o4", "Provincie Utrecht", "provincie-utrecht.nl"),
		org("o5", "Waterschap De Dommel", "dommel.nl"),
	}
}

// result is what the tests compare of a hit.
type result struct {
	ID   string
	Rank int
}

func results(hits []Hit) []result {
	var rs []result
	for _, h := range hits {
		rs = append(rs, result{h.Record.ID, h.Rank})
	}
	return rs
}

func TestSearch(t *testing.T) {
	ix := Build(smallDirectory())
	const e, f, w = RankExact, RankFirstWord, RankWord
	tests := []struct {
		name, q string
		limit   int
		want    []result
	}{
		{"diacritics", "zoe", 10, []result{{"p1-zoe", f}}},
		{"case and diacritics in the query", "ZOË DE V", 10, []result{{"p1-zoe", f}}},
		{"ligature in the record", "ijssel", 10, []result{{"o3", w}, {"p6-ingrid", w}}},
		{"ligature in the query", "Ĳssel", 10, []result{{"o3", w}, {"p6-ingrid", w}}},
		{"apostrophe dropped, exact via domain", "s-hertogenbosch", 10, []result{{"o2", e}}},
		{"apostrophe typed", "'s-Hertogenbosch", 10, []result{{"o2", e}}},
		{"part of a hyphenated word", "hertogenbosch", 10, []result{{"o2", w}}},
		{"all ranks", "utrecht", 10, []result{{"o1", e}, {"p5-anna", f}, {"o4", w}, {"p4-janneke", w}}},
		{"first word: shorter name first, then id", "jan", 10, []result{
			{"p9-jansen", f}, {"p2-jan", f}, {"p7-jan", f}, {"p4-janneke", f}, {"p3-janwillem", f}}},
		{"limit", "jan", 2, []result{{"p9-jansen", f}, {"p2-jan", f}}},
		{"exact single-word name", "jansen", 10, []result{
			{"p9-jansen", e}, {"p2-jan", w}, {"p7-jan", w}, {"p3-janwillem", w}}},
		{"exact full name twice", "jan jansen", 10, []result{
			{"p2-jan", e}, {"p7-jan", e}, {"p9-jansen", f}, {"p3-janwillem", f}}},
		{"exact hit counts against the limit", "jan jansen", 3, []result{{"p2-jan", e}, {"p7-jan", e}, {"p9-jansen", f}}},
		{"second part of a hyphenated first name", "willem", 10, []result{{"p3-janwillem", w}}},
		{"exact e-mail address", "J.Jansen@Utrecht.nl", 10, []result{{"p2-jan", e}}},
		{"e-mail prefix", "j.jansen@utr", 10, []result{{"p2-jan", w}}},
		{"trailing @ is dropped", "jansen@", 10, []result{
			{"p9-jansen", e}, {"p2-jan", w}, {"p7-jan", w}, {"p3-janwillem", w}}},
		{"e-mail local part", "jw.jans", 10, []result{{"p3-janwillem", w}}},
		{"e-mail local part from a later part", "vanth", 10, []result{{"p8-pieter", w}}},
		{"exact domain; people's domains are no tokens", "dommel.nl", 10, []result{{"o5", e}}},
		{"domain without public suffix is exact", "provincie-utrecht", 10, []result{{"o4", e}}},
		{"domain from a later part", "utrecht.nl", 10, []result{{"o1", e}, {"o4", w}}},
		{"public suffix alone", "nl", 10, nil},
		{"organisations before people", "de", 10, []result{{"o5", w}, {"p1-zoe", w}}},
		{"first word ranks by length", "gemeente", 10, []result{{"o1", f}, {"o3", f}, {"o2", f}}},
		{"every word must match", "zoe jansen", 10, nil},
		{"words in any order", "vries zoe", 10, []result{{"p1-zoe", w}}},
		{"one-letter word from an apostrophe", "van t hof", 10, []result{{"p8-pieter", w}}},
		{"exact organisation name", "provincie utrecht", 10, []result{{"o4", e}}},
		{"punctuation in the query", "Utrecht, Anna", 10, []result{{"p5-anna", e}}},
		{"unknown prefix", "xyz", 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := results(ix.Search(tt.q, tt.limit))
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Search(%q, %d) (-want +got):\n%s", tt.q, tt.limit, diff)
			}
		})
	}
}

func TestSearchBounds(t *testing.T) {
	recs := smallDirectory()
	for i := range 60 {
		recs = append(recs, Record{Kind: KindPerson, ID: fmt.Sprintf("x%02d", i), Name: fmt.Sprintf("Test Persoon %02d", i)})
	}
	ix := Build(recs)
	tests := []struct {
		name, q string
		limit   int
		want    int // number of hits
	}{
		{"limit capped", "test", 1000, MaxLimit},
		{"limit one", "test", 1, 1},
		{"limit zero", "test", 0, 0},
		{"negative limit", "test", -1, 0},
		{"empty", "", 10, 0},
		{"spaces", "   ", 10, 0},
		{"one letter", "t", 10, 0},
		{"one letter after folding", "é", 10, 0},
		{"one letter and joiners", "-t-", 10, 0},
		{"two letters", "te", 10, 10},
		{"two one-letter words", "t p", 10, 10},
		{"most words", "t p 0 t p 0 t p", 10, 10},
		{"too many words", "t p 0 t p 0 t p 0", 10, 0},
		{"too long", "test " + strings.Repeat(" ", MaxQueryBytes), 10, 0},
		{"long word", strings.Repeat("testpersoon", 40), 10, 0},
		{"invalid utf-8", "\xff\xfe\xfd", 10, 0},
		{"invalid utf-8 around a word", "\xfftest\xfe", 10, 10},
		{"only joiners", "@-.'_+", 10, 0},
		{"emoji", "🙂🙂", 10, 0},
		{"nul bytes", "te\x00st", 10, 0},
		{"control characters as space", "test\tpersoon\n0", 10, 10},
		{"at sign only word", "@ test", 10, 10},
		{"e-mail shaped garbage", "a@b@c@", 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ix.Search(tt.q, tt.limit); len(got) != tt.want {
				t.Errorf("Search(%q, %d) returned %d hits, want %d", tt.q, tt.limit, len(got), tt.want)
			}
		})
	}
}

func TestEmptyIndex(t *testing.T) {
	for _, ix := range []*Index{nil, Build(nil), Build([]Record{{Kind: KindPerson, ID: "x"}})} {
		if got := ix.Search("jan", 10); got != nil {
			t.Errorf("Search on an empty index = %v", got)
		}
	}
	if n := Build(nil).Len(); n != 0 {
		t.Errorf("Len = %d", n)
	}
}

func TestBuildOrdersAndInterns(t *testing.T) {
	recs := genRecords(3, 50, 2000)
	ix := Build(recs)
	if ix.Len() != 2050 {
		t.Fatalf("Len = %d", ix.Len())
	}
	org := make(map[string]*Record)
	for i := range ix.recs {
		r := &ix.recs[i]
		if r.Kind == KindOrganisation {
			org[r.ID] = r
		}
		if i == 0 {
			continue
		}
		p := &ix.recs[i-1]
		var a, b terms
		a.analyse(p)
		b.analyse(r)
		if compareRecords(p, r, a.canon, b.canon) >= 0 {
			t.Fatalf("records %d and %d out of order: %q, %q", i-1, i, p.Name, r.Name)
		}
	}
	for _, r := range ix.recs {
		o := org[r.OrganisationID]
		if r.Kind == KindPerson && (unsafe.StringData(r.OrganisationID) != unsafe.StringData(o.ID) ||
			unsafe.StringData(r.OrganisationName) != unsafe.StringData(o.Name)) {
			t.Fatalf("organisation strings of %s are not shared", r.ID)
		}
	}
}

func TestSearchConcurrent(t *testing.T) {
	ix := Build(genRecords(4, 100, 5000))
	queries := typeAheadQueries(ix, 5, 300)
	want := make([][]Hit, len(queries))
	for i, q := range queries {
		want[i] = ix.Search(q, 10)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range queries {
				i := (i + g*37) % len(queries)
				if got := ix.Search(queries[i], 10); !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("Search(%q) differs when run concurrently", queries[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// oracle answers queries by the package documentation, naively: it tokenises
// every record and sorts all matches.
type oracle struct {
	recs  []Record
	terms []terms
}

func newOracle(recs []Record) *oracle {
	o := &oracle{recs: slices.Clone(recs), terms: make([]terms, len(recs))}
	for i := range o.recs {
		o.terms[i].analyse(&o.recs[i])
		o.terms[i].tokens = slices.Clone(o.terms[i].tokens)
		o.terms[i].exact = slices.Clone(o.terms[i].exact)
		o.terms[i].words = nil
	}
	return o
}

func (o *oracle) search(q string, limit int) []result {
	ws := words(nil, Fold(q), MaxQueryWords+1)
	runes := 0
	for _, w := range ws {
		runes += len([]rune(w))
	}
	if len(q) > MaxQueryBytes || len(ws) == 0 || len(ws) > MaxQueryWords || runes < 2 || limit < 1 {
		return nil
	}
	type hit struct {
		i, rank int
	}
	var hits []hit
	for i := range o.recs {
		if rank := o.rank(&o.terms[i], ws); rank != 0 {
			hits = append(hits, hit{i, rank})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return compareRecords(&o.recs[a.i], &o.recs[b.i], o.terms[a.i].canon, o.terms[b.i].canon)
	})
	var rs []result
	for _, h := range hits[:min(len(hits), limit, MaxLimit)] {
		rs = append(rs, result{o.recs[h.i].ID, h.rank})
	}
	return rs
}

// rank returns how a record with terms t matches query words ws, or 0.
func (o *oracle) rank(t *terms, ws []string) int {
	for _, w := range ws {
		ok := strings.Contains(w, "@") && strings.HasPrefix(t.email, w)
		for _, tok := range t.tokens {
			ok = ok || strings.HasPrefix(tok, w)
		}
		if !ok {
			return 0
		}
	}
	canon := strings.Join(ws, " ")
	switch {
	case slices.Contains(t.exact, canon) || canon == t.email:
		return RankExact
	case strings.HasPrefix(t.first, ws[0]):
		return RankFirstWord
	}
	return RankWord
}

// oracleQueries returns queries of every kind: typed ahead, with an e-mail or
// domain, broad, and garbage.
func oracleQueries(ix *Index, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 2))
	qs := typeAheadQueries(ix, seed, 1500)
	for range 300 {
		r := &ix.recs[rng.IntN(len(ix.recs))]
		if r.Email != "" {
			qs = append(qs, r.Email, r.Email[:rng.IntN(len(r.Email))+1], strings.ToUpper(r.Email))
		}
		for _, d := range r.Domains {
			qs = append(qs, d, d[:rng.IntN(len(d))+1], strings.TrimSuffix(d, ".nl"))
		}
		qs = append(qs, r.Name, Fold(r.Name))
	}
	for a := 'a'; a <= 'z'; a += 3 {
		for b := 'a'; b <= 'z'; b += 2 {
			qs = append(qs, string(a)+string(b), string(a)+" "+string(b), string(b)+" "+string(a)+" e")
		}
	}
	return append(qs, "jan de", "van der", "'t", "s-her", "ijssel", "Ĳssel", "zoe", "a@b", "jan@", "@gemeente", "j@utr", "j@utrecht.nl", "jet j@utr", "j@u jet", "jan@utrecht.nl", "jan.", "x-", "nl")
}

// TestSearchMatchesOracle compares Search with the naive oracle on a generated
// directory with extra awkward records.
func TestSearchMatchesOracle(t *testing.T) {
	recs := append(genRecords(5, 300, 6000), smallDirectory()...)
	recs = append(recs,
		Record{Kind: KindPerson, ID: "at-name", Name: "jan@utrecht.nl"},
		Record{Kind: KindPerson, ID: "no-name", Email: "jan@utrecht.nl"},
		Record{Kind: KindPerson, ID: "one-letter-local", Name: "Jet", Email: "j@utrecht.nl"},
		Record{Kind: KindPerson, ID: "dup-email", Name: "Jan Jansen", Email: "j.jansen@utrecht.nl"},
		Record{Kind: KindOrganisation, ID: "org-email", Name: "Servicedesk", Email: "servicedesk@utrecht.nl"},
		Record{ID: "kind-zero", Name: "Jan"},
		Record{Kind: KindPerson, ID: "long", Name: strings.Repeat("Jansen", 20) + " " + strings.Repeat("ë", 50)},
	)
	o := newOracle(recs)
	ix := Build(recs)
	for _, q := range oracleQueries(ix, 6) {
		all := o.search(q, MaxLimit)
		for _, limit := range []int{1, 7, MaxLimit} {
			want, got := all[:min(limit, len(all))], results(ix.Search(q, limit))
			if len(want) == 0 {
				want = nil
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Fatalf("Search(%q, %d) differs from the oracle (-want +got):\n%s", q, limit, diff)
			}
		}
	}
}

// TestSearchStopsEarly checks that broad single-word queries read a small part
// of their matches rather than collecting and sorting all of them.
func TestSearchStopsEarly(t *testing.T) {
	ix := Build(genRecords(8, 200, 20000))
	for _, q := range []string{"ja", "de", "van", "ma", "wi"} {
		s := searcher{ix: ix, limit: 10}
		if !ix.parse(q, &s.q) {
			t.Fatalf("parse(%q) failed", q)
		}
		s.exact()
		s.ranked()
		w := s.q.words[0]
		matches := int(ix.postOff[w.hi]-ix.postOff[w.lo]) + int(ix.firstOff[w.hi]-ix.firstOff[w.lo])
		t.Logf("%q: %d postings, %d visited, %d checked", q, matches, s.scanned, s.checks)
		if len(s.hits) != 10 || s.scanned+s.checks > matches/10 {
			t.Errorf("Search(%q) returned %d hits after visiting %d and checking %d of %d postings",
				q, len(s.hits), s.scanned, s.checks, matches)
		}
	}
}
