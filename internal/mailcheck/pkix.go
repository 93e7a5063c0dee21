package mailcheck

// PKIX validation (RFC 5280 §6, RFC 6125 for the name) of the chain an MX
// presented. SMTP senders without DANE or MTA-STS do not validate, so, like
// Internet.nl, an invalid chain is a warning, and none when DANE vouches for
// the certificate (RFC 7672 §3.1).

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// errNoCertificate is the PKIX error for a server that sent no certificate.
var errNoCertificate = errors.New("mailcheck: no certificate presented")

// verifyPKIX validates the presented chain for host against Options.Roots
// (nil: the system roots).
func (c *Checker) verifyPKIX(cs tls.ConnectionState, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errNoCertificate
	}
	inter := x509.NewCertPool()
	for _, cert := range cs.PeerCertificates[1:] {
		inter.AddCert(cert)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: host, Roots: c.opts.Roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// withPKIX adds the PKIX verdict to a graded STARTTLS result.
func withPKIX(res Result, pkixErr error, daneMatched bool) Result {
	if pkixErr == nil {
		return res
	}
	why := pkixReason(pkixErr)
	if daneMatched {
		res.Summary["nl"] += "\nHet certificaat is niet PKIX-geldig (" + why.nl + "), maar DANE bevestigt het."
		res.Summary["en"] += "\nThe certificate is not PKIX-valid (" + why.en + "), but DANE vouches for it."
		return res
	}
	res.Summary["nl"] += "\nHet certificaat is niet geldig: " + why.nl + "."
	res.Summary["en"] += "\nThe certificate is not valid: " + why.en + "."
	fix := text{"Gebruik een geldig certificaat van een algemeen vertrouwde CA met de naam uit het MX-record, of publiceer DANE-records (TLSA) die het certificaat vastleggen.",
		"Use a valid certificate from a publicly trusted CA carrying the name in the MX record, or publish DANE (TLSA) records that pin the certificate."}
	if res.Status == StatusPass {
		res.Status, res.Fix = StatusWarning, fix.m()
		return res
	}
	res.Fix["nl"] += "\n" + fix.nl
	res.Fix["en"] += "\n" + fix.en
	return res
}

// pkixReason explains a verification error in both languages.
func pkixReason(err error) text {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, errNoCertificate):
		return text{"de server stuurde geen certificaat", "the server sent no certificate"}
	case errors.As(err, &unknown):
		return text{"niet uitgegeven door een vertrouwde CA", "not issued by a trusted CA"}
	case errors.As(err, &hostname):
		return text{"de naam van de mailserver staat er niet in", "it does not carry the mail server's name"}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return text{"verlopen of nog niet geldig", "expired or not yet valid"}
	}
	return text{"de certificaatketen klopt niet", "the certificate chain does not validate"}
}
