package deptoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/smallstep/pkcs7"
)

const (
	issuerA = "CN=Microsoft Intune ADE Token Encryption (fixture A),OU=Intune,O=Contoso Ltd"
	issuerB = "CN=Microsoft Intune ADE Token Encryption (fixture B),OU=Intune,O=Contoso Ltd"
	issuerC = `CN=Fabrikam MDM Server,O=Fabrikam\, Inc.,C=US`

	pkcs1 = "RSAES-PKCS1-v1_5"
	oaep  = "RSAES-OAEP"

	recipientA = issuerA + " | 3A6F1C2D9E8B7A65"
	recipientB = issuerB + " | 9C00FFEE0001"
	recipientC = issuerC + " | 0ABCDEF0"
	// byKeyID stands for intune-a's subject key identifier, read from its certificate.
	byKeyID = "ski:intune-a"
)

// verdict is what Inspect must say about one fixture.
type verdict struct {
	kind       Kind // "" for a token
	format     Format
	content    string
	key        string
	recipients []string
}

func token(format Format, content, key string, recipients ...string) verdict {
	return verdict{format: format, content: content, key: key, recipients: recipients}
}

func wrong(k Kind) verdict { return verdict{kind: k} }

// verdicts covers every file in testdata/files; TestEveryFixtureHasAVerdict
// keeps it that way.
var verdicts = map[string]verdict{
	appleName:                         token(FormatSMIME, "AES-256-CBC", pkcs1, recipientA),
	"openssl-smime-aes256-lf.p7m":     token(FormatSMIME, "AES-256-CBC", pkcs1, recipientA),
	"openssl-smime-aes128-crlf.p7m":   token(FormatSMIME, "AES-128-CBC", pkcs1, recipientA),
	"openssl-aes256-indefinite.der":   token(FormatDER, "AES-256-CBC", pkcs1, recipientA),
	"openssl-aes128.pem":              token(FormatPEM, "AES-128-CBC", pkcs1, recipientA),
	"openssl-two-recipients.p7m":      token(FormatSMIME, "AES-256-CBC", pkcs1, recipientB, recipientA),
	"openssl-oaep.p7m":                token(FormatSMIME, "AES-256-CBC", oaep, recipientA),
	"openssl-keyid.p7m":               token(FormatSMIME, "AES-256-CBC", pkcs1, byKeyID),
	"smallstep-aes256.der":            token(FormatDER, "AES-256-CBC", pkcs1, recipientA),
	"smallstep-aes128-unwrapped.p7m":  token(FormatSMIME, "AES-128-CBC", pkcs1, recipientA),
	"smallstep-three-recipients.pem":  token(FormatPEM, "AES-256-GCM", oaep, recipientC, recipientB, recipientA),
	"token-body-only.b64":             token(FormatBase64, "AES-256-CBC", pkcs1, recipientA),
	"empty.p7m":                       wrong(KindEmpty),
	"blank.p7m":                       wrong(KindEmpty),
	"oversize.p7m":                    wrong(KindTooLarge),
	"truncated.p7m":                   wrong(KindTruncated),
	"truncated-at-line.p7m":           wrong(KindTruncated),
	"truncated.der":                   wrong(KindTruncated),
	"headers-only.p7m":                wrong(KindTruncated),
	"corrupt-base64.p7m":              wrong(KindCorrupt),
	"signed-data.p7m":                 wrong(KindSignedData),
	"signed-multipart.eml":            wrong(KindSignedData),
	"certificates.p7b":                wrong(KindSignedData),
	"data.p7m":                        wrong(KindNotEnveloped),
	"encrypted-data.pem":              wrong(KindNotEnveloped),
	"password.p7m":                    wrong(KindNoRecipient),
	"Contoso_Apps_and_Books.vpptoken": wrong(KindVPPToken),
	"intune-public-key.pem":           wrong(KindCertificate),
	"intune-public-key-oneline.txt":   wrong(KindCertificate),
	"apns-certificate.cer":            wrong(KindCertificate),
	"public-key.pem":                  wrong(KindCertificate),
	"apns-private-key.pem":            wrong(KindPrivateKey),
	"rsa-private-key.der":             wrong(KindPrivateKey),
	"encrypted-private-key.der":       wrong(KindPrivateKey),
	"apns.p12":                        wrong(KindPrivateKey),
	"decrypted-token.txt":             wrong(KindDecryptedToken),
	"document.pdf":                    wrong(KindPDF),
	"Contoso MDM_Token.zip":           wrong(KindZIP),
	"screenshot.png":                  wrong(KindImage),
	"photo.jpg":                       wrong(KindImage),
	"sign-in.html":                    wrong(KindHTML),
	"notes.txt":                       wrong(KindUnknown),
	"random.bin":                      wrong(KindUnknown),
}

