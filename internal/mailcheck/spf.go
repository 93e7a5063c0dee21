package mailcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// maxSPFLookups is the limit on DNS-querying terms (RFC 7208 §4.6.4).
const maxSPFLookups = 10

// SPF checks the domain's SPF record (RFC 7208): exactly one record, a
// restrictive "all", at most 10 DNS-querying terms across includes and
// redirects, and no "ptr" (RFC 7208 §5.5 says it should not be used).
func (c *Checker) SPF(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestSPF, domain, c.spf)
}

// permError is an SPF permanent error (RFC 7208 §2.6.7) with its explanation.
type permError struct{ why text }

func (e *permError) Error() string { return "mailcheck: spf permerror: " + e.why.en }

// spfWalk holds the state of one evaluation across includes and redirects.
type spfWalk struct {
	r        Resolver
	lookups  int
	ptr      bool
	visiting map[string]bool // names on the current include/redirect path
}

func (c *Checker) spf(ctx context.Context, domain string) (Result, error) {
	w := &spfWalk{r: c.r, visiting: map[string]bool{}}
	recs, err := w.records(ctx, domain)
	if err != nil {
		return Result{}, err
	}
	if len(recs) == 0 {
		return result(StatusFail,
			text{"Het domein heeft geen SPF-record.", "The domain has no SPF record."},
			text{`Publiceer één TXT-record dat begint met "v=spf1" en eindigt op "-all" of "~all".`,
				`Publish one TXT record that starts with "v=spf1" and ends with "-all" or "~all".`}), nil
	}
	if len(recs) > 1 {
		return permResult(multipleRecords(domain)), nil
	}
	all, err := w.walk(ctx, domain, recs[0])
	var pe *permError
	if errors.As(err, &pe) {
		return permResult(pe.why), nil
	}
	if err != nil {
		return Result{}, err
	}
	return w.rate(all), nil
}

// records returns the SPF records among the TXT records at name; NXDOMAIN
// counts as none.
func (w *spfWalk) records(ctx context.Context, name string) ([]string, error) {
	txts, _, err := w.r.TXT(ctx, name)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return nil, lookupErr("TXT", name, err)
	}
	var recs []string
	for _, t := range txts {
		l := strings.ToLower(strings.TrimSpace(t))
		if l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			recs = append(recs, t)
		}
	}
	return recs, nil
}

// walk evaluates the record published at domain and returns the qualifier
// of its effective "all" ("" when there is none), following redirect=.
func (w *spfWalk) walk(ctx context.Context, domain, record string) (string, error) {
	w.visiting[domain] = true
	defer delete(w.visiting, domain)
	all, redirect := "", ""
	for _, term := range strings.Fields(record)[1:] {
		t := parseTerm(term)
		switch {
		case t.modifier && t.name == "redirect":
			redirect = t.arg
		case t.modifier:
			// exp= and unknown modifiers do not affect the rating (RFC 7208 §6).
		case t.name == "all":
			all = t.qual
		default:
			if err := w.mechanism(ctx, t); err != nil {
				return "", err
			}
		}
	}
	if all != "" || redirect == "" {
		return all, nil
	}
	return w.follow(ctx, "redirect", redirect)
}

// mechanism counts a DNS-querying mechanism and follows an include.
func (w *spfWalk) mechanism(ctx context.Context, t spfTerm) error {
	switch t.name {
	case "ip4", "ip6":
		return nil
	case "a", "mx", "exists", "ptr":
		w.ptr = w.ptr || t.name == "ptr"
		return w.count()
	case "include":
		_, err := w.follow(ctx, "include", t.arg)
		return err
	}
	return &permError{text{
		fmt.Sprintf("Het SPF-record bevat een onbekend mechanisme %q.", t.name),
		fmt.Sprintf("The SPF record contains an unknown mechanism %q.", t.name)}}
}

// count records one DNS-querying term and enforces the limit.
func (w *spfWalk) count() error {
	w.lookups++
	if w.lookups <= maxSPFLookups {
		return nil
	}
	return &permError{text{
		"Het SPF-record vereist meer dan 10 DNS-lookups (RFC 7208 §4.6.4).",
		"The SPF record needs more than 10 DNS lookups (RFC 7208 §4.6.4)."}}
}

