package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// The tenant's two other yearly Apple connectors, as Graph beta documents them: the Apps and
// Books (VPP) location tokens (vppToken) and the Apple MDM push certificate
// (applePushNotificationCertificate). The simulator serves them read-only, as the watch and
// the portal's pages read them.

const (
	OpVppTokens       Operation = "vppTokens"       // GET deviceAppManagement/vppTokens
	OpPushCertificate Operation = "pushCertificate" // GET deviceManagement/applePushNotificationCertificate
)

// connectorCollections are the connector collections the simulator serves, by the area Graph
// files them under: the Apps and Books tokens are an app-management resource, and under
// deviceManagement Graph knows no vppTokens segment (nor the push certificate under
// deviceAppManagement).
var connectorCollections = map[[2]string]Operation{
	{"deviceAppManagement", "vpptokens"}:                     OpVppTokens,
	{"deviceManagement", "applepushnotificationcertificate"}: OpPushCertificate,
}

// parseConnectorRoute understands the connector collections of area (deviceManagement or
// deviceAppManagement); segments start after area. handled is false for any other collection;
// bad names a segment it does not serve.
func parseConnectorRoute(area string, segments []string) (r route, bad string, handled bool) {
	op, ok := connectorCollections[[2]string{area, strings.ToLower(segments[0])}]
	if !ok {
		return route{}, "", false
	}
	if len(segments) > 1 {
		// One token by id and the actions (syncLicenses, revokeLicenses…) are not simulated.
		return route{}, segments[1], true
	}
	return route{op: op}, "", true
}

// VPP token states (vppTokenState).
const (
	VppStateValid   = "valid"
	VppStateExpired = "expired"
)

// VppToken is one Apps and Books location token as Intune holds it.
type VppToken struct {
	ID                 string
	OrganizationName   string
	AppleID            string
	ExpirationDateTime time.Time
	LastSyncDateTime   time.Time
	LastModified       time.Time
	State              string
	DisplayName        string
	LocationName       string
}

// PushCertificate is the tenant's Apple MDM push certificate as Intune holds it.
type PushCertificate struct {
	ID                      string
	AppleIdentifier         string
	TopicIdentifier         string
	ExpirationDateTime      time.Time
	LastModifiedDateTime    time.Time
	CertificateSerialNumber string
}

// seedConnectors dates the connectors from start, like the ADE tokens: one Apps and Books
// token inside the 30-day reminder window, one healthy, and a push certificate that is the
// next thing to renew after them. IDs are fixed so that runs name the same connectors.
func seedConnectors(start time.Time) ([]VppToken, PushCertificate) {
	start = start.UTC().Truncate(time.Second)
	day := 24 * time.Hour
	year := 365 * day
	soon := start.Add(20 * day)
	healthy := start.Add(290 * day)
	push := start.Add(45 * day)
	return []VppToken{
			{
				ID:                 "5c1e9b7a-3d2f-4a8e-9b6c-7e1f3a5d9c14",
				OrganizationName:   "Contoso Ltd",
				AppleID:            "apps-admin@contoso.com",
				ExpirationDateTime: soon,
				LastSyncDateTime:   start.Add(-3 * time.Hour),
				LastModified:       soon.Add(-year),
				State:              VppStateValid,
				DisplayName:        "Contoso Apps and Books",
				LocationName:       "Contoso HQ",
			},
			{
				ID:                 "8f3a6d2c-1b7e-4c9a-8e5d-2a4c6e8b1d25",
				OrganizationName:   "Contoso Schools",
				AppleID:            "asm-apps@contoso.edu",
				ExpirationDateTime: healthy,
				LastSyncDateTime:   start.Add(-50 * time.Minute),
				LastModified:       healthy.Add(-year),
				State:              VppStateValid,
				DisplayName:        "Contoso Schools Apps",
				LocationName:       "Contoso Schools District",
			},
		}, PushCertificate{
			ID:                      "2d7b4f1e-9c3a-4e6b-8d1f-5a7c9e2b4d36",
			AppleIdentifier:         "mdm-push@contoso.com",
			TopicIdentifier:         "com.apple.mgmt.External.6f1c2e3d-8a4b-4c5d-9e6f-7a8b9c0d1e2f",
			ExpirationDateTime:      push,
			LastModifiedDateTime:    push.Add(-year),
			CertificateSerialNumber: "4B1E7C2A9D3F6E85",
		}
}

// VppTokens returns a copy of the Apps and Books tokens as Intune holds them now.
func (g *Graph) VppTokens() []VppToken {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.vpp)
}

// PushCertificate returns the push certificate as Intune holds it now.
func (g *Graph) PushCertificate() PushCertificate {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.push
}

