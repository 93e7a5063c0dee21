package directory

import (
	"net/mail"
	"strings"
)

// Routes a recipient can take.
const (
	RouteInternal = "internal" // community member: delivered over the internal secure route
	RouteExternal = "external" // anyone else: notification plus the external viewer
	RouteInvalid  = "invalid"  // not a usable address
)

// Reasons are stable codes that clients translate; Detail says the same in English.
const (
	ReasonCommunityDomain    = "community-domain"
	ReasonCommunitySubdomain = "community-subdomain"
	ReasonNotInCommunity     = "not-in-community"
	ReasonSyntax             = "invalid-syntax"
	ReasonTooLong            = "too-long"
	ReasonControlChars       = "control-characters"
	ReasonInvalidDomain      = "invalid-domain"
)

// Limits of RFC 5321 §4.5.3.1.
const (
	maxAddressLen   = 254
	maxLocalPartLen = 64
)

// Resolution says how one address would be reached.
type Resolution struct {
	Address      string  `json:"address"`
	Route        string  `json:"route"`
	Organisation *OrgRef `json:"organisation"`
	Reason       string  `json:"reason"`
	Detail       string  `json:"detail"`
}

// Resolve decides the route of every address, in order, against this snapshot.
func (s *Snapshot) Resolve(addresses []string) []Resolution {
	out := make([]Resolution, len(addresses))
	for i, a := range addresses {
		out[i] = s.resolve(a)
	}
	return out
}

func (s *Snapshot) resolve(address string) Resolution {
	r := Resolution{Address: address, Route: RouteInvalid}
	domain, reason, detail := CheckAddress(address)
	if reason != "" {
		r.Reason, r.Detail = reason, detail
		return r
	}
	if org, cand, ok := s.find(domain); ok {
		r.Route, r.Organisation = RouteInternal, &org
		r.Reason, r.Detail = ReasonCommunityDomain, "the domain "+cand+" belongs to "+org.Name
		if cand != domain {
			r.Reason, r.Detail = ReasonCommunitySubdomain, domain+" is a subdomain of "+cand+", which belongs to "+org.Name
		}
		return r
	}
	r.Route, r.Reason, r.Detail = RouteExternal, ReasonNotInCommunity, "no community organisation holds "+domain
	return r
}

// CheckAddress validates an RFC 5322 addr-spec (no display name, no comments) and
// returns its normalised domain, or a reason code and detail why it is unusable.
func CheckAddress(address string) (domain, reason, detail string) {
	if strings.ContainsAny(address, "\r\n\x00") {
		return "", ReasonControlChars, "the address contains CR, LF or NUL"
	}
	if len(address) > maxAddressLen {
		return "", ReasonTooLong, "the address is longer than 254 octets"
	}
	parsed, err := mail.ParseAddress(address)
	if err != nil || parsed.Name != "" || parsed.Address != address {
		return "", ReasonSyntax, "not an RFC 5322 addr-spec"
	}
	at := strings.LastIndexByte(address, '@')
	if at > maxLocalPartLen {
		return "", ReasonTooLong, "the local part is longer than 64 octets"
	}
	domain, err = NormalizeDomain(address[at+1:])
	if err != nil {
		return "", ReasonInvalidDomain, "the domain is not a valid mail domain"
	}
	return domain, "", ""
}

// Lookup returns the organisation holding domain or a parent of it in this snapshot.
func (s *Snapshot) Lookup(domain string) (OrgRef, bool) {
	org, _, ok := s.find(domain)
	return org, ok
}

// find returns the organisation holding domain or its nearest registered parent,
// and which community domain matched.
func (s *Snapshot) find(domain string) (OrgRef, string, bool) {
	for _, cand := range Candidates(domain) {
		if org, ok := s.domains[cand]; ok {
			return org, cand, true
		}
	}
	return OrgRef{}, "", false
}
