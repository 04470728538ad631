package watch

import (
	"cmp"
	"slices"
	"time"

	"github.com/depportal/depportal/graph"
)

// Kind is one of the three yearly Apple connectors of an Intune tenant.
type Kind string

const (
	ADE  Kind = "ade"  // an Automated Device Enrollment server token (depOnboardingSetting)
	VPP  Kind = "vpp"  // an Apps and Books location token (vppToken)
	APNs Kind = "apns" // the Apple MDM push certificate (applePushNotificationCertificate)
)

// Kinds in the order pages and reports show them.
var Kinds = []Kind{ADE, VPP, APNs}

// Title is what a person calls a kind.
func (k Kind) Title() string {
	switch k {
	case ADE:
		return "ADE server token"
	case VPP:
		return "Apps and Books token"
	case APNs:
		return "MDM push certificate"
	}
	return string(k)
}

// Consequence is what expiry means, in one line.
func (k Kind) Consequence() string {
	switch k {
	case ADE:
		return "New Apple devices stop enrolling automatically and device assignments from Apple Business Manager stop syncing."
	case VPP:
		return "Apps and books bought in Apple Business Manager stop installing and updating on devices."
	case APNs:
		return "Intune can no longer manage any Apple device; renewing with another Apple ID, or a new certificate instead of a renewal, makes every device re-enroll."
	}
	return ""
}

// Connector is one Apple connector as the watch last read it.
type Connector struct {
	Kind      Kind      `json:"kind"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"` // zero: Intune reports none
	AppleID   string    `json:"apple_id,omitempty"`
	// State is a VPP token's state as Intune reports it (valid, expired, invalid…).
	State      string    `json:"state,omitempty"`
	LastSyncAt time.Time `json:"last_sync_at,omitzero"`
	// SyncErrorCode is an ADE token's lastSyncErrorCode: non-zero when its last sync with
	// Apple failed.
	SyncErrorCode int `json:"sync_error_code,omitempty"`
}

// Left is the time until expiry (negative once expired).
func (c Connector) Left(now time.Time) time.Duration { return c.ExpiresAt.Sub(now) }

// DaysLeft is the days until expiry, counting a day begun as a day (8 days and 23 hours is
// 9: what a person would say), 0 at expiry, and negative once expired (-1 on the first day
// after).
func (c Connector) DaysLeft(now time.Time) int {
	left := c.Left(now)
	days := int(left / (24 * time.Hour))
	if left%(24*time.Hour) != 0 {
		if left > 0 {
			days++
		} else {
			days--
		}
	}
	return days
}

// FromGraph turns what Graph returned into connectors, soonest expiry first within a kind.
func FromGraph(settings []graph.OnboardingSetting, vpp []graph.VppToken, push *graph.ApplePushNotificationCertificate) []Connector {
	var out []Connector
	for _, s := range settings {
		out = append(out, Connector{Kind: ADE, ID: s.ID, Name: cmp.Or(s.TokenName, s.ID), ExpiresAt: s.TokenExpirationDateTime.UTC(),
			AppleID: s.AppleIdentifier, LastSyncAt: s.LastSuccessfulSyncDateTime.UTC(), SyncErrorCode: s.LastSyncErrorCode})
	}
	for _, v := range vpp {
		out = append(out, Connector{Kind: VPP, ID: v.ID, Name: v.Name(), ExpiresAt: v.ExpirationDateTime.UTC(),
			AppleID: v.AppleID, State: v.State, LastSyncAt: v.LastSyncDateTime.UTC()})
	}
	if push != nil {
		out = append(out, Connector{Kind: APNs, ID: cmp.Or(push.ID, "applePushNotificationCertificate"), Name: cmp.Or(push.TopicIdentifier, "MDM push certificate"),
			ExpiresAt: push.ExpirationDateTime.UTC(), AppleID: push.AppleIdentifier})
	}
	Sort(out)
	return out
}

// Sort orders connectors by kind (Kinds), then soonest expiry, then name.
func Sort(cs []Connector) {
	rank := func(k Kind) int { return slices.Index(Kinds, k) }
	slices.SortStableFunc(cs, func(a, b Connector) int {
		return cmp.Or(cmp.Compare(rank(a.Kind), rank(b.Kind)), a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.Name, b.Name))
	})
}

// sortByExpiry orders connectors soonest expiry first, whatever their kind (an unknown expiry
// last), then by kind and name.
func sortByExpiry(cs []Connector) {
	rank := func(k Kind) int { return slices.Index(Kinds, k) }
	slices.SortStableFunc(cs, func(a, b Connector) int {
		if a.ExpiresAt.IsZero() != b.ExpiresAt.IsZero() {
			if a.ExpiresAt.IsZero() {
				return 1
			}
			return -1
		}
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(rank(a.Kind), rank(b.Kind)), cmp.Compare(a.Name, b.Name))
	})
}