func TestEveryFixtureHasAVerdict(t *testing.T) {
	names := MustFixtureNames(t)
	for _, name := range names {
		if _, ok := verdicts[name]; !ok {
			t.Errorf("fixture %q has no verdict in the table", name)
		}
	}
	for name := range verdicts {
		if !slices.Contains(names, name) {
			t.Errorf("verdict for %q but no such fixture; run go run ./deptoken/testdata/gen", name)
		}
	}
}

func TestInspectFixtures(t *testing.T) {
	skiA := "ski:" + strings.ToUpper(hex.EncodeToString(MustCert(t, "intune-a").SubjectKeyId))
	for name, want := range verdicts {
		t.Run(name, func(t *testing.T) {
			data := MustReadFile(t, name)
			rep, err := Inspect(bytes.NewReader(data), WithFileName(name))
			if want.kind != "" {
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a *FileError of kind %s", err, want.kind)
				}
				if fe.Kind != want.kind {
					t.Fatalf("kind = %s (%s), want %s", fe.Kind, fe.Detail, want.kind)
				}
				if rep.SHA256 != "" || rep.Recipients != nil {
					t.Errorf("a rejected file still produced a report: %+v", rep)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			sum := sha256.Sum256(data)
			if rep.SHA256 != hex.EncodeToString(sum[:]) || rep.Size != len(data) {
				t.Errorf("sha256/size = %s/%d, want the file's", rep.SHA256, rep.Size)
			}
			if rep.ContentType != "1.2.840.113549.1.7.3" {
				t.Errorf("contentType = %s", rep.ContentType)
			}
			if rep.Format != want.format {
				t.Errorf("format = %s, want %s", rep.Format, want.format)
			}
			if rep.ContentEncryption.Name != want.content {
				t.Errorf("contentEncryption = %+v, want %s", rep.ContentEncryption, want.content)
			}
			if rep.KeyEncryption.Name != want.key {
				t.Errorf("keyEncryption = %+v, want %s", rep.KeyEncryption, want.key)
			}
			var got []string
			for _, r := range rep.Recipients {
				if r.KeyEncryption != rep.KeyEncryption {
					t.Errorf("recipient key encryption %+v differs from the report's %+v", r.KeyEncryption, rep.KeyEncryption)
				}
				if r.SubjectKeyID != "" {
					got = append(got, "ski:"+r.SubjectKeyID)
					continue
				}
				got = append(got, r.Issuer+" | "+r.Serial)
			}
			wantRecipients := slices.Clone(want.recipients)
			for i, r := range wantRecipients {
				if r == byKeyID {
					wantRecipients[i] = skiA
				}
			}
			if !slices.Equal(got, wantRecipients) {
				t.Errorf("recipients:\n got %q\nwant %q", got, wantRecipients)
			}
		})
	}
}

func TestInspectAppleTokenReport(t *testing.T) {
	rep := MustInspect(t, appleName)
	if rep.ServerName != "Contoso MDM" {
		t.Errorf("serverName = %q", rep.ServerName)
	}
	want := time.Date(2026, 11, 29, 7, 12, 45, 0, time.UTC)
	if rep.DownloadedAt == nil || !rep.DownloadedAt.Equal(want) {
		t.Errorf("downloadedAt = %v, want %v", rep.DownloadedAt, want)
	}
	if rep.KeyEncryption.OID != "1.2.840.113549.1.1.1" || rep.ContentEncryption.OID != "2.16.840.1.101.3.4.1.42" {
		t.Errorf("algorithm OIDs = %+v / %+v", rep.KeyEncryption, rep.ContentEncryption)
	}
	renamed := MustInspect(t, appleName, WithFileName("token.p7m"))
	if renamed.DownloadedAt != nil || renamed.ServerName != "" {
		t.Errorf("a renamed file still has a download time: %+v", renamed)
	}
}

// The JSON names are an interface: the audit trail and the CLI print them.
func TestReportJSONNames(t *testing.T) {
	b, err := json.Marshal(MustInspect(t, appleName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fileName", "sha256", "size", "format", "contentType", "recipients",
		"keyEncryption", "contentEncryption", "serverName", "downloadedAt"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if len(m) != 10 {
		t.Errorf("JSON has %d fields, want 10: %s", len(m), b)
	}
	var recs []map[string]any
	if err := json.Unmarshal(m["recipients"], &recs); err != nil || len(recs) != 1 {
		t.Fatalf("recipients = %s (%v)", m["recipients"], err)
	}
	if recs[0]["issuer"] != issuerA || recs[0]["serial"] != "3A6F1C2D9E8B7A65" {
		t.Errorf("recipient JSON = %v", recs[0])
	}
	if _, ok := recs[0]["rawIssuer"]; ok {
		t.Errorf("raw issuer leaked into JSON")
	}
	if !strings.Contains(string(m["keyEncryption"]), `"name":"RSAES-PKCS1-v1_5","oid":"1.2.840.113549.1.1.1"`) {
		t.Errorf("keyEncryption = %s", m["keyEncryption"])
	}
}

// The fixtures are real tokens: Intune's key (intune-a) decrypts them to the
// plaintext Apple would send. This guards the generator, not Inspect.
func TestFixturesDecryptWithIntuneKey(t *testing.T) {
	block := MustReadFile(t, "decrypted-token.txt")
	key := MustPrivateKey(t, "intune-a")
	cert := MustCert(t, "intune-a")
	apple := MustReadFile(t, appleName)
	_, body, ok := bytes.Cut(apple, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("Apple-shaped fixture has no header block")
	}
	appleDER, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	for name, der := range map[string][]byte{
		appleName:                       appleDER,
		"openssl-aes256-indefinite.der": MustReadFile(t, "openssl-aes256-indefinite.der"),
		"smallstep-aes256.der":          MustReadFile(t, "smallstep-aes256.der"),
	} {
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatalf("%s: pkcs7.Parse: %v", name, err)
		}
		plain, err := p7.Decrypt(cert, key)
		if err != nil {
			t.Fatalf("%s: Decrypt: %v", name, err)
		}
		if !bytes.Equal(plain, block) || !bytes.Contains(plain, []byte(`"access_token_expiry":"2027-11-29T07:00:00Z"`)) {
			t.Errorf("%s decrypts to something else", name)
		}
	}
}

func TestInspectSizeLimit(t *testing.T) {
	data := MustReadFile(t, appleName)
	_, err := Inspect(bytes.NewReader(data), WithMaxSize(len(data)-1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over the limit: err = %v, want ErrTooLarge", err)
	}
	if _, err := Inspect(bytes.NewReader(data), WithMaxSize(len(data))); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	// The limit is enforced while reading: an endless upload is not read to the end.
	r := &countingReader{r: neverEnding('A')}
	if _, err := Inspect(r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless upload: err = %v", err)
	}
	if r.n > DefaultMaxSize+1+4096 {
		t.Errorf("read %d bytes of an endless upload, want about %d", r.n, DefaultMaxSize+1)
	}
	_, err = Inspect(io.LimitReader(neverEnding('A'), 2<<20), WithMaxSize(4<<20))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("WithMaxSize above the 1 MiB ceiling accepted 2 MiB: %v", err)
	}
}

func TestInspectReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := Inspect(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the read error", err)
	}
	var fe *FileError
	if errors.As(err, &fe) {
		t.Errorf("a read error was blamed on the file: %v", fe)
	}
	if _, err := Inspect(nil); err == nil {
		t.Error("nil reader accepted")
	}
}

func TestFileErrorSentinels(t *testing.T) {
	sentinels := map[Kind]error{
		KindEmpty: ErrEmpty, KindTooLarge: ErrTooLarge, KindTruncated: ErrTruncated, KindCorrupt: ErrCorrupt,
		KindSignedData: ErrSignedData, KindNotEnveloped: ErrNotEnveloped, KindNoRecipient: ErrNoRecipient,
		KindVPPToken: ErrVPPToken, KindCertificate: ErrCertificate, KindPrivateKey: ErrPrivateKey,
		KindDecryptedToken: ErrDecryptedToken, KindPDF: ErrPDF, KindZIP: ErrZIP, KindImage: ErrImage,
		KindHTML: ErrHTML, KindUnknown: ErrUnknown,
	}
	if len(sentinels) != len(messages) {
		t.Errorf("%d sentinels for %d kinds with messages", len(sentinels), len(messages))
	}
	for name, want := range verdicts {
		if want.kind == "" {
			continue
		}
		_, err := Inspect(bytes.NewReader(MustReadFile(t, name)))
		for k, s := range sentinels {
			if got := errors.Is(err, s); got != (k == want.kind) {
				t.Errorf("%s: errors.Is(err, sentinel of %s) = %v", name, k, got)
			}
		}
	}
}

// Messages are for a helpdesk person: they say what to upload instead, and
// never echo the file.
func TestFileErrorMessages(t *testing.T) {
	for name, want := range verdicts {
		if want.kind == "" {
			continue
		}
		data := MustReadFile(t, name)
		_, err := Inspect(bytes.NewReader(data))
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: %v", name, err)
		}
		if fe.Error() != fe.Msg || !strings.Contains(fe.Msg, "Download Token") || !strings.Contains(fe.Msg, "_smime.p7m") {
			t.Errorf("%s: message does not say what to upload: %q", name, fe.Msg)
		}
		if leak := sharedRun(data, fe.Msg+"\n"+fe.Detail, 12); leak != "" {
			t.Errorf("%s: message repeats file content %q", name, leak)
		}
		switch fe.Kind {
		case KindPrivateKey, KindDecryptedToken:
			if !strings.Contains(fe.Msg, "NOT stored or logged") || !fe.Sensitive() {
				t.Errorf("%s: secret material without the not-stored promise: %q", name, fe.Msg)
			}
		default:
			if fe.Kind != KindVPPToken && fe.Sensitive() {
				t.Errorf("%s: %s marked sensitive", name, fe.Kind)
			}
		}
	}
}

