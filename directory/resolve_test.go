package directory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	utrecht := OrgRef{ID: "org-1", Name: "Gemeente Utrecht"}
	cafe := OrgRef{ID: "org-2", Name: "Café De Zoë B.V."}
	snap := &Snapshot{domains: map[string]OrgRef{"utrecht.nl": utrecht, "xn--caf-dma.nl": cafe}}
	long := strings.Repeat("a", 65) + "@utrecht.nl"
	tests := []struct {
		addr, route, reason string
		org                 *OrgRef
	}{
		{"jan@utrecht.nl", RouteInternal, ReasonCommunityDomain, &utrecht},
		{"Jan@UTRECHT.NL", RouteInternal, ReasonCommunityDomain, &utrecht},
		{"jan@wijk.utrecht.nl", RouteInternal, ReasonCommunitySubdomain, &utrecht},
		{"info@café.nl", RouteInternal, ReasonCommunityDomain, &cafe},
		{"jan@notutrecht.nl", RouteExternal, ReasonNotInCommunity, nil},
		{"iemand@gmail.com", RouteExternal, ReasonNotInCommunity, nil},
		{"kapot@@adres", RouteInvalid, ReasonSyntax, nil},
		{"Jan <jan@utrecht.nl>", RouteInvalid, ReasonSyntax, nil},
		{"jan@utrecht.nl\r\nBcc: x@y.nl", RouteInvalid, ReasonControlChars, nil},
		{"jan\x00@utrecht.nl", RouteInvalid, ReasonControlChars, nil},
		{long, RouteInvalid, ReasonTooLong, nil},
		{strings.Repeat("a", 250) + "@x.nl", RouteInvalid, ReasonTooLong, nil},
		{"jan@localhost", RouteInvalid, ReasonInvalidDomain, nil},
		{"jan@under_score.nl", RouteInvalid, ReasonInvalidDomain, nil},
		{"", RouteInvalid, ReasonSyntax, nil},
	}
	addrs := make([]string, len(tests))
	for i, tc := range tests {
		addrs[i] = tc.addr
	}
	got := snap.Resolve(addrs)
	if len(got) != len(tests) {
		t.Fatalf("got %d answers for %d addresses", len(got), len(tests))
	}
	for i, tc := range tests {
		r := got[i]
		if r.Address != tc.addr || r.Route != tc.route || r.Reason != tc.reason || !cmp.Equal(r.Organisation, tc.org) || r.Detail == "" {
			t.Errorf("Resolve(%q) = %+v; want route %s, reason %s, org %v", tc.addr, r, tc.route, tc.reason, tc.org)
		}
	}
}
