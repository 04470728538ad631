package sandbox

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The watch's registration in the sandbox tenant: a second app with only the application
// permission DeviceManagementServiceConfig.Read.All, as docs/entra-setup.md registers it.
const (
	WatchClientID = "7c4e2a91-3b5d-4f6e-8a1c-9d2b4e6f8a03"
	// watchObjectID is the watch's service principal, the oid of its tokens.
	watchObjectID = "2b8d4f6a-1c3e-4a5b-9d7f-0e2c4a6b8d19"
	// graphDefaultScope is what a client-credentials request asks for: every application
	// permission granted to the app on Graph.
	graphDefaultScope = GraphAudience + "/.default"
)

// watchClient is the watch's registration: its secret and the app roles an administrator
// granted it. Roles empty plays a registration whose permission was never consented.
type watchClient struct {
	mu     sync.Mutex
	secret string
	roles  []string
}

var watchClients sync.Map // *IdP → *watchClient; kept beside the IdP to leave its struct alone

// RegisterWatchClient registers the watch's app with secret, granted roles (application
// permissions; none: consent never given).
func (p *IdP) RegisterWatchClient(secret string, roles ...string) {
	watchClients.Store(p, &watchClient{secret: secret, roles: roles})
}

// TokenURL is the token endpoint, where the client-credentials grant is served.
func (p *IdP) TokenURL() string {
	return p.baseURL + idpPathPrefix + TenantID + "/v2.0" + p.provider.TokenEndpoint().Relative()
}

// clientCredentials serves grant_type=client_credentials as Entra's v2.0 endpoint does for
// the watch: client_id and client_secret in the body, scope {resource}/.default, and an
// app-only access token (no scp; the granted application permissions in roles, idtyp app).
// zitadel's client-credentials path is not used: its token creation goes through the storage
// built around a signed-in persona, which an application does not have; the token is signed
// with the provider's own key, so Graph's check is the same as for every other token.
func (p *IdP) clientCredentials(r *http.Request) (*oidc.AccessTokenResponse, error) {
	v, ok := watchClients.Load(p)
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("no application registered for client credentials")
	}
	wc := v.(*watchClient)
	wc.mu.Lock()
	secret, roles := wc.secret, wc.roles
	wc.mu.Unlock()
	id, given := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id != WatchClientID || subtle.ConstantTimeCompare([]byte(given), []byte(secret)) != 1 {
		return nil, oidc.ErrInvalidClient().WithDescription("invalid client")
	}
	if scope := r.PostForm.Get("scope"); !strings.EqualFold(scope, graphDefaultScope) {
		return nil, oidc.ErrInvalidScope().WithDescription("scope %s is not {resource}/.default", scope)
	}
	now := time.Now()
	lifetime := time.Hour
	claims := map[string]any{
		"iss": p.issuer, "aud": GraphAudience, "sub": watchObjectID, "oid": watchObjectID, "tid": TenantID,
		"azp": WatchClientID, "appid": WatchClientID, "idtyp": "app", "ver": "1.0", "uti": opaque(16),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(), "jti": uuid.NewString(),
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key.private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", p.key.id))
	if err != nil {
		return nil, oidc.ErrServerError().WithDescription("sign: %s", err.Error())
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, oidc.ErrServerError().WithDescription("sign: %s", err.Error())
	}
	p.logger.Info("sandbox idp: issued an app-only token", "client_id", WatchClientID, "roles", roles)
	return &oidc.AccessTokenResponse{AccessToken: token, TokenType: oidc.BearerToken, ExpiresIn: uint64(lifetime.Seconds())}, nil
}
