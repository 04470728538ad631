package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
)

// The portal's paths that its app registration names. deploy/entra/manifest.json registers the
// same ones in a real tenant; a test in deploy/ keeps the two in step, so that a registration
// the sandbox accepts is one Entra ID accepts too.
const (
	CallbackPath           = "/auth/callback"
	SignedOutPath          = "/signed-out"
	FrontChannelLogoutPath = "/auth/front-channel-logout"
)

// Registration is the portal's app registration in the sandbox tenant: what Entra ID checks a
// request against.
type Registration struct {
	// RedirectURIs are web.redirectUris. Entra honours a sign-in's redirect_uri AND a
	// sign-out's post_logout_redirect_uri only when it is one of them: the front-channel logout
	// URL is a different setting and does not count.
	RedirectURIs []string
	// FrontChannelLogoutURL is web.logoutUrl: what Entra calls, with iss and sid, when the
	// person signs out of their Entra session.
	FrontChannelLogoutURL string
	// IDTokenOptionalClaims are optionalClaims.idToken: claims Entra puts in the ID token only
	// when the registration asks for them.
	IDTokenOptionalClaims []string
	// AssignmentRequired is the enterprise application's "Assignment required?": people
	// without an assignment are refused with AADSTS50105.
	AssignmentRequired bool
}

// RegisteredOptionalClaims are the ID token's optional claims the portal's registration asks
// for: sid (front-channel logout), login_hint (sign-out without an account picker) and acct
// (a guest is told from a member).
var RegisteredOptionalClaims = []string{"sid", "login_hint", "acct"}

func newRegistration(baseURL string) Registration {
	return Registration{
		RedirectURIs:          []string{baseURL + CallbackPath, baseURL + SignedOutPath},
		FrontChannelLogoutURL: baseURL + FrontChannelLogoutPath,
		IDTokenOptionalClaims: slices.Clone(RegisteredOptionalClaims),
		AssignmentRequired:    true,
	}
}

// Registration is the portal's registration in the sandbox tenant. The result is a copy.
func (p *IdP) Registration() Registration {
	r := p.registration
	r.RedirectURIs = slices.Clone(r.RedirectURIs)
	r.IDTokenOptionalClaims = slices.Clone(r.IDTokenOptionalClaims)
	return r
}

func (r Registration) redirectURIRegistered(uri string) bool {
	return slices.Contains(r.RedirectURIs, uri)
}

func (r Registration) optionalClaim(name string) bool {
	return slices.Contains(r.IDTokenOptionalClaims, name)
}

// loginHint is Entra's login_hint claim: an opaque value that names the account, stable across
// sign-ins, for logout_hint (and login_hint) to point at it without naming it.
func (p Persona) loginHint() string {
	sum := sha256.Sum256([]byte("login_hint/" + p.TenantID + "/" + p.ObjectID))
	return "O.Cik" + base64.RawURLEncoding.EncodeToString(sum[:24])
}

func personaByLoginHint(hint string) (Persona, bool) {
	for _, p := range personas {
		if hint != "" && p.loginHint() == hint {
			return p, true
		}
	}
	return Persona{}, false
}
