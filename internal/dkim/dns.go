package dkim

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/veilig/veilig/directory"
)

// Purposes of DNS records.
const (
	PurposeDKIM       = "dkim"        // publish as is
	PurposeSPFInclude = "spf-include" // add Value to the domain's existing SPF record
)

// DNSRecord is a record an organisation's administrator publishes.
type DNSRecord struct {
	Name    string // owner name, e.g. "veilig202611._domainkey.utrecht.nl"
	Type    string // "TXT"
	Value   string // the text; longer than 255 bytes for a DKIM key, so DNS tools split it in strings
	Purpose string // PurposeDKIM or PurposeSPFInclude
}

// DNSRecords returns, for each of the organisation's domains, the DKIM key
// record (RFC 6376 §3.6.1, "v=DKIM1; k=rsa; p=…") and, when spfInclude is set,
// the "include:" mechanism (RFC 7208 §5.2) to add to the domain's SPF record —
// added, because a domain may publish only one SPF record (RFC 7208 §3.2). It
// creates the organisation's key when it has none, so that the records can be
// published before the first message is sent.
func (k *Keys) DNSRecords(ctx context.Context, orgID string, domains []string, spfInclude string) ([]DNSRecord, error) {
	names, err := normalizeDomains(domains)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	if strings.ContainsFunc(spfInclude, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return nil, fmt.Errorf("%w: SPF include %q", ErrInvalidDomain, spfInclude)
	}
	key, err := k.active(ctx, orgID)
	if err != nil {
		return nil, err
	}
	txt := txtValue(key.public)
	var records []DNSRecord
	for _, d := range names {
		records = append(records, DNSRecord{Name: key.selector + "._domainkey." + d, Type: "TXT",
			Value: txt, Purpose: PurposeDKIM})
		if spfInclude != "" {
			records = append(records, DNSRecord{Name: d, Type: "TXT", Value: "include:" + spfInclude,
				Purpose: PurposeSPFInclude})
		}
	}
	return records, nil
}

// txtValue is the key record's text (RFC 6376 §3.6.1).
func txtValue(public []byte) string {
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(public)
}

// normalizeDomains returns the domains' A-labels, each once, in order.
func normalizeDomains(domains []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, d := range domains {
		n, err := directory.NormalizeDomain(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidDomain, err)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}
