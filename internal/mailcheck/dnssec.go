package mailcheck

// The DNSSEC test (RFC 4033–4035): the domain's own zone and the zone of
// each MX host must be signed and validate, as Internet.nl's mail test
// requires. The validating resolver's AD bit is the signal (see dns.go); a
// bogus answer reaches the checks as ErrBogus and fails (see bogusResult).

// rateDNSSEC rates a zone whose answers were (not) authenticated. name is
// the domain or MX host; mxHost says which it is, for the explanation.
func rateDNSSEC(secure bool, name string, mxHost bool) Result {
	if secure {
		if mxHost {
			return result(StatusPass,
				text{"De naam van de mailserver is met DNSSEC ondertekend.",
					"The mail server's name is signed with DNSSEC."}, noFix())
		}
		return result(StatusPass,
			text{"Het domein is met DNSSEC ondertekend.", "The domain is signed with DNSSEC."}, noFix())
	}
	fix := text{"Onderteken de zone met DNSSEC en laat de DS-record bij de registry publiceren.",
		"Sign the zone with DNSSEC and have the DS record published at the registry."}
	if mxHost {
		return result(StatusFail,
			text{"De naam van de mailserver " + name + " is niet met DNSSEC ondertekend; DANE is daardoor niet mogelijk.",
				"The mail server name " + name + " is not signed with DNSSEC, so DANE is impossible."}, fix)
	}
	return result(StatusFail,
		text{"Het domein " + name + " is niet met DNSSEC ondertekend.",
			"The domain " + name + " is not signed with DNSSEC."}, fix)
}
