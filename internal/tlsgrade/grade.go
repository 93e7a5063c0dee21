// Package tlsgrade classifies the parameters of a TLS connection (version,
// cipher suite, key-exchange group, certificate key and signature) into the
// four security levels of NCSC-NL's "ICT-beveiligingsrichtlijnen voor
// Transport Layer Security (TLS)" (v2.1, 2021; English edition "IT Security
// Guidelines for TLS"): good, sufficient, phase out and insufficient, the way
// Internet.nl grades mail servers (MX) in its STARTTLS test.
//
// Sources:
//   - NCSC-NL TLS guidelines, guideline B1-1 (versions), B2-1..B2-4 and the
//     cipher-suite appendix (suites), B5/B6-1 with table 10 (key-exchange
//     groups), B3/B4 (certificate key and signature):
//     https://english.ncsc.nl/publications/publications/2019/juni/01/it-security-guidelines-for-transport-layer-security-tls
//   - Internet.nl test explanations referring to those guidelines, e.g.
//     github.com/internetstandards/Internet.nl "detail/…/tls/ciphers/exp_en.md"
//     ("see TLS guidelines from NCSC-NL, guideline B2-1 to B2-4").
//   - github.com/internetstandards/dhe_groups README: ffdhe4096 and ffdhe3072
//     sufficient, ffdhe2048 phase out (guideline B6-1, table 10).
//   - RFC 8446 (TLS 1.3), RFC 7919 (ffdhe groups), RFC 7465 (no RC4),
//     RFC 8996 (TLS 1.0/1.1 deprecated).
//
// Everything not listed by the guidelines is insufficient, as in the
// guidelines themselves.
package tlsgrade

// Grade is an NCSC-NL security level. Larger is worse, so the overall grade
// of a set of findings is their maximum. The zero value is not a valid grade
// and counts as insufficient.
type Grade uint8

// The NCSC-NL security levels, best first.
const (
	Good Grade = iota + 1
	Sufficient
	PhaseOut
	Insufficient
)

// String returns the English name of g.
func (g Grade) String() string {
	return g.Text().EN
}

// Text returns the Dutch and English name of g as used by NCSC-NL.
func (g Grade) Text() Text {
	switch g {
	case Good:
		return Text{NL: "goed", EN: "good"}
	case Sufficient:
		return Text{NL: "voldoende", EN: "sufficient"}
	case PhaseOut:
		return Text{NL: "uit te faseren", EN: "phase out"}
	default:
		return Text{NL: "onvoldoende", EN: "insufficient"}
	}
}

// valid reports whether g is one of the four defined grades.
func (g Grade) valid() bool {
	return g >= Good && g <= Insufficient
}

// Acceptable reports whether g meets the NCSC-NL minimum (good or
// sufficient); phase out and insufficient are not acceptable for new
// configurations.
func (g Grade) Acceptable() bool {
	return g == Good || g == Sufficient
}

// Overall returns the worst of grades. Without any grade nothing has been
// shown to be secure, so the result is Insufficient; invalid grades count
// as Insufficient too.
func Overall(grades ...Grade) Grade {
	if len(grades) == 0 {
		return Insufficient
	}
	worst := Good
	for _, g := range grades {
		if !g.valid() {
			return Insufficient
		}
		worst = max(worst, g)
	}
	return worst
}
