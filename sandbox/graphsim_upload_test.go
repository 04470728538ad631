package sandbox

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

func MustSample(tb testing.TB, g *Graph, settingID string, kind SampleKind) Sample {
	tb.Helper()
	for _, s := range g.Samples() {
		if s.SettingID == settingID && s.Kind == kind {
			return s
		}
	}
	tb.Fatalf("no %s sample for %q", kind, settingID)
	return Sample{}
}

func MustUploadBody(tb testing.TB, appleID, depToken string) []byte {
	tb.Helper()
	body, err := json.Marshal(map[string]string{"appleId": appleID, "depToken": depToken})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func MustUpload(tb testing.TB, s *graphServer, settingID, appleID, depToken string, header ...string) graphResponse {
	tb.Helper()
	return MustCallGraph(tb, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingID+"/uploadDepToken",
		MustMintToken(tb, nil), MustUploadBody(tb, appleID, depToken), header...)
}

// MustDecryptSample opens a sample with its setting's key, as a test's window into what Intune
// would read.
func MustDecryptSample(tb testing.TB, key *settingKey, file []byte) depTokenContent {
	tb.Helper()
	der, err := envelopeFromFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := p7.Decrypt(key.cert, key.private)
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, _ := bytes.Cut(plain, []byte(messageBegin+"\n"))
	inner, _, _ := bytes.Cut(rest, []byte(messageEnd))
	var content depTokenContent
	MustJSON(tb, inner, &content)
	return content
}

func MustReadReceivedFile(tb testing.TB, dataDir string) []ReceivedUpload {
	tb.Helper()
	f, err := os.Open(filepath.Join(dataDir, ReceivedFile))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []ReceivedUpload
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		var rec ReceivedUpload
		MustJSON(tb, lines.Bytes(), &rec)
		out = append(out, rec)
	}
	if err := lines.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestGraphUploadValidToken(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	before := s.graph.Settings()[0]
	sample := MustSample(t, s.graph, settingSoon, SampleValid)
	clientRequestID := "5d2e8f1a-3b4c-4d6e-9f7a-8b1c2d3e4f99"
	resp := MustUpload(t, s, settingSoon, "new-admin@contoso.com", string(sample.Data), "client-request-id", clientRequestID)
	MustStatus(t, resp, http.StatusNoContent)
	if len(resp.body) != 0 {
		t.Errorf("204 with a body: %q", resp.body)
	}

	after := s.graph.Settings()[0]
	wantExpiry := time.Now().AddDate(1, 0, 0)
	if d := after.TokenExpirationDateTime.Sub(wantExpiry); d < -time.Minute || d > time.Minute {
		t.Errorf("tokenExpirationDateTime %v, want about %v", after.TokenExpirationDateTime, wantExpiry)
	}
	if after.AppleIdentifier != "new-admin@contoso.com" {
		t.Errorf("appleIdentifier %q", after.AppleIdentifier)
	}
	if !after.LastModifiedDateTime.After(before.LastModifiedDateTime) || time.Since(after.LastModifiedDateTime) > time.Minute {
		t.Errorf("lastModifiedDateTime %v (was %v)", after.LastModifiedDateTime, before.LastModifiedDateTime)
	}
	if s.graph.Settings()[2].AppleIdentifier != "asm-admin@contoso.edu" {
		t.Error("another setting changed")
	}

	// The next GET shows it, in Graph's format.
	got := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings/"+settingSoon, MustMintToken(t, nil), nil)
	var wire map[string]any
	MustJSON(t, got.body, &wire)
	if wire["appleIdentifier"] != "new-admin@contoso.com" ||
		!MustParseGraphTime(t, wire["tokenExpirationDateTime"]).Equal(after.TokenExpirationDateTime) {
		t.Errorf("GET after upload: %v", wire)
	}

	received := s.graph.Received()
	if len(received) != 1 {
		t.Fatalf("Received() has %d uploads, want 1", len(received))
	}
	rec := received[0]
	want := ReceivedUpload{
		Time: rec.Time, SettingID: settingSoon, AppleID: "new-admin@contoso.com",
		DepTokenSHA256: sha256Hex(sample.Data), FileSHA256: sha256Hex(sample.Data),
		ClientRequestID: clientRequestID, RequestID: resp.Header.Get("request-id"),
		Status: http.StatusNoContent, Applied: true, Outcome: "accepted",
	}
	if rec != want {
		t.Errorf("Received()[0] = %+v\nwant %+v", rec, want)
	}
	fromFile := MustReadReceivedFile(t, s.dataDir)
	if len(fromFile) != 1 || !fromFile[0].Time.Equal(rec.Time) {
		t.Fatalf("%s holds %+v", ReceivedFile, fromFile)
	}
	fromFile[0].Time = rec.Time
	if fromFile[0] != rec {
		t.Errorf("%s: %+v, want %+v", ReceivedFile, fromFile[0], rec)
	}
	if info, err := os.Stat(filepath.Join(s.dataDir, ReceivedFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v", ReceivedFile, info, err)
	}
}

func TestGraphUploadRejects(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	valid := string(MustSample(t, s.graph, settingSoon, SampleValid).Data)
	for _, tc := range []struct {
		name, appleID, depToken, message string
	}{
		{"made for another MDM server", "a@contoso.com", string(MustSample(t, s.graph, settingSoon, SampleWrongKey).Data), "could not be decrypted"},
		{"made for another token in this tenant", "a@contoso.com", string(MustSample(t, s.graph, settingSchool, SampleValid).Data), "could not be decrypted"},
		{"expired", "a@contoso.com", string(MustSample(t, s.graph, settingSoon, SampleExpired).Data), "token expired on"},
		{"a .vpptoken", "a@contoso.com", string(MustWrongFile(t, s.graph, SampleVPPToken).Data), "not an S/MIME encrypted message"},
		{"an APNs certificate", "a@contoso.com", string(MustWrongFile(t, s.graph, SampleAPNsCert).Data), "not an S/MIME encrypted message"},
		{"truncated", "a@contoso.com", valid[:len(valid)/2], "The DEP token is invalid"},
		{"base64 of the file in raw mode", "a@contoso.com", base64.StdEncoding.EncodeToString([]byte(valid)), "not an S/MIME encrypted message"},
		{"no appleId", "", valid, "(Parameter 'appleId')"},
		{"blank appleId", "  ", valid, "(Parameter 'appleId')"},
		{"no depToken", "a@contoso.com", "", "(Parameter 'depToken')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			message := MustIntuneError(t, MustUpload(t, s, settingSoon, tc.appleID, tc.depToken), http.StatusBadRequest, "BadRequest")
			if !strings.Contains(message, tc.message) {
				t.Errorf("Message %q, want it to contain %q", message, tc.message)
			}
			if !strings.Contains(message, "/depOnboardingSettings('"+settingSoon+"')/uploadDepToken?api-version=") {
				t.Errorf("Message %q does not name the upload's Url", message)
			}
		})
	}

	token := MustMintToken(t, nil)
	path := "/deviceManagement/depOnboardingSettings/" + settingSoon + "/uploadDepToken"
	for _, tc := range []struct {
		name, contentType, body, message string
	}{
		{"not JSON", "application/json", "appleId=a&depToken=b", "Unable to read JSON request payload"},
		{"no Content-Type", "", string(MustUploadBody(t, "a@contoso.com", valid)), "Unable to read JSON request payload"},
		{"a form", "application/x-www-form-urlencoded", string(MustUploadBody(t, "a@contoso.com", valid)), "Unable to read JSON request payload"},
		{"misspelt parameter", "application/json", `{"appleID":"a@contoso.com","depToken":"x"}`, "The parameter 'appleID' in the request payload is not a valid parameter"},
		{"a number", "application/json", `{"appleId":7,"depToken":"x"}`, "Unable to read JSON request payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := MustCallGraph(t, s, http.MethodPost, path, token, []byte(tc.body), "Content-Type", tc.contentType)
			e := MustGraphError(t, resp, http.StatusBadRequest, "BadRequest")
			if !strings.HasPrefix(e.Message, tc.message) {
				t.Errorf("message %q, want prefix %q", e.Message, tc.message)
			}
		})
	}

	resp := MustUpload(t, s, "11111111-2222-3333-4444-555555555555", "a@contoso.com", valid)
	MustIntuneError(t, resp, http.StatusNotFound, "ResourceNotFound")

	if got := s.graph.Settings()[0]; got.AppleIdentifier != "abm-admin@contoso.com" || time.Until(got.TokenExpirationDateTime) > 10*24*time.Hour {
		t.Errorf("a refused upload changed the setting: %+v", got)
	}
	for _, rec := range s.graph.Received() {
		if rec.Applied || rec.Status != http.StatusBadRequest && rec.Status != http.StatusNotFound || !strings.HasPrefix(rec.Outcome, "rejected: ") {
			t.Errorf("received %+v", rec)
		}
	}
	if n := len(MustReadReceivedFile(t, s.dataDir)); n != len(s.graph.Received()) || n != 16 {
		t.Errorf("%s has %d lines, Received() %d, want 16", ReceivedFile, n, len(s.graph.Received()))
	}
}

