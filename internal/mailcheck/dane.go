package mailcheck

// The DANE test for SMTP (RFC 7672) with the TLSA semantics of RFC 6698 and
// RFC 7671: an MX host's TLSA records must exist, be DNSSEC-secure
// (RFC 7672 §2.2), and one usable record must match the certificate chain
// the server presented. Only DANE-TA(2) and DANE-EE(3) are usable for SMTP
// (RFC 7672 §3.1.3). For DANE-EE the name and validity period of the
// certificate are not checked (RFC 7671 §5.1); for DANE-TA the chain must
// lead from the leaf to the matched trust anchor, which the server must
// include in its chain, and carry the MX host's name (RFC 7672 §3.2.2).
//
// Like Internet.nl, the test also looks for a rollover scheme: a second
// "3 1 1" record (next key) or a "2 1 1" record next to the "3 1 1" record,
// so that a certificate change does not break delivery.

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// TLSA usages, selectors and matching types (RFC 7218 acronyms).
const (
	usageDANETA  = 2
	usageDANEEE  = 3
	selectorCert = 0
	selectorSPKI = 1
	matchFull    = 0
	matchSHA256  = 1
	matchSHA512  = 2
)

// String renders the record as in a zone file, e.g. "3 1 1 ab12…".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// params is the record's "usage selector matching" triple, e.g. "3 1 1".
func (t TLSA) params() string {
	return fmt.Sprintf("%d %d %d", t.Usage, t.Selector, t.MatchingType)
}

// usable reports whether a record can authenticate an SMTP server.
func (t TLSA) usable() bool {
	return (t.Usage == usageDANETA || t.Usage == usageDANEEE) &&
		t.Selector <= selectorSPKI && t.MatchingType <= matchSHA512
}

// associationData computes what a record with t's selector and matching type
// holds for cert, in lower-case hex.
func (t TLSA) associationData(cert *x509.Certificate) string {
	data := cert.Raw
	if t.Selector == selectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case matchSHA256:
		sum := sha256.Sum256(data)
		data = sum[:]
	case matchSHA512:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return hex.EncodeToString(data)
}

// matches reports whether t authenticates the presented chain for host.
func (t TLSA) matches(chain []*x509.Certificate, host string, now time.Time) bool {
	if len(chain) == 0 || !t.usable() {
		return false
	}
	if t.Usage == usageDANEEE {
		return strings.EqualFold(t.associationData(chain[0]), t.Data)
	}
	for i := 1; i < len(chain); i++ {
		if strings.EqualFold(t.associationData(chain[i]), t.Data) && chainsTo(chain, i, host, now) {
			return true
		}
	}
	return false
}

// chainsTo verifies the leaf up to chain[ta] as trust anchor, for host.
func chainsTo(chain []*x509.Certificate, ta int, host string, now time.Time) bool {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[ta])
	for _, c := range chain[1:ta] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter,
		CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// goodRollover reports whether recs allow a certificate change without
// breaking DANE: two "3 1 1" records, or "3 1 1" with "2 1 1".
func goodRollover(recs []TLSA) bool {
	ee, ta := 0, 0
	for _, r := range recs {
		switch r.params() {
		case "3 1 1":
			ee++
		case "2 1 1":
			ta++
		}
	}
	return ee >= 2 || (ee >= 1 && ta >= 1)
}

// daneRating is the DANE Result and whether a record matched.
type daneRating struct {
	Result
	matched bool
}

// rateDANE rates host's TLSA records against the session p.
func rateDANE(recs []TLSA, secure bool, p probed, host string) daneRating {
	var usable []TLSA
	for _, r := range recs {
		if r.usable() {
			usable = append(usable, r)
		}
	}
	switch {
	case len(recs) == 0:
		return daneRating{Result: noTLSA(host)}
	case !secure:
		return daneRating{Result: insecureTLSA(host)}
	case len(usable) == 0:
		return daneRating{Result: unusableTLSA(host)}
	case p.noAddr || !p.offered:
		return daneRating{Result: daneNoTLS(host)}
	}
	for _, r := range usable {
		if r.matches(p.state.PeerCertificates, host, time.Now()) {
			return daneRating{Result: daneMatched(host, r, usable), matched: true}
		}
	}
	return daneRating{Result: daneMismatch(host)}
}

