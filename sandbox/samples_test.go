package sandbox

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var abmFileName = regexp.MustCompile(`^[A-Za-z ]+_Token_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)_smime\.p7m$`)

func TestSampleTokenFiles(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	now := time.Now()
	for _, id := range []string{settingSoon, settingExpired, settingSchool} {
		key := MustSettingKey(t, s.graph, id)
		for _, tc := range []struct {
			kind       SampleKind
			server     string
			downloaded time.Time
		}{
			{SampleValid, s.graph.settingName(id), now},
			{SampleWrongKey, "Contoso Legacy MDM", now},
			{SampleExpired, s.graph.settingName(id), now.AddDate(-1, 0, -5)},
		} {
			t.Run(id+"/"+string(tc.kind), func(t *testing.T) {
				sample := MustSample(t, s.graph, id, tc.kind)
				MustLookLikeABMFile(t, sample.Data)
				m := abmFileName.FindStringSubmatch(sample.FileName)
				if m == nil || !strings.HasPrefix(sample.FileName, tc.server+"_Token_") {
					t.Fatalf("file name %q, want %s_Token_<time>_smime.p7m", sample.FileName, tc.server)
				}
				when, err := time.Parse("2006-01-02T15-04-05Z", m[1])
				if err != nil || when.Sub(tc.downloaded).Abs() > time.Minute {
					t.Errorf("file name time %v, want about %v", when, tc.downloaded)
				}
				if sample.Path != "/_sandbox/tokens/"+id+"/"+string(tc.kind) || sample.Description == "" {
					t.Errorf("path %q, description %q", sample.Path, sample.Description)
				}

				if tc.kind == SampleWrongKey {
					if _, err := s.graph.openDepToken(string(sample.Data), key); err != errWrongKey {
						t.Errorf("opening with the setting's key: %v, want errWrongKey", err)
					}
					return
				}
				content := MustDecryptSample(t, key, sample.Data)
				expiry, err := time.Parse(time.RFC3339, content.AccessTokenExpiry)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.downloaded.AddDate(1, 0, 0); expiry.Sub(want).Abs() > time.Minute {
					t.Errorf("access_token_expiry %v, want about %v", expiry, want)
				}
				for _, v := range []string{content.ConsumerKey, content.ConsumerSecret, content.AccessToken, content.AccessSecret} {
					if len(v) < 100 {
						t.Errorf("credential %q is too short to look real", v)
					}
				}
			})
		}
	}
}

// MustLookLikeABMFile checks the S/MIME text form ABM downloads have, and that the envelope is
// BER with indefinite lengths, as openssl streams it.
func MustLookLikeABMFile(tb testing.TB, file []byte) {
	tb.Helper()
	text := string(file)
	header, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok {
		tb.Fatalf("no blank line after the headers: %q", text)
	}
	wantHeader := "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"Content-Description: S/MIME Encrypted Message"
	if header != wantHeader {
		tb.Errorf("headers:\n%s\nwant\n%s", header, wantHeader)
	}
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") || !strings.HasSuffix(text, "\r\n") {
		tb.Error("line ends are not all CRLF")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
	for i, line := range lines {
		if len(line) > 64 || (i < len(lines)-1 && len(line) != 64) {
			tb.Fatalf("base64 line %d is %d wide", i, len(line))
		}
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
	if err != nil {
		tb.Fatal(err)
	}
	if len(der) < 4 || der[0] != 0x30 || der[1] != 0x80 || !bytes.HasSuffix(der, []byte{0, 0}) {
		tb.Errorf("envelope does not start as an indefinite-length SEQUENCE: % x", der[:min(len(der), 4)])
	}
	if !bytes.Contains(der[:20], []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03}) {
		tb.Error("content type is not envelopedData (1.2.840.113549.1.7.3)")
	}
}

func (g *Graph) settingName(id string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.settingLocked(id).TokenName
}