// sharedRun returns a run of n bytes of data found in s, if any, ignoring
// runs of letters and spaces any English sentence could contain.
func sharedRun(data []byte, s string, n int) string {
	for i := 0; i+n <= len(data); i++ {
		run := string(data[i : i+n])
		if strings.Contains(s, run) && strings.Trim(run, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ") != "" {
			return run
		}
	}
	return ""
}

func TestInspectTextVariants(t *testing.T) {
	apple := MustReadFile(t, appleName)
	lf := bytes.ReplaceAll(apple, []byte("\r\n"), []byte("\n"))
	header, body, _ := bytes.Cut(lf, []byte("\n\n"))
	unwrapped := append(append(slices.Clone(header), "\n\n"...), bytes.ReplaceAll(body, []byte("\n"), nil)...)
	cases := map[string][]byte{
		"LF":                   lf,
		"BOM and blank lines":  append([]byte("\xef\xbb\xbf\r\n\r\n"), apple...),
		"unwrapped base64":     unwrapped,
		"x-pkcs7-mime":         bytes.Replace(apple, []byte("application/pkcs7-mime"), []byte("application/x-pkcs7-mime"), 1),
		"upper-case header":    bytes.Replace(apple, []byte("Content-Type:"), []byte("CONTENT-TYPE:"), 1),
		"no blank line":        bytes.Replace(lf, []byte("\n\n"), []byte("\n"), 1),
		"7bit":                 bytes.Replace(apple, []byte("Content-Transfer-Encoding: base64"), []byte("Content-Transfer-Encoding: 7bit"), 1),
		"trailing blank lines": append(slices.Clone(apple), "\r\n\r\n"...),
	}
	for name, data := range cases {
		rep, err := Inspect(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if rep.Format != FormatSMIME || len(rep.Recipients) != 1 || rep.Recipients[0].Serial != "3A6F1C2D9E8B7A65" {
			t.Errorf("%s: %+v", name, rep)
		}
	}
	wrongs := map[string]struct {
		data []byte
		kind Kind
	}{
		"HTML saved as MHTML": {[]byte("MIME-Version: 1.0\r\nContent-Type: multipart/related; type=\"text/html\"\r\n\r\n--b\r\n"), KindHTML},
		"e-mail text part":    {[]byte("Content-Type: text/plain\r\n\r\nhello\r\n"), KindUnknown},
		"plain JSON":          {[]byte(`{"value":"not a token"}`), KindUnknown},
		"decoded vpptoken":    {[]byte(`{"token":"x","expDate":"2027-01-01","orgName":"Contoso"}`), KindVPPToken},
		"base64 of text":      {[]byte(base64.StdEncoding.EncodeToString([]byte("hello world"))), KindUnknown},
		"UTF-16 text":         {[]byte("\xff\xfeC\x00o\x00"), KindUnknown},
		"DER NULL":            {[]byte{0x05, 0x00}, KindUnknown},
		"trailing garbage":    {append(MustReadFile(t, "smallstep-aes256.der"), 0x00), KindCorrupt},
		"PEM without END":     {[]byte("-----BEGIN PKCS7-----\nMIAGCSqGSIb3DQEHA6CAMIAC\n"), KindTruncated},
		"cert then key":       {append(MustReadFile(t, "intune-public-key.pem"), MustReadFile(t, "apns-private-key.pem")...), KindPrivateKey},
		"one stray character": {bytes.Replace(MustReadFile(t, "token-body-only.b64"), []byte("A"), []byte("#"), 1), KindCorrupt},
	}
	for name, c := range wrongs {
		_, err := Inspect(bytes.NewReader(c.data))
		var fe *FileError
		if !errors.As(err, &fe) || fe.Kind != c.kind {
			t.Errorf("%s: err = %v, want kind %s", name, err, c.kind)
		}
	}
}

func TestParseFileName(t *testing.T) {
	at := time.Date(2026, 11, 29, 7, 12, 45, 0, time.UTC)
	cases := []struct {
		name, server string
		at           *time.Time
	}{
		{appleName, "Contoso MDM", &at},
		{"Contoso MDM_Token_2026-11-29T07-12-45Z_smime (1).p7m", "Contoso MDM", &at},
		{"Contoso MDM_Token_2026-11-29T07-12-45Z_smime-1.p7m", "Contoso MDM", &at},
		{`C:\Users\helpdesk\Downloads\Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m`, "Contoso MDM", &at},
		{"/home/h/Contoso_MDM_Token_2026-11-29T07-12-45Z_smime.p7m", "Contoso_MDM", &at},
		{"token.p7m", "", nil},
		{"Contoso MDM_Token_2026-13-29T07-12-45Z_smime.p7m", "", nil},
		{"Contoso MDM_Token_2026-11-29T07:12:45Z_smime.p7m", "", nil},
		{"_Token_2026-11-29T07-12-45Z_smime.p7m", "", nil},
		{"", "", nil},
	}
	for _, c := range cases {
		server, got := parseFileName(c.name)
		if server != c.server || (got == nil) != (c.at == nil) || (got != nil && !got.Equal(*c.at)) {
			t.Errorf("parseFileName(%q) = %q, %v; want %q, %v", c.name, server, got, c.server, c.at)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	data := MustReadFile(b, appleName)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect(bytes.NewReader(data), WithFileName(appleName)); err != nil {
			b.Fatal(err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func ExampleInspect() {
	data, err := os.ReadFile("testdata/files/" + appleName)
	if err != nil {
		panic(err)
	}
	rep, err := Inspect(bytes.NewReader(data), WithFileName(appleName))
	var fe *FileError
	if errors.As(err, &fe) {
		fmt.Println(fe.Msg)
		return
	}
	fmt.Println(rep.Recipients[0].Issuer, rep.Recipients[0].Serial, rep.ContentEncryption.Name)
	// Output: CN=Microsoft Intune ADE Token Encryption (fixture A),OU=Intune,O=Contoso Ltd 3A6F1C2D9E8B7A65 AES-256-CBC
}

func TestReadUpTo(t *testing.T) {
	data := MustReadFile(t, appleName)
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(data) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
		"timeout":  func() io.Reader { return iotest.TimeoutReader(bytes.NewReader(data)) },
	} {
		for _, n := range []int{1, 100, len(data), len(data) + 1, 1 << 20} {
			got, err := readUpTo(r(), n)
			want := data[:min(n, len(data))]
			if name == "timeout" && n > len(data) {
				if !errors.Is(err, iotest.ErrTimeout) {
					t.Errorf("%s/%d: err = %v, want the timeout", name, n, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%d: got %d bytes, %v; want %d bytes", name, n, len(got), err, len(want))
			}
		}
	}
}
