package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/depportal/depportal/auth"
)

// MustClientCertificate makes a self-signed certificate and key, as an operator would upload
// to the app registration, and returns the PEM bundle and the parsed certificate.
func MustClientCertificate(tb testing.TB) ([]byte, *x509.Certificate) {
	tb.Helper()
	key := MustKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "depportal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	bundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	return bundle, cert
}

func TestCertificateCredentials(t *testing.T) {
	t.Parallel()
	bundle, cert := MustClientCertificate(t)
	cc, err := auth.ParseClientCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, cc)
	r.op.clientCert = cert
	done := MustLogin(t, r) // the code exchange authenticates with the assertion
	raw, sess, err := r.sessions.Create(context.Background(), done.Identity, done.Token)
	if err != nil || raw == "" {
		t.Fatal(err)
	}
	// So does a refresh, which x/oauth2 makes on its own.
	cred := r.sessions.Delegated(sess)
	cred.AccessToken(context.Background())
	if _, err := cred.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh with a client assertion: %v", err)
	}
	if r.op.refreshed != 1 {
		t.Errorf("refreshed %d times", r.op.refreshed)
	}
}

func TestCertificateNotRegisteredIsRefused(t *testing.T) {
	t.Parallel()
	bundle, _ := MustClientCertificate(t)
	_, registered := MustClientCertificate(t)
	cc, err := auth.ParseClientCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, cc)
	r.op.clientCert = registered
	_, err = r.login(t)
	// Entra answers invalid_client (AADSTS700027): the portal's own credential, an operator's
	// matter, not the person's.
	if got := reasonOf(t, err); got != auth.ReasonClientCredential {
		t.Errorf("reason = %s", got)
	}
}

func TestParseClientCertificateNeedsTheKey(t *testing.T) {
	t.Parallel()
	bundle, cert := MustClientCertificate(t)
	certOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if _, err := auth.ParseClientCertificate(certOnly); err == nil {
		t.Error("a certificate without its key was accepted")
	}
	if cc, err := auth.ParseClientCertificate(bundle); err != nil || !cc.NotAfter().Equal(cert.NotAfter) {
		t.Errorf("bundle: %v", err)
	}
}

// The assertion's header, read as Entra ID reads it: PS256 (an RS256 assertion fails to
// parse here), typ JWT, and the certificate's SHA-256 thumbprint in x5t#S256.
func TestAssertionHeaderIsPS256WithX5tS256(t *testing.T) {
	t.Parallel()
	bundle, cert := MustClientCertificate(t)
	cc, err := auth.ParseClientCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cc.Assertion(testClient, "https://login.microsoftonline.com/"+testTenant+"/oauth2/v2.0/token", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256}); err == nil {
		t.Error("the assertion parses as RS256")
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.PS256})
	if err != nil {
		t.Fatalf("not PS256: %v", err)
	}
	if _, err := jws.Verify(cert.PublicKey); err != nil {
		t.Fatalf("signature: %v", err)
	}
	h := jws.Signatures[0].Header
	sum := sha256.Sum256(cert.Raw)
	if h.ExtraHeaders["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("x5t#S256 = %v", h.ExtraHeaders["x5t#S256"])
	}
	if h.ExtraHeaders[jose.HeaderType] != "JWT" {
		t.Errorf("typ = %v", h.ExtraHeaders[jose.HeaderType])
	}
}
