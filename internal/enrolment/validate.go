package enrolment

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/veilig/veilig/directory"
)

// Bounds of the submitted fields.
const (
	maxNameRunes = 200
	maxDomains   = 20
	maxEmail     = 254 // RFC 5321 §4.5.3.1.3 path minus the angle brackets
	maxPhone     = 16  // "+" and 15 digits (E.164 §6.1)
)

var (
	kvkPattern   = regexp.MustCompile(`^[0-9]{8}$`)
	oinPattern   = regexp.MustCompile(`^[0-9]{20}$`)
	e164Pattern  = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	localPattern = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]{1,64}$`)
)

// validator collects field errors.
type validator struct{ errs []FieldError }

func (v *validator) add(field, en, nl string) {
	v.errs = append(v.errs, FieldError{Field: field, Detail: en, DetailNL: nl})
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs}
}

// normalise validates n and returns it with trimmed names, normalised domains
// (lower-case IDNA A-labels), a lower-case e-mail domain and an E.164 phone.
func normalise(n NewEnrolment) (NewEnrolment, error) {
	var v validator
	n.OrganisationName = v.name("organisation.name", n.OrganisationName)
	v.registration(n.KvK, n.OIN)
	n.Domains = v.domains(n.Domains)
	n.AdminName = v.name("admin.name", n.AdminName)
	n.AdminEmail = v.email(n.AdminEmail, n.Domains)
	n.AdminPhone = v.phone(n.AdminPhone)
	return n, v.err()
}

func (v *validator) name(field, s string) string { return v.text(field, s, maxNameRunes) }

// text accepts 1 to maxRunes characters of UTF-8 without control characters.
func (v *validator) text(field, s string, maxRunes int) string {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		v.add(field, "is not valid UTF-8", "is geen geldige UTF-8")
	case n == 0:
		v.add(field, "is required", "is verplicht")
	case n > maxRunes:
		v.add(field, fmt.Sprintf("is longer than %d characters", maxRunes),
			fmt.Sprintf("is langer dan %d tekens", maxRunes))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(field, "contains control characters", "bevat stuurtekens")
	}
	return s
}

func (v *validator) registration(kvk, oin string) {
	switch {
	case kvk == "" && oin == "":
		v.add("organisation", "give a KvK number or an OIN", "geef een KvK-nummer of een OIN")
	case kvk != "" && oin != "":
		v.add("organisation", "give a KvK number or an OIN, not both", "geef een KvK-nummer of een OIN, niet beide")
	case kvk != "" && !kvkPattern.MatchString(kvk):
		v.add("organisation.kvk", "must be 8 digits", "moet uit 8 cijfers bestaan")
	case oin != "" && !oinPattern.MatchString(oin):
		v.add("organisation.oin", "must be 20 digits", "moet uit 20 cijfers bestaan")
	}
}

func (v *validator) domains(in []string) []string {
	if len(in) == 0 || len(in) > maxDomains {
		v.add("domains", fmt.Sprintf("give 1 to %d domains", maxDomains),
			fmt.Sprintf("geef 1 tot %d domeinen", maxDomains))
		return nil
	}
	out := make([]string, 0, len(in))
	for i, raw := range in {
		field := fmt.Sprintf("domains[%d]", i)
		d, err := directory.NormalizeDomain(raw)
		switch {
		case err != nil:
			v.add(field, "is not a valid domain name", "is geen geldige domeinnaam")
		case slices.Contains(out, d):
			v.add(field, "is listed twice", "staat er twee keer in")
		default:
			out = append(out, d)
		}
	}
	return out
}

// email accepts a bare addr-spec with a dot-atom local part whose domain is
// one of the claimed domains; it returns it with the domain normalised.
func (v *validator) email(s string, domains []string) string {
	s = strings.TrimSpace(s)
	local, domain, ok := strings.Cut(s, "@")
	if len(s) > maxEmail || !ok || !localPattern.MatchString(local) || !validAddress(s) {
		v.add("admin.email", "is not a valid e-mail address", "is geen geldig e-mailadres")
		return s
	}
	d, err := directory.NormalizeDomain(domain)
	if err != nil {
		v.add("admin.email", "is not a valid e-mail address", "is geen geldig e-mailadres")
		return s
	}
	if !slices.Contains(domains, d) {
		v.add("admin.email", "must be at one of the claimed domains", "moet op een van de opgegeven domeinen liggen")
	}
	return local + "@" + d
}

func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func (v *validator) phone(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxPhone || !e164Pattern.MatchString(s) {
		v.add("admin.phone", "must be an international number in E.164 form, e.g. +31612345678",
			"moet een internationaal nummer in E.164-vorm zijn, bijv. +31612345678")
		return s
	}
	pn, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(pn) {
		v.add("admin.phone", "is not a valid phone number", "is geen geldig telefoonnummer")
		return s
	}
	return phonenumbers.Format(pn, phonenumbers.E164)
}
