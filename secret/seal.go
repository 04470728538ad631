package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// DeriveKey returns the 32-byte key for purpose, derived from the 32-byte master key: each use
// (sealing sign-ins, sealing Graph tokens, CSRF tokens…) gets its own, so a blob or a MAC made
// for one never passes as another.
func DeriveKey(master []byte, purpose string) ([]byte, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("session key must be 32 bytes, got %d", len(master))
	}
	return hkdf.Key(sha256.New, master, nil, "depportal/"+purpose, 32)
}

// Sealer encrypts small secrets at rest (AES-256-GCM) under the key of one purpose.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the key for purpose from the 32-byte master key.
func NewSealer(master []byte, purpose string) (*Sealer, error) {
	key, err := DeriveKey(master, purpose)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; additional binds the blob to its row (e.g. the session hash) so it
// cannot be copied into another.
func (s *Sealer) Seal(plaintext, additional []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce) // never fails: crypto/rand crashes the program rather than return an error
	return s.aead.Seal(nonce, nonce, plaintext, additional)
}

var errSealed = errors.New("sealed data is corrupt or was sealed with another key")

// Open decrypts what Seal produced with the same additional data.
func (s *Sealer) Open(sealed, additional []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errSealed
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}

// RandomToken returns 256 random bits, base64url: unguessable, and safe in a URL or a cookie.
func RandomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return base64.RawURLEncoding.EncodeToString(b)
}
