package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenResponse bounds what is read from the token endpoint.
const maxTokenResponse = 1 << 20

// Refresh redeems a refresh token. Providers rotate refresh tokens on use; the returned token
// carries the new one and the caller must persist it (x/oauth2 would drop it silently).
//
// The request is made here rather than through x/oauth2's TokenSource, which sends no scope
// on a refresh: Entra's v2.0 endpoint reads from scope which resource the new access token is
// for, so the sign-in's scopes are sent again.
func (s *SignIn) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	p, err := s.discovered(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {s.cfg.ClientID},
		"scope":         {strings.Join(p.oauth2.Scopes, " ")},
		// The client capability goes with every token request, or the new access token lacks
		// xms_cc and Graph stops sending claims challenges.
		"claims": {clientCapabilities},
	}
	if p.oauth2.ClientSecret != "" {
		form.Set("client_secret", p.oauth2.ClientSecret)
	}
	tok, err := s.redeem(ctx, p, form)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			switch {
			case re.ErrorCode == "invalid_client":
				e := exchangeError(err)
				e.Detail = "refresh: " + e.Detail
				return nil, e
			case re.ErrorCode == "invalid_grant" || re.ErrorCode == "interaction_required":
				return nil, ErrReauthenticate
			}
		}
		return nil, fmt.Errorf("refresh Graph token: %s", describeOAuthError(err))
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

// tokenResponse is the token endpoint's answer (RFC 6749 section 5.1, plus the ID token).
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	RefreshToken string      `json:"refresh_token"`
	ExpiresIn    json.Number `json:"expires_in"`
	IDToken      string      `json:"id_token"`
	Scope        string      `json:"scope"`
}

// redeem posts form to the token endpoint through the token client (which adds the client
// assertion when a certificate is used) and reads the answer. A refusal is an
// *oauth2.RetrieveError, as x/oauth2 gives for the code exchange.
func (s *SignIn) redeem(ctx context.Context, p *discovered, form url.Values) (*oauth2.Token, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.oauth2.Endpoint.TokenURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.tokenClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		re := &oauth2.RetrieveError{Response: resp, Body: raw}
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(raw, &e) == nil {
			re.ErrorCode, re.ErrorDescription = e.Code, e.Description
		}
		return nil, re
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("token endpoint answered %s with no JSON token", resp.Status)
	}
	if tr.AccessToken == "" {
		return nil, errors.New("token endpoint answered without an access token")
	}
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, RefreshToken: tr.RefreshToken}
	if secs, err := tr.ExpiresIn.Int64(); err == nil && secs > 0 {
		tok.Expiry = s.cfg.Now().Add(time.Duration(secs) * time.Second)
	}
	return tok.WithExtra(map[string]any{"id_token": tr.IDToken, "scope": tr.Scope}), nil
}
