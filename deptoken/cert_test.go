package deptoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// oneLine is the certificate as Intune's getEncryptionPublicKey returns it.
func oneLine(tb testing.TB, name string) string {
	tb.Helper()
	return "-----BEGIN CERTIFICATE-----" + base64.StdEncoding.EncodeToString(MustCert(tb, name).Raw) + "-----END CERTIFICATE-----"
}

func TestMatch(t *testing.T) {
	a := oneLine(t, "intune-a")
	b64A := a[len("-----BEGIN CERTIFICATE-----") : len(a)-len("-----END CERTIFICATE-----")]
	graphJSON, err := json.Marshal(map[string]string{"value": a})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, cert string
		matched           bool
		recipient         int
	}{
		{"multi-line PEM", appleName, MustCertPEM(t, "intune-a"), true, 0},
		{"one line as Graph returns it", appleName, a, true, 0},
		{"one line with escaped CRLF and spaces", appleName,
			`-----BEGIN CERTIFICATE-----\r\n` + b64A[:64] + `\r\n ` + b64A[64:] + ` \r\n-----END CERTIFICATE-----\r\n`, true, 0},
		{"Graph JSON pasted whole", appleName, string(graphJSON), true, 0},
		{"JSON escapes of + / =", appleName, strings.NewReplacer("+", `\u002B`, "/", `\/`, "=", `\u003d`).Replace(a), true, 0},
		{"bare base64", appleName, b64A, true, 0},
		{"DER", appleName, string(MustCert(t, "intune-a").Raw), true, 0},
		{"re-keyed: same issuer, new serial", appleName, oneLine(t, "intune-a-rekeyed"), false, -1},
		{"another Intune token's key", appleName, oneLine(t, "intune-b"), false, -1},
		{"another MDM vendor", appleName, oneLine(t, "vendor-c"), false, -1},
		{"second of two recipients", "openssl-two-recipients.p7m", oneLine(t, "intune-a"), true, 1},
		{"first of three recipients", "smallstep-three-recipients.pem", oneLine(t, "vendor-c"), true, 0},
		{"top-bit serial", "smallstep-three-recipients.pem", oneLine(t, "intune-b"), true, 1},
		{"subject key identifier", "openssl-keyid.p7m", a, true, 0},
		{"subject key identifier of another key", "openssl-keyid.p7m", oneLine(t, "intune-a-rekeyed"), false, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Match(MustInspect(t, c.token), c.cert)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if res.Matched != c.matched || res.Recipient != c.recipient {
				t.Errorf("Match = %+v, want matched=%v recipient=%d", res, c.matched, c.recipient)
			}
		})
	}
}

func TestMatchReportsTheCertificate(t *testing.T) {
	res, err := Match(MustInspect(t, appleName), oneLine(t, "intune-b"))
	if err != nil {
		t.Fatal(err)
	}
	if res.CertificateIssuer != issuerB || res.CertificateSerial != "9C00FFEE0001" {
		t.Errorf("certificate identity = %q %q", res.CertificateIssuer, res.CertificateSerial)
	}
	if res.SameIssuer {
		t.Error("another server's key reported as the same issuer")
	}
	res, err = Match(MustInspect(t, appleName), oneLine(t, "intune-a-rekeyed"))
	if err != nil || res.Matched || !res.SameIssuer {
		t.Errorf("re-keyed certificate: %+v, %v; want a mismatch with the same issuer", res, err)
	}
}

// A Report kept as JSON (a pending upload) loses the raw issuer; matching
// then uses the text form and must still tell the keys apart.
func TestMatchAfterJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(MustInspect(t, appleName))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Recipients[0].rawIssuer != nil {
		t.Fatal("raw issuer survived JSON; this test no longer tests the fallback")
	}
	for name, want := range map[string]bool{"intune-a": true, "intune-a-rekeyed": false, "intune-b": false} {
		res, err := Match(rep, MustCertPEM(t, name))
		if err != nil || res.Matched != want {
			t.Errorf("%s: Match = %+v, %v; want matched=%v", name, res, err, want)
		}
	}
}

func TestMatchRejectsNonCertificates(t *testing.T) {
	rep := MustInspect(t, appleName)
	for name, s := range map[string]string{
		"empty":            "",
		"private key":      string(MustReadFile(t, "apns-private-key.pem")),
		"no END line":      "-----BEGIN CERTIFICATE-----MIIC",
		"not base64":       "-----BEGIN CERTIFICATE-----***-----END CERTIFICATE-----",
		"base64 of junk":   base64.StdEncoding.EncodeToString([]byte("hello")),
		"far too long":     strings.Repeat("A", DefaultMaxSize+1),
		"the token itself": string(MustReadFile(t, appleName)),
	} {
		res, err := Match(rep, s)
		if err == nil || res.Matched {
			t.Errorf("%s: Match = %+v, %v; want an error", name, res, err)
		}
	}
}

