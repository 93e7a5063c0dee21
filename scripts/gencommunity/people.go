package main

import (
	"strconv"
	"strings"
)

// person is one inetOrgPerson to write.
type person struct {
	givenName, sn, cn string
	uid               string // may be empty unless rdnUID
	rdnUID            bool   // the display name repeats in the organisation: RDN cn+uid
	mail              string
	department        string
	title             string
	underOU           bool // placed below ou=<department> instead of directly below the organisation
}

// staff is the people of one organisation and the departments that are
// organizationalUnit entries below it.
type staff struct {
	people []person
	units  []string
}

// peopleMaker generates the people of one organisation. Its maps guarantee
// that display names (in RDNs), uids and mail addresses are unique within the
// organisation; since domains are unique in the file, addresses are too.
type peopleMaker struct {
	ds          *dataset
	r           rng
	o           *org
	mailPattern int
	departments []string
	names       map[string]bool
	uids        map[string]bool
	mails       map[string]bool
}

func makeStaff(ds *dataset, o *org, seed uint64, stream uint64) staff {
	pm := &peopleMaker{
		ds: ds, r: newRNG(seed, stream), o: o,
		departments: ds.departmentsOf(o.kind),
		names:       make(map[string]bool, o.people),
		uids:        make(map[string]bool, o.people),
		mails:       make(map[string]bool, o.people),
	}
	pm.mailPattern = pm.r.intn(4)
	var st staff
	if o.people >= 8 && pm.r.chance(50) {
		st.units = pm.pickUnits()
	}
	st.people = make([]person, 0, o.people)
	for range o.people {
		st.people = append(st.people, pm.next(st))
	}
	return st
}

// pickUnits chooses up to three distinct departments to be ou entries.
func (pm *peopleMaker) pickUnits() []string {
	var units []string
	for range 3 {
		d := pick(pm.r, pm.departments)
		if !contains(units, d) {
			units = append(units, d)
		}
	}
	return units
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// next generates one person; st holds those generated so far.
func (pm *peopleMaker) next(st staff) person {
	p := person{givenName: pick(pm.r, pm.ds.givenNames), sn: pick(pm.r, pm.ds.surnames)}
	if n := len(st.people); n > 0 && pm.r.chance(2) {
		prev := st.people[pm.r.intn(n)] // a namesake, as every large organisation has
		p.givenName, p.sn = prev.givenName, prev.sn
	}
	p.cn = p.givenName + " " + p.sn
	key := nameKey(p.cn)
	p.rdnUID = pm.names[key]
	pm.names[key] = true
	p.uid = pm.uniqueUID(p)
	if !p.rdnUID && !pm.r.chance(70) {
		p.uid = ""
	}
	p.mail = pm.uniqueMail(p)
	p.department = pick(pm.r, pm.departments)
	if len(st.units) > 0 && pm.r.chance(60) {
		p.department, p.underOU = pick(pm.r, st.units), true
	} else if len(st.units) > 0 {
		p.underOU = contains(st.units, p.department)
	}
	if pm.r.chance(60) {
		p.title = pick(pm.r, pm.ds.titles)
	}
	return p
}

// uniqueUID is the initial and the surname ("jdevries"), numbered from 2 on
// collision within the organisation.
func (pm *peopleMaker) uniqueUID(p person) string {
	base := strings.Join(asciiWords(firstRune(p.givenName)+" "+p.sn), "")
	return numbered(pm.uids, base, "")
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}

// uniqueMail builds the address from the name in the organisation's pattern,
// at one of its domains.
func (pm *peopleMaker) uniqueMail(p person) string {
	given := strings.Join(asciiWords(p.givenName), "-")
	sn := asciiWords(p.sn)
	var local string
	switch pm.mailPattern {
	case 0: // jan.devries
		local = given + "." + strings.Join(sn, "")
	case 1: // j.devries
		local = strings.Join(asciiWords(firstRune(p.givenName)), "") + "." + strings.Join(sn, "")
	case 2: // jan.de.vries
		local = given + "." + strings.Join(sn, ".")
	default: // jdevries
		local = strings.Join(asciiWords(firstRune(p.givenName)+" "+p.sn), "")
	}
	domain := pm.o.domains[0]
	if len(pm.o.domains) > 1 && pm.r.chance(20) {
		domain = pick(pm.r, pm.o.domains)
	}
	return numbered(pm.mails, local, "@"+domain)
}

// numbered returns base+suffix, or base2+suffix, base3+suffix, … whichever is
// not yet in taken, and records it.
func numbered(taken map[string]bool, base, suffix string) string {
	s := base + suffix
	for i := 2; taken[s]; i++ {
		s = base + strconv.Itoa(i) + suffix
	}
	taken[s] = true
	return s
}