// follow counts and evaluates the record at target of an include or redirect.
func (w *spfWalk) follow(ctx context.Context, kind, target string) (string, error) {
	if err := w.count(); err != nil {
		return "", err
	}
	target = strings.ToLower(strings.TrimSuffix(target, "."))
	if strings.Contains(target, "%") {
		return "", nil // macros depend on the sender: counted, not followed
	}
	if target == "" || w.visiting[target] {
		return "", &permError{text{
			fmt.Sprintf("Het SPF-record bevat een ongeldige of terugkerende %s (%q).", kind, target),
			fmt.Sprintf("The SPF record contains an invalid or looping %s (%q).", kind, target)}}
	}
	recs, err := w.records(ctx, target)
	if err != nil {
		return "", err
	}
	switch len(recs) {
	case 0:
		return "", &permError{text{
			fmt.Sprintf("De %s %q verwijst naar een domein zonder SPF-record.", kind, target),
			fmt.Sprintf("The %s %q points to a domain without an SPF record.", kind, target)}}
	case 1:
		return w.walk(ctx, target, recs[0])
	}
	return "", &permError{multipleRecords(target)}
}

// rate turns the effective "all" qualifier and the findings into a Result.
func (w *spfWalk) rate(all string) Result {
	res := rateAll(all, w.lookups)
	if w.ptr && severity(res.Status) < severity(StatusWarning) {
		return result(StatusWarning,
			text{`Het SPF-record gebruikt het mechanisme "ptr", dat traag en onbetrouwbaar is (RFC 7208 §5.5).`,
				`The SPF record uses the "ptr" mechanism, which is slow and unreliable (RFC 7208 §5.5).`},
			text{`Vervang "ptr" door "ip4", "ip6", "a" of "mx".`, `Replace "ptr" with "ip4", "ip6", "a" or "mx".`})
	}
	return res
}

// rateAll rates the qualifier of the effective "all" mechanism.
func rateAll(all string, lookups int) Result {
	switch all {
	case "-", "~":
		return result(StatusPass, text{
			fmt.Sprintf("Het SPF-record is geldig en streng (%sall, %d DNS-lookups).", all, lookups),
			fmt.Sprintf("The SPF record is valid and strict (%sall, %d DNS lookups).", all, lookups)}, noFix())
	case "+":
		return result(StatusFail,
			text{`Het SPF-record eindigt op "+all": iedereen mag namens het domein mailen.`,
				`The SPF record ends in "+all": anyone may send mail for the domain.`},
			text{`Vervang "+all" door "-all" of "~all".`, `Replace "+all" with "-all" or "~all".`})
	case "?":
		return result(StatusWarning,
			text{`Het SPF-record eindigt op "?all", dat niets afdwingt.`, `The SPF record ends in "?all", which enforces nothing.`},
			text{`Vervang "?all" door "-all" of "~all".`, `Replace "?all" with "-all" or "~all".`})
	}
	return result(StatusWarning,
		text{`Het SPF-record heeft geen "all"-mechanisme en dwingt dus niets af.`,
			`The SPF record has no "all" mechanism and so enforces nothing.`},
		text{`Sluit het SPF-record af met "-all" of "~all".`, `End the SPF record with "-all" or "~all".`})
}

// multipleRecords explains the permerror for 2+ SPF records (RFC 7208 §4.5).
func multipleRecords(name string) text {
	return text{
		fmt.Sprintf("%s heeft meer dan één SPF-record (permerror, RFC 7208 §4.5).", name),
		fmt.Sprintf("%s has more than one SPF record (permerror, RFC 7208 §4.5).", name)}
}

// permResult is the failing Result for an SPF permerror.
func permResult(why text) Result {
	return result(StatusFail, why, text{
		"Corrigeer het SPF-record; ontvangers behandelen het nu als ongeldig (permerror).",
		"Correct the SPF record; receivers now treat it as invalid (permerror)."})
}

// spfTerm is one parsed SPF term (RFC 7208 §4.6.1).
type spfTerm struct {
	qual     string // "+", "-", "~" or "?"
	name     string // lower-case mechanism or modifier name
	arg      string // domain-spec after ':' or '='; "" if none
	modifier bool
}

// parseTerm splits an SPF term into qualifier, name and argument.
func parseTerm(s string) spfTerm {
	t := spfTerm{qual: "+"}
	if s != "" && strings.ContainsRune("+-~?", rune(s[0])) {
		t.qual, s = s[:1], s[1:]
	}
	i := strings.IndexAny(s, ":/=")
	if i < 0 {
		t.name = strings.ToLower(s)
		return t
	}
	t.name = strings.ToLower(s[:i])
	switch s[i] {
	case '=':
		t.modifier, t.arg = true, s[i+1:]
	case ':':
		t.arg, _, _ = strings.Cut(s[i+1:], "/")
	}
	return t
}
