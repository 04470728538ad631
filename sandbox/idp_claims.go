package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// maxClaimsRequestBytes bounds the claims parameter; a real one is a few dozen bytes.
const maxClaimsRequestBytes = 4 << 10

// claimsRequest is what a token request asked for in the access token through the OpenID
// claims parameter, as Entra reads it: client capabilities (xms_cc, "cp1" for continuous
// access evaluation) and Conditional Access authentication contexts (acrs), the latter what a
// claims challenge from Graph asks a client to come back with.
type claimsRequest struct {
	capabilities []string
	acrs         []string
}

// claimValue is one requested claim: {"essential":true,"value":"c1"} or {"values":["cp1"]}.
type claimValue struct {
	Essential bool     `json:"essential"`
	Value     string   `json:"value"`
	Values    []string `json:"values"`
}

func (v claimValue) all() []string {
	out := slices.Clone(v.Values)
	if v.Value != "" {
		out = append(out, v.Value)
	}
	return out
}

// parseClaimsRequest reads the claims parameter ("" is no request).
func parseClaimsRequest(raw string) (claimsRequest, error) {
	if raw == "" {
		return claimsRequest{}, nil
	}
	if len(raw) > maxClaimsRequestBytes {
		return claimsRequest{}, fmt.Errorf("claims is %d bytes", len(raw))
	}
	var doc map[string]map[string]*claimValue
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return claimsRequest{}, err
	}
	var c claimsRequest
	if v := doc["access_token"]["xms_cc"]; v != nil {
		c.capabilities = v.all()
	}
	if v := doc["access_token"]["acrs"]; v != nil {
		c.acrs = v.all()
	}
	return c, nil
}

type claimsRequestKey struct{}

func claimsRequestFrom(ctx context.Context) claimsRequest {
	c, _ := ctx.Value(claimsRequestKey{}).(claimsRequest)
	return c
}

// readClaimsRequest passes the authorize request's claims parameter, which zitadel does not
// know, to CreateAuthRequest through the request's context. A malformed one is refused as
// Entra refuses it, before anything else.
func (p *IdP) readClaimsRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "AADSTS90015: Requested query string is too long.", http.StatusBadRequest)
			return
		}
		c, err := parseClaimsRequest(r.Form.Get("claims"))
		if err != nil {
			p.logger.Info("sandbox idp: refused a malformed claims parameter", "err", err)
			http.Error(w, "AADSTS90014: The claims parameter is not valid JSON.", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsRequestKey{}, c)))
	})
}
