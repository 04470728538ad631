package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The other two yearly Apple connectors of an Intune tenant: the Apps and Books (VPP) location
// tokens and the Apple MDM push certificate. Both are only read here: renewing them is done
// in the Intune admin center (and, for the certificate, in Apple's portal first).

// Operations named to Config.Observe for the connector reads.
const (
	OpVppTokens       = "vppTokens"
	OpPushCertificate = "pushCertificate"
)

// VPP token states as Graph names them (vppTokenState).
const (
	VppStateUnknown               = "unknown"
	VppStateValid                 = "valid"
	VppStateExpired               = "expired"
	VppStateInvalid               = "invalid"
	VppStateAssignedToExternalMDM = "assignedToExternalMDM"
)

// VppToken is Intune's vppToken: one Apps and Books location token. The token itself is never
// asked for (Graph does not return it on a list either); JSON names are Graph's.
type VppToken struct {
	ID                 string                 `json:"id"`
	OrganizationName   string                 `json:"organizationName"`
	AppleID            string                 `json:"appleId"`
	ExpirationDateTime time.Time              `json:"expirationDateTime"`
	LastSyncDateTime   time.Time              `json:"lastSyncDateTime"`
	LastModified       time.Time              `json:"lastModifiedDateTime"`
	State              string                 `json:"state"`
	LastSyncStatus     string                 `json:"lastSyncStatus"`
	DisplayName        string                 `json:"displayName"`
	LocationName       string                 `json:"locationName"`
	TokenActionResults []VppTokenActionResult `json:"tokenActionResults"`
}

// VppTokenActionResult is one entry of a VPP token's tokenActionResults (what its last
// actions, such as a sync, came to).
type VppTokenActionResult struct {
	ActionName          string    `json:"actionName"`
	ActionState         string    `json:"actionState"`
	StartDateTime       time.Time `json:"startDateTime"`
	LastUpdatedDateTime time.Time `json:"lastUpdatedDateTime"`
}

// Name is what a person calls the token: its display name, else its location, else its
// organisation.
func (v VppToken) Name() string {
	for _, s := range []string{v.DisplayName, v.LocationName, v.OrganizationName} {
		if s != "" {
			return s
		}
	}
	return v.ID
}

// ApplePushNotificationCertificate is Intune's applePushNotificationCertificate: the one
// Apple MDM push certificate of the tenant. The certificate itself is not kept.
type ApplePushNotificationCertificate struct {
	ID                      string    `json:"id"`
	AppleIdentifier         string    `json:"appleIdentifier"`
	TopicIdentifier         string    `json:"topicIdentifier"`
	ExpirationDateTime      time.Time `json:"expirationDateTime"`
	LastModifiedDateTime    time.Time `json:"lastModifiedDateTime"`
	CertificateSerialNumber string    `json:"certificateSerialNumber"`
}

const (
	// The Apps and Books tokens are an app-management resource (Graph has no vppTokens under
	// deviceManagement).
	vppTokensPath       = "/deviceAppManagement/vppTokens"
	pushCertificatePath = "/deviceManagement/applePushNotificationCertificate"
)

// ListVppTokens returns every Apps and Books token the credentials may see, following
// @odata.nextLink on the Graph host only.
func (c *Client) ListVppTokens(ctx context.Context, cred Credentials) ([]VppToken, error) {
	return listAll[VppToken](ctx, c, cred, OpVppTokens, c.endpoint(vppTokensPath), "Apps and Books tokens")
}

// GetApplePushNotificationCertificate returns the tenant's MDM push certificate, and false
// when the tenant has none (Graph answers 404): a tenant that manages no Apple devices.
func (c *Client) GetApplePushNotificationCertificate(ctx context.Context, cred Credentials) (ApplePushNotificationCertificate, bool, error) {
	var cert ApplePushNotificationCertificate
	_, err := c.do(ctx, cred, request{op: OpPushCertificate, method: http.MethodGet, url: c.endpoint(pushCertificatePath)}, &cert)
	if errors.Is(err, ClassNotFound) {
		return cert, false, nil
	}
	if err != nil {
		return cert, false, err
	}
	// An answer without expiry or Apple ID holds nothing to watch either.
	if cert.ExpirationDateTime.IsZero() && cert.AppleIdentifier == "" && cert.TopicIdentifier == "" {
		return cert, false, nil
	}
	return cert, true, nil
}

// listAll reads a paged collection, following @odata.nextLink on the Graph host only (a link
// elsewhere would receive the bearer token).
func listAll[T any](ctx context.Context, c *Client, cred Credentials, op string, first *url.URL, what string) ([]T, error) {
	next := first
	var all []T
	for page := 1; ; page++ {
		var body struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		info, err := c.do(ctx, cred, request{op: op, method: http.MethodGet, url: next}, &body)
		if err != nil {
			return nil, err
		}
		all = append(all, body.Value...)
		if body.NextLink == "" {
			return all, nil
		}
		if page >= maxPages {
			return nil, &Error{Message: fmt.Sprintf("Graph listed more than %d pages of %s", maxPages, what), Call: info, class: ClassOther}
		}
		u, herr := c.sameHost(next, body.NextLink)
		if herr != nil {
			herr.Call = info
			return nil, herr
		}
		next = u
	}
}
