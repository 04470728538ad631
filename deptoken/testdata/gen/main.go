// Command gen writes the deptoken test fixtures: recipient certificates and
// keys (kept across runs unless -newkeys), tokens encrypted with
// smallstep/pkcs7, the openssl-made tokens and wrong files (by running
// gen-openssl.sh, which needs openssl on PATH), and the files people upload
// by mistake.
//
// Run from the repository root: go run ./deptoken/testdata/gen
//
// Every key here is a throwaway test key. Serial numbers and names are fixed
// so the tests' expectations survive regeneration.
package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"log"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// identity is a recipient or signer certificate of the fixtures.
type identity struct {
	file    string
	subject pkix.Name
	serial  string // hex
}

var identities = []identity{
	// The key Intune holds for the token being renewed.
	{"intune-a", pkix.Name{CommonName: "Microsoft Intune ADE Token Encryption (fixture A)", OrganizationalUnit: []string{"Intune"}, Organization: []string{"Contoso Ltd"}}, "3A6F1C2D9E8B7A65"},
	// Same issuer after Intune generated a new key pair: only the serial differs.
	{"intune-a-rekeyed", pkix.Name{CommonName: "Microsoft Intune ADE Token Encryption (fixture A)", OrganizationalUnit: []string{"Intune"}, Organization: []string{"Contoso Ltd"}}, "3A6F1C2D9E8B7A66"},
	// Another Intune token's key; the serial has its top bit set (DER adds 00).
	{"intune-b", pkix.Name{CommonName: "Microsoft Intune ADE Token Encryption (fixture B)", OrganizationalUnit: []string{"Intune"}, Organization: []string{"Contoso Ltd"}}, "9C00FFEE0001"},
	// Another MDM vendor; a short serial with a leading zero nibble.
	{"vendor-c", pkix.Name{CommonName: "Fabrikam MDM Server", Organization: []string{"Fabrikam, Inc."}, Country: []string{"US"}}, "0ABCDEF0"},
	// An APNs-like certificate, the thing people upload by mistake.
	{"apns", pkix.Name{CommonName: "APSP:00000000-1111-2222-3333-444444444444", Country: []string{"US"}, ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{0, 9, 2342, 19200300, 100, 1, 1}, Value: "com.apple.mgmt.External.00000000-1111-2222-3333-444444444444"}}}, "7E57"},
}

// Plaintext in the shape of a real decrypted token (values are fake).
const plaintext = "Content-Type: text/plain;charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: 7bit\r\n" +
	"\r\n" +
	"-----BEGIN MESSAGE-----\n" +
	`{"consumer_key":"CK_0f3b6c2e9a1d4e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4","consumer_secret":"CS_5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3","access_token":"AT_927384650192837465019283746501928374650192837465019283746501928374650Z","access_secret":"AS_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2","access_token_expiry":"2027-11-29T07:00:00Z"}` + "\n" +
	"-----END MESSAGE-----\n"

// The name Apple Business Manager gives the download.
const appleName = "Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m"

func main() {
	dir := flag.String("dir", "deptoken/testdata", "testdata directory")
	newKeys := flag.Bool("newkeys", false, "generate new keys even if some exist")
	flag.Parse()
	if err := run(*dir, *newKeys); err != nil {
		log.Fatal(err)
	}
}

