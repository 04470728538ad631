package sandbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

const samplesPathPrefix = "/_sandbox/tokens/"

// SampleKind is what a sample file is for: one renewal outcome each.
type SampleKind string

const (
	SampleValid    SampleKind = "valid"     // a renewed token for the setting: the upload succeeds
	SampleWrongKey SampleKind = "wrong-key" // made for another MDM server's key: Intune cannot open it
	SampleExpired  SampleKind = "expired"   // opens, but its expiry has passed
	SampleVPPToken SampleKind = "vpptoken"  // an Apps and Books token: the wrong file from ABM
	SampleAPNsCert SampleKind = "apns-certificate"
)

// Sample is a file as a person would download it from Apple, for trying a renewal.
type Sample struct {
	Kind        SampleKind
	SettingID   string // the token it is for; "" for the wrong files
	FileName    string // as ABM or Apple names the download
	ContentType string
	Description string // one line for the sandbox home page
	Path        string // where SamplesHandler serves it
	Data        []byte
}

// Samples returns the sample files: three per onboarding setting, then the two wrong files.
func (g *Graph) Samples() []Sample {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Sample, len(g.samples))
	for i, s := range g.samples {
		out[i] = s
		out[i].Data = bytes.Clone(s.Data)
	}
	return out
}

// SamplesHandler serves the sample files under /_sandbox/tokens/ as downloads; mount it at that
// prefix without stripping it.
func (g *Graph) SamplesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var sample *Sample
		g.mu.Lock()
		for i := range g.samples {
			if g.samples[i].Path == r.URL.Path {
				s := g.samples[i]
				sample = &s
			}
		}
		g.mu.Unlock()
		if sample == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", sample.ContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": sample.FileName}))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(sample.Data))
	})
}

// refreshSamples remakes every sample, after a key changed.
func (g *Graph) refreshSamples() error {
	samples, err := g.makeSamples()
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.samples = samples
	g.mu.Unlock()
	return nil
}

func (g *Graph) makeSamples() ([]Sample, error) {
	now := g.now().UTC().Truncate(time.Second)
	type target struct {
		id, name string
		cert     *x509.Certificate
	}
	g.mu.Lock()
	var targets []target
	for _, s := range g.settings {
		targets = append(targets, target{s.ID, s.TokenName, s.key.cert})
	}
	other := g.other
	g.mu.Unlock()

	var samples []Sample
	for _, t := range targets {
		downloadedLongAgo := now.AddDate(-1, 0, -5)
		files := []struct {
			kind        SampleKind
			server      string
			downloaded  time.Time
			cert        *x509.Certificate
			description string
		}{
			{SampleValid, t.name, now, t.cert,
				"A renewed token for this server, valid for a year: the upload succeeds."},
			{SampleWrongKey, "Contoso Legacy MDM", now, other.cert,
				"Downloaded from the wrong MDM server in ABM (made for another server's key): Intune cannot decrypt it."},
			{SampleExpired, t.name, downloadedLongAgo, t.cert,
				"Downloaded over a year ago: it decrypts, but it has expired."},
		}
		for _, f := range files {
			p7m, err := depTokenFile(f.cert, f.downloaded.AddDate(1, 0, 0))
			if err != nil {
				return nil, err
			}
			samples = append(samples, Sample{
				Kind:        f.kind,
				SettingID:   t.id,
				FileName:    f.server + "_Token_" + f.downloaded.Format("2006-01-02T15-04-05Z") + "_smime.p7m",
				ContentType: "application/pkcs7-mime",
				Description: f.description,
				Path:        samplesPathPrefix + t.id + "/" + string(f.kind),
				Data:        p7m,
			})
		}
	}

	vpp, err := vppTokenFile(now)
	if err != nil {
		return nil, err
	}
	samples = append(samples, Sample{
		Kind:        SampleVPPToken,
		FileName:    "sToken_for_Contoso.vpptoken",
		ContentType: "application/octet-stream",
		Description: "An Apps and Books (VPP) location token: the other token ABM hands out, and the wrong file here.",
		Path:        samplesPathPrefix + string(SampleVPPToken),
		Data:        vpp,
	})
	apns, err := apnsCertificateFile(now)
	if err != nil {
		return nil, err
	}
	samples = append(samples, Sample{
		Kind:        SampleAPNsCert,
		FileName:    "MDM_ Microsoft Corporation_Certificate.pem",
		ContentType: "application/x-pem-file",
		Description: "An Apple MDM push (APNs) certificate: a .pem that is not a token.",
		Path:        samplesPathPrefix + string(SampleAPNsCert),
		Data:        apns,
	})
	return samples, nil
}

