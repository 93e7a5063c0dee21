package tlsgrade

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Text is a user-facing sentence in Dutch and English.
type Text struct {
	NL string
	EN string
}

// Aspect names what a Finding is about.
type Aspect string

// The aspects FromState grades.
const (
	AspectVersion        Aspect = "version"
	AspectCipher         Aspect = "cipher"
	AspectKeyExchange    Aspect = "key_exchange"
	AspectCertificateKey Aspect = "certificate_key"
	AspectSignature      Aspect = "certificate_signature"
)

// label returns the Dutch and English name of a.
func (a Aspect) label() Text {
	switch a {
	case AspectVersion:
		return Text{NL: "TLS-versie", EN: "TLS version"}
	case AspectCipher:
		return Text{NL: "Cipher suite", EN: "Cipher suite"}
	case AspectKeyExchange:
		return Text{NL: "Sleuteluitwisseling", EN: "Key exchange"}
	case AspectCertificateKey:
		return Text{NL: "Publieke sleutel van certificaat", EN: "Certificate public key"}
	case AspectSignature:
		return Text{NL: "Handtekening van certificaat", EN: "Certificate signature"}
	default:
		return Text{NL: string(a), EN: string(a)}
	}
}

// Finding is the grade of one negotiated parameter.
type Finding struct {
	Aspect Aspect
	Value  string // e.g. "TLS 1.2", "TLS_AES_128_GCM_SHA256", "RSA-2048"
	Grade  Grade
	Text   Text // explanation for the user, Dutch and English
}

// newFinding builds a Finding with its explanation text.
func newFinding(a Aspect, value string, g Grade) Finding {
	l, gt := a.label(), g.Text()
	return Finding{Aspect: a, Value: value, Grade: g, Text: Text{
		NL: fmt.Sprintf("%s %s: %s volgens de TLS-richtlijnen van het NCSC.", l.NL, value, gt.NL),
		EN: fmt.Sprintf("%s %s: %s according to the NCSC-NL TLS guidelines.", l.EN, value, gt.EN),
	}}
}

// Result is the graded outcome of one TLS connection.
type Result struct {
	Findings []Finding
	Overall  Grade
}

// Summarise returns the findings with their overall (worst) grade.
func Summarise(findings []Finding) Result {
	grades := make([]Grade, len(findings))
	for i, f := range findings {
		grades[i] = f.Grade
	}
	return Result{Findings: findings, Overall: Overall(grades...)}
}

// FromState grades what a completed handshake negotiated: protocol version,
// cipher suite, key-exchange group (when the connection used one) and the
// key and signature algorithm of the peer's leaf certificate (when it sent
// one). It does not verify the certificate chain.
func FromState(cs tls.ConnectionState) []Finding {
	out := []Finding{
		newFinding(AspectVersion, tls.VersionName(cs.Version), Version(cs.Version)),
		newFinding(AspectCipher, tls.CipherSuiteName(cs.CipherSuite), Cipher(cs.CipherSuite)),
	}
	if cs.CurveID != 0 {
		out = append(out, newFinding(AspectKeyExchange, cs.CurveID.String(), KeyExchange(cs.CurveID)))
	}
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		out = append(out,
			newFinding(AspectCertificateKey, keyName(leaf.PublicKey), CertificateKey(leaf.PublicKey)),
			newFinding(AspectSignature, leaf.SignatureAlgorithm.String(), Signature(leaf.SignatureAlgorithm)))
	}
	return out
}

// keyName describes a public key as algorithm and size, e.g. "RSA-2048",
// "ECDSA-P-256" or "Ed25519".
func keyName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "RSA"
		}
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "ECDSA"
		}
		return "ECDSA-" + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return x509.UnknownPublicKeyAlgorithm.String()
	}
}
