package deptoken

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// MatchResult says whether a token was encrypted to a certificate: the one
// Intune's getEncryptionPublicKey returns for the token being renewed. A
// mismatch means Intune cannot decrypt the token (it was made for another
// MDM server's key), the most common failed renewal.
type MatchResult struct {
	Matched bool `json:"matched"`
	// Recipient is the index in Report.Recipients that matched, or -1.
	Recipient int `json:"recipient"`
	// The certificate's identity in the Recipient formats, to show side by
	// side with the token's recipients when they differ.
	CertificateIssuer string `json:"certificateIssuer"`
	CertificateSerial string `json:"certificateSerial"`
	// SameIssuer, on a mismatch, says a recipient has the certificate's
	// issuer with another serial: the same MDM server whose key pair was
	// regenerated on one side and not re-uploaded on the other.
	SameIssuer bool `json:"sameIssuer"`
}

// Match reports whether one of rep's recipients is certPEM: same serial
// number, and the same issuer Name (compared as DER, then in canonical form
// to forgive a re-encoded string type). certPEM may be the one-line form
// Intune returns, with or without JSON escapes, or ordinary PEM.
func Match(rep Report, certPEM string) (MatchResult, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return MatchResult{Recipient: -1}, err
	}
	res := MatchResult{
		Recipient:         -1,
		CertificateIssuer: nameText(cert.RawIssuer),
		CertificateSerial: serialText(cert.SerialNumber.Bytes(), cert.SerialNumber.Sign() < 0),
	}
	for i, rec := range rep.Recipients {
		if rec.is(cert) {
			res.Matched, res.Recipient = true, i
			return res, nil
		}
	}
	for _, rec := range rep.Recipients {
		if rec.Issuer != "" && rec.Issuer == res.CertificateIssuer {
			res.SameIssuer = true
		}
	}
	return res, nil
}

func (rec Recipient) is(cert *x509.Certificate) bool {
	if rec.SubjectKeyID != "" {
		return len(cert.SubjectKeyId) > 0 && strings.EqualFold(rec.SubjectKeyID, hex.EncodeToString(cert.SubjectKeyId))
	}
	serial, ok := parseSerial(rec.Serial)
	if !ok || serial.Cmp(cert.SerialNumber) != 0 {
		return false
	}
	if rec.rawIssuer == nil {
		// A Report that went through JSON has only the text form, which
		// is what rawIssuer would have printed as.
		return rec.Issuer != "" && rec.Issuer == nameText(cert.RawIssuer)
	}
	if bytes.Equal(rec.rawIssuer, cert.RawIssuer) {
		return true
	}
	a, okA := canonicalName(rec.rawIssuer)
	b, okB := canonicalName(cert.RawIssuer)
	return okA && okB && a == b
}

func parseSerial(s string) (*big.Int, bool) {
	neg := strings.HasPrefix(s, "-")
	n, ok := new(big.Int).SetString(strings.TrimPrefix(s, "-"), 16)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

func nameText(der []byte) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdns); err != nil {
		return ""
	}
	return rdns.String()
}

// canonicalName approximates RFC 5280 7.1 name matching: attribute types
// equal, string values equal ignoring case and runs of spaces, whatever
// string type encoded them.
func canonicalName(der []byte) (string, bool) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return "", false
	}
	var b strings.Builder
	for _, rdn := range rdns {
		parts := make([]string, 0, len(rdn))
		for _, atv := range rdn {
			v, ok := atv.Value.(string)
			if !ok {
				return "", false
			}
			parts = append(parts, atv.Type.String()+"="+strings.ToLower(strings.Join(strings.Fields(v), " ")))
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, "\x00+"))
		b.WriteString("\x00,")
	}
	return b.String(), true
}

// jsonEscapes undoes what a JSON encoder may have done to the certificate
// when someone copies it out of a Graph response by hand.
var jsonEscapes = strings.NewReplacer(
	`\r`, "", `\n`, "", `\t`, "", `\"`, "", `\/`, "/",
	`\u002B`, "+", `\u002b`, "+", `\u002F`, "/", `\u002f`, "/", `\u003D`, "=", `\u003d`, "=",
)

// ParseCertificate accepts a certificate as Intune's getEncryptionPublicKey
// returns it (PEM on one line, maybe JSON-escaped), as ordinary PEM, as bare
// base64, or as DER.
func ParseCertificate(s string) (*x509.Certificate, error) {
	if len(s) > DefaultMaxSize {
		return nil, errors.New("deptoken: certificate text is too long")
	}
	if strings.HasPrefix(s, "\x30") {
		if cert, err := x509.ParseCertificate([]byte(s)); err == nil {
			return cert, nil
		}
	}
	s = jsonEscapes.Replace(s)
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	if i := strings.Index(s, begin); i >= 0 {
		s = s[i+len(begin):]
		j := strings.Index(s, end)
		if j < 0 {
			return nil, errors.New("deptoken: certificate has no END CERTIFICATE line")
		}
		s = s[:j]
	}
	b64 := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '"' {
			return -1
		}
		return r
	}, s)
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, errors.New("deptoken: certificate is not PEM or base64")
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("deptoken: not an X.509 certificate: %w", err)
	}
	return cert, nil
}

// ThreeLinePEM returns the certificate as BEGIN line, all base64 on one
// line, END line (plus a final newline): the form Apple Business Manager
// accepts when uploading the MDM server's public key.
func ThreeLinePEM(certPEM string) (string, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return "", err
	}
	return "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(cert.Raw) +
		"\n-----END CERTIFICATE-----\n", nil
}