// depTokenFile makes a token file as ABM does: the credentials in a MIME part, encrypted to
// the MDM server's certificate, in S/MIME text with CRLF line ends.
func depTokenFile(recipient *x509.Certificate, expiry time.Time) ([]byte, error) {
	content, err := json.Marshal(depTokenContent{
		ConsumerKey:       "CK_" + randomHex(64),
		ConsumerSecret:    "CS_" + randomHex(64),
		AccessToken:       "AT_O" + randomHex(64),
		AccessSecret:      "AS_" + randomHex(64),
		AccessTokenExpiry: expiry.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return nil, err
	}
	plain := "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
		messageBegin + "\n" + string(content) + "\n" + messageEnd + "\n"
	der, err := envelope([]byte(plain), recipient)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"smime.p7m\"\r\n")
	b.WriteString("Content-Description: S/MIME Encrypted Message\r\n")
	b.WriteString("\r\n")
	encoded := base64.StdEncoding.EncodeToString(der)
	for len(encoded) > 64 {
		b.WriteString(encoded[:64] + "\r\n")
		encoded = encoded[64:]
	}
	b.WriteString(encoded + "\r\n")
	return []byte(b.String()), nil
}

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type keyTransRecipientInfo struct {
	Version                int
	IssuerAndSerialNumber  issuerAndSerialNumber
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

// envelope encrypts content to the certificate as `openssl smime -encrypt -aes256` does: an
// EnvelopedData with one KeyTransRecipientInfo naming the certificate by issuer and serial,
// AES-256-CBC content and an RSA PKCS#1 v1.5 wrapped key, streamed as BER with indefinite
// lengths. That BER is the point: a reader that only handles DER fails on the samples as it
// would on a real ABM file.
func envelope(content []byte, recipient *x509.Certificate) ([]byte, error) {
	public, ok := recipient.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sandbox samples: recipient key is a %T, not RSA", recipient.PublicKey)
	}
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	_, _ = rand.Read(key)
	_, _ = rand.Read(iv)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	padLen := aes.BlockSize - len(content)%aes.BlockSize
	padded := append(bytes.Clone(content), bytes.Repeat([]byte{byte(padLen)}, padLen)...)
	ciphertext := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, padded)

	wrappedKey, err := rsa.EncryptPKCS1v15(rand.Reader, public, key)
	if err != nil {
		return nil, fmt.Errorf("sandbox samples: wrap key: %w", err)
	}
	recipientInfo, err := asn1.Marshal(keyTransRecipientInfo{
		IssuerAndSerialNumber:  issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: recipient.RawIssuer}, SerialNumber: recipient.SerialNumber},
		KeyEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue},
		EncryptedKey:           wrappedKey,
	})
	if err != nil {
		return nil, err
	}
	recipientInfos, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: recipientInfo})
	if err != nil {
		return nil, err
	}
	version, _ := asn1.Marshal(0)
	contentType, _ := asn1.Marshal(oidData)
	envelopedType, _ := asn1.Marshal(oidEnvelopedData)
	algorithm, err := asn1.Marshal(pkix.AlgorithmIdentifier{
		Algorithm:  oidAES256CBC,
		Parameters: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagOctetString, Bytes: iv},
	})
	if err != nil {
		return nil, err
	}
	var chunks [][]byte
	for len(ciphertext) > 0 {
		n := min(len(ciphertext), 1024)
		chunk, err := asn1.Marshal(ciphertext[:n])
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, chunk)
		ciphertext = ciphertext[n:]
	}

	const sequence, contextZero = 0x30, 0xa0
	encryptedContentInfo := indefinite(sequence, contentType, algorithm, indefinite(contextZero, chunks...))
	envelopedData := indefinite(sequence, version, recipientInfos, encryptedContentInfo)
	return indefinite(sequence, envelopedType, indefinite(contextZero, envelopedData)), nil
}

// indefinite is a constructed BER element with indefinite length: tag, 0x80, the parts, and
// the end-of-contents octets.
func indefinite(tag byte, parts ...[]byte) []byte {
	out := []byte{tag, 0x80}
	for _, p := range parts {
		out = append(out, p...)
	}
	return append(out, 0, 0)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// vppTokenFile is an Apps and Books location token: base64 of JSON, with a date format of its
// own.
func vppTokenFile(now time.Time) ([]byte, error) {
	secret := make([]byte, 96)
	_, _ = rand.Read(secret)
	raw, err := json.Marshal(struct {
		Token   string `json:"token"`
		ExpDate string `json:"expDate"`
		OrgName string `json:"orgName"`
	}{
		Token:   base64.StdEncoding.EncodeToString(secret),
		ExpDate: now.AddDate(1, 0, 0).Format("2006-01-02T15:04:05-0700"),
		OrgName: "Contoso",
	})
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(raw)), nil
}

// apnsCertificateFile stands in for the MDM push certificate from Apple's Push Certificates
// Portal: subject and issuer as Apple writes them. It is not Apple-signed; it only has to look
// like the file a person picks by mistake.
func apnsCertificateFile(now time.Time) ([]byte, error) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	topic := uuid.NewString()
	uid := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject: pkix.Name{
			CommonName:   "APSP:" + topic,
			Organization: []string{"Contoso"},
			Country:      []string{"US"},
			ExtraNames:   []pkix.AttributeTypeAndValue{{Type: uid, Value: "com.apple.mgmt.External." + topic}},
		},
		NotBefore:   now.AddDate(0, -1, 0),
		NotAfter:    now.AddDate(1, -1, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	issuer := &x509.Certificate{Subject: pkix.Name{
		CommonName:         "Apple Application Integration 2 Certification Authority",
		OrganizationalUnit: []string{"Apple Certification Authority"},
		Organization:       []string{"Apple Inc."},
		Country:            []string{"US"},
	}}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, &private.PublicKey, private)
	if err != nil {
		return nil, fmt.Errorf("sandbox samples: APNs certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
