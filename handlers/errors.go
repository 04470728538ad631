package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

var (
	errCSRF = errors.New("missing or wrong CSRF token")
	// errCrossSite: another site started a GET that acts (a download audited in the person's
	// name); only links inside the portal may.
	errCrossSite = errors.New("cross-site request to a same-site-only route")
	// errCrossOrigin: an unsafe request (a form post) came from another site.
	errCrossOrigin = errors.New("cross-origin request refused")
	errSignedOut   = errors.New("not signed in")
	errTooLarge    = echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
	// errMetricsDenied is a bare 403: scrapers read status codes, not pages.
	errMetricsDenied = echo.NewHTTPError(http.StatusForbidden, "metrics: address not allowed and no valid bearer token")
)

// forbiddenError: signed in, but without the role a route needs. role is empty when the
// person holds no portal role at all.
type forbiddenError struct{ route, role string }

func (e *forbiddenError) Error() string { return "no portal role for " + e.route + " " + e.role }

// inSetting says which token an error happened on, and the Apple ID the person had typed, so
// the page's links lead back to a refilled form.
type inSetting struct {
	ID      string
	AppleID string
	Err     error
}

// path leads back to the token's page with the form refilled; "/" when no token is known.
func (e *inSetting) path() string {
	if e.ID == "" {
		return "/"
	}
	p := "/settings/" + e.ID
	if e.AppleID != "" {
		p += "?apple_id=" + url.QueryEscape(e.AppleID)
	}
	return p
}

func (e *inSetting) Error() string { return e.Err.Error() }
func (e *inSetting) Unwrap() error { return e.Err }

// handleError is the one place where an error becomes a page. Internal errors are logged once
// here with the request ID and never shown raw.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.Logger.Error("error after response started", "request_id", requestIDOf(c), "err", err)
		return
	}
	if s.uploadTooLarge(err, c) {
		return // the renewal form again, with the message by its file field
	}
	p, level := s.problemFor(err, c)
	p.RequestID = requestIDOf(c)
	s.Logger.Log(c.Request().Context(), level, "request failed", "request_id", p.RequestID, "status", p.Status, "err", err)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	if rerr := render(c, p.Status, views.ProblemPage(s.page(c, p.Heading), p)); rerr != nil {
		s.Logger.Error("render error page", "request_id", p.RequestID, "err", rerr)
	}
}

