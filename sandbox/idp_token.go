package sandbox

import (
	"context"
	"net/http"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const maxTokenRequestBytes = 64 << 10

// serveToken stands in for zitadel's token endpoint for one reason: audiences. zitadel's
// CreateTokenResponse passes the same request to CreateJWT and CreateIDToken, so both tokens
// would carry the same aud. Entra gives the ID token to the portal alone (aud = client ID) and
// the access token to Graph alone (aud = Graph); with the two kept apart here, a relying party
// that sends the ID token to Graph, or takes the access token for an ID token, fails in the
// sandbox as it would against a tenant.
//
// Everything that decides whether a request is allowed (client authentication, the code and
// its PKCE verifier, redirect_uri, grant type, scope narrowing on refresh) is still zitadel's:
// op.ValidateAccessTokenRequest and op.ValidateRefreshTokenRequest, as its own handler calls
// them. Only the portal's two grants are served.
func (p *IdP) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("the token endpoint takes POST"),
			http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	response, err := p.exchange(r)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httphelper.MarshalJSON(w, response)
}

func (p *IdP) exchange(r *http.Request) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	switch grantType := oidc.GrantType(r.FormValue("grant_type")); grantType {
	case oidc.GrantTypeCode:
		tokenReq, err := op.ParseAccessTokenRequest(r, p.provider.Decoder())
		if err != nil {
			return nil, err
		}
		authReq, client, err := op.ValidateAccessTokenRequest(ctx, tokenReq, p.provider)
		if err != nil {
			return nil, err
		}
		return p.issueTokens(ctx, authReq, client, tokenReq.Code, "")
	case oidc.GrantTypeRefreshToken:
		tokenReq, err := op.ParseRefreshTokenRequest(r, p.provider.Decoder())
		if err != nil {
			return nil, err
		}
		refreshReq, client, err := op.ValidateRefreshTokenRequest(ctx, tokenReq, p.provider)
		if err != nil {
			return nil, err
		}
		return p.issueTokens(ctx, refreshReq, client, "", tokenReq.RefreshToken)
	case "":
		return nil, oidc.ErrInvalidRequest().WithDescription("grant_type missing")
	default:
		return nil, oidc.ErrUnsupportedGrantType().WithDescription("%s not supported", grantType)
	}
}

// issueTokens is zitadel's CreateTokenResponse with one change: the access token is made from a
// copy of the request whose audience is Graph, the ID token from one whose audience is the
// client. (zitadel adds the client to an ID token's aud and sets azp to it in any case.)
func (p *IdP) issueTokens(ctx context.Context, request op.IDTokenRequest, client op.Client, code, refreshToken string) (*oidc.AccessTokenResponse, error) {
	g, ok := request.(grant)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("unexpected token request")
	}
	accessToken, newRefreshToken, validity, err := op.CreateAccessToken(ctx, g.forAudience(GraphAudience),
		client.AccessTokenType(), p.provider, client, refreshToken)
	if err != nil {
		return nil, err
	}
	idToken, err := op.CreateIDToken(ctx, op.IssuerFromContext(ctx), g.forAudience(client.GetID()),
		client.IDTokenLifetime(), accessToken, code, p.storage, client)
	if err != nil {
		return nil, err
	}
	if authReq, ok := request.(op.AuthRequest); ok {
		if err := p.storage.DeleteAuthRequest(ctx, authReq.GetID()); err != nil {
			return nil, err
		}
	}
	return &oidc.AccessTokenResponse{
		AccessToken:  accessToken,
		IDToken:      idToken,
		RefreshToken: newRefreshToken,
		TokenType:    oidc.BearerToken,
		ExpiresIn:    uint64(validity.Seconds()),
		Scope:        request.GetScopes(),
	}, nil
}
