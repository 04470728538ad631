package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

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
	bundle, _ := MustClientCertificate(t)
	_, registered := MustClientCertificate(t)
	cc, err := auth.ParseClientCertificate(bundle)
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, cc)
	r.op.clientCert = registered
	_, err = r.login(t)
	if got := reasonOf(t, err); got != auth.ReasonExchange {
		t.Errorf("reason = %s", got)
	}
}

func TestParseClientCertificateNeedsTheKey(t *testing.T) {
	bundle, cert := MustClientCertificate(t)
	certOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if _, err := auth.ParseClientCertificate(certOnly); err == nil {
		t.Error("a certificate without its key was accepted")
	}
	if cc, err := auth.ParseClientCertificate(bundle); err != nil || !cc.NotAfter().Equal(cert.NotAfter) {
		t.Errorf("bundle: %v", err)
	}
}
