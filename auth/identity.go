package auth

import "slices"

// Identity is who a session acts for. Authorisation uses TenantID+ObjectID and Roles only;
// Name and Username are for display.
type Identity struct {
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	Subject  string   `json:"sub"`
	Name     string   `json:"name"`
	Username string   `json:"preferred_username"`
	Roles    []string `json:"roles"`
	// SessionID is the provider's session (the ID token's sid): front-channel logout names it.
	SessionID string `json:"sid"`
	// LoginHint names the account to the provider (the login_hint claim), for logout_hint.
	LoginHint string `json:"login_hint"`
	// HomeIdP is a B2B guest's own organisation, as the idp claim names it; Guest is set when
	// the account is a guest here (acct = 1, or an idp that is not this tenant). Neither is
	// stored with the session: they are recorded at sign-in.
	HomeIdP string `json:"idp"`
	Guest   bool   `json:"-"`
}

// HasRole reports whether the app role was granted in the ID token's roles claim.
func (id Identity) HasRole(role string) bool { return role != "" && slices.Contains(id.Roles, role) }

// Roles names the two app roles the portal knows.
type Roles struct {
	Uploader string // may renew tokens
	Auditor  string // may read the whole audit trail
}

// Any reports whether the identity holds at least one of the portal's roles.
func (r Roles) Any(id Identity) bool { return id.HasRole(r.Uploader) || id.HasRole(r.Auditor) }

// Describe names the portal roles the identity holds, for display.
func (r Roles) Describe(id Identity) []string {
	var out []string
	for _, role := range []string{r.Uploader, r.Auditor} {
		if id.HasRole(role) {
			out = append(out, role)
		}
	}
	return out
}
