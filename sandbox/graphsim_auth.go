package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	scopeReadWrite = "DeviceManagementServiceConfig.ReadWrite.All"
	scopeRead      = "DeviceManagementServiceConfig.Read.All"
	// graphAppID is Graph's application ID, which Entra also accepts as an access token's aud.
	graphAppID = "00000003-0000-0000-c000-000000000000"
	// tokenLeeway is the clock skew Graph tolerates.
	tokenLeeway = 5 * time.Minute
)

type accessClaims struct {
	jwt.Claims
	TenantID string `json:"tid"`
	Scope    string `json:"scp"`
	ObjectID string `json:"oid"`
	UPN      string `json:"upn"`
	// Roles are an app-only token's application permissions (client credentials: no scp).
	Roles []string `json:"roles"`
	// Capabilities (xms_cc) the client declared, and the authentication contexts (acrs) its
	// sign-in satisfied: what a claims challenge is decided on.
	Capabilities []string `json:"xms_cc"`
	AuthContexts []string `json:"acrs"`
}

// authenticate checks the bearer token as Graph does. The portal never validates its Graph
// token itself, so this is the only place a token meant for something else (the ID token, another
// tenant, an expired one) is caught in the sandbox.
func (g *Graph) authenticate(c *call) *apiError {
	fail := func(message string) *apiError {
		return &apiError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", message: message, wwwAuth: true}
	}
	scheme, raw, _ := strings.Cut(c.r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return fail("Access token is empty.")
	}
	token, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(token.Headers) != 1 {
		return fail("CompactToken parsing failed with error code: 80049217")
	}
	jwks := g.keys()
	keys := jwks.Key(token.Headers[0].KeyID)
	if len(keys) == 0 {
		return fail("Access token validation failure. Invalid signature: the signing key was not found.")
	}
	var claims accessClaims
	if err := token.Claims(keys[0].Key, &claims); err != nil {
		return fail("Access token validation failure. Invalid signature.")
	}
	if claims.Issuer != g.issuer {
		return fail("Access token validation failure. Invalid issuer.")
	}
	if !claims.Audience.Contains(GraphAudience) && !claims.Audience.Contains(graphAppID) {
		return fail("Access token validation failure. Invalid audience.")
	}
	if claims.Expiry == nil {
		return fail("Access token validation failure. The token has no expiry.")
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Time: g.now()}, tokenLeeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return fail("Lifetime validation failed, the token is expired.")
	case err != nil:
		return fail("Lifetime validation failed, the token is not yet valid.")
	}
	if claims.TenantID != TenantID {
		// A token from another tenant is a good token there: Graph would answer for that tenant,
		// which has no Intune. The portal must have refused the person long before this.
		return fail(fmt.Sprintf("Access token validation failure. The tenant '%s' has no Intune subscription; this sandbox serves tenant '%s' only.", claims.TenantID, TenantID))
	}
	c.claims = &claims
	return nil
}

// authorize is Intune's scope check, in Intune's words (its message names the scopes that
// would have done).
func (c *call) authorize() *apiError {
	scopes := strings.Fields(c.claims.Scope)
	if c.claims.Scope == "" {
		// An application's token: Graph goes by the app roles an administrator consented.
		scopes = c.claims.Roles
	}
	allowed := []string{scopeReadWrite}
	if !c.route.op.write() {
		allowed = []string{scopeRead, scopeReadWrite}
	}
	for _, s := range allowed {
		if slices.Contains(scopes, s) {
			return nil
		}
	}
	return c.intuneError(http.StatusForbidden, "Forbidden",
		"Application is not authorized to perform this operation. Application must have one of the following scopes: "+strings.Join(allowed, ", "))
}
