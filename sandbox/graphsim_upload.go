package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// ReceivedFile is where every uploadDepToken the simulator received is appended, one JSON
// object a line, synced before the response leaves: after a crash, a test can still tell what
// Intune was given and whether it took it.
const ReceivedFile = "sandbox-graph-received.jsonl"

// ReceivedUpload is one uploadDepToken call as Intune saw it. It holds digests, never the token.
type ReceivedUpload struct {
	Time            time.Time `json:"time"`
	SettingID       string    `json:"settingId"`
	AppleID         string    `json:"appleId"`
	DepTokenSHA256  string    `json:"depTokenSha256"` // of depToken as sent; "" when there was none
	FileSHA256      string    `json:"fileSha256"`     // of the file depToken carries, once decoded per DepTokenEncoding
	ClientRequestID string    `json:"clientRequestId"`
	RequestID       string    `json:"requestId"`
	Status          int       `json:"status"`  // the status sent; 0 when the connection was dropped instead
	Applied         bool      `json:"applied"` // Intune took the token (even if the response was then lost)
	Outcome         string    `json:"outcome"` // "accepted", "rejected: …" or "fault: …", for people
}

// Received returns the uploads this process received, oldest first. The file under DataDir
// also holds those of earlier runs.
func (g *Graph) Received() []ReceivedUpload {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.received)
}

type uploadRequest struct {
	AppleID  string `json:"appleId"`
	DepToken string `json:"depToken"`
}

// recordIfUpload notes an uploadDepToken call: in memory, in the log (digests only) and, synced,
// in ReceivedFile. It runs before the response is written, so that nothing a client can have
// seen is missing from the file.
func (g *Graph) recordIfUpload(c *call, body []byte, status int, applied bool, outcome string) {
	if c.route.op != OpUpload {
		return
	}
	var req uploadRequest
	_ = json.Unmarshal(body, &req) // what could be read of it; a bad body is part of the story
	rec := ReceivedUpload{
		Time:            g.now().UTC(),
		SettingID:       c.route.settingID,
		AppleID:         req.AppleID,
		ClientRequestID: c.clientRequestID,
		RequestID:       c.requestID,
		Status:          status,
		Applied:         applied,
		Outcome:         outcome,
	}
	if req.DepToken != "" {
		rec.DepTokenSHA256 = sha256Hex([]byte(req.DepToken))
		if file, err := g.decodeDepToken(req.DepToken); err == nil {
			rec.FileSHA256 = sha256Hex(file)
		}
	}
	line, _ := json.Marshal(rec)
	g.mu.Lock()
	g.received = append(g.received, rec)
	err := appendSynced(filepath.Join(g.dataDir, ReceivedFile), append(line, '\n'))
	g.mu.Unlock()
	if err != nil {
		g.logger.Error("sandbox graph: record upload", "err", err)
	}
	g.logger.Info("sandbox graph: uploadDepToken", "setting", rec.SettingID, "status", status, "applied", applied,
		"outcome", outcome, "file_sha256", rec.FileSHA256, "request_id", rec.RequestID, "client_request_id", rec.ClientRequestID)
}

