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
	"mime"
	"strings"
	"time"
)

// DefaultMaxSize is the upload limit unless WithMaxSize says otherwise. A
// real token is about 3 KiB.
const DefaultMaxSize = 64 << 10

// hardMaxSize caps WithMaxSize so the bounded-work promise of the package
// holds whatever a caller configures.
const hardMaxSize = 1 << 20

// Format is how the EnvelopedData was wrapped in the file.
type Format string

const (
	FormatSMIME  Format = "smime"  // MIME headers + base64, as Apple Business Manager gives it
	FormatPEM    Format = "pem"    // -----BEGIN PKCS7----- block
	FormatDER    Format = "der"    // binary BER/DER
	FormatBase64 Format = "base64" // the S/MIME body without its headers
)

// OIDEnvelopedData is the content type every server token has.
const OIDEnvelopedData = "1.2.840.113549.1.7.3"

// Algorithm is a named algorithm identifier; Name is the OID itself when the
// algorithm is not one a token is expected to use.
type Algorithm struct {
	Name string `json:"name"`
	OID  string `json:"oid"`
}

// Recipient is one certificate the token was encrypted to. Serial is
// uppercase hexadecimal, two digits per byte, no separators (as
// `openssl x509 -serial` prints it). Recipients named by subject key
// identifier instead have SubjectKeyID set and Issuer/Serial empty.
type Recipient struct {
	Issuer        string    `json:"issuer"`
	Serial        string    `json:"serial"`
	SubjectKeyID  string    `json:"subjectKeyId,omitempty"`
	KeyEncryption Algorithm `json:"keyEncryption"`

	// rawIssuer is the issuer Name in DER, for exact matching. It does not
	// survive JSON; Match then falls back to the text form.
	rawIssuer []byte
}

// Report says what an uploaded server token is. The JSON names are stable:
// the audit trail and the CLI's --json output use them.
type Report struct {
	FileName          string      `json:"fileName,omitempty"`
	SHA256            string      `json:"sha256"`
	Size              int         `json:"size"`
	Format            Format      `json:"format"`
	ContentType       string      `json:"contentType"`
	Recipients        []Recipient `json:"recipients"`
	KeyEncryption     Algorithm   `json:"keyEncryption"` // the first recipient's
	ContentEncryption Algorithm   `json:"contentEncryption"`
	// ServerName and DownloadedAt come from the file name when it has the
	// shape Apple gives it; a renamed file has neither.
	ServerName   string     `json:"serverName,omitempty"`
	DownloadedAt *time.Time `json:"downloadedAt,omitempty"`
}

// Option configures Inspect.
type Option func(*options)

type options struct {
	fileName string
	maxSize  int
}

// WithFileName passes the name the file was uploaded under; it dates the
// download when it has Apple's shape.
func WithFileName(name string) Option { return func(o *options) { o.fileName = name } }

// WithMaxSize sets the largest accepted upload in bytes (default
// DefaultMaxSize; values above 1 MiB are lowered to 1 MiB).
func WithMaxSize(n int) Option {
	return func(o *options) {
		switch {
		case n <= 0:
			o.maxSize = DefaultMaxSize
		case n > hardMaxSize:
			o.maxSize = hardMaxSize
		default:
			o.maxSize = n
		}
	}
}

// Inspect reads a server token file and reports what it is. It reads at most
// the size limit + 1 bytes. Any upload that is not a token yields a
// *FileError (match with errors.As, or errors.Is against ErrVPPToken etc.)
// and a zero Report; other errors come from reading r.
func Inspect(r io.Reader, opts ...Option) (Report, error) {
	o := options{maxSize: DefaultMaxSize}
	for _, opt := range opts {
		opt(&o)
	}
	if r == nil {
		return Report{}, errors.New("deptoken: nil reader")
	}
	data, err := readUpTo(r, o.maxSize+1)
	if err != nil {
		clear(data)
		return Report{}, fmt.Errorf("deptoken: reading the upload: %w", err)
	}
	if len(data) > o.maxSize {
		clear(data)
		return Report{}, newFileError(KindTooLarge, fmt.Sprintf("over %d bytes", o.maxSize))
	}
	return inspect(data, o)
}

// readUpTo reads at most n bytes. Unlike io.ReadAll it wipes each buffer it
// outgrows, so the one returned is the only copy of the upload to wipe.
func readUpTo(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, 4096))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			bigger := make([]byte, len(buf), min(2*cap(buf), n))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// inspect owns data: it wipes it when the file turns out to hold secrets.
func inspect(data []byte, o options) (Report, error) {
	var in inspection
	format, env, err := in.classify(data)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) && fe.Sensitive() {
			clear(data)
			in.wipe()
		}
		return Report{}, err
	}
	sum := sha256.Sum256(data)
	rep := Report{
		FileName:          o.fileName,
		SHA256:            hex.EncodeToString(sum[:]),
		Size:              len(data),
		Format:            format,
		ContentType:       OIDEnvelopedData,
		Recipients:        env.recipients,
		KeyEncryption:     env.recipients[0].KeyEncryption,
		ContentEncryption: env.contentEncryption,
	}
	rep.ServerName, rep.DownloadedAt = parseFileName(o.fileName)
	return rep, nil
}

