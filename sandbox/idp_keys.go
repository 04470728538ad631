package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	signingKeyFile = "sandbox-idp-key.pem"
	signingKeyBits = 2048
)

// signingKey is the sandbox provider's one RSA key, as zitadel signs with it (op.SigningKey).
type signingKey struct {
	id      string
	private *rsa.PrivateKey
}

func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.private }

// verificationKey is the public half as zitadel publishes it (op.Key). It is a separate type so
// that the private key cannot reach the JWKS by way of a shared Key method.
type verificationKey struct {
	id     string
	public *rsa.PublicKey
}

func (k verificationKey) ID() string                         { return k.id }
func (k verificationKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k verificationKey) Use() string                        { return "sig" }
func (k verificationKey) Key() any                           { return k.public }

func (k *signingKey) verificationKey() verificationKey {
	return verificationKey{id: k.id, public: &k.private.PublicKey}
}

func (k *signingKey) jwks() jose.JSONWebKeySet {
	v := k.verificationKey()
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       v.public,
		KeyID:     v.id,
		Algorithm: string(v.Algorithm()),
		Use:       v.Use(),
	}}}
}

// loadOrCreateSigningKey reuses the key in dataDir so that tokens and sessions survive a
// restart of the sandbox, and creates it on first run.
func loadOrCreateSigningKey(dataDir string) (key *signingKey, created bool, err error) {
	path := filepath.Join(dataDir, signingKeyFile)
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSigningKey(dataDir, path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("sandbox idp: read signing key: %w", err)
	}
	key, err = parseSigningKey(pemBytes)
	if err != nil {
		return nil, false, fmt.Errorf("sandbox idp: %s: %w (delete the file to make a new key)", path, err)
	}
	return key, false, nil
}

func createSigningKey(dataDir, path string) (*signingKey, bool, error) {
	private, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, false, fmt.Errorf("sandbox idp: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return nil, false, fmt.Errorf("sandbox idp: encode signing key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("sandbox idp: %w", err)
	}
	// Written to a temporary file (CreateTemp makes it 0600) and linked into place, so that a
	// crash never leaves half a key behind and two processes starting together cannot each
	// keep a different key: the second link fails and that process reads the winner's key.
	tmp, err := os.CreateTemp(dataDir, signingKeyFile+".*")
	if err != nil {
		return nil, false, fmt.Errorf("sandbox idp: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("sandbox idp: write signing key: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("sandbox idp: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("sandbox idp: write signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("sandbox idp: write signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, _, err := loadOrCreateSigningKey(dataDir)
			return key, false, err
		}
		return nil, false, fmt.Errorf("sandbox idp: save signing key: %w", err)
	}
	key, err := newSigningKey(private)
	return key, true, err
}

func parseSigningKey(pemBytes []byte) (*signingKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\"")
	}
	private, err := parseRSAPrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	if private.N.BitLen() < signingKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits, want at least %d", private.N.BitLen(), signingKeyBits)
	}
	return newSigningKey(private)
}

// parseRSAPrivateKey reads a PKCS#8 RSA key, the form every sandbox key file holds.
func parseRSAPrivateKey(der []byte) (*rsa.PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	private, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", parsed)
	}
	return private, nil
}

// newSigningKey derives the kid from the public key so that it stays the same for as long as
// the key file does, and changes when the file is replaced.
func newSigningKey(private *rsa.PrivateKey) (*signingKey, error) {
	der, err := x509.MarshalPKIXPublicKey(&private.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox idp: encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &signingKey{
		id:      base64.RawURLEncoding.EncodeToString(sum[:16]),
		private: private,
	}, nil
}
