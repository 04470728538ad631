package watch_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/watch"
)

// tokenEndpoint plays Entra's v2.0 token endpoint for the client-credentials grant and keeps
// the forms it was sent.
type tokenEndpoint struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
}

func MustTokenEndpoint(tb testing.TB) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		te.mu.Lock()
		te.forms = append(te.forms, r.PostForm)
		n := len(te.forms)
		te.mu.Unlock()
		if r.Header.Get("Authorization") != "" {
			tb.Errorf("Authorization header sent: the credential belongs in the body")
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"app-token-%d"}`, n)
	}))
	tb.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) Forms() []url.Values {
	te.mu.Lock()
	defer te.mu.Unlock()
	return append([]url.Values(nil), te.forms...)
}

func TestClientCredentialsWithSecret(t *testing.T) {
	t.Parallel()
	te := MustTokenEndpoint(t)
	cred, err := watch.NewClientCredentials(watch.CredentialConfig{TokenURL: te.URL + "/tid/oauth2/v2.0/token", ClientID: "watch-id",
		ClientSecret: "watch-secret", Scope: "https://graph.microsoft.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := cred.AccessToken(ctx)
	if err != nil || tok != "app-token-1" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if tok, _ := cred.AccessToken(ctx); tok != "app-token-1" {
		t.Errorf("a valid token was not reused: %q", tok)
	}
	if tok, _ := cred.Refresh(ctx); tok != "app-token-2" {
		t.Errorf("Refresh did not ask for a new token: %q", tok)
	}
	f := te.Forms()[0]
	if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "watch-id" || f.Get("client_secret") != "watch-secret" ||
		f.Get("scope") != "https://graph.microsoft.com/.default" {
		t.Errorf("form %v", f)
	}
}

func TestClientCredentialsWithCertificate(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	cert, err := auth.ParseClientCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	te := MustTokenEndpoint(t)
	tokenURL := te.URL + "/tid/oauth2/v2.0/token"
	cred, err := watch.NewClientCredentials(watch.CredentialConfig{TokenURL: tokenURL, ClientID: "watch-id", Certificate: cert, Scope: "https://graph.microsoft.com/.default"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cred.AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	forms := te.Forms()
	var jtis []string
	for _, f := range forms {
		if f.Has("client_secret") {
			t.Errorf("a client_secret was sent with a certificate: %v", f)
		}
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Errorf("client_assertion_type %q", f.Get("client_assertion_type"))
		}
		sig, err := jose.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{jose.PS256})
		if err != nil {
			t.Fatalf("assertion: %v", err)
		}
		payload, err := sig.Verify(&key.PublicKey)
		if err != nil {
			t.Fatalf("assertion does not verify with the certificate's key: %v", err)
		}
		var claims struct {
			Iss, Sub, Aud, Jti string
		}
		json.Unmarshal(payload, &claims)
		if claims.Iss != "watch-id" || claims.Sub != "watch-id" || claims.Aud != tokenURL {
			t.Errorf("assertion claims %+v", claims)
		}
		jtis = append(jtis, claims.Jti)
	}
	if len(jtis) != 2 || jtis[0] == jtis[1] {
		t.Errorf("each token request needs a fresh assertion: %v", jtis)
	}
}

func TestClientCredentialsRefusal(t *testing.T) {
	t.Parallel()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`))
	}))
	defer refuse.Close()
	cred, _ := watch.NewClientCredentials(watch.CredentialConfig{TokenURL: refuse.URL, ClientID: "watch-id", ClientSecret: "old", Scope: "s"})
	if _, err := cred.AccessToken(context.Background()); err == nil {
		t.Fatal("no error from a refused credential")
	}
}