func TestCanonicalNameForgivesStringTypes(t *testing.T) {
	name := func(cn asn1.RawValue, o string) []byte {
		der, err := asn1.Marshal(pkix.RDNSequence{
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: o}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	printable := name(asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte("Intune Key")}, "Contoso")
	utf8 := name(asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("intune   KEY")}, "Contoso")
	other := name(asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("Intune Key")}, "Fabrikam")
	a, okA := canonicalName(printable)
	b, okB := canonicalName(utf8)
	c, okC := canonicalName(other)
	if !okA || !okB || !okC {
		t.Fatal("canonicalName failed on a valid name")
	}
	if a != b {
		t.Errorf("PrintableString and UTF8String forms differ: %q vs %q", a, b)
	}
	if a == c {
		t.Errorf("different organisations compare equal")
	}
	if _, ok := canonicalName([]byte{0x30, 0x01}); ok {
		t.Error("canonicalName accepted garbage")
	}
}

func TestThreeLinePEM(t *testing.T) {
	cert := MustCert(t, "intune-a")
	want := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(cert.Raw) + "\n-----END CERTIFICATE-----\n"
	for name, in := range map[string]string{
		"one line":         oneLine(t, "intune-a"),
		"multi-line PEM":   MustCertPEM(t, "intune-a"),
		"escaped newlines": strings.ReplaceAll(MustCertPEM(t, "intune-a"), "\n", `\r\n`),
	} {
		got, err := ThreeLinePEM(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
		if lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); len(lines) != 3 || strings.ContainsAny(lines[1], " \t\r") {
			t.Errorf("%s: not three lines: %q", name, got)
		}
		block, rest := pem.Decode([]byte(got))
		if block == nil || string(block.Bytes) != string(cert.Raw) || len(rest) != 0 {
			t.Errorf("%s: encoding/pem does not read it back", name)
		}
	}
	if _, err := ThreeLinePEM("-----BEGIN CERTIFICATE-----abc-----END CERTIFICATE-----"); err == nil {
		t.Error("ThreeLinePEM accepted a broken certificate")
	}
}

// MustSelfSigned makes a certificate whose issuer is rawName (DER) and
// serial is serialHex; the key is irrelevant to matching.
func MustSelfSigned(tb testing.TB, rawName []byte, serialHex string) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		tb.Fatalf("bad serial %q", serialHex)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, RawSubject: rawName,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestMatchComparesIssuerAndSerialTogether(t *testing.T) {
	rep := MustInspect(t, appleName)
	name := func(tag int, cn string) []byte {
		der, err := asn1.Marshal(pkix.RDNSequence{
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: asn1.RawValue{Tag: tag, Bytes: []byte("Contoso Ltd")}}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: asn1.RawValue{Tag: tag, Bytes: []byte("Intune")}}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: tag, Bytes: []byte(cn)}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	const cnA = "Microsoft Intune ADE Token Encryption (fixture A)"
	cases := []struct {
		name    string
		cert    string
		matched bool
	}{
		{"same serial, other issuer", MustSelfSigned(t, name(asn1.TagPrintableString, "Someone Else"), "3A6F1C2D9E8B7A65"), false},
		{"same issuer re-encoded as UTF8String", MustSelfSigned(t, name(asn1.TagUTF8String, cnA), "3A6F1C2D9E8B7A65"), true},
		{"same issuer in other case and spacing", MustSelfSigned(t, name(asn1.TagUTF8String, "microsoft intune ADE  token encryption (fixture a)"), "3A6F1C2D9E8B7A65"), true},
		{"same issuer, serial off by one", MustSelfSigned(t, name(asn1.TagPrintableString, cnA), "3A6F1C2D9E8B7A64"), false},
	}
	for _, c := range cases {
		res, err := Match(rep, c.cert)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Matched != c.matched {
			t.Errorf("%s: matched = %v, want %v", c.name, res.Matched, c.matched)
		}
	}
}

func TestSerialText(t *testing.T) {
	cases := []struct {
		serial string
		want   string
	}{
		{"0", "00"},
		{"1", "01"},
		{"ABCDEF0", "0ABCDEF0"},
		{"9C00FFEE0001", "9C00FFEE0001"},
		{"-7F", "-7F"},
	}
	for _, c := range cases {
		n, ok := new(big.Int).SetString(c.serial, 16)
		if !ok {
			t.Fatal(c.serial)
		}
		got := serialText(n.Bytes(), n.Sign() < 0)
		if got != c.want {
			t.Errorf("serialText(%s) = %q, want %q", c.serial, got, c.want)
		}
		if back, ok := parseSerial(got); !ok || back.Cmp(n) != 0 {
			t.Errorf("parseSerial(%q) = %v, want %v", got, back, n)
		}
	}
}
