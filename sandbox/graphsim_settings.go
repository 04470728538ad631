package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Token types as Intune names them.
const (
	TokenTypeDEP                = "dep"
	TokenTypeAppleSchoolManager = "appleSchoolManager"
)

// OnboardingSetting is one enrollment program token as Intune holds it (a depOnboardingSetting).
type OnboardingSetting struct {
	ID                                  string
	AppleIdentifier                     string
	TokenExpirationDateTime             time.Time
	LastModifiedDateTime                time.Time
	LastSuccessfulSyncDateTime          time.Time
	LastSyncTriggeredDateTime           time.Time // zero until someone asks for a sync
	ShareTokenWithSchoolDataSyncService bool
	LastSyncErrorCode                   int
	TokenType                           string
	TokenName                           string
	SyncedDeviceCount                   int
	DataSharingConsentGranted           bool
	RoleScopeTagIDs                     []string
}

type onboardingSetting struct {
	OnboardingSetting
	key *settingKey
}

// seedSettings is the sandbox tenant's three tokens, dated from start so that the sandbox always
// shows one about to expire, one expired and one healthy. The IDs are fixed so that a page
// bookmarked or an audit record written in one run still names the same token in the next.
func seedSettings(start time.Time) []*onboardingSetting {
	start = start.UTC().Truncate(time.Second)
	day := 24 * time.Hour
	year := 365 * day
	soon := start.Add(9 * day)
	expired := start.Add(-3 * day)
	healthy := start.Add(200 * day)
	return []*onboardingSetting{
		{OnboardingSetting: OnboardingSetting{
			ID:                         "0b6f9a4e-2c1d-4e8f-9a3b-5d7c1e2f4a61",
			AppleIdentifier:            "abm-admin@contoso.com",
			TokenExpirationDateTime:    soon,
			LastModifiedDateTime:       soon.Add(-year).Add(17 * time.Minute),
			LastSuccessfulSyncDateTime: start.Add(-2*time.Hour - 13*time.Minute),
			TokenType:                  TokenTypeDEP,
			TokenName:                  "Contoso ABM",
			SyncedDeviceCount:          1842,
			DataSharingConsentGranted:  true,
			RoleScopeTagIDs:            []string{"0"},
		}},
		{OnboardingSetting: OnboardingSetting{
			ID:                         "4e2d8c1a-7b3f-4a9e-8d6c-2f1e5a9b3c72",
			AppleIdentifier:            "retail-it@contoso.com",
			TokenExpirationDateTime:    expired,
			LastModifiedDateTime:       expired.Add(-year).Add(42 * time.Minute),
			LastSuccessfulSyncDateTime: expired.Add(-5 * time.Hour),
			TokenType:                  TokenTypeDEP,
			TokenName:                  "Contoso Retail ABM",
			SyncedDeviceCount:          312,
			DataSharingConsentGranted:  true,
			RoleScopeTagIDs:            []string{"0"},
		}},
		{OnboardingSetting: OnboardingSetting{
			ID:                                  "9a1c3e5f-6b2d-4f8a-8c7e-1d3f5b7a9c83",
			AppleIdentifier:                     "asm-admin@contoso.edu",
			TokenExpirationDateTime:             healthy,
			LastModifiedDateTime:                healthy.Add(-year).Add(3 * time.Minute),
			LastSuccessfulSyncDateTime:          start.Add(-41 * time.Minute),
			ShareTokenWithSchoolDataSyncService: true,
			TokenType:                           TokenTypeAppleSchoolManager,
			TokenName:                           "Contoso Schools ASM",
			SyncedDeviceCount:                   5120,
			DataSharingConsentGranted:           true,
			RoleScopeTagIDs:                     []string{"0"},
		}},
	}
}

// Settings returns a copy of the tokens as Intune holds them now.
func (g *Graph) Settings() []OnboardingSetting {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]OnboardingSetting, len(g.settings))
	for i, s := range g.settings {
		out[i] = s.OnboardingSetting
		out[i].RoleScopeTagIDs = slices.Clone(s.RoleScopeTagIDs)
	}
	return out
}