func (s *server) problemFor(err error, c echo.Context) (views.Problem, slog.Level) {
	var (
		he  *echo.HTTPError
		sie *auth.SignInError
		fe  *forbiddenError
		ge  *graph.Error

		limited *rateLimitedError
	)
	home := views.Link{Label: "Go to the start page", Href: "/"}
	signIn := views.Link{Label: "Sign in", Href: loginURL(c.Request().URL.RequestURI())}
	switch {
	case errors.As(err, &sie) && sie.Refusal() == auth.RefusalClientCredential:
		// The portal's own secret or certificate: every sign-in fails until an operator acts.
		return s.signInProblem(sie), slog.LevelError
	case errors.As(err, &sie):
		return s.signInProblem(sie), slog.LevelWarn
	case errors.As(err, &fe) && fe.role != "":
		return views.Problem{
			Status:  http.StatusForbidden,
			Heading: "This needs another depportal role",
			Message: "Your account may use depportal, but not this part of it.",
			Next:    fmt.Sprintf("This needs the app role %s. Ask your Entra ID administrator to assign it on the depportal enterprise application, then sign out and sign in again.", fe.role),
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.As(err, &fe):
		return views.Problem{
			Status:  http.StatusForbidden,
			Heading: "You need a depportal role",
			Message: "You are signed in, but your account has not been given a role in depportal.",
			Next: fmt.Sprintf("Ask your Entra ID administrator to assign you the app role %s (to renew Apple enrollment tokens) or %s (to read the audit trail) on the depportal enterprise application, then sign out and sign in again.",
				s.roles.Uploader, s.roles.Auditor),
		}, slog.LevelWarn
	case errors.As(err, &limited):
		return views.Problem{
			Status:  http.StatusTooManyRequests,
			Heading: "Too many requests",
			Message: "This was asked for more often in a short time than a person at work does, so the portal paused it. Nothing was done by this request.",
			Next:    "Try again in " + seconds(limited.retrySeconds()) + ".",
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.Is(err, renewal.ErrTooManyPending):
		return views.Problem{
			Status:  http.StatusTooManyRequests,
			Heading: "Too many checked files waiting",
			Message: fmt.Sprintf("You have %d checked files waiting for confirmation. Nothing was checked by this request.", renewal.MaxPendingPerSession),
			Next:    "Renew with one of the reviews you have open, or wait until they expire (10 minutes after each check).",
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.Is(err, errCrossSite):
		return views.Problem{
			Status:  http.StatusForbidden,
			Heading: "Open this from depportal",
			Message: "This link was opened from another website. Downloads that are recorded in your name start only from depportal's own pages, so nothing was done.",
			Next:    "Go to depportal and use the link there.",
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.Is(err, errCrossOrigin):
		return views.Problem{
			Status:  http.StatusForbidden,
			Heading: "This form came from another website",
			Message: "depportal accepts forms only from its own pages, so nothing was done.",
			Next:    "Go to depportal and send the form from there.",
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.Is(err, errCSRF):
		return views.Problem{
			Status:  http.StatusForbidden,
			Heading: "This form has expired",
			Message: "The form was sent without the security token of your current session, so nothing was done.",
			Next:    "Go back, reload the page and send the form again.",
			Actions: []views.Link{home},
		}, slog.LevelWarn
	case errors.Is(err, audit.ErrUnavailable):
		return views.Problem{
			Status:  http.StatusServiceUnavailable,
			Heading: "The audit trail cannot be written",
			Message: "Every step in depportal is recorded before it is taken. The audit trail refused the record, so nothing was done: nothing was sent to Intune.",
			Next:    "Try again in a few minutes. If it persists, tell the portal's operators (their database may be full or read-only).",
			Actions: []views.Link{home},
		}, slog.LevelError
	case errors.Is(err, renewal.ErrPendingGone):
		return views.Problem{
			Status:  http.StatusGone,
			Heading: "This review cannot be sent",
			Message: "A checked file waits 10 minutes for confirmation, in the browser session that checked it. This one expired or was checked in another session. Nothing was sent by this request.",
			Next:    "Open the token: if its expiry moved about a year ahead, it was renewed already. If not, upload the same file again; you do not need a new one.",
			Actions: []views.Link{home},
		}, slog.LevelInfo
	case errors.Is(err, renewal.ErrUploadNotFound):
		return views.Problem{
			Status:  http.StatusNotFound,
			Heading: "No such renewal",
			Message: "There is no renewal at this address that you may see. Results are kept for a day, then only the audit trail has them.",
			Actions: []views.Link{home},
		}, slog.LevelInfo
	case errors.Is(err, errSignedOut), errors.Is(err, auth.ErrReauthenticate):
		return views.Problem{
			Status:  http.StatusUnauthorized,
			Heading: "Please sign in again",
			Message: "Your session has ended, or Microsoft Entra ID no longer accepts your sign-in.",
			Next:    "Sign in again; nothing was changed.",
			Actions: []views.Link{{Label: "Sign in", Href: loginURL("/")}},
		}, slog.LevelInfo
	case errors.As(err, &ge):
		var in *inSetting
		if !errors.As(err, &in) {
			in = &inSetting{}
		}
		return graphProblem(ge, in), graphLogLevel(ge)
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return views.Problem{
				Status:  http.StatusNotFound,
				Heading: "Page not found",
				Message: "There is no page at this address.",
				Actions: []views.Link{home},
			}, slog.LevelInfo
		case http.StatusMethodNotAllowed:
			return views.Problem{Status: he.Code, Heading: "Not allowed", Message: "This address does not accept that kind of request.", Actions: []views.Link{home}}, slog.LevelInfo
		case http.StatusRequestEntityTooLarge:
			return views.Problem{Status: he.Code, Heading: "Too large", Message: "What you sent is larger than the portal accepts (256 KB). A server token file is about 3 KB: check you chose the .p7m file from Apple Business Manager.", Actions: []views.Link{home}}, slog.LevelInfo
		case http.StatusForbidden:
			return views.Problem{Status: he.Code, Heading: "Not allowed", Message: "This address is not open to you.", Actions: []views.Link{home}}, slog.LevelWarn
		case http.StatusBadRequest:
			return views.Problem{Status: he.Code, Heading: "Bad request", Message: "The form could not be read. Reload the page and try again.", Actions: []views.Link{home}}, slog.LevelInfo
		case http.StatusUnauthorized:
			return views.Problem{Status: he.Code, Heading: "Please sign in", Message: "This page needs you to be signed in.", Actions: []views.Link{signIn}}, slog.LevelInfo
		}
	}
	return views.Problem{
		Status:  http.StatusInternalServerError,
		Heading: "Something went wrong",
		Message: "The portal hit an unexpected problem. Nothing was sent to Intune by this request.",
		Next:    "Try again in a minute. If it happens again, give the request ID below to the portal's operators.",
		Actions: []views.Link{home},
	}, slog.LevelError
}

// signInProblem words each refused sign-in for a helpdesk person; the Reason goes to the log.
// Entra's own refusals are told apart by their AADSTS number (auth.Refusal): each names what
// to do and whom to ask, with Entra's identifiers for the ticket.
func (s *server) signInProblem(e *auth.SignInError) views.Problem {
	retry := views.Link{Label: "Sign in again", Href: loginURL("/")}
	p := views.Problem{Status: http.StatusBadRequest, Heading: "Sign-in did not work", Actions: []views.Link{retry}, Support: entraFacts(e)}
	switch e.Refusal() {
	case auth.RefusalNotAssigned:
		p.Status = http.StatusForbidden
		p.Heading = "You are not assigned to depportal"
		p.Message = "Microsoft Entra ID did not sign you in: your organisation lets only people assigned to the depportal application use it, and your account is not assigned."
		p.Next = fmt.Sprintf("Ask your Entra ID administrator to assign you, or a group you belong to, on the depportal enterprise application (Users and groups) with the app role %s (to renew Apple enrollment tokens) or %s (to read the audit trail). Then sign in again.",
			s.roles.Uploader, s.roles.Auditor)
		return p
	case auth.RefusalOtherTenant:
		p.Status = http.StatusForbidden
		p.Heading = "Wrong organisation"
		p.Message = "Microsoft Entra ID did not sign you in: the account you chose belongs to another organisation and is not a guest in this one. This portal serves only its own organisation's accounts."
		p.Next = "Sign in with your work account of this organisation (choose “Use another account”). If you work for a partner and need access, ask this organisation's Entra ID administrator to invite you as a guest."
		return p
	case auth.RefusalConsent:
		p.Status = http.StatusForbidden
		p.Heading = "depportal needs an administrator's consent"
		p.Message = "Microsoft Entra ID did not sign you in: no administrator has granted depportal the Microsoft Graph permissions it asks for in this organisation, so nobody can sign in yet. This is not about your account."
		p.Next = "Ask an Entra ID administrator (Global Administrator or Privileged Role Administrator) to grant admin consent for depportal, as docs/entra-setup.md, step 2 describes. Then sign in again."
		p.Actions = append(p.Actions, views.Link{Label: "How consent is granted", Href: entraSetupDoc + "#2-api-permissions"})
		return p
	case auth.RefusalConditionalAccess:
		p.Status = http.StatusForbidden
		p.Heading = "Blocked by your organisation's Conditional Access"
		p.Message = "Microsoft Entra ID did not sign you in: a Conditional Access policy of your organisation blocks this sign-in (for example because of the device, the network or the sign-in risk)."
		p.Next = "Try again from your managed work device and usual network. If it keeps failing, ask your Entra ID administrator which policy applies to depportal; give them the identifiers below."
		return p
	case auth.RefusalMFA:
		p.Status = http.StatusForbidden
		p.Heading = "Multi-factor authentication is needed"
		p.Message = "Your organisation requires multi-factor authentication for depportal, and this sign-in did not complete it."
		p.Next = "Sign in again and complete the verification prompt (Authenticator app, phone or key)."
		if e.AADSTS == "50079" {
			p.Message = "Your organisation requires multi-factor authentication for depportal, and your account has no verification method registered yet."
			p.Next = "Register a method at https://aka.ms/mysecurityinfo (or ask your helpdesk to help), then sign in again."
		}
		return p
	case auth.RefusalClientCredential:
		p.Status = http.StatusServiceUnavailable
		p.Heading = "depportal cannot sign anyone in"
		p.Message = "Microsoft Entra ID refused depportal's own credential: its client secret or certificate is wrong or has expired. This is not about your account, and nobody can sign in until the portal's operators fix it."
		p.Next = "Tell the portal's operators, with the request ID below: they need a new client secret or certificate on the depportal app registration (docs/entra-setup.md, step 1) in ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE."
		p.Actions = []views.Link{{Label: "Go to the start page", Href: "/"}}
		return p
	case auth.RefusalProvider:
		p.Status = http.StatusForbidden
		p.Message = "Microsoft Entra ID did not sign you in (for example, the sign-in was cancelled, or a policy of your organisation refused it)."
		p.Next = "Sign in again. If it keeps failing, ask your Entra ID administrator whether depportal is allowed for your account, and give them the identifiers below."
		return p
	}
	switch e.Reason {
	case auth.ReasonUnavailable:
		p.Status = http.StatusServiceUnavailable
		p.Heading = "Sign-in is unavailable right now"
		p.Message = "The portal cannot reach Microsoft Entra ID to sign you in."
		p.Next = "Try again in a few minutes. If it persists, the portal's operators should check its network access to the sign-in service."
	case auth.ReasonStateMissing, auth.ReasonStateUnknown, auth.ReasonLoginExpired, auth.ReasonStateMismatch:
		p.Message = "This sign-in link has expired, was already used, or was started in another browser."
		p.Next = "Start the sign-in again from this browser."
	case auth.ReasonTenant:
		p.Status = http.StatusForbidden
		p.Heading = "Wrong organisation"
		p.Message = "You signed in with an account from another organisation (Entra ID tenant). This portal serves only its own organisation's accounts."
		p.Next = "Sign in with your work account of this organisation."
	case auth.ReasonExpired, auth.ReasonIssuedInFuture:
		p.Message = "The sign-in answer was not valid at this time. This usually means the clock of this server or your network is wrong."
		p.Next = "Try again; if it keeps happening, tell the portal's operators (the server clock may be off)."
	default:
		p.Message = "The answer from the sign-in service failed a security check, so you were not signed in."
		p.Next = "Sign in again. If it keeps happening, tell the portal's operators the time and request ID below."
	}
	return p
}

// entraSetupDoc is the registration guide, where the pages send administrators.
const entraSetupDoc = "https://github.com/depportal/depportal/blob/main/docs/entra-setup.md"

// entraFacts are Entra's words about a refusal worth a ticket: its error, AADSTS number and
// identifiers. The portal's own request ID is added by handleError.
func entraFacts(e *auth.SignInError) []views.Fact {
	var facts []views.Fact
	for _, f := range []views.Fact{
		{Label: "Entra error", Value: aadsts(e.AADSTS)},
		{Label: "Error code", Value: e.Code},
		{Label: "Trace ID", Value: e.TraceID},
		{Label: "Correlation ID", Value: e.CorrelationID},
	} {
		if f.Value != "" {
			facts = append(facts, f)
		}
	}
	return facts
}

func aadsts(n string) string {
	if n == "" {
		return ""
	}
	return "AADSTS" + n
}

func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", n)
}
