package search

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Synthetic directory data with realistic Dutch names, deterministic per seed.

var (
	firstNames = []string{
		"Jan", "Johannes", "Cornelis", "Hendrik", "Willem", "Pieter", "Gerrit", "Jacobus", "Dirk", "Klaas",
		"Jan-Willem", "Jan-Peter", "Maria", "Johanna", "Anna", "Cornelia", "Wilhelmina", "Elisabeth",
		"Anne-Marie", "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Bram", "Thijs", "Ruben", "Jesse",
		"Lars", "Tim", "Sanne", "Lisa", "Emma", "Julia", "Sophie", "Tess", "Fleur", "Lotte", "Eva", "Iris",
		"Noor", "Zoë", "Anaïs", "Chloë", "Noël", "Loïs", "René", "André", "Joëlle", "Daniëlle", "Ruud",
		"Michiel", "Maarten", "Sjoerd", "Wouter", "Jeroen", "Marieke", "Annemieke", "Ingrid", "Petra",
		"Janneke", "Jasper", "Jaap", "Jacob", "Jannie", "Jolanda", "Joost", "Koen", "Kees", "Marco", "Mark",
		"Martijn", "Niels", "Rob", "Stefan", "Vincent", "Yvonne", "Wendy", "Mohammed", "Fatima", "Ayşe",
		"Mehmet", "Özlem", "Ĳsbrand", "IJsbrand", "Sietske", "Tjitske", "Hylke", "Wietse", "Femke", "Gert-Jan",
		"Henk", "Hans", "Gerard", "Bart", "Erik", "Frank", "Paul", "Peter", "Robert", "Sandra", "Monique",
		"Linda", "Esther", "Mirjam", "Nicole", "Saskia", "Karin", "Marloes", "Anouk", "Rianne", "Chantal",
	}
	infixes  = []string{"van", "de", "van der", "van den", "van de", "den", "ter", "te", "in 't", "van 't", "'t", "op de", "ten"}
	surnames = []string{
		"Jong", "Jansen", "Vries", "Berg", "Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer", "Boer",
		"Mulder", "Groot", "Bos", "Vos", "Peters", "Hendriks", "Leeuwen", "Dekker", "Brouwer", "Wit",
		"Dijkstra", "Smits", "Graaf", "Meer", "Linden", "Kok", "Jacobs", "Haan", "Vermeulen", "Heuvel",
		"Veen", "Broek", "Bruijn", "Bruin", "Heijden", "Schouten", "Beek", "Willems", "Vliet", "Ven",
		"Hoekstra", "Maas", "Verhoeven", "Koster", "Dam", "Wal", "Prins", "Blom", "Huisman", "Peeters",
		"Jonge", "Kuipers", "Post", "Kuiper", "Veenstra", "Kramer", "Brink", "Scholten", "Wijk", "Postma",
		"Martens", "Vink", "Ruiter", "Timmermans", "Groen", "Gerritsen", "Jonker", "Loon", "Boer", "Velde",
		"Willemsen", "Smeets", "Lange", "Bosch", "Dongen", "Schipper", "Koning", "Laan", "Velden",
		"Driessen", "Doorn", "Hermans", "Evers", "Meulen", "Hofman", "Bosman", "Wolters", "Sijbesma",
		"Yılmaz", "Şahin", "Çelik", "Öztürk", "El Amrani", "Bouzid", "Nguyen", "Ĳzerman", "IJsseldijk",
		"Hooft", "Hart", "Zwaan", "Zanten", "Achterberg", "Aalbers", "Abbink", "Uijl", "Eijk", "Oosterhuis",
		"Quist", "Xander", "Ypma", "Zijlstra", "Wijnands", "Tuinstra", "Rietveld", "Nijland", "Lubbers",
	}
	places = []string{
		"Amsterdam", "Rotterdam", "Den Haag", "'s-Gravenhage", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
		"Almere", "Breda", "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Enschede", "Amersfoort", "Zaanstad",
		"'s-Hertogenbosch", "Haarlemmermeer", "Zwolle", "Zoetermeer", "Leiden", "Maastricht", "Dordrecht",
		"Ede", "Alphen aan den Rijn", "Leeuwarden", "Alkmaar", "Emmen", "Westland", "Delft", "Venlo", "Deventer",
		"Súdwest-Fryslân", "Ĳsselstein", "IJsselstein", "Bergen op Zoom", "Capelle aan den IJssel", "Hengelo",
		"Roosendaal", "Oss", "Schiedam", "Lelystad", "Hilversum", "Leidschendam-Voorburg", "Gouda", "Purmerend",
		"Vlaardingen", "Assen", "Katwijk", "Heerlen", "Sittard-Geleen", "Hoorn", "Helmond", "Veenendaal",
		"Nieuwegein", "Den Helder", "Zeist", "Doetinchem", "Wijchen", "Noardeast-Fryslân", "Kampen",
		"Terneuzen", "Middelburg", "Vlissingen", "Goes", "Harderwijk", "Woerden", "Houten", "Culemborg",
	}
	orgTypes   = []string{"Gemeente", "Provincie", "Waterschap", "GGD", "Veiligheidsregio", "Omgevingsdienst", "Stichting Jeugdzorg", "Basisschool", "Woningcorporatie", "Zorggroep", "Bibliotheek", "Politie", "Belastingsamenwerking", "Regionaal Archief", "ROC"}
	orgQualify = []string{"", "", "", "Noord", "Zuid", "Oost", "West", "Centrum", "De Regenboog", "Het Baken", "(afdeling ICT)", "& Omstreken", "/ Regio"}
)