func (g *Graph) settingLocked(id string) *onboardingSetting {
	for _, s := range g.settings {
		if strings.EqualFold(s.ID, id) {
			return s
		}
	}
	return nil
}

// wireSetting is a depOnboardingSetting as Graph serialises it.
type wireSetting struct {
	ODataContext                        string   `json:"@odata.context,omitempty"`
	ID                                  string   `json:"id"`
	AppleIdentifier                     string   `json:"appleIdentifier"`
	TokenExpirationDateTime             string   `json:"tokenExpirationDateTime"`
	LastModifiedDateTime                string   `json:"lastModifiedDateTime"`
	LastSuccessfulSyncDateTime          string   `json:"lastSuccessfulSyncDateTime"`
	LastSyncTriggeredDateTime           string   `json:"lastSyncTriggeredDateTime"`
	ShareTokenWithSchoolDataSyncService bool     `json:"shareTokenWithSchoolDataSyncService"`
	LastSyncErrorCode                   int      `json:"lastSyncErrorCode"`
	TokenType                           string   `json:"tokenType"`
	TokenName                           string   `json:"tokenName"`
	SyncedDeviceCount                   int      `json:"syncedDeviceCount"`
	DataSharingConsentGranted           bool     `json:"dataSharingConsentGranted"`
	RoleScopeTagIDs                     []string `json:"roleScopeTagIds"`
}

// graphTime formats as Intune does: seven fractional digits, and the year 1 for "never", which a
// client must not show as a date.
func graphTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

func (s OnboardingSetting) wire() wireSetting {
	return wireSetting{
		ID:                                  s.ID,
		AppleIdentifier:                     s.AppleIdentifier,
		TokenExpirationDateTime:             graphTime(s.TokenExpirationDateTime),
		LastModifiedDateTime:                graphTime(s.LastModifiedDateTime),
		LastSuccessfulSyncDateTime:          graphTime(s.LastSuccessfulSyncDateTime),
		LastSyncTriggeredDateTime:           graphTime(s.LastSyncTriggeredDateTime),
		ShareTokenWithSchoolDataSyncService: s.ShareTokenWithSchoolDataSyncService,
		LastSyncErrorCode:                   s.LastSyncErrorCode,
		TokenType:                           s.TokenType,
		TokenName:                           s.TokenName,
		SyncedDeviceCount:                   s.SyncedDeviceCount,
		DataSharingConsentGranted:           s.DataSharingConsentGranted,
		RoleScopeTagIDs:                     slices.Clone(s.RoleScopeTagIDs),
	}
}

type settingsPage struct {
	ODataContext  string        `json:"@odata.context"`
	ODataCount    *int          `json:"@odata.count,omitempty"`
	Value         []wireSetting `json:"value"`
	ODataNextLink string        `json:"@odata.nextLink,omitempty"`
}

// list pages when $top or PageSize asks it to: three tokens never fill Graph's own page, yet a
// client that ignores @odata.nextLink must be caught out somewhere.
func (g *Graph) list(c *call) reply {
	query := c.r.URL.Query()
	offset := 0
	if raw := query.Get("$skiptoken"); raw != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(raw, "offset-"))
		if err != nil || n < 0 || !strings.HasPrefix(raw, "offset-") {
			return reply{err: &apiError{status: http.StatusBadRequest, code: "BadRequest",
				message: "The $skiptoken is invalid or has expired."}}
		}
		offset = n
	}
	top := 0
	if raw := query.Get("$top"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return reply{err: &apiError{status: http.StatusBadRequest, code: "BadRequest",
				message: fmt.Sprintf("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", raw)}}
		}
		top = n
	}

	size := top
	if size == 0 {
		size = g.pageSize
	}
	all := g.Settings()
	page := settingsPage{ODataContext: c.baseURL() + "/$metadata#deviceManagement/depOnboardingSettings", Value: []wireSetting{}}
	end := len(all)
	if size > 0 && offset+size < end {
		end = offset + size
		next := url.Values{"$skiptoken": {"offset-" + strconv.Itoa(end)}}
		if top > 0 {
			next.Set("$top", strconv.Itoa(top))
		}
		page.ODataNextLink = c.baseURL() + "/deviceManagement/depOnboardingSettings?" + next.Encode()
	}
	for i := min(offset, len(all)); i < end; i++ {
		page.Value = append(page.Value, all[i].wire())
	}
	if strings.EqualFold(query.Get("$count"), "true") {
		n := len(all)
		page.ODataCount = &n
	}
	return reply{status: http.StatusOK, body: page}
}

