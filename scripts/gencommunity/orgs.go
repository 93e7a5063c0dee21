package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// org is one organisation to write.
type org struct {
	orgSeed
	domains []string // lower-case A-labels, unique in the file
	weight  int      // relative number of people
	people  int
}

// kindRank orders the output: public bodies first, then the rest by kind.
func kindRank(kind string) int {
	order := [...]string{kindGemeente, kindProvincie, kindWaterschap, kindMinisterie, kindAgentschap,
		kindGGD, kindPolitie, kindVeiligheidsregio, kindOnderwijs, kindZorg, kindWonen, kindBedrijf}
	return slices.Index(order[:], kind)
}

// planner chooses organisation names and domains, keeping both unique.
type planner struct {
	ds      *dataset
	r       rng
	names   map[string]bool // nameKey of every name taken
	domains map[string]bool // every domain taken
	idna    *idna.Profile
}

// planOrganisations returns n organisations: all public bodies and the special
// names when n is large enough, otherwise a sample (with the flagged ones), and
// generated schools, healthcare, housing and companies for the rest.
func planOrganisations(ds *dataset, n int, seed uint64) []*org {
	p := &planner{ds: ds, r: newRNG(seed, 0), names: make(map[string]bool), domains: make(map[string]bool), idna: newIDNAProfile()}
	nPublic := min(len(ds.public), n-n*4/10)
	if n >= len(ds.public)+len(ds.special) {
		nPublic = len(ds.public)
	}
	nSpecial := min(len(ds.special), n-nPublic)
	seeds := append(p.samplePublic(nPublic), ds.special[:nSpecial]...)
	for _, s := range seeds {
		p.names[nameKey(s.name)] = true
	}
	for range n - len(seeds) {
		seeds = append(seeds, p.generateSeed())
	}
	slices.SortStableFunc(seeds, func(a, b orgSeed) int { return cmp.Compare(kindRank(a.kind), kindRank(b.kind)) })
	orgs := make([]*org, 0, len(seeds))
	for _, s := range seeds {
		orgs = append(orgs, p.newOrg(s))
	}
	return orgs
}

// samplePublic picks n public bodies in file order: the flagged ones first,
// the rest by selection sampling (Knuth's algorithm S).
func (p *planner) samplePublic(n int) []orgSeed {
	all := p.ds.public
	chosen := make([]bool, len(all))
	left := n
	for i, s := range all {
		if s.has('m') && left > 0 {
			chosen[i], left = true, left-1
		}
	}
	rest := len(all) - (n - left)
	for i := range all {
		if chosen[i] || left == 0 {
			continue
		}
		if p.r.intn(rest) < left {
			chosen[i], left = true, left-1
		}
		rest--
	}
	var out []orgSeed
	for i, s := range all {
		if chosen[i] {
			out = append(out, s)
		}
	}
	return out
}

// generateSeed makes up one organisation with a name not yet taken.
func (p *planner) generateSeed() orgSeed {
	kind := p.pickKind()
	var candidates []template
	for _, t := range p.ds.templates {
		if t.kind == kind {
			candidates = append(candidates, t)
		}
	}
	name := ""
	for attempt := 0; ; attempt++ {
		name = p.fill(pick(p.r, candidates).pattern)
		if attempt >= 8 {
			name = p.disambiguate(name)
		}
		if !p.names[nameKey(name)] {
			break
		}
	}
	p.names[nameKey(name)] = true
	return orgSeed{kind: kind, name: name, base: name, description: kindDescription(kind)}
}

// pickKind draws the kind of a generated organisation.
func (p *planner) pickKind() string {
	switch n := p.r.intn(100); {
	case n < 28:
		return kindOnderwijs
	case n < 58:
		return kindZorg
	case n < 68:
		return kindWonen
	default:
		return kindBedrijf
	}
}

// fill replaces the placeholders of a name template.
func (p *planner) fill(pattern string) string {
	var b strings.Builder
	for {
		before, rest, ok := strings.Cut(pattern, "{")
		b.WriteString(before)
		if !ok {
			return b.String()
		}
		key, after, _ := strings.Cut(rest, "}")
		b.WriteString(p.placeholder(key, b.Len() == 0))
		pattern = after
	}
}

func (p *planner) placeholder(key string, first bool) string {
	switch key {
	case "plaats":
		return pick(p.r, p.ds.places)
	case "woord":
		return pick(p.r, p.ds.words)
	case "voornaam":
		return pick(p.r, p.ds.givenNames)
	default: // naam
		if s := pick(p.r, p.ds.surnames); first {
			return capitalise(s)
		} else {
			return s
		}
	}
}

