package watch_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/depportal/depportal/watch"
)

// mailbox is the receiving SMTP server's record of what it accepted.
type mailbox struct {
	mu       sync.Mutex
	user     string
	from     string
	to       []string
	data     string
	tlsState bool
}

type smtpBackend struct{ box *mailbox }

func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{box: b.box, conn: c}, nil
}

type smtpSession struct {
	box  *mailbox
	conn *smtp.Conn
	user string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "depportal@contoso.com" || pass != "app-password" {
			return errors.New("535 bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.box.mu.Lock()
	s.box.from = from
	s.box.mu.Unlock()
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.box.mu.Lock()
	s.box.to = append(s.box.to, to)
	s.box.mu.Unlock()
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	_, isTLS := s.conn.TLSConnectionState()
	s.box.mu.Lock()
	s.box.data, s.box.user, s.box.tlsState = string(b), s.user, isTLS
	s.box.mu.Unlock()
	return err
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// MustSMTPServer starts a receiving server on loopback that offers STARTTLS with a fresh
// certificate (nil tlsConfig: no STARTTLS at all) and requires AUTH PLAIN over it. It returns
// the address, the mailbox and a pool trusting the certificate.
func MustSMTPServer(tb testing.TB, withTLS bool) (string, *mailbox, *x509.CertPool) {
	tb.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	box := &mailbox{}
	s := smtp.NewServer(smtpBackend{box: box})
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	} else {
		s.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go s.Serve(ln)
	tb.Cleanup(func() { s.Close() })
	return ln.Addr().String(), box, pool
}

func TestEmailIsDeliveredOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	addr, box, pool := MustSMTPServer(t, true)
	e := &watch.Email{Addr: addr, Username: "depportal@contoso.com", Password: "app-password", From: "depportal@contoso.com",
		To: []string{"intune-admins@contoso.com", "helpdesk@contoso.com"}, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	m := watch.Message{ID: "3f0c6a52-1d0e-4c55-9d4e-2f8f1b7c9e10", At: now, Reason: "14d", PortalURL: "https://depportal.contoso.com/settings/ade-1",
		Connector: watch.Connector{Kind: watch.ADE, ID: "ade-1", Name: "Contoso <ABM>", ExpiresAt: now.Add(9 * day), AppleID: "abm@contoso.com"}}
	if err := e.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if !box.tlsState || box.user != "depportal@contoso.com" || box.from != "depportal@contoso.com" || len(box.to) != 2 {
		t.Errorf("server saw tls=%v user=%q from=%q to=%v", box.tlsState, box.user, box.from, box.to)
	}
	for _, want := range []string{
		"Subject: ADE server token \"Contoso <ABM>\" expires in 9 days",
		"Message-ID: <3f0c6a52-1d0e-4c55-9d4e-2f8f1b7c9e10@depportal>",
		"Content-Type: multipart/alternative",
		"Content-Type: text/plain",
		"Content-Type: text/html",
		"Contoso &lt;ABM&gt;", // the HTML part escapes
		"https://depportal.contoso.com/settings/ade-1",
	} {
		if !strings.Contains(unfold(box.data), want) {
			t.Errorf("the delivered message lacks %q:\n%s", want, box.data)
		}
	}
}

// unfold undoes quoted-printable soft line breaks and header folding, so the checks read the
// text as a mail reader would show it.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	s = strings.ReplaceAll(s, "=3D", "=")
	return strings.ReplaceAll(s, "\r\n ", " ")
}

// STARTTLS is required: a server that does not offer it gets nothing, credentials included.
func TestEmailRefusesAServerWithoutSTARTTLS(t *testing.T) {
	t.Parallel()
	addr, box, _ := MustSMTPServer(t, false)
	e := &watch.Email{Addr: addr, Username: "depportal@contoso.com", Password: "app-password", From: "depportal@contoso.com", To: []string{"a@contoso.com"}}
	err := e.Send(context.Background(), watch.Message{ID: "x", At: time.Now(), Connector: watch.Connector{Kind: watch.VPP, Name: "Apps", ExpiresAt: time.Now().Add(day)}})
	if err == nil {
		t.Fatal("sent over a connection without TLS")
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if box.user != "" || box.data != "" {
		t.Errorf("the server got user %q, data %q", box.user, box.data)
	}
}