// inspection remembers the buffers holding decoded file content so they can
// be wiped when the file turns out to hold secrets.
type inspection struct {
	scratch [][]byte
}

func (in *inspection) keep(b []byte) { in.scratch = append(in.scratch, b) }

func (in *inspection) wipe() {
	for _, b := range in.scratch {
		clear(b[:cap(b)])
	}
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

func (in *inspection) classify(data []byte) (Format, envelope, error) {
	body := bytes.TrimPrefix(data, utf8BOM)
	text := bytes.TrimLeft(body, " \t\r\n\f\v")
	if len(text) == 0 {
		return "", envelope{}, newFileError(KindEmpty, fmt.Sprintf("%d bytes, none significant", len(data)))
	}
	if k, detail := magicKind(body); k != "" {
		return "", envelope{}, newFileError(k, detail)
	}
	if looksBinary(body) {
		if body[0] != 0x30 {
			return "", envelope{}, newFileError(KindUnknown, "binary, not BER")
		}
		env, err := classifyDER(body)
		return FormatDER, env, err
	}
	if isHTML(text) {
		return "", envelope{}, newFileError(KindHTML, "HTML markup")
	}
	if labels := pemLabels(text); len(labels) > 0 {
		return in.classifyPEM(text, labels)
	}
	if startsWithHeader(text) {
		return in.classifySMIME(text)
	}
	if text[0] == '{' {
		return "", envelope{}, jsonError(text)
	}
	return in.classifyBase64Text(text)
}

// magicKind recognises the common wrong uploads by their first bytes.
func magicKind(b []byte) (Kind, string) {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return KindPDF, "PDF signature"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return KindZIP, "ZIP signature"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return KindImage, "PNG signature"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return KindImage, "JPEG signature"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return KindImage, "GIF signature"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return KindImage, "WebP signature"
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && strings.HasPrefix(string(b[8:12]), "hei"):
		return KindImage, "HEIC signature"
	}
	return "", ""
}

// looksBinary is true when control bytes show the data is not text. Every
// BER ContentInfo has some (the OID tag is 0x06), and no token text has any.
func looksBinary(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') || c == 0x7f {
			return true
		}
	}
	return false
}

func isHTML(text []byte) bool {
	if text[0] != '<' {
		return false
	}
	head := bytes.ToLower(text[:min(len(text), 2048)])
	for _, marker := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if bytes.Contains(head, []byte(marker)) {
			return true
		}
	}
	return false
}

// maxPEMLabels bounds the label scan; real files have one or two blocks.
const maxPEMLabels = 16

// pemLabels lists the labels of "-----BEGIN X-----" lines. It works on the
// raw text rather than encoding/pem so that one-line and damaged blocks are
// still named, and private keys are recognised without being decoded.
func pemLabels(text []byte) []string {
	var labels []string
	rest := text
	for len(labels) < maxPEMLabels {
		i := bytes.Index(rest, []byte("-----BEGIN "))
		if i < 0 {
			break
		}
		rest = rest[i+len("-----BEGIN "):]
		j := bytes.Index(rest[:min(len(rest), 64)], []byte("-----"))
		if j < 0 {
			continue
		}
		labels = append(labels, string(rest[:j]))
		rest = rest[j:]
	}
	return labels
}

func (in *inspection) classifyPEM(text []byte, labels []string) (Format, envelope, error) {
	for _, l := range labels {
		if strings.Contains(l, "PRIVATE KEY") {
			return "", envelope{}, newFileError(KindPrivateKey, "PEM private key block")
		}
		if l == "MESSAGE" {
			return "", envelope{}, newFileError(KindDecryptedToken, "BEGIN MESSAGE block")
		}
	}
	for _, l := range labels {
		switch l {
		case "PKCS7", "CMS", "PKCS #7 SIGNED DATA":
			der, err := in.pemBody(text, l)
			if err != nil {
				return "", envelope{}, err
			}
			env, err := classifyDER(der)
			return FormatPEM, env, err
		}
	}
	switch labels[0] {
	case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
		return "", envelope{}, newFileError(KindCertificate, "PEM certificate")
	case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		return "", envelope{}, withMsg(KindCertificate, msgCertRequest, "PEM certificate request")
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return "", envelope{}, withMsg(KindCertificate, msgPublicKey, "PEM public key")
	}
	return "", envelope{}, newFileError(KindUnknown, "PEM block of another type")
}

// pemBody decodes the block with the given label, tolerating the one-line
// form and CRLF; header lines (with a colon) are dropped.
func (in *inspection) pemBody(text []byte, label string) ([]byte, error) {
	begin := []byte("-----BEGIN " + label + "-----")
	i := bytes.Index(text, begin)
	if i < 0 {
		return nil, newFileError(KindCorrupt, "PEM BEGIN line not found")
	}
	body := text[i+len(begin):]
	j := bytes.Index(body, []byte("-----END "))
	if j < 0 {
		return nil, newFileError(KindTruncated, "PEM block without END line")
	}
	body = body[:j]
	var b64 []byte
	for line := range bytes.Lines(body) {
		if !bytes.Contains(line, []byte(":")) {
			b64 = append(b64, line...)
		}
	}
	in.keep(b64)
	return in.decodeBase64(b64)
}