// disambiguate adds a place, or a branch number, to a name that keeps colliding.
func (p *planner) disambiguate(name string) string {
	candidate := name + " " + pick(p.r, p.ds.places)
	if !p.names[nameKey(candidate)] {
		return candidate
	}
	for i := 2; ; i++ {
		candidate = fmt.Sprintf("%s (vestiging %d)", name, i)
		if !p.names[nameKey(candidate)] {
			return candidate
		}
	}
}

// newOrg gives an organisation its weight and domains.
func (p *planner) newOrg(s orgSeed) *org {
	o := &org{orgSeed: s, weight: p.weight(s)}
	candidates, idn := p.domainCandidates(s)
	want := max(p.domainCount(), len(s.domains))
	if idn {
		want = max(want, 2) // the ASCII form and the IDN form
	}
	for _, d := range candidates {
		if len(o.domains) >= want {
			break
		}
		if d, err := normalizeDomain(p.idna, d); err == nil && !p.domains[d] {
			p.domains[d] = true
			o.domains = append(o.domains, d)
		}
	}
	if len(o.domains) == 0 {
		o.domains = append(o.domains, p.numberedDomain(s))
	}
	return o
}

// domainCount draws how many domains an organisation has: 1–5, mostly 1 or 2.
func (p *planner) domainCount() int {
	switch n := p.r.intn(100); {
	case n < 45:
		return 1
	case n < 75:
		return 2
	case n < 90:
		return 3
	case n < 97:
		return 4
	default:
		return 5
	}
}

// domainCandidates lists plausible domains, best first: explicit ones, the
// compact name, the IDN form for names with diacritics, a hyphenated form,
// then kind-specific variants. idn tells whether an IDN form is among them.
func (p *planner) domainCandidates(s orgSeed) (candidates []string, idn bool) {
	base := strings.TrimSpace(strings.NewReplacer(" B.V.", "", " N.V.", "", " U.A.", "").Replace(s.base))
	words := asciiWords(base)
	compact, hyphen := label(words, ""), label(words, "-")
	out := append([]string(nil), s.domains...)
	out = append(out, compact+".nl")
	if u := label(unicodeWords(base), "-"); !isASCII(u) {
		out, idn = append(out, u+".nl"), true
	}
	out = append(out, hyphen+".nl")
	switch s.kind {
	case kindGemeente:
		out = append(out, "gemeente"+compact+".nl", "gemeente-"+hyphen+".nl", compact+".frl")
	case kindBedrijf:
		out = append(out, compact+".com", compact+".eu", hyphen+".com")
	default:
		out = append(out, compact+".org", compact+".eu", "mail-"+hyphen+".nl")
	}
	return out, idn
}

// label joins words into a DNS label of at most 63 octets.
func label(words []string, sep string) string {
	l := strings.Join(words, sep)
	if len(l) > 63 {
		l = strings.TrimRight(l[:63], "-")
	}
	return l
}

// numberedDomain is the last resort: the compact name with a number.
func (p *planner) numberedDomain(s orgSeed) string {
	compact := label(asciiWords(s.base), "")
	if len(compact) > 55 {
		compact = compact[:55]
	}
	for i := 2; ; i++ {
		d := compact + strconv.Itoa(i) + ".nl"
		if !p.domains[d] {
			p.domains[d] = true
			return d
		}
	}
}

// weight is an organisation's relative size, with ±50% jitter.
func (p *planner) weight(s orgSeed) int {
	base := 0
	switch s.kind {
	case kindGemeente:
		base = 40
		if s.has('4') {
			base = 400
		} else if s.has('g') {
			base = 120
		}
	case kindPolitie:
		base = 300
	case kindMinisterie:
		base = 150
	case kindAgentschap:
		base = 80
	case kindProvincie:
		base = 60
	case kindWaterschap, kindGGD:
		base = 40
	case kindVeiligheidsregio:
		base = 30
	case kindWonen:
		base = 12
	case kindOnderwijs, kindZorg:
		base = 10
	default:
		base = 6
	}
	return base * p.r.between(50, 150) / 100
}

// allocatePeople spreads m people over the organisations in proportion to
// their weights (largest remainder, ties to the earlier organisation).
func allocatePeople(orgs []*org, m int) {
	total := 0
	for _, o := range orgs {
		total += o.weight
	}
	if total == 0 || m == 0 {
		return
	}
	rems := make([]int, len(orgs))
	given := 0
	for i, o := range orgs {
		o.people = m * o.weight / total
		rems[i] = m * o.weight % total
		given += o.people
	}
	idx := make([]int, len(orgs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for _, i := range idx[:m-given] {
		orgs[i].people++
	}
}
