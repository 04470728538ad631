package auth

import (
	"errors"
	"regexp"
)

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
	// ReasonClientCredential: the token endpoint refused the portal itself (invalid_client:
	// AADSTS7000215 wrong secret, 7000222 expired secret, 700027 unknown certificate). Only
	// the portal's operators can fix it.
	ReasonClientCredential Reason = "client_credential"
)

// SignInError is a refused sign-in. Detail is for the log: it never holds a token nor text
// from the query.
type SignInError struct {
	Reason Reason
	Detail string
	// Transaction: the refusal came back on a sign-in this browser started (state and
	// binding matched), so it is worth an audit record. Refusals before that are anyone's.
	Transaction bool
	// Code and AADSTS are the provider's error code (e.g. access_denied) and Entra's AADSTS
	// number (e.g. "50105"), when the provider refused.
	Code   string
	AADSTS string
	// TraceID and CorrelationID are Entra's identifiers of the refusal (GUIDs only), for the
	// person's support ticket and the tenant's sign-in log.
	TraceID       string
	CorrelationID string
}

func (e *SignInError) Error() string {
	msg := "sign-in refused: " + string(e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.AADSTS != "" {
		msg += " (AADSTS" + e.AADSTS + ")"
	}
	return msg
}

var (
	providerCodePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	aadstsPattern       = regexp.MustCompile(`\bAADSTS(\d{4,9})\b`)
)

// providerCode keeps an OAuth error code only if it looks like one.
func providerCode(code string) string {
	if providerCodePattern.MatchString(code) {
		return code
	}
	return "invalid_error_code"
}

// aadstsNumber finds Entra's error number in error_description; the rest of the text is
// dropped.
func aadstsNumber(description string) string {
	if m := aadstsPattern.FindStringSubmatch(description); m != nil {
		return m[1]
	}
	return ""
}

var (
	// ErrNoSession: the request carries no session cookie, or one the server does not know.
	ErrNoSession = errors.New("not signed in")
	// ErrSessionExpired: the session passed its idle or absolute limit.
	ErrSessionExpired = errors.New("session expired")
	// ErrReauthenticate: the provider no longer honours the refresh token; sign in again.
	ErrReauthenticate = errors.New("sign-in no longer valid, sign in again")
)
