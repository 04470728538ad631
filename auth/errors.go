package auth

import "errors"

// Reason says which check refused a sign-in. The handler maps each to words a helpdesk person
// understands; the log keeps the Reason and Detail.
type Reason string

const (
	ReasonUnavailable     Reason = "provider_unavailable"
	ReasonProvider        Reason = "provider_error"
	ReasonStateMissing    Reason = "state_missing"
	ReasonStateUnknown    Reason = "state_unknown" // wrong, expired and cleaned up, or already used
	ReasonStateMismatch   Reason = "state_other_browser"
	ReasonLoginExpired    Reason = "login_expired"
	ReasonExchange        Reason = "code_exchange"
	ReasonNoIDToken       Reason = "no_id_token"
	ReasonAlgorithm       Reason = "id_token_algorithm"
	ReasonUnknownKey      Reason = "id_token_unknown_key"
	ReasonSignature       Reason = "id_token_signature"
	ReasonIssuer          Reason = "id_token_issuer"
	ReasonAudience        Reason = "id_token_audience"
	ReasonAuthorizedParty Reason = "id_token_azp"
	ReasonExpired         Reason = "id_token_expired"
	ReasonIssuedInFuture  Reason = "id_token_iat"
	ReasonNonce           Reason = "id_token_nonce"
	ReasonSubject         Reason = "id_token_sub"
	ReasonTenant          Reason = "wrong_tenant"
	ReasonClaims          Reason = "id_token_claims"
)

// SignInError is a refused sign-in. Detail is for the log: it never holds a token.
type SignInError struct {
	Reason Reason
	Detail string
}

func (e *SignInError) Error() string {
	if e.Detail == "" {
		return "sign-in refused: " + string(e.Reason)
	}
	return "sign-in refused: " + string(e.Reason) + ": " + e.Detail
}

var (
	// ErrNoSession: the request carries no session cookie, or one the server does not know.
	ErrNoSession = errors.New("not signed in")
	// ErrSessionExpired: the session passed its idle or absolute limit.
	ErrSessionExpired = errors.New("session expired")
	// ErrReauthenticate: the provider no longer honours the refresh token; sign in again.
	ErrReauthenticate = errors.New("sign-in no longer valid, sign in again")
)
