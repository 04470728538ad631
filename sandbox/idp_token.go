package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

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
		e := tokenError(err)
		p.logger.Info("sandbox idp: refused a token request", "aadsts", e.number, "error", e.code, "err", err)
		p.writeTokenError(w, e)
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
		claims, err := parseClaimsRequest(r.PostForm.Get("claims"))
		if err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("claims is not valid JSON")
		}
		refreshReq, client, err := op.ValidateRefreshTokenRequest(ctx, tokenReq, p.provider)
		if err != nil {
			return nil, err
		}
		if rr, ok := refreshReq.(*refreshRequest); ok {
			// Client capabilities count for the request that declares them, refreshes included.
			rr.claims = claims
		}
		return p.issueTokens(ctx, refreshReq, client, "", tokenReq.RefreshToken)
	case oidc.GrantTypeClientCredentials:
		return p.clientCredentials(r)
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

// tokenError words a refused token request as Entra does: its OAuth code, status and AADSTS
// number. The portal's pages and metrics read the number, so the common ones are Entra's own.
func tokenError(err error) entraError {
	var oe *oidc.Error
	errors.As(err, &oe)
	var kind, description string
	if oe != nil {
		kind, description = string(oe.ErrorType), oe.Description
	}
	switch {
	case errors.Is(err, errClientSecretExpired):
		return entraError{status: http.StatusUnauthorized, code: "invalid_client", number: 7000222, message: fmt.Sprintf(
			"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", ClientID)}
	case kind == string(oidc.InvalidClient):
		return entraError{status: http.StatusUnauthorized, code: "invalid_client", number: 7000215, message: fmt.Sprintf(
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", ClientID)}
	case kind == string(oidc.InvalidGrant) && strings.Contains(description, "code_verifier"),
		kind == string(oidc.InvalidRequest) && strings.Contains(description, "code_verifier"):
		return entraError{status: http.StatusBadRequest, code: "invalid_grant", number: 501481,
			message: "The Code_Verifier does not match the code_challenge supplied in the authorization request."}
	case errors.Is(err, errUnknownRefreshToken):
		return entraError{status: http.StatusBadRequest, code: "invalid_grant", number: 70000,
			message: "The provided value for the input parameter 'refresh_token' is not valid: it was used, revoked or has expired."}
	case kind == string(oidc.InvalidGrant):
		return entraError{status: http.StatusBadRequest, code: "invalid_grant", number: 54005,
			message: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."}
	case kind == string(oidc.UnsupportedGrantType):
		return entraError{status: http.StatusBadRequest, code: "unsupported_grant_type", number: 70003,
			message: "The app requested an unsupported grant type."}
	case kind == string(oidc.InvalidScope):
		return entraError{status: http.StatusBadRequest, code: "invalid_scope", number: 70011,
			message: "The provided value for the input parameter 'scope' is not valid."}
	case kind == string(oidc.ServerError):
		return entraError{status: http.StatusInternalServerError, code: "server_error", number: 90033,
			message: "A transient error has occurred. Please try again."}
	}
	return entraError{status: http.StatusBadRequest, code: "invalid_request", number: 9002313,
		message: "Invalid request. Request is malformed or invalid."}
}