func appendSynced(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// jsonPayloadError is Graph's own answer to a body it cannot read, before Intune sees it.
var jsonPayloadError = &apiError{status: http.StatusBadRequest, code: "BadRequest",
	message: "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."}

// uploadDepToken is Intune's renewal: it takes the token only if it can open it with this
// setting's private key and the token inside has not expired. What it decrypts is read for the
// expiry and then dropped: never logged, never stored.
func (g *Graph) uploadDepToken(c *call, body []byte) reply {
	g.mu.Lock()
	setting := g.settingLocked(c.route.settingID)
	var key *settingKey
	if setting != nil {
		key = setting.key
	}
	g.mu.Unlock()
	if setting == nil {
		return reply{err: c.notFound()}
	}

	mediaType, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if mediaType != "application/json" {
		return reply{err: jsonPayloadError}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return reply{err: jsonPayloadError}
	}
	// OData parameter names are case-sensitive and unknown ones are refused, so "appleID" or
	// "token" fails here as it does in Graph.
	for name := range fields {
		if name != "appleId" && name != "depToken" {
			return reply{err: &apiError{status: http.StatusBadRequest, code: "BadRequest", message: fmt.Sprintf(
				"The parameter '%s' in the request payload is not a valid parameter for the operation 'uploadDepToken'.", name)}}
		}
	}
	var req uploadRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return reply{err: jsonPayloadError}
	}
	for _, p := range []struct{ name, value string }{{"appleId", req.AppleID}, {"depToken", req.DepToken}} {
		if strings.TrimSpace(p.value) == "" {
			return reply{err: c.intuneError(http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Value cannot be null or empty. (Parameter '%s')", p.name))}
		}
	}

	expiry, err := g.openDepToken(req.DepToken, key)
	if err != nil {
		return reply{err: c.intuneError(http.StatusBadRequest, "BadRequest", err.Error())}
	}
	now := g.now()
	if !expiry.After(now) {
		return reply{err: c.intuneError(http.StatusBadRequest, "BadRequest", fmt.Sprintf(
			"The DEP token is invalid: the token expired on %s", expiry.UTC().Format(time.RFC3339)))}
	}

	g.mu.Lock()
	setting.AppleIdentifier = strings.TrimSpace(req.AppleID)
	setting.TokenExpirationDateTime = expiry.UTC()
	setting.LastModifiedDateTime = now
	// Intune syncs with Apple straight after a renewal.
	setting.LastSuccessfulSyncDateTime = now
	setting.LastSyncErrorCode = 0
	g.mu.Unlock()
	return reply{status: http.StatusNoContent, applied: true}
}

// Reasons a token is refused, in the words the simulator's 400s use.
var (
	errNotEnvelope = errors.New("The DEP token is invalid: depToken is not an S/MIME encrypted message (PKCS#7 enveloped-data)")
	errWrongKey    = errors.New("The DEP token is invalid: it could not be decrypted with the private key of this enrollment program token")
	errBadContent  = errors.New("The DEP token is invalid: the decrypted token could not be read")
)

// openDepToken decrypts the token and returns its expiry.
func (g *Graph) openDepToken(depToken string, key *settingKey) (time.Time, error) {
	file, err := g.decodeDepToken(depToken)
	if err != nil {
		return time.Time{}, errNotEnvelope
	}
	der, err := envelopeFromFile(file)
	if err != nil {
		return time.Time{}, errNotEnvelope
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return time.Time{}, errNotEnvelope
	}
	plain, err := p7.Decrypt(key.cert, key.private)
	if err != nil {
		if errors.Is(err, pkcs7.ErrNotEncryptedContent) {
			return time.Time{}, errNotEnvelope
		}
		return time.Time{}, errWrongKey
	}
	expiry, err := tokenExpiry(plain)
	clear(plain)
	if err != nil {
		return time.Time{}, errBadContent
	}
	return expiry, nil
}

// decodeDepToken undoes DepTokenEncoding. Raw text is taken as it is and base64 must be base64:
// neither reading falls back on the other, so a client configured the wrong way is refused.
func (g *Graph) decodeDepToken(depToken string) ([]byte, error) {
	if g.encoding == DepTokenRaw {
		return []byte(depToken), nil
	}
	return base64.StdEncoding.DecodeString(stripSpace(depToken))
}

// envelopeFromFile finds the PKCS#7 inside a token file, in the forms Intune accepts: ABM's
// S/MIME text, PEM, bare base64 or DER. It does not decode twice, so base64 of an S/MIME file
// is not a token.
func envelopeFromFile(file []byte) ([]byte, error) {
	if len(file) > 0 && file[0] == 0x30 {
		return file, nil
	}
	text := bytes.TrimSpace(file)
	if bytes.HasPrefix(text, []byte("-----BEGIN ")) {
		block, _ := pem.Decode(text)
		if block == nil || (block.Type != "PKCS7" && block.Type != "CMS") {
			return nil, errors.New("not a PEM PKCS7")
		}
		return block.Bytes, nil
	}
	if msg, err := mail.ReadMessage(bytes.NewReader(text)); err == nil && msg.Header.Get("Content-Type") != "" {
		if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "" && !strings.EqualFold(cte, "base64") {
			return nil, fmt.Errorf("content transfer encoding %q", cte)
		}
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(stripSpace(string(body)))
	}
	return base64.StdEncoding.DecodeString(stripSpace(string(text)))
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

const (
	messageBegin = "-----BEGIN MESSAGE-----"
	messageEnd   = "-----END MESSAGE-----"
)

// depTokenContent is the JSON Apple encrypts: the OAuth 1 credentials for Apple's DEP API.
type depTokenContent struct {
	ConsumerKey       string `json:"consumer_key"`
	ConsumerSecret    string `json:"consumer_secret"`
	AccessToken       string `json:"access_token"`
	AccessSecret      string `json:"access_secret"`
	AccessTokenExpiry string `json:"access_token_expiry"`
}

// tokenExpiry reads the decrypted MIME part: the JSON between the MESSAGE markers.
func tokenExpiry(plain []byte) (time.Time, error) {
	_, rest, ok := bytes.Cut(plain, []byte(messageBegin))
	if !ok {
		return time.Time{}, errors.New("no BEGIN MESSAGE")
	}
	inner, _, ok := bytes.Cut(rest, []byte(messageEnd))
	if !ok {
		return time.Time{}, errors.New("no END MESSAGE")
	}
	var content depTokenContent
	if err := json.Unmarshal(inner, &content); err != nil {
		return time.Time{}, err
	}
	if content.ConsumerKey == "" || content.ConsumerSecret == "" || content.AccessToken == "" || content.AccessSecret == "" {
		return time.Time{}, errors.New("credentials missing")
	}
	return time.Parse(time.RFC3339, content.AccessTokenExpiry)
}
