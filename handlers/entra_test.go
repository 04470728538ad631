package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/handlers"
)

// Entra's refusals that a helpdesk meets each get a page saying what to do and whom to ask,
// with Entra's identifiers for the ticket; an unknown code still gets a page with its code.
func TestEachAADSTSCodeHasItsPage(t *testing.T) {
	t.Parallel()
	cfg := newTestPortal(t, nil).app.Config()
	const trace, correlation = "3e9d1c20-7a44-4f8b-bb19-2c6f0a8e7d31", "7f3c9a21-4b8e-4d6a-9c2f-1e5a6b7c8d90"
	for _, c := range []struct {
		code, aadsts string
		reason       auth.Reason
		status       int
		heading      string
		says         []string
	}{
		{"access_denied", "50105", auth.ReasonProvider, http.StatusForbidden, "You are not assigned to depportal", []string{"DepToken.Upload", "DepToken.Audit", "Users and groups"}},
		{"access_denied", "50020", auth.ReasonProvider, http.StatusForbidden, "Wrong organisation", []string{"another organisation", "guest"}},
		{"invalid_client", "65001", auth.ReasonProvider, http.StatusForbidden, "depportal needs an administrator's consent", []string{"admin consent", "docs/entra-setup.md"}},
		{"consent_required", "", auth.ReasonProvider, http.StatusForbidden, "depportal needs an administrator's consent", []string{"admin consent"}},
		{"access_denied", "53003", auth.ReasonProvider, http.StatusForbidden, "Blocked by your organisation's Conditional Access", []string{"Conditional Access policy"}},
		{"interaction_required", "50076", auth.ReasonProvider, http.StatusForbidden, "Multi-factor authentication is needed", []string{"verification prompt"}},
		{"interaction_required", "50079", auth.ReasonProvider, http.StatusForbidden, "Multi-factor authentication is needed", []string{"aka.ms/mysecurityinfo"}},
		{"invalid_client", "7000215", auth.ReasonClientCredential, http.StatusServiceUnavailable, "depportal cannot sign anyone in", []string{"operators", "ENTRA_CLIENT_SECRET"}},
		{"invalid_client", "7000222", auth.ReasonClientCredential, http.StatusServiceUnavailable, "depportal cannot sign anyone in", []string{"expired", "ENTRA_CLIENT_CERTIFICATE"}},
		{"access_denied", "90072", auth.ReasonProvider, http.StatusForbidden, "Sign-in did not work", []string{"Microsoft Entra ID did not sign you in"}},
	} {
		e := &auth.SignInError{Reason: c.reason, Code: c.code, AADSTS: c.aadsts, TraceID: trace, CorrelationID: correlation, Transaction: true}
		p := handlers.SignInProblem(cfg, e)
		text := p.Heading + " " + p.Message + " " + p.Next
		if p.Status != c.status || p.Heading != c.heading {
			t.Errorf("AADSTS%s (%s): %d %q, want %d %q", c.aadsts, c.code, p.Status, p.Heading, c.status, c.heading)
		}
		for _, want := range c.says {
			if !strings.Contains(text, want) {
				t.Errorf("AADSTS%s: page lacks %q: %s", c.aadsts, want, text)
			}
		}
		facts := map[string]string{}
		for _, f := range p.Support {
			facts[f.Label] = f.Value
		}
		if c.aadsts != "" && facts["Entra error"] != "AADSTS"+c.aadsts {
			t.Errorf("AADSTS%s: support facts %v lack the code", c.aadsts, facts)
		}
		if facts["Trace ID"] != trace || facts["Correlation ID"] != correlation {
			t.Errorf("AADSTS%s: support facts %v lack Entra's identifiers", c.aadsts, facts)
		}
		if len(p.Actions) == 0 {
			t.Errorf("AADSTS%s: no way on", c.aadsts)
		}
	}
}