func TestSampleWrongKeyNamesAnotherRecipient(t *testing.T) {
	t.Parallel()
	// The portal matches the recipient's issuer and serial against getEncryptionPublicKey:
	// the wrong-key file must name another certificate.
	s := MustStartGraph(t)
	mine := MustSettingKey(t, s.graph, settingSoon).cert
	file := MustSample(t, s.graph, settingSoon, SampleWrongKey).Data
	der, err := envelopeFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(der, mine.RawIssuer) || bytes.Contains(der, mine.SerialNumber.Bytes()) {
		t.Error("the wrong-key file names this setting's certificate")
	}
	s.graph.mu.Lock()
	other := s.graph.other.cert
	s.graph.mu.Unlock()
	if !bytes.Contains(der, other.RawIssuer) || !bytes.Contains(der, other.SerialNumber.Bytes()) {
		t.Error("the wrong-key file does not name the other MDM server's certificate")
	}
	valid, _ := envelopeFromFile(MustSample(t, s.graph, settingSoon, SampleValid).Data)
	if !bytes.Contains(valid, mine.RawIssuer) || !bytes.Contains(valid, mine.SerialNumber.Bytes()) {
		t.Error("the valid file does not name this setting's certificate")
	}
}

func TestSampleWrongFiles(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	vpp := MustWrongFile(t, s.graph, SampleVPPToken)
	raw, err := base64.StdEncoding.DecodeString(string(vpp.Data))
	if err != nil {
		t.Fatalf(".vpptoken is not base64: %v", err)
	}
	var token map[string]string
	if err := json.Unmarshal(raw, &token); err != nil {
		t.Fatalf(".vpptoken is not base64 of JSON: %v", err)
	}
	if token["orgName"] != "Contoso" || token["token"] == "" {
		t.Errorf(".vpptoken = %v", token)
	}
	if _, err := time.Parse("2006-01-02T15:04:05-0700", token["expDate"]); err != nil {
		t.Errorf("expDate: %v", err)
	}
	if !strings.HasSuffix(vpp.FileName, ".vpptoken") || vpp.Path != "/_sandbox/tokens/vpptoken" {
		t.Errorf(".vpptoken file name %q, path %q", vpp.FileName, vpp.Path)
	}

	apns := MustWrongFile(t, s.graph, SampleAPNsCert)
	block, rest := pem.Decode(apns.Data)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("APNs file is not one PEM certificate: %q", apns.Data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cert.Subject.CommonName, "APSP:") || !strings.Contains(cert.Issuer.CommonName, "Apple") {
		t.Errorf("APNs certificate subject %q, issuer %q", cert.Subject, cert.Issuer)
	}
	if !strings.HasSuffix(apns.FileName, ".pem") || apns.Path != "/_sandbox/tokens/apns-certificate" {
		t.Errorf("APNs file name %q, path %q", apns.FileName, apns.Path)
	}
	if n := len(s.graph.Samples()); n != 11 {
		t.Errorf("%d samples, want 3×3 + 2", n)
	}
}

func TestSamplesHandler(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	for _, sample := range s.graph.Samples() {
		resp := MustCallGraph(t, s, http.MethodGet, s.url+sample.Path, "", nil)
		MustStatus(t, resp, http.StatusOK)
		if !bytes.Equal(resp.body, sample.Data) {
			t.Errorf("%s: body differs from Samples()", sample.Path)
		}
		disposition, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disposition != "attachment" || params["filename"] != sample.FileName {
			t.Errorf("%s: Content-Disposition %q", sample.Path, resp.Header.Get("Content-Disposition"))
		}
		if resp.Header.Get("Content-Type") != sample.ContentType {
			t.Errorf("%s: Content-Type %q", sample.Path, resp.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/_sandbox/tokens/", "/_sandbox/tokens/" + settingSoon + "/other", "/_sandbox/tokens/nothing"} {
		MustStatus(t, MustCallGraph(t, s, http.MethodGet, s.url+path, "", nil), http.StatusNotFound)
	}
	MustStatus(t, MustCallGraph(t, s, http.MethodPost, s.url+"/_sandbox/tokens/vpptoken", "", []byte{}), http.StatusMethodNotAllowed)
}

func TestSamplesSurviveRestart(t *testing.T) {
	t.Parallel()
	// A sample downloaded before a restart still uploads after it: the keys persist.
	dir := t.TempDir()
	before := MustSample(t, MustStartGraphIn(t, dir).graph, settingSchool, SampleValid)
	after := MustStartGraphIn(t, dir)
	if bytes.Equal(after.graph.Samples()[6].Data, before.Data) {
		t.Error("samples were not made afresh")
	}
	MustStatus(t, MustUpload(t, after, settingSchool, "asm-admin@contoso.edu", string(before.Data)), http.StatusNoContent)
}
