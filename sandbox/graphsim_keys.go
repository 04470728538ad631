package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	settingKeyBits  = 2048
	otherMDMKeyName = "other-mdm-server"
	// otherMDMCertName is the certificate of an MDM server that is not this tenant's Intune: a
	// token made for it is the most common failed renewal.
	otherMDMCertName = "Contoso Legacy MDM - MDM server key"
)

// settingKey is an onboarding setting's key pair: Apple encrypts the token to cert, and only
// Intune holds private.
type settingKey struct {
	private *rsa.PrivateKey
	cert    *x509.Certificate
}

func generateSettingKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, settingKeyBits)
}

// intuneCertName stands in for the subject of the certificate Intune makes per token.
func intuneCertName(settingID string) string { return "Intune DEP Token - " + settingID }

func (g *Graph) keyPath(name string) string {
	return filepath.Join(g.dataDir, "sandbox-graph-key-"+name+".pem")
}

// loadOrCreateKey reuses the key in DataDir so that a token file downloaded from the sandbox
// before a restart still decrypts after it.
func (g *Graph) loadOrCreateKey(name, commonName string) (*settingKey, error) {
	path := g.keyPath(name)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g.createKey(name, commonName, false)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: read key: %w", err)
	}
	key, err := parseSettingKey(raw)
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: %s: %w (delete the file to make a new key)", path, err)
	}
	return key, nil
}

// createKey writes the key and certificate to a temporary file and moves it into place, so a
// crash never leaves half a key. Without replace, a file another process created first wins.
func (g *Graph) createKey(name, commonName string, replace bool) (*settingKey, error) {
	private, err := g.newKey()
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: generate key: %w", err)
	}
	cert, err := selfSignedCert(private, commonName, g.now())
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: encode key: %w", err)
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})

	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox graph: %w", err)
	}
	path := g.keyPath(name)
	tmp, err := os.CreateTemp(g.dataDir, filepath.Base(path)+".*") // 0600
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sandbox graph: write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sandbox graph: write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("sandbox graph: write key: %w", err)
	}
	if replace {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("sandbox graph: save key: %w", err)
		}
	} else if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return g.loadOrCreateKey(name, commonName)
		}
		return nil, fmt.Errorf("sandbox graph: save key: %w", err)
	}
	g.logger.Info("sandbox graph: created key", "name", name, "serial", cert.SerialNumber.Text(16))
	return &settingKey{private: private, cert: cert}, nil
}

func parseSettingKey(raw []byte) (*settingKey, error) {
	var key settingKey
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			private, err := parseRSAPrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			key.private = private
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			key.cert = cert
		}
	}
	if key.private == nil || key.cert == nil {
		return nil, errors.New("want a PEM PRIVATE KEY and a CERTIFICATE")
	}
	if !key.private.PublicKey.Equal(key.cert.PublicKey) {
		return nil, errors.New("the certificate is not for the private key")
	}
	return &key, nil
}

// selfSignedCert makes the certificate getEncryptionPublicKey returns. Apple names it in the
// token's recipient by issuer and serial number, so the serial is random as a CA's would be.
func selfSignedCert(private *rsa.PrivateKey, commonName string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: serial: %w", err)
	}
	name := pkix.Name{CommonName: commonName}
	template := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      name,
		Issuer:       name,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &private.PublicKey, private)
	if err != nil {
		return nil, fmt.Errorf("sandbox graph: certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// oneLinePEM is the certificate as getEncryptionPublicKey returns it: PEM with no line breaks
// at all, which a client must re-wrap before anyone can use it as a .pem file.
func oneLinePEM(der []byte) string {
	return "-----BEGIN CERTIFICATE-----" + base64.StdEncoding.EncodeToString(der) + "-----END CERTIFICATE-----"
}
