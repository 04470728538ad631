package sandbox

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func MustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestSigningKeyIsCreatedAndReused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data") // absent: NewIdP creates it
	path := filepath.Join(dir, "sandbox-idp-key.pem")
	first := MustStartIdPIn(t, dir)

	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %o, want 600", perm)
	}
	keys := first.idp.PublicKeys().Keys
	if len(keys) != 1 || keys[0].KeyID == "" || keys[0].Algorithm != "RS256" || keys[0].Use != "sig" {
		t.Fatalf("PublicKeys = %+v, want one RS256 signing key with a kid", keys)
	}
	public, ok := keys[0].Key.(*rsa.PublicKey)
	if !ok || public.N.BitLen() != 2048 {
		t.Fatalf("public key %T, want 2048-bit RSA", keys[0].Key)
	}
	if !strings.Contains(first.logs.String(), "created signing key") {
		t.Error("key creation not logged")
	}
	pemBefore := MustReadFile(t, path)

	second := MustStartIdPIn(t, dir)
	if got := second.idp.PublicKeys().Keys[0].KeyID; got != keys[0].KeyID {
		t.Errorf("kid after restart = %q, want %q", got, keys[0].KeyID)
	}
	if !bytes.Equal(MustReadFile(t, path), pemBefore) {
		t.Error("the key file was rewritten")
	}

	// A token from before the restart still verifies: the point of keeping the key.
	rp := MustNewRelyingParty(t, first)
	got := MustSignIn(t, rp, "hannah")
	MustVerifyAccessToken(t, second.idp, got.token.AccessToken)

	other := MustStartIdP(t)
	if other.idp.PublicKeys().Keys[0].KeyID == keys[0].KeyID {
		t.Error("a new data directory got the same kid")
	}
}

func TestJWKSEndpointPublishesThePublicKeyOnly(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	var doc struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := rp.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	resp := MustGet(t, http.DefaultClient, doc.JWKS)
	body := MustBody(t, resp)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(set.Keys))
	}
	key := set.Keys[0]
	if key["kid"] != s.idp.PublicKeys().Keys[0].KeyID || key["kty"] != "RSA" || key["alg"] != "RS256" {
		t.Errorf("JWKS key = %v", key)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := key[private]; ok {
			t.Errorf("JWKS publishes private parameter %q", private)
		}
	}
}

func TestBadKeyFileIsAnError(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"not PEM":   "hello",
		"wrong PEM": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, signingKeyFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewIdP(IdPConfig{BaseURL: "http://localhost:8080", DataDir: dir, ClientSecret: "s"})
			if err == nil {
				t.Fatal("NewIdP accepted a broken key file")
			}
			if !strings.Contains(err.Error(), signingKeyFile) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
