package main

import (
	"bufio"
	"embed"
	"fmt"
	"strings"
)

//go:embed data/*.txt
var dataFiles embed.FS

// Organisation kinds, in output order.
const (
	kindGemeente         = "gemeente"
	kindProvincie        = "provincie"
	kindWaterschap       = "waterschap"
	kindMinisterie       = "ministerie"
	kindAgentschap       = "agentschap"
	kindGGD              = "ggd"
	kindPolitie          = "politie"
	kindVeiligheidsregio = "veiligheidsregio"
	kindOnderwijs        = "onderwijs"
	kindZorg             = "zorg"
	kindWonen            = "wonen"
	kindBedrijf          = "bedrijf"
)

// orgSeed is an organisation as the data files describe it.
type orgSeed struct {
	kind        string
	name        string   // the o value, unique
	base        string   // what the derived domains are made of ("Amsterdam" for "Gemeente Amsterdam")
	description string   //
	province    string   // municipalities only
	flags       string   // see gemeenten.txt
	domains     []string // explicit domains, before normalisation
}

func (s orgSeed) has(flag byte) bool { return strings.IndexByte(s.flags, flag) >= 0 }

// template is a name pattern for generated organisations.
type template struct{ kind, pattern string }

// dataset is everything the generator draws from. It is read once and not
// changed afterwards.
type dataset struct {
	public      []orgSeed // municipalities, then other public bodies, in file order
	special     []orgSeed // names that exercise escaping; always included
	templates   []template
	givenNames  []string
	surnames    []string
	words       []string
	places      []string // municipalities' base names and other towns
	titles      []string
	departments map[string][]string // kind → departments, "*" included in every kind
}

func loadDataset() (*dataset, error) {
	ds := &dataset{departments: make(map[string][]string)}
	steps := []struct {
		file  string
		parse func(fields []string) error
	}{
		{"gemeenten.txt", ds.addMunicipality},
		{"publiek.txt", ds.addPublicBody},
		{"bijzonder.txt", ds.addSpecial},
		{"sjablonen.txt", ds.addTemplate},
		{"afdelingen.txt", ds.addDepartment},
		{"voornamen.txt", appendTo(&ds.givenNames)},
		{"achternamen.txt", appendTo(&ds.surnames)},
		{"woorden.txt", appendTo(&ds.words)},
		{"plaatsen.txt", appendTo(&ds.places)},
		{"functies.txt", appendTo(&ds.titles)},
	}
	for _, s := range steps {
		if err := eachRecord(s.file, s.parse); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// eachRecord calls fn with the '|'-separated fields of every line of a data
// file that is neither blank nor a comment.
func eachRecord(file string, fn func([]string) error) error {
	f, err := dataFiles.Open("data/" + file)
	if err != nil {
		return fmt.Errorf("gencommunity: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(strings.Split(line, "|")); err != nil {
			return fmt.Errorf("gencommunity: %s:%d: %w", file, n, err)
		}
	}
	return sc.Err()
}

func appendTo(list *[]string) func([]string) error {
	return func(f []string) error {
		*list = append(*list, f[0])
		return nil
	}
}

func wantFields(f []string, n int) error {
	if len(f) != n {
		return fmt.Errorf("%d fields, want %d", len(f), n)
	}
	return nil
}

func (ds *dataset) addMunicipality(f []string) error {
	if err := wantFields(f, 4); err != nil {
		return err
	}
	ds.public = append(ds.public, orgSeed{
		kind: kindGemeente, name: "Gemeente " + f[0], base: f[0],
		description: "Gemeente in " + f[1], province: f[1], flags: f[2],
		domains: strings.Fields(f[3]),
	})
	ds.places = append(ds.places, f[0])
	return nil
}

// kindDescriptions are the default descriptions of public bodies.
func kindDescription(kind string) string {
	switch kind {
	case kindProvincie:
		return "Provincie"
	case kindWaterschap:
		return "Waterschap"
	case kindMinisterie:
		return "Ministerie"
	case kindAgentschap:
		return "Uitvoeringsorganisatie van de Rijksoverheid"
	case kindGGD:
		return "Gemeentelijke gezondheidsdienst (GGD-regio)"
	case kindPolitie:
		return "Politie"
	case kindVeiligheidsregio:
		return "Veiligheidsregio"
	case kindOnderwijs:
		return "Onderwijs"
	case kindZorg:
		return "Zorg en welzijn"
	case kindWonen:
		return "Woningcorporatie"
	default:
		return "Bedrijf"
	}
}

func (ds *dataset) addPublicBody(f []string) error {
	if err := wantFields(f, 5); err != nil {
		return err
	}
	desc := f[4]
	if desc == "" {
		desc = kindDescription(f[0])
	}
	ds.public = append(ds.public, orgSeed{
		kind: f[0], name: f[1], base: f[1], description: desc, flags: f[2],
		domains: strings.Fields(f[3]),
	})
	return nil
}

func (ds *dataset) addSpecial(f []string) error {
	if err := wantFields(f, 2); err != nil {
		return err
	}
	ds.special = append(ds.special, orgSeed{
		kind: f[0], name: f[1], base: f[1], description: kindDescription(f[0]),
	})
	return nil
}

func (ds *dataset) addTemplate(f []string) error {
	if err := wantFields(f, 2); err != nil {
		return err
	}
	ds.templates = append(ds.templates, template{kind: f[0], pattern: f[1]})
	return nil
}

func (ds *dataset) addDepartment(f []string) error {
	if err := wantFields(f, 2); err != nil {
		return err
	}
	ds.departments[f[0]] = append(ds.departments[f[0]], f[1])
	return nil
}

// departmentsOf lists the departments an organisation of a kind can have.
func (ds *dataset) departmentsOf(kind string) []string {
	all := append([]string(nil), ds.departments["*"]...)
	return append(all, ds.departments[kind]...)
}
