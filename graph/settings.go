package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Token types of an OnboardingSetting.
const (
	TokenTypeNone               = "none"
	TokenTypeDEP                = "dep"
	TokenTypeAppleSchoolManager = "appleSchoolManager"
)

// OnboardingSetting is Intune's depOnboardingSetting: one Apple ADE server token. JSON names
// are Graph's; null and missing properties decode as zero values. Intune reports "never" as
// 0001-01-01T00:00:00Z, which is the zero time.
type OnboardingSetting struct {
	ID                                  string    `json:"id"`
	AppleIdentifier                     string    `json:"appleIdentifier"`
	TokenExpirationDateTime             time.Time `json:"tokenExpirationDateTime"`
	LastModifiedDateTime                time.Time `json:"lastModifiedDateTime"`
	LastSuccessfulSyncDateTime          time.Time `json:"lastSuccessfulSyncDateTime"`
	LastSyncTriggeredDateTime           time.Time `json:"lastSyncTriggeredDateTime"`
	LastSyncErrorCode                   int       `json:"lastSyncErrorCode"`
	TokenType                           string    `json:"tokenType"`
	TokenName                           string    `json:"tokenName"`
	SyncedDeviceCount                   int       `json:"syncedDeviceCount"`
	DataSharingConsentGranted           bool      `json:"dataSharingConsentGranted"`
	ShareTokenWithSchoolDataSyncService bool      `json:"shareTokenWithSchoolDataSyncService"`
	RoleScopeTagIDs                     []string  `json:"roleScopeTagIds"`
}

const settingsPath = "/deviceManagement/depOnboardingSettings"

// ListOnboardingSettings returns every token the signed-in person may see, following
// @odata.nextLink on the Graph host only (a link elsewhere would receive the bearer token).
func (c *Client) ListOnboardingSettings(ctx context.Context, cred Credentials) ([]OnboardingSetting, error) {
	return listAll[OnboardingSetting](ctx, c, cred, OpList, c.endpoint(settingsPath), "enrollment tokens")
}

func (c *Client) sameHost(current *url.URL, link string) (*url.URL, *Error) {
	u, err := current.Parse(link)
	if err != nil {
		return nil, &Error{Message: "Graph sent an @odata.nextLink that is not a URL", class: ClassOther}
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || hostPort(u) != hostPort(c.base) || u.User != nil {
		return nil, &Error{Message: fmt.Sprintf("refused to follow an @odata.nextLink to %s://%s: not the configured Graph host", u.Scheme, u.Host), class: ClassOther}
	}
	return u, nil
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// GetOnboardingSetting returns one token.
func (c *Client) GetOnboardingSetting(ctx context.Context, cred Credentials, id string) (OnboardingSetting, error) {
	u, err := c.settingURL(id, "")
	if err != nil {
		return OnboardingSetting{}, err
	}
	var s OnboardingSetting
	if _, err := c.do(ctx, cred, request{op: OpGet, method: http.MethodGet, url: u}, &s); err != nil {
		return OnboardingSetting{}, err
	}
	return s, nil
}

// GetEncryptionPublicKey returns the certificate Apple encrypts this token's files to, as
// Graph returns it: a PEM on one line, not yet split into the three lines ABM wants.
//
// There is deliberately no GenerateEncryptionPublicKey: it may replace the key pair, after
// which Intune can no longer decrypt token files made for the old key, including the one the
// person just downloaded from ABM.
func (c *Client) GetEncryptionPublicKey(ctx context.Context, cred Credentials, id string) (string, error) {
	u, err := c.settingURL(id, "getEncryptionPublicKey")
	if err != nil {
		return "", err
	}
	var body struct {
		Value string `json:"value"`
	}
	info, err := c.do(ctx, cred, request{op: OpPublicKey, method: http.MethodGet, url: u}, &body)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(body.Value) == "" {
		return "", &Error{Status: info.Status, Message: "Graph returned an empty public key", Call: info,
			RequestID: info.RequestID, ClientRequestID: info.ClientRequestID, Date: info.Date, class: ClassOther}
	}
	return body.Value, nil
}

// UploadDepToken replaces the token's Apple server token with tokenFile (the .p7m as
// downloaded from ABM/ASM), encoded as Config.DepTokenEncoding says. A ClassOutcomeUnknown
// error (no answer, or a 5xx) means the file may have reached Intune: never repeat the
// upload automatically.
func (c *Client) UploadDepToken(ctx context.Context, cred Credentials, id, appleID string, tokenFile []byte) (CallInfo, error) {
	u, err := c.settingURL(id, "uploadDepToken")
	if err != nil {
		return CallInfo{}, err
	}
	if strings.TrimSpace(appleID) == "" {
		return CallInfo{}, &Error{Message: "the Apple ID is empty", class: ClassOther}
	}
	if len(tokenFile) == 0 {
		return CallInfo{}, &Error{Message: "the token file is empty", class: ClassOther}
	}
	var depToken string
	switch c.encoding {
	case EncodingBase64:
		depToken = base64.StdEncoding.EncodeToString(tokenFile)
	default:
		// encoding/json would quietly replace invalid UTF-8 with U+FFFD and upload a
		// corrupted file; a real .p7m is 7-bit text, so refuse instead.
		if !utf8.Valid(tokenFile) {
			return CallInfo{}, &Error{Message: "the token file is not text; it cannot be an Apple server token", class: ClassOther}
		}
		depToken = string(tokenFile)
	}
	body, err := json.Marshal(struct {
		AppleID  string `json:"appleId"`
		DepToken string `json:"depToken"`
	}{appleID, depToken})
	if err != nil {
		return CallInfo{}, &Error{Message: "could not encode the upload", class: ClassOther}
	}
	return c.do(ctx, cred, request{
		op:             OpUpload,
		method:         http.MethodPost,
		url:            u,
		body:           body,
		unknownOutcome: "the upload may or may not have reached Intune; check the token's status before trying again",
	}, nil)
}

// SyncWithApple asks Intune to sync the token's devices with Apple now. Intune allows a
// manual sync at most once every 15 minutes. Like an upload, a sync that ends with
// ClassOutcomeUnknown may have been started.
func (c *Client) SyncWithApple(ctx context.Context, cred Credentials, id string) (CallInfo, error) {
	u, err := c.settingURL(id, "syncWithAppleDeviceEnrollmentProgram")
	if err != nil {
		return CallInfo{}, err
	}
	return c.do(ctx, cred, request{
		op:             OpSync,
		method:         http.MethodPost,
		url:            u,
		unknownOutcome: "the sync request may or may not have reached Intune; check the token's last sync before trying again",
	}, nil)
}

// settingURL escapes id: ids are GUIDs in practice, but they arrive from form fields.
func (c *Client) settingURL(id, action string) (*url.URL, error) {
	if id == "" || id == "." || id == ".." {
		return nil, &Error{Message: "invalid enrollment token id", class: ClassOther}
	}
	p := settingsPath + "/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return c.endpoint(p), nil
}
