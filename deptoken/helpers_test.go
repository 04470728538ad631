package deptoken

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// appleName is the Apple-shaped fixture: what ABM gives, BER with
// indefinite lengths inside wrapped CRLF base64.
const appleName = "Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m"

func MustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "files", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustInspect inspects a fixture and fails the test if it is not a token.
func MustInspect(tb testing.TB, name string, opts ...Option) Report {
	tb.Helper()
	rep, err := Inspect(bytes.NewReader(MustReadFile(tb, name)), append([]Option{WithFileName(name)}, opts...)...)
	if err != nil {
		tb.Fatalf("Inspect(%s): %v", name, err)
	}
	return rep
}

// MustCertPEM returns a recipient certificate of the fixtures as PEM text.
func MustCertPEM(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "certs", name+".crt"))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func MustCert(tb testing.TB, name string) *x509.Certificate {
	tb.Helper()
	block, _ := pem.Decode([]byte(MustCertPEM(tb, name)))
	if block == nil {
		tb.Fatalf("%s.crt is not PEM", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func MustPrivateKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "certs", name+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s.key is not PEM", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		tb.Fatalf("%s.key is not RSA", name)
	}
	return rk
}

// MustFixtureNames lists every file in testdata/files.
func MustFixtureNames(tb testing.TB) []string {
	tb.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", "files"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