func noTLSA(host string) Result {
	return result(StatusFail,
		text{"De mailserver " + host + " publiceert geen TLSA-records (geen DANE).",
			"The mail server " + host + " publishes no TLSA records (no DANE)."},
		text{`Publiceer een TLSA-record "3 1 1" met de SHA-256-hash van de publieke sleutel van het certificaat, in een met DNSSEC ondertekende zone (RFC 7672).`,
			`Publish a "3 1 1" TLSA record with the SHA-256 hash of the certificate's public key, in a DNSSEC-signed zone (RFC 7672).`})
}

func insecureTLSA(host string) Result {
	return result(StatusFail,
		text{"De TLSA-records van " + host + " zijn niet met DNSSEC beveiligd; verzenders negeren ze.",
			"The TLSA records of " + host + " are not DNSSEC-secure, so senders ignore them."},
		text{"Onderteken de zone van de mailserver met DNSSEC (RFC 7672 §2.2).",
			"Sign the mail server's zone with DNSSEC (RFC 7672 §2.2)."})
}

func unusableTLSA(host string) Result {
	return result(StatusFail,
		text{"De TLSA-records van " + host + " zijn niet bruikbaar voor SMTP (alleen gebruik 2 en 3 tellen).",
			"The TLSA records of " + host + " are unusable for SMTP (only usages 2 and 3 count)."},
		text{`Vervang ze door een TLSA-record "3 1 1" (of "2 1 1" voor de uitgevende CA) (RFC 7672 §3.1.3).`,
			`Replace them with a "3 1 1" TLSA record (or "2 1 1" for the issuing CA) (RFC 7672 §3.1.3).`})
}

func daneNoTLS(host string) Result {
	return result(StatusFail,
		text{host + " publiceert TLSA-records maar biedt geen STARTTLS aan; DANE-verzenders leveren niet af.",
			host + " publishes TLSA records but offers no STARTTLS, so DANE senders will not deliver."},
		text{"Schakel STARTTLS in met het certificaat waar de TLSA-records bij horen.",
			"Enable STARTTLS with the certificate the TLSA records describe."})
}

func daneMismatch(host string) Result {
	return result(StatusFail,
		text{"Geen enkel TLSA-record van " + host + " past bij het certificaat dat de server toont; DANE-verzenders leveren niet af.",
			"No TLSA record of " + host + " matches the certificate the server presents, so DANE senders will not deliver."},
		text{"Werk de TLSA-records bij naar het huidige certificaat (of zet het juiste certificaat terug). Publiceer bij een wissel eerst het nieuwe record.",
			"Update the TLSA records to the current certificate (or restore the right certificate). When changing certificates, publish the new record first."})
}

// daneMatched is the pass (or, without a rollover scheme, warning) for a
// host whose certificate matched r.
func daneMatched(host string, r TLSA, usable []TLSA) Result {
	sum := text{"Het certificaat van " + host + " past bij TLSA-record " + r.params() + ".",
		"The certificate of " + host + " matches TLSA record " + r.params() + "."}
	if goodRollover(usable) {
		return result(StatusPass, sum, noFix())
	}
	sum.nl += " Er is geen vervangingsschema: een certificaatwissel breekt DANE."
	sum.en += " There is no rollover scheme: a certificate change will break DANE."
	return result(StatusWarning, sum,
		text{`Publiceer naast het "3 1 1"-record een tweede "3 1 1"-record voor de volgende sleutel, of een "2 1 1"-record voor de uitgevende CA.`,
			`Next to the "3 1 1" record, publish a second "3 1 1" record for the next key, or a "2 1 1" record for the issuing CA.`})
}