// testOrg is a generated organisation, for giving people addresses.
type testOrg struct {
	id, name, domain string
}

// genRecords returns orgs organisations followed by people, deterministic per
// seed.
func genRecords(seed uint64, orgs, people int) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	recs := make([]Record, 0, orgs+people)
	os := make([]testOrg, orgs)
	for i := range os {
		r := genOrg(rng, i)
		os[i] = testOrg{r.ID, r.Name, r.Domains[0]}
		recs = append(recs, r)
	}
	zipf := rand.NewZipf(rng, 1.1, 4, uint64(orgs-1))
	for i := range people {
		recs = append(recs, genPerson(rng, i, os[zipf.Uint64()]))
	}
	return recs
}

// genOrg returns organisation number i.
func genOrg(rng *rand.Rand, i int) Record {
	typ, place := pick(rng, orgTypes), pick(rng, places)
	name := typ + " " + place
	if q := pick(rng, orgQualify); q != "" {
		name += " " + q
	}
	base := slug(typ) + "-" + slug(place)
	domains := []string{fmt.Sprintf("%s%d.nl", base, i)}
	if rng.IntN(3) == 0 {
		domains = append(domains, fmt.Sprintf("%s%d.example", slug(place), i))
	}
	id := fakeUUID(rng)
	return Record{Kind: KindOrganisation, ID: id, Name: name, OrganisationID: id, OrganisationName: name, Domains: domains}
}

// genPerson returns person number i at org.
func genPerson(rng *rand.Rand, i int, org testOrg) Record {
	first, sur := pick(rng, firstNames), pick(rng, surnames)
	family := sur
	if rng.IntN(3) == 0 {
		family = pick(rng, infixes) + " " + sur
	}
	name := first + " " + family
	if rng.IntN(20) == 0 {
		name = family + ", " + first
	}
	var email string
	if rng.IntN(50) != 0 {
		local := slug(first) + "." + slug(family)
		if rng.IntN(2) == 0 {
			local = slug(first[:1]) + "." + slug(family)
		}
		if rng.IntN(10) == 0 {
			local += fmt.Sprint(rng.IntN(100))
		}
		email = local + "@" + org.domain
	}
	return Record{
		Kind: KindPerson, ID: fakeUUID(rng), Name: name, Email: email,
		OrganisationID: strings.Clone(org.id), OrganisationName: strings.Clone(org.name),
	}
}

func pick(rng *rand.Rand, xs []string) string { return xs[rng.IntN(len(xs))] }

// slug turns a name into a plausible address part.
func slug(s string) string {
	var b strings.Builder
	for _, r := range Fold(s) {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func fakeUUID(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff,
		rng.Uint32()&0xfff, rng.Uint32()&0xffff|0x8000, rng.Uint64()&0xffffffffffff)
}
