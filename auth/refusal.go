package auth

import "regexp"

// Refusal is the kind of a refused sign-in: what the person's page says and what the sign-in
// metric counts. The provider's kinds come from Entra's AADSTS numbers, the only stable part
// of its answer (its error_description is free text, and anyone's in a forged redirect).
type Refusal string

const (
	// RefusalNotAssigned: AADSTS50105, the app requires assignment and the person has none.
	RefusalNotAssigned Refusal = "not_assigned"
	// RefusalOtherTenant: AADSTS50020, an account of another organisation that is not a guest
	// here, refused by Entra itself (a single-tenant app).
	RefusalOtherTenant Refusal = "other_tenant"
	// RefusalConsent: AADSTS65001 or consent_required, nobody granted the permissions.
	RefusalConsent Refusal = "consent_required"
	// RefusalConditionalAccess: AADSTS53003, a Conditional Access policy blocked the sign-in.
	RefusalConditionalAccess Refusal = "conditional_access"
	// RefusalMFA: AADSTS50076 (MFA needed) or 50079 (MFA registration needed).
	RefusalMFA Refusal = "mfa_required"
	// RefusalClientCredential: the portal's own secret or certificate was refused
	// (AADSTS7000215, 7000222, 700027 or any invalid_client): an operator's matter.
	RefusalClientCredential Refusal = "client_credential"
	// RefusalProvider: any other refusal by the provider, AADSTS number or not.
	RefusalProvider Refusal = "provider_other"
	// RefusalTenantCheck: the portal's own tid check refused a token Entra issued: the app
	// registration lets other organisations in, which it should not.
	RefusalTenantCheck Refusal = "tenant_check"
	// RefusalCheck: the answer failed one of the portal's other checks (state, ID token).
	RefusalCheck Refusal = "check_failed"
)

// Refusals lists every kind, for metrics that declare their label values up front.
var Refusals = []Refusal{RefusalNotAssigned, RefusalOtherTenant, RefusalConsent, RefusalConditionalAccess,
	RefusalMFA, RefusalClientCredential, RefusalProvider, RefusalTenantCheck, RefusalCheck}

// Refusal classifies the error.
func (e *SignInError) Refusal() Refusal {
	switch e.AADSTS {
	case "50105":
		return RefusalNotAssigned
	case "50020":
		return RefusalOtherTenant
	case "65001":
		return RefusalConsent
	case "53003":
		return RefusalConditionalAccess
	case "50076", "50079":
		return RefusalMFA
	case "7000215", "7000222", "700027":
		return RefusalClientCredential
	}
	switch {
	case e.Reason == ReasonClientCredential:
		return RefusalClientCredential
	case e.Code == "consent_required":
		return RefusalConsent
	case e.Reason == ReasonTenant:
		return RefusalTenantCheck
	case e.Reason == ReasonProvider || e.AADSTS != "":
		return RefusalProvider
	}
	return RefusalCheck
}

var (
	traceIDPattern       = regexp.MustCompile(`(?i)\bTrace ID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`)
	correlationIDPattern = regexp.MustCompile(`(?i)\bCorrelation ID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`)
)

// supportIDs finds the Trace ID and Correlation ID Entra writes into error_description: what
// Microsoft's support and the tenant's sign-in log are searched by. Only GUIDs are kept.
func supportIDs(description string) (trace, correlation string) {
	if m := traceIDPattern.FindStringSubmatch(description); m != nil {
		trace = m[1]
	}
	if m := correlationIDPattern.FindStringSubmatch(description); m != nil {
		correlation = m[1]
	}
	return trace, correlation
}