// startsWithHeader is true when the first line is a MIME header field.
func startsWithHeader(text []byte) bool {
	line, _, _ := bytes.Cut(text, []byte("\n"))
	name, _, ok := bytes.Cut(line, []byte(":"))
	return ok && isFieldName(name)
}

func isFieldName(b []byte) bool {
	if len(b) == 0 || len(b) > 76 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// splitHeaders reads the header block: lines up to the first empty one, or
// up to the first line that is neither a field nor a continuation (some
// hand-made files forget the blank line).
func splitHeaders(text []byte) (map[string]string, []byte) {
	h := map[string]string{}
	var last string
	rest := text
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			return h, after
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			h[last] += " " + string(bytes.TrimSpace(line))
			rest = after
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isFieldName(name) {
			return h, rest
		}
		last = strings.ToLower(string(name))
		h[last] = string(bytes.TrimSpace(value))
		rest = after
	}
	return h, nil
}

func (in *inspection) classifySMIME(text []byte) (Format, envelope, error) {
	h, body := splitHeaders(text)
	ct := h["content-type"]
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		before, _, _ := strings.Cut(ct, ";")
		mediaType = strings.ToLower(strings.TrimSpace(before))
	}
	switch mediaType {
	case "application/pkcs7-mime", "application/x-pkcs7-mime", "":
	case "multipart/signed", "application/pkcs7-signature", "application/x-pkcs7-signature":
		return "", envelope{}, newFileError(KindSignedData, "S/MIME signature media type")
	case "text/html", "multipart/related":
		return "", envelope{}, newFileError(KindHTML, "web page media type")
	default:
		return "", envelope{}, newFileError(KindUnknown, "MIME part that is not PKCS#7")
	}
	switch strings.ToLower(h["content-transfer-encoding"]) {
	case "binary", "8bit":
		if looksBinary(body) {
			env, err := classifyDER(body)
			return FormatSMIME, env, err
		}
	}
	der, err := in.decodeBase64(body)
	if err != nil {
		return "", envelope{}, err
	}
	env, err := classifyDER(der)
	return FormatSMIME, env, err
}

// classifyBase64Text handles text with no headers: the S/MIME body on its
// own, or an Apps and Books token (base64 of JSON).
func (in *inspection) classifyBase64Text(text []byte) (Format, envelope, error) {
	bad := 0
	for _, c := range text {
		if !isBase64(c) && !isSpace(c) {
			bad++
		}
	}
	if bad > 0 {
		// A few stray characters in a long base64 text is damage; mostly
		// other characters is some other text file.
		if len(text) >= 256 && bad*100 < len(text) {
			return "", envelope{}, newFileError(KindCorrupt, "characters outside base64")
		}
		return "", envelope{}, newFileError(KindUnknown, "text that is not base64")
	}
	raw, err := in.decodeBase64(text)
	if err != nil {
		return "", envelope{}, err
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return "", envelope{}, jsonError(t)
	}
	if len(raw) > 0 && raw[0] == 0x30 && looksBinary(raw) {
		env, err := classifyDER(raw)
		return FormatBase64, env, err
	}
	return "", envelope{}, newFileError(KindUnknown, "base64 of something that is not BER")
}

// jsonError names a JSON upload: an Apps and Books token, or something else.
func jsonError(b []byte) error {
	var v struct {
		Token   *json.RawMessage `json:"token"`
		ExpDate *json.RawMessage `json:"expDate"`
		OrgName *json.RawMessage `json:"orgName"`
	}
	if json.Unmarshal(b, &v) == nil && v.Token != nil && (v.ExpDate != nil || v.OrgName != nil) {
		return newFileError(KindVPPToken, "JSON with token, expDate, orgName")
	}
	return newFileError(KindUnknown, "JSON")
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'
}

// decodeBase64 decodes wrapped or unwrapped base64, telling a cut file
// (missing characters at the end) from a damaged one (foreign characters).
func (in *inspection) decodeBase64(text []byte) ([]byte, error) {
	clean := make([]byte, 0, len(text))
	in.keep(clean)
	for _, c := range text {
		switch {
		case isBase64(c):
			clean = append(clean, c)
		case isSpace(c):
		default:
			return nil, newFileError(KindCorrupt, "character outside base64 in the body")
		}
	}
	if len(clean) == 0 {
		return nil, newFileError(KindTruncated, "no base64 body")
	}
	if len(clean)%4 != 0 {
		return nil, newFileError(KindTruncated, "base64 length is not a multiple of 4")
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	in.keep(out)
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, newFileError(KindCorrupt, "base64 does not decode")
	}
	return out[:n], nil
}