// RenewVppToken plays an administrator uploading a new .vpptoken in the Intune admin center:
// the token is valid for another year from now.
func (g *Graph) RenewVppToken(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.vpp {
		if strings.EqualFold(g.vpp[i].ID, id) {
			now := g.now().UTC().Truncate(time.Second)
			g.vpp[i].ExpirationDateTime = now.Add(365 * 24 * time.Hour)
			g.vpp[i].LastModified = now
			g.vpp[i].State = VppStateValid
			return true
		}
	}
	return false
}

// wireVppToken is a vppToken as Graph serialises it. The token itself (a secret) is never
// returned, as Graph does on reads.
type wireVppToken struct {
	ODataType                        string   `json:"@odata.type"`
	ID                               string   `json:"id"`
	OrganizationName                 string   `json:"organizationName"`
	VppTokenAccountType              string   `json:"vppTokenAccountType"`
	AppleID                          string   `json:"appleId"`
	ExpirationDateTime               string   `json:"expirationDateTime"`
	LastSyncDateTime                 string   `json:"lastSyncDateTime"`
	Token                            *string  `json:"token"`
	LastModifiedDateTime             string   `json:"lastModifiedDateTime"`
	State                            string   `json:"state"`
	TokenActionResults               []any    `json:"tokenActionResults"`
	LastSyncStatus                   string   `json:"lastSyncStatus"`
	AutomaticallyUpdateApps          bool     `json:"automaticallyUpdateApps"`
	CountryOrRegion                  string   `json:"countryOrRegion"`
	DataSharingConsentGranted        bool     `json:"dataSharingConsentGranted"`
	DisplayName                      string   `json:"displayName"`
	LocationName                     string   `json:"locationName"`
	ClaimTokenManagementFromExternal bool     `json:"claimTokenManagementFromExternalMdm"`
	RoleScopeTagIDs                  []string `json:"roleScopeTagIds"`
}

type vppTokensPage struct {
	ODataContext string         `json:"@odata.context"`
	Value        []wireVppToken `json:"value"`
}

// state is what Intune reports: a token past its expiry is "expired" whatever it was.
func (v VppToken) state(now time.Time) string {
	if !v.ExpirationDateTime.After(now) {
		return VppStateExpired
	}
	return v.State
}

func (g *Graph) vppTokens(c *call) reply {
	tokens := g.VppTokens()
	now := g.now()
	page := vppTokensPage{ODataContext: c.baseURL() + "/$metadata#deviceAppManagement/vppTokens", Value: []wireVppToken{}}
	for _, v := range tokens {
		page.Value = append(page.Value, wireVppToken{
			ODataType:                 "#microsoft.graph.vppToken",
			ID:                        v.ID,
			OrganizationName:          v.OrganizationName,
			VppTokenAccountType:       "business",
			AppleID:                   v.AppleID,
			ExpirationDateTime:        graphTime(v.ExpirationDateTime),
			LastSyncDateTime:          graphTime(v.LastSyncDateTime),
			LastModifiedDateTime:      graphTime(v.LastModified),
			State:                     v.state(now),
			TokenActionResults:        []any{},
			LastSyncStatus:            "completed",
			AutomaticallyUpdateApps:   true,
			CountryOrRegion:           "us",
			DataSharingConsentGranted: true,
			DisplayName:               v.DisplayName,
			LocationName:              v.LocationName,
			RoleScopeTagIDs:           []string{"0"},
		})
	}
	return reply{status: http.StatusOK, body: page}
}

// wirePushCertificate is an applePushNotificationCertificate as Graph serialises it; the
// certificate itself is not returned on a read.
type wirePushCertificate struct {
	ODataContext                   string  `json:"@odata.context"`
	ODataType                      string  `json:"@odata.type"`
	ID                             string  `json:"id"`
	AppleIdentifier                string  `json:"appleIdentifier"`
	TopicIdentifier                string  `json:"topicIdentifier"`
	LastModifiedDateTime           string  `json:"lastModifiedDateTime"`
	ExpirationDateTime             string  `json:"expirationDateTime"`
	CertificateUploadStatus        *string `json:"certificateUploadStatus"`
	CertificateUploadFailureReason *string `json:"certificateUploadFailureReason"`
	CertificateSerialNumber        string  `json:"certificateSerialNumber"`
	Certificate                    *string `json:"certificate"`
}

func (g *Graph) pushCertificate(c *call) reply {
	p := g.PushCertificate()
	return reply{status: http.StatusOK, body: wirePushCertificate{
		ODataContext:            c.baseURL() + "/$metadata#deviceManagement/applePushNotificationCertificate/$entity",
		ODataType:               "#microsoft.graph.applePushNotificationCertificate",
		ID:                      p.ID,
		AppleIdentifier:         p.AppleIdentifier,
		TopicIdentifier:         p.TopicIdentifier,
		LastModifiedDateTime:    graphTime(p.LastModifiedDateTime),
		ExpirationDateTime:      graphTime(p.ExpirationDateTime),
		CertificateSerialNumber: p.CertificateSerialNumber,
	}}
}