func MustWrongFile(tb testing.TB, g *Graph, kind SampleKind) Sample {
	tb.Helper()
	return MustSample(tb, g, "", kind)
}

func TestGraphUploadRejectsChunkedBody(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	body := MustUploadBody(t, "a@contoso.com", string(MustSample(t, s.graph, settingSoon, SampleValid).Data))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		s.base()+"/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken",
		io.MultiReader(bytes.NewReader(body))) // a reader of unknown length goes chunked
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+MustMintToken(t, nil))
	req.Header.Set("Content-Type", "application/json")
	resp := MustSend(t, s.client, req)
	if len(resp.Request.TransferEncoding) == 0 && resp.Request.ContentLength > 0 {
		t.Fatal("the test request was not chunked")
	}
	MustGraphError(t, resp, http.StatusLengthRequired, "LengthRequired")
	if got := s.graph.Settings()[0].AppleIdentifier; got != "abm-admin@contoso.com" {
		t.Errorf("appleIdentifier %q", got)
	}
	if rec := s.graph.Received(); len(rec) != 1 || rec[0].Status != http.StatusLengthRequired || rec[0].Applied {
		t.Errorf("Received() = %+v", rec)
	}
}

func TestGraphUploadBase64Encoding(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.DepTokenEncoding = DepTokenBase64 })
	sample := MustSample(t, s.graph, settingSchool, SampleValid)
	encoded := base64.StdEncoding.EncodeToString(sample.Data)

	message := MustIntuneError(t, MustUpload(t, s, settingSchool, "a@contoso.edu", string(sample.Data)), http.StatusBadRequest, "BadRequest")
	if !strings.Contains(message, "not an S/MIME encrypted message") {
		t.Errorf("raw text in base64 mode: Message %q", message)
	}
	wrong := base64.StdEncoding.EncodeToString(MustSample(t, s.graph, settingSchool, SampleWrongKey).Data)
	MustIntuneError(t, MustUpload(t, s, settingSchool, "a@contoso.edu", wrong), http.StatusBadRequest, "BadRequest")

	MustStatus(t, MustUpload(t, s, settingSchool, "a@contoso.edu", encoded), http.StatusNoContent)
	if got := s.graph.Settings()[2]; got.AppleIdentifier != "a@contoso.edu" || time.Until(got.TokenExpirationDateTime) < 300*24*time.Hour {
		t.Errorf("setting after upload: %+v", got)
	}
	rec := s.graph.Received()
	last := rec[len(rec)-1]
	if last.DepTokenSHA256 != sha256Hex([]byte(encoded)) || last.FileSHA256 != sha256Hex(sample.Data) {
		t.Errorf("digests %+v", last)
	}
}

