package handlers_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/handlers"
)

// An internal error becomes the 500 page with a request ID; its text reaches the log only.
func TestInternalErrorPageHidesDetail(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	rec := httptest.NewRecorder()
	deps := handlers.Deps{Config: p.app.Config(), Logger: p.app.Logger(), Sessions: p.app.Sessions()}
	handlers.RenderError(deps, errors.New("pq: password authentication failed for user depportal"), rec, httptest.NewRequest(http.MethodGet, "/", nil), "req-123")

	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError || !strings.Contains(body, "Something went wrong") || !strings.Contains(body, "req-123") {
		t.Errorf("500 page: %d %s", rec.Code, body)
	}
	if strings.Contains(body, "password authentication") {
		t.Error("internal error text shown to the person")
	}
	if !strings.Contains(p.logs.String(), "password authentication failed") || !strings.Contains(p.logs.String(), "request_id=req-123") {
		t.Error("internal error not logged with its request ID")
	}
}

// Each sign-in refusal reason gets words a helpdesk person understands, never the raw reason.
func TestEverySignInReasonHasAPage(t *testing.T) {
	t.Parallel()
	cfg := newTestPortal(t, nil).app.Config()
	reasons := []auth.Reason{
		auth.ReasonUnavailable, auth.ReasonProvider, auth.ReasonStateMissing, auth.ReasonStateUnknown,
		auth.ReasonStateMismatch, auth.ReasonLoginExpired, auth.ReasonExchange, auth.ReasonNoIDToken,
		auth.ReasonAlgorithm, auth.ReasonUnknownKey, auth.ReasonSignature, auth.ReasonIssuer, auth.ReasonAudience,
		auth.ReasonAuthorizedParty, auth.ReasonExpired, auth.ReasonIssuedInFuture, auth.ReasonNonce,
		auth.ReasonSubject, auth.ReasonTenant, auth.ReasonClaims,
	}
	for _, r := range reasons {
		pr := handlers.SignInProblem(cfg, &auth.SignInError{Reason: r, Detail: "kid abc"})
		if pr.Status < 400 || pr.Message == "" || pr.Next == "" || len(pr.Actions) == 0 {
			t.Errorf("%s: incomplete page %+v", r, pr)
		}
		if strings.Contains(pr.Message+pr.Next, string(r)) || strings.Contains(pr.Message+pr.Next, "kid abc") {
			t.Errorf("%s: page shows internal detail", r)
		}
	}
}
