package handlers_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

const canary = "CANARY-7f1c0ffee-do-not-leak"

// MustCanaryToken makes a server token for the setting whose plaintext carries the canary,
// shaped like Apple Business Manager's download.
func MustCanaryToken(tb testing.TB, certPEM string) []byte {
	tb.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		tb.Fatal("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	plain := "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN MESSAGE-----\n" +
		fmt.Sprintf(`{"consumer_key":"CK_%[1]s","consumer_secret":"CS_%[1]s","access_token":"AT_%[1]s","access_secret":"AS_%[1]s","access_token_expiry":"%[2]s"}`,
			canary, time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)) +
		"\n-----END MESSAGE-----\n"
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC
	der, err := pkcs7.Encrypt([]byte(plain), []*x509.Certificate{cert})
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"Content-Description: S/MIME Encrypted Message\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\r\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\r\n")
	return []byte(b.String())
}

// TestNoSecretLeaks runs the whole flow, including failures, with a token file whose plaintext
// carries a canary, then looks for the canary, the file's content and every token the provider
// issued in the log, every page shown, every audit field and every database row.
//
// The sandbox provider's library logs through slog's default logger, whose records for this
// portal's requests reach p.logs however many portals run beside it (app/sandbox_logs.go).
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, csrf := signedInHannah(t, p)
	certPEM := hannah.Get("/settings/" + abmSoon + "/public-key").Body
	token := MustCanaryToken(t, certPEM)
	name := "Contoso ABM_Token_" + time.Now().UTC().Format("2006-01-02T15-04-05Z") + "_smime.p7m"

	review := postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", name, token)
	if got := confirmReview(t, hannah, review); got.Status != http.StatusOK {
		t.Fatalf("renewal with the canary token: %d\n%s", got.Status, got.Body)
	}
	// A failure path too: Intune refuses, and a file that is a private key.
	p.tenant.Graph.InjectFault(sandbox.OpUpload, sandbox.Fault{Status: 503, Times: 3})
	review = postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", name, token)
	confirmReview(t, hannah, review, ackAll(review)...)
	postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", "key.pem", []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"+canary+"\n-----END PRIVATE KEY-----\n"))
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/")
	avery.Get("/audit")
	avery.Get("/audit/export?format=jsonl")
	avery.Get("/audit/export?format=csv")

	// The file's base64 body, in pieces a leak would contain. A line that is also a line of the
	// certificate is not one: the file names its recipient by the certificate's issuer, and
	// when that name falls on the same 48-byte boundaries in both, the public-key download
	// (a page, by design) shows the very same line.
	var fileLines []string
	for _, l := range strings.Split(string(token), "\r\n") {
		if len(l) == 64 && !strings.Contains(certPEM, l) {
			fileLines = append(fileLines, l)
		}
	}
	if len(fileLines) < 10 {
		t.Fatalf("only %d lines of the file to look for; the test would prove little", len(fileLines))
	}
	secrets := append([]string{canary}, fileLines...)
	tokens := p.tokens.all()
	if len(tokens) < 6 {
		t.Fatalf("captured %d provider tokens; the test would prove little", len(tokens))
	}
	for _, tok := range tokens {
		// A JWT's signature part alone is unique to it; an opaque refresh token is checked whole.
		parts := strings.Split(tok, ".")
		secrets = append(secrets, parts[len(parts)-1])
	}

	places := map[string]string{
		"log":   p.logs.String(),
		"pages": p.pages.all(),
		"db":    dumpDatabase(t, p),
	}
	recs, _, err := p.app.Trail().Query(context.Background(), audit.Filter{}, 500, 0)
	if err != nil {
		t.Fatal(err)
	}
	places["audit"] = fmt.Sprintf("%+v", recs)
	for where, text := range places {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a secret (%.20s…)", where, s)
			}
		}
	}
}

// dumpDatabase renders every row of every table as text.
func dumpDatabase(tb testing.TB, p *testPortal) string {
	tb.Helper()
	rows, err := p.app.DB().SQL().Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		rs, err := p.app.DB().SQL().Query(`SELECT * FROM ` + table)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rs.Scan(ptrs...)
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					b.Write(v)
					b.WriteString(" " + base64.StdEncoding.EncodeToString(v))
				default:
					fmt.Fprint(&b, v)
				}
				b.WriteString("|")
			}
			b.WriteString("\n")
		}
		rs.Close()
	}
	if b.Len() < 1000 {
		tb.Fatalf("database dump is only %d bytes: nothing was checked", b.Len())
	}
	return b.String()
}