func run(dir string, newKeys bool) error {
	certDir, files := filepath.Join(dir, "certs"), filepath.Join(dir, "files")
	for _, d := range []string{certDir, files} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	certs := map[string]*x509.Certificate{}
	keys := map[string]*rsa.PrivateKey{}
	for _, id := range identities {
		c, k, err := loadOrCreate(certDir, id, newKeys)
		if err != nil {
			return fmt.Errorf("%s: %w", id.file, err)
		}
		certs[id.file], keys[id.file] = c, k
	}

	w := writer{dir: files}
	w.file("decrypted-token.txt", []byte(plaintext))

	// Tokens made with smallstep/pkcs7 (definite-length DER).
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC
	aes256 := w.encrypt(plaintext, certs["intune-a"])
	w.file("smallstep-aes256.der", aes256)
	w.file("token-body-only.b64", []byte(wrap(base64.StdEncoding.EncodeToString(aes256), 76, "\n")))

	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES128CBC
	aes128 := w.encrypt(plaintext, certs["intune-a"])
	w.file("smallstep-aes128-unwrapped.p7m", append([]byte("\xef\xbb\xbf\n\n"+
		"MIME-Version: 1.0\n"+
		"X-Forwarded-By: helpdesk mailbox\n"+
		"Content-Type: application/pkcs7-mime;\n\tname=\"smime.p7m\"; smime-type=enveloped-data\n"+
		"Content-Transfer-Encoding: base64\n"+
		"\n"), base64.StdEncoding.EncodeToString(aes128)+"\n"...))

	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256GCM
	pkcs7.KeyEncryptionAlgorithm = pkcs7.OIDEncryptionAlgorithmRSAESOAEP
	three := w.encrypt(plaintext, certs["intune-a"], certs["intune-b"], certs["vendor-c"])
	w.file("smallstep-three-recipients.pem", pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: three}))
	pkcs7.KeyEncryptionAlgorithm = pkcs7.OIDEncryptionAlgorithmRSA

	// Wrong files people upload.
	w.file("empty.p7m", nil)
	w.file("blank.p7m", []byte("\r\n\r\n   \r\n"))
	w.file("intune-public-key.pem", pemCert(certs["intune-a"]))
	w.file("intune-public-key-oneline.txt", []byte(oneLine(certs["intune-a"])))
	w.file("apns-certificate.cer", certs["apns"].Raw)
	spki, err := x509.MarshalPKIXPublicKey(&keys["apns"].PublicKey)
	if err != nil {
		return err
	}
	w.file("public-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	p8, err := x509.MarshalPKCS8PrivateKey(keys["apns"])
	if err != nil {
		return err
	}
	w.file("apns-private-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	w.file("rsa-private-key.der", x509.MarshalPKCS1PrivateKey(keys["apns"]))
	w.file("Contoso_Apps_and_Books.vpptoken", []byte(base64.StdEncoding.EncodeToString(
		[]byte(`{"token":"VGhpcyBpcyBhIHRlc3QgdnBwIHRva2VuLCBub3QgYSByZWFsIG9uZS4=","expDate":"2027-03-01T10:00:00+0000","orgName":"Contoso Ltd"}`))))
	w.file("document.pdf", []byte(minimalPDF))
	w.file("sign-in.html", []byte(signInPage))
	w.file("notes.txt", []byte("Apple ID used for the token: ade-admin@contoso.example\nRenew before 29 November.\n"))
	w.file("random.bin", []byte{0x00, 0x01, 0x02, 0xfe, 0xc3, 0x28, 0x99, 0x10, 0x42, 0x00})
	w.file("screenshot.png", w.image(png.Encode))
	w.file("photo.jpg", w.image(func(b io.Writer, m image.Image) error { return jpeg.Encode(b, m, nil) }))
	w.file("Contoso MDM_Token.zip", w.zip(appleName, aes256))
	// Over the default 64 KiB limit: an S/MIME header and a long base64 body.
	w.file("oversize.p7m", []byte(appleHeader("\r\n")+wrap(strings.Repeat("QUFB", 17<<10), 64, "\r\n")))
	if w.err != nil {
		return w.err
	}

	// openssl-made tokens and wrong files, then the ones cut from them.
	script := filepath.Join(dir, "gen-openssl.sh")
	cmd := exec.Command("sh", script, dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	apple, err := os.ReadFile(filepath.Join(files, appleName))
	if err != nil {
		return err
	}
	header, body, ok := strings.Cut(string(apple), "\r\n\r\n")
	if !ok {
		return errors.New("apple-shaped token without header")
	}
	w.file("truncated.p7m", apple[:len(apple)/2])
	lines := strings.SplitAfter(body, "\r\n")
	w.file("truncated-at-line.p7m", []byte(header+"\r\n\r\n"+strings.Join(lines[:len(lines)/2], "")))
	w.file("headers-only.p7m", []byte(header+"\r\n\r\n"))
	corrupt := []byte(apple)
	mid := len(header) + 4 + len(body)/2
	copy(corrupt[mid:], "*** ä ***")
	w.file("corrupt-base64.p7m", corrupt)
	der, err := os.ReadFile(filepath.Join(files, "openssl-aes256-indefinite.der"))
	if err != nil {
		return err
	}
	w.file("truncated.der", der[:len(der)*2/3])
	return w.err
}

func appleHeader(eol string) string {
	return "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data" + eol +
		"Content-Transfer-Encoding: base64" + eol +
		"Content-Disposition: attachment; filename=\"smime.p7m\"" + eol +
		"Content-Description: S/MIME Encrypted Message" + eol + eol
}

func loadOrCreate(dir string, id identity, fresh bool) (*x509.Certificate, *rsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, id.file+".crt"), filepath.Join(dir, id.file+".key")
	if !fresh {
		c, k, err := load(certPath, keyPath)
		if err == nil {
			return c, k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, ok := new(big.Int).SetString(id.serial, 16)
	if !ok {
		return nil, nil, fmt.Errorf("bad serial %q", id.serial)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	ski := sha1.Sum(spki)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      id.subject,
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		SubjectKeyId: ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certPath, pemCert(cert), 0o644); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func load(certPath, keyPath string) (*x509.Certificate, *rsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an RSA key", keyPath)
	}
	return cert, rk, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// oneLine is the certificate as Intune's getEncryptionPublicKey returns it.
func oneLine(c *x509.Certificate) string {
	return "-----BEGIN CERTIFICATE-----" + base64.StdEncoding.EncodeToString(c.Raw) + "-----END CERTIFICATE-----"
}

func wrap(s string, width int, eol string) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + eol)
		s = s[width:]
	}
	b.WriteString(s + eol)
	return b.String()
}

// writer keeps the first error so the list of fixtures reads as a list.
type writer struct {
	dir string
	err error
}

func (w *writer) file(name string, data []byte) {
	if w.err == nil {
		w.err = os.WriteFile(filepath.Join(w.dir, name), data, 0o644)
	}
}

func (w *writer) encrypt(msg string, to ...*x509.Certificate) []byte {
	if w.err != nil {
		return nil
	}
	out, err := pkcs7.Encrypt([]byte(msg), to)
	w.err = err
	return out
}

func (w *writer) image(encode func(io.Writer, image.Image) error) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range 4 {
		m.Set(i, i, color.RGBA{0, 0x7a, 0xff, 0xff})
	}
	var b bytes.Buffer
	if err := encode(&b, m); err != nil && w.err == nil {
		w.err = err
	}
	return b.Bytes()
}

func (w *writer) zip(name string, content []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2026, 11, 29, 7, 12, 45, 0, time.UTC)})
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return b.Bytes()
}

const minimalPDF = "%PDF-1.4\n" +
	"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n" +
	"trailer << /Root 1 0 R >>\n" +
	"%%EOF\n"

const signInPage = `<!DOCTYPE html>
<!-- saved from url=(0040)https://business.apple.com/#/main/login -->
<html lang="en"><head><meta charset="utf-8"><title>Sign In - Apple Business Manager</title></head>
<body><form action="#" method="post"><label>Managed Apple ID <input name="appleId"></label>
<button type="submit">Continue</button></form></body></html>
`