func TestGraphUploadTokenForms(t *testing.T) {
	t.Parallel()
	// Intune's reader finds the envelope in the forms a file can take: ABM's S/MIME text with
	// CRLF or LF line ends, PEM and bare base64.
	s := MustStartGraph(t)
	sample := string(MustSample(t, s.graph, settingExpired, SampleValid).Data)
	der, err := envelopeFromFile([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	for name, depToken := range map[string]string{
		"S/MIME, CRLF": sample,
		"S/MIME, LF":   strings.ReplaceAll(sample, "\r\n", "\n"),
		"PEM PKCS7":    "-----BEGIN PKCS7-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PKCS7-----\n",
		"bare base64":  base64.StdEncoding.EncodeToString(der),
	} {
		t.Run(name, func(t *testing.T) {
			MustStatus(t, MustUpload(t, s, settingExpired, "retail-it@contoso.com", depToken), http.StatusNoContent)
		})
	}
}

func TestGraphLogsHoldNoToken(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	for _, kind := range []SampleKind{SampleValid, SampleExpired} {
		sample := MustSample(t, s.graph, settingSoon, kind)
		content := MustDecryptSample(t, MustSettingKey(t, s.graph, settingSoon), sample.Data)
		MustUpload(t, s, settingSoon, "abm-admin@contoso.com", string(sample.Data))
		lines := strings.Split(strings.TrimSpace(string(sample.Data)), "\r\n")
		stored := s.logs.String() + string(MustReadGraphFile(t, filepath.Join(s.dataDir, ReceivedFile)))
		for _, secret := range []string{content.ConsumerSecret, content.AccessSecret, content.AccessToken, content.ConsumerKey, lines[len(lines)-2]} {
			if strings.Contains(stored, secret) {
				t.Errorf("%s: logs or %s hold %q", kind, ReceivedFile, secret)
			}
		}
	}
	if !strings.Contains(s.logs.String(), "uploadDepToken") {
		t.Error("uploads are not logged at all")
	}
}
