package tlsgrade

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
)

// SSL 3.0 is not defined by crypto/tls any more (RFC 7568).
const versionSSL30 uint16 = 0x0300

// Version grades a TLS protocol version (NCSC-NL guideline B1-1):
// TLS 1.3 good, TLS 1.2 sufficient, TLS 1.1 and 1.0 phase out, SSL and
// anything unknown insufficient.
func Version(v uint16) Grade {
	switch v {
	case tls.VersionTLS13:
		return Good
	case tls.VersionTLS12:
		return Sufficient
	case tls.VersionTLS11, tls.VersionTLS10:
		return PhaseOut
	default:
		return Insufficient
	}
}

// Finite-field DHE suites Go does not implement but a peer may report
// (IANA TLS Cipher Suites registry).
const (
	suiteDHERSAAES128GCM  uint16 = 0x009e
	suiteDHERSAAES256GCM  uint16 = 0x009f
	suiteDHERSAChaCha20   uint16 = 0xccaa
	suiteDHERSAAES128CBC  uint16 = 0x0033
	suiteDHERSAAES256CBC  uint16 = 0x0039
	suiteDHERSA3DESEDECBC uint16 = 0x0016
)

// Cipher grades a cipher suite by its IANA identifier, following the
// NCSC-NL cipher-suite table (guidelines B2-1..B2-4 and appendix) as
// Internet.nl applies it: the suite is as weak as its weakest part.
//   - key exchange: ECDHE (and every TLS 1.3 suite) good, DHE sufficient,
//     static RSA phase out (no forward secrecy);
//   - bulk cipher: AES-GCM and ChaCha20-Poly1305 good, AES-CBC sufficient,
//     3DES phase out, RC4/NULL/export/anything else insufficient.
//
// Unknown suites are insufficient.
func Cipher(id uint16) Grade {
	return Overall(cipherKeyExchange(id), cipherBulk(id))
}

// cipherKeyExchange grades the key-exchange part of a suite.
func cipherKeyExchange(id uint16) Grade {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:
		return Good
	case suiteDHERSAAES128GCM, suiteDHERSAAES256GCM, suiteDHERSAChaCha20,
		suiteDHERSAAES128CBC, suiteDHERSAAES256CBC, suiteDHERSA3DESEDECBC:
		return Sufficient
	case tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_RSA_WITH_RC4_128_SHA:
		return PhaseOut
	default:
		return Insufficient
	}
}

// cipherBulk grades the bulk-encryption part of a suite.
func cipherBulk(id uint16) Grade {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		suiteDHERSAAES128GCM, suiteDHERSAAES256GCM, suiteDHERSAChaCha20:
		return Good
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA256, suiteDHERSAAES128CBC, suiteDHERSAAES256CBC:
		return Sufficient
	case tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		suiteDHERSA3DESEDECBC:
		return PhaseOut
	default:
		return Insufficient
	}
}

// Finite-field groups of RFC 7919 in the TLS Supported Groups registry.
const (
	groupFFDHE2048 tls.CurveID = 256
	groupFFDHE3072 tls.CurveID = 257
	groupFFDHE4096 tls.CurveID = 258
	groupFFDHE6144 tls.CurveID = 259
	groupFFDHE8192 tls.CurveID = 260
	groupX448      tls.CurveID = 30
)

// KeyExchange grades a negotiated key-exchange group (NCSC-NL guideline
// B5-1/B6-1, table 10): X25519, X448, P-256 and P-384 good, and the hybrid
// post-quantum KEMs that contain one of them good as well; ffdhe3072 and
// larger sufficient; ffdhe2048 phase out; everything else (including groups
// the table does not list, such as P-521) insufficient.
func KeyExchange(id tls.CurveID) Grade {
	switch id {
	case tls.X25519, groupX448, tls.CurveP256, tls.CurveP384,
		tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024:
		return Good
	case groupFFDHE3072, groupFFDHE4096, groupFFDHE6144, groupFFDHE8192:
		return Sufficient
	case groupFFDHE2048:
		return PhaseOut
	default:
		return Insufficient
	}
}

// DHGroup grades a custom finite-field Diffie-Hellman group by the size of
// its prime in bits (NCSC-NL guideline B6-1): at least 3072 bits
// sufficient, 2048 bits phase out, smaller insufficient. NCSC-NL prefers
// the named ffdhe groups (see KeyExchange); this grades only the size.
func DHGroup(bits int) Grade {
	switch {
	case bits >= 3072:
		return Sufficient
	case bits >= 2048:
		return PhaseOut
	default:
		return Insufficient
	}
}

// CertificateKey grades the public key of a certificate (NCSC-NL guideline
// B3, as Internet.nl's "public key of certificate" test): RSA of at least
// 3072 bits good, 2048..3071 bits sufficient, smaller insufficient; ECDSA on
// P-256 or P-384 and Ed25519 good; every other key insufficient.
func CertificateKey(pub crypto.PublicKey) Grade {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsaKey(k)
	case *ecdsa.PublicKey:
		return ecdsaKey(k)
	case ed25519.PublicKey:
		return Good
	default:
		return Insufficient
	}
}

// rsaKey grades an RSA public key by modulus size.
func rsaKey(k *rsa.PublicKey) Grade {
	if k == nil || k.N == nil {
		return Insufficient
	}
	switch bits := k.N.BitLen(); {
	case bits >= 3072:
		return Good
	case bits >= 2048:
		return Sufficient
	default:
		return Insufficient
	}
}

// ecdsaKey grades an ECDSA public key by curve.
func ecdsaKey(k *ecdsa.PublicKey) Grade {
	if k == nil || k.Curve == nil {
		return Insufficient
	}
	switch k.Curve {
	case elliptic.P256(), elliptic.P384():
		return Good
	default:
		return Insufficient
	}
}

// Signature grades the signature algorithm of a certificate (NCSC-NL
// guideline B4, as Internet.nl's "signature of certificate" test): SHA-256,
// SHA-384 and SHA-512 based signatures and Ed25519 good; SHA-1, MD5, MD2
// and unknown algorithms insufficient.
func Signature(alg x509.SignatureAlgorithm) Grade {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.PureEd25519:
		return Good
	default:
		return Insufficient
	}
}
