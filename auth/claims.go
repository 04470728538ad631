package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// clientCapabilities declares the cp1 capability (continuous access evaluation): Graph may
// then revoke access at once (a disabled account, a changed location) and tell the portal
// with a claims challenge, instead of honouring the access token for its hour.
const clientCapabilities = `{"access_token":{"xms_cc":{"values":["cp1"]}}}`

// maxClaimsChallenge bounds a claims challenge; Graph's are a few dozen bytes.
const maxClaimsChallenge = 2 << 10

// ErrClaimsChallenge: the claims challenge is not base64 of a JSON claims request.
var ErrClaimsChallenge = errors.New("malformed claims challenge")

// claimsRequest is the claims parameter of an authorization request: the portal's client
// capability, merged into the claims challenge when there is one (as MSAL merges them).
func claimsRequest(challenge string) (string, error) {
	if challenge == "" {
		return clientCapabilities, nil
	}
	if len(challenge) > maxClaimsChallenge {
		return "", ErrClaimsChallenge
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(strings.TrimSpace(challenge)); err == nil {
			break
		}
	}
	if err != nil {
		return "", ErrClaimsChallenge
	}
	var doc map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return "", ErrClaimsChallenge
	}
	if doc["access_token"] == nil {
		doc["access_token"] = map[string]json.RawMessage{}
	}
	doc["access_token"]["xms_cc"] = json.RawMessage(`{"values":["cp1"]}`)
	out, err := json.Marshal(doc)
	if err != nil {
		return "", ErrClaimsChallenge
	}
	return string(out), nil
}