func (g *Graph) get(c *call) reply {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.settingLocked(c.route.settingID)
	if s == nil {
		return reply{err: c.notFound()}
	}
	w := s.wire()
	w.ODataContext = c.baseURL() + "/$metadata#deviceManagement/depOnboardingSettings/$entity"
	return reply{status: http.StatusOK, body: w}
}

type stringValue struct {
	ODataContext string `json:"@odata.context"`
	Value        string `json:"value"`
}

func (g *Graph) publicKey(c *call) reply {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.settingLocked(c.route.settingID)
	if s == nil {
		return reply{err: c.notFound()}
	}
	return reply{status: http.StatusOK, body: stringValue{
		ODataContext: c.baseURL() + "/$metadata#Edm.String",
		Value:        oneLinePEM(s.key.cert.Raw),
	}}
}

// generateKey rotates the key Apple encrypts to, as Intune's generateEncryptionPublicKey does.
// Every token file made for the old key stops uploading, which is why the portal must never
// call it; the warning in the log is there for whoever wonders why their samples broke.
func (g *Graph) generateKey(c *call) reply {
	g.mu.Lock()
	s := g.settingLocked(c.route.settingID)
	if s == nil {
		g.mu.Unlock()
		return reply{err: c.notFound()}
	}
	id := s.ID
	g.mu.Unlock()

	key, err := g.createKey(id, intuneCertName(id), true)
	if err != nil {
		g.logger.Error("sandbox graph: generateEncryptionPublicKey", "err", err)
		return reply{err: c.intuneError(http.StatusInternalServerError, "InternalServerError", "An error has occurred")}
	}
	g.mu.Lock()
	s.key = key
	s.LastModifiedDateTime = g.now()
	g.mu.Unlock()
	if err := g.refreshSamples(); err != nil {
		g.logger.Error("sandbox graph: remake samples", "err", err)
	}
	g.logger.Warn("sandbox graph: generateEncryptionPublicKey rotated the key: token files made for the old key no longer upload",
		"setting", id, "request_id", c.requestID)
	return reply{status: http.StatusOK, applied: true, body: stringValue{
		ODataContext: c.baseURL() + "/$metadata#Edm.String",
		Value:        oneLinePEM(key.cert.Raw),
	}}
}

// syncInterval is Intune's limit on manual syncs with Apple.
const syncInterval = 15 * time.Minute

// sync refuses a second manual sync within 15 minutes with 409 Conflict rather than 429: the
// limit is a rule about this token's state, not throttling, and a client that retries 429s on
// its own would otherwise hammer it for a quarter of an hour.
func (g *Graph) sync(c *call) reply {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.settingLocked(c.route.settingID)
	if s == nil {
		return reply{err: c.notFound()}
	}
	now := g.now()
	if last := s.LastSyncTriggeredDateTime; !last.IsZero() && now.Sub(last) < syncInterval {
		return reply{err: c.intuneError(http.StatusConflict, "Conflict", fmt.Sprintf(
			"A sync with Apple was already requested at %s; Intune allows a manual sync at most once every 15 minutes",
			last.UTC().Format(time.RFC3339)))}
	}
	s.LastSyncTriggeredDateTime = now
	return reply{status: http.StatusNoContent, applied: true}
}
