package auth_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
)

func TestRefusalKinds(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  auth.SignInError
		want auth.Refusal
	}{
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "access_denied", AADSTS: "50105"}, auth.RefusalNotAssigned},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "access_denied", AADSTS: "50020"}, auth.RefusalOtherTenant},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "invalid_client", AADSTS: "65001"}, auth.RefusalConsent},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "consent_required"}, auth.RefusalConsent},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "access_denied", AADSTS: "53003"}, auth.RefusalConditionalAccess},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "interaction_required", AADSTS: "50076"}, auth.RefusalMFA},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "interaction_required", AADSTS: "50079"}, auth.RefusalMFA},
		{auth.SignInError{Reason: auth.ReasonClientCredential, Code: "invalid_client", AADSTS: "7000215"}, auth.RefusalClientCredential},
		{auth.SignInError{Reason: auth.ReasonClientCredential, Code: "invalid_client", AADSTS: "7000222"}, auth.RefusalClientCredential},
		{auth.SignInError{Reason: auth.ReasonClientCredential, Code: "invalid_client"}, auth.RefusalClientCredential},
		{auth.SignInError{Reason: auth.ReasonExchange, Code: "invalid_grant", AADSTS: "54005"}, auth.RefusalProvider},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "access_denied", AADSTS: "90072"}, auth.RefusalProvider},
		{auth.SignInError{Reason: auth.ReasonProvider, Code: "access_denied"}, auth.RefusalProvider},
		{auth.SignInError{Reason: auth.ReasonTenant}, auth.RefusalTenantCheck},
		{auth.SignInError{Reason: auth.ReasonNonce}, auth.RefusalCheck},
	} {
		if got := c.err.Refusal(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.err, got, c.want)
		}
	}
}

// Entra's identifiers of a refusal reach the page; the rest of error_description does not.
func TestProviderErrorKeepsEntrasSupportIDs(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	authURL, err := r.signIn.Begin(context.Background(), "b", "/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	_, err = r.signIn.Complete(context.Background(), "b", url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"},
		"error_description": {"AADSTS50105: Your administrator has configured the application depportal to block users unless they are specifically granted ('assigned') access.\r\nTrace ID: 3e9d1c20-7a44-4f8b-bb19-2c6f0a8e7d31\r\nCorrelation ID: 7f3c9a21-4b8e-4d6a-9c2f-1e5a6b7c8d90\r\nTimestamp: 2026-06-27 14:22:08Z"}})
	var sie *auth.SignInError
	if !errors.As(err, &sie) {
		t.Fatal(err)
	}
	if sie.TraceID != "3e9d1c20-7a44-4f8b-bb19-2c6f0a8e7d31" || sie.CorrelationID != "7f3c9a21-4b8e-4d6a-9c2f-1e5a6b7c8d90" || sie.Refusal() != auth.RefusalNotAssigned {
		t.Errorf("%+v", sie)
	}
}

// Entra refusing the portal's own secret, at the code exchange and at a refresh: the
// operators' matter, with its AADSTS number.
func TestClientCredentialRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := MustLogin(t, r)
	_, sess, err := r.sessions.Create(context.Background(), done.Identity, done.Token)
	if err != nil {
		t.Fatal(err)
	}
	r.op.mu.Lock()
	r.op.clientRefusal = "AADSTS7000222: The provided client secret keys for app '" + testClient + "' are expired.\r\nTrace ID: 0a1b2c3d-0000-4000-8000-000000000001\r\nCorrelation ID: 0a1b2c3d-0000-4000-8000-000000000002\r\nTimestamp: 2026-01-01 00:00:00Z"
	r.op.mu.Unlock()

	_, err = r.login(t)
	var sie *auth.SignInError
	if !errors.As(err, &sie) || sie.Reason != auth.ReasonClientCredential || sie.AADSTS != "7000222" || sie.TraceID == "" || !sie.Transaction {
		t.Errorf("exchange: %#v", err)
	}

	r.clock.Advance(59 * time.Minute)
	_, err = r.sessions.Delegated(sess).AccessToken(context.Background())
	if !errors.As(err, &sie) || sie.Reason != auth.ReasonClientCredential || sie.AADSTS != "7000222" {
		t.Errorf("refresh: %#v", err)
	}
	if errors.Is(err, auth.ErrReauthenticate) {
		t.Error("a refused client credential ends the person's session: signing in again cannot fix it")
	}
}
