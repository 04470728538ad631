package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// graphProblem words each kind of Graph/Intune failure for the person, with the identifiers a
// Microsoft support ticket asks for. in names the token concerned, if any, for the way back.
func graphProblem(e *graph.Error, in *inSetting) views.Problem {
	path := in.path()
	home := views.Link{Label: "Back to all tokens", Href: "/"}
	p := views.Problem{Status: http.StatusBadGateway, Support: supportFacts(e), Actions: []views.Link{home}}
	switch e.Class() {
	case graph.ClassUnauthorized:
		p.Status = http.StatusUnauthorized
		p.Heading = "Please sign in again"
		p.Message = "Microsoft Graph no longer accepts your sign-in (it expired or was revoked). Nothing was changed in Intune."
		if errors.Is(e, auth.ErrReauthenticate) {
			p.Message = "Your sign-in has expired. Nothing was changed in Intune."
		}
		p.Next = "Sign in again; you come back to the token's page with the Apple ID filled in. If you were renewing, choose the file again."
		p.Actions = []views.Link{{Label: "Sign in again", Href: loginURL(path)}}
	case graph.ClassInsufficientClaims:
		p.Status = http.StatusUnauthorized
		p.Heading = "Your organisation asks you to sign in again"
		p.Message = "A Conditional Access policy wants a fresh sign-in (for example multi-factor authentication or a compliant device) before Intune may be changed. Nothing was changed."
		p.Next = "Sign in again, then repeat the step."
		p.Actions = []views.Link{{Label: "Sign in again", Href: claimsLoginURL(path, e.Claims)}}
	case graph.ClassMissingScope:
		p.Status = http.StatusForbidden
		p.Heading = "depportal is missing a Microsoft Graph permission"
		p.Message = "The depportal app registration does not have the delegated permission DeviceManagementServiceConfig.ReadWrite.All with admin consent, so Intune refused. This is not about your account."
		p.Next = "Ask your Entra ID administrator to add that permission to the depportal app registration and grant admin consent (docs/entra-setup.md, step 2)."
	case graph.ClassMissingIntuneRole:
		p.Status = http.StatusForbidden
		p.Heading = "Your Intune role does not allow this"
		p.Message = "Intune refused because your Intune role lacks the right to read or update enrollment program tokens, or this token's scope tags are not in your role's scope."
		p.Next = "Ask an Intune administrator for an Intune role with Enrollment programs: Read token and Update token, assigned with this token's scope tags."
	case graph.ClassRejected:
		p.Status = http.StatusUnprocessableEntity
		p.Heading = "Intune rejected the token"
		p.Message = "Intune answered that it cannot use this token file. Intune still holds the previous token, which Apple may already have replaced."
		if e.Message != "" {
			p.Message += " Intune said: “" + clipText(e.Message, 300) + "”"
		}
		p.Causes = renewal.RejectionCauses(nil, "")
		p.Next = "Download the token once more in Apple Business Manager (" + renewal.DownloadPath("") + ") and upload that file soon: until then devices cannot enroll through this token."
	case graph.ClassNotFound:
		p.Status = http.StatusNotFound
		p.Heading = "This token is not in Intune"
		p.Message = "Intune does not know this enrollment program token, or your role's scope tags hide it."
		p.Next = "Go back to the list of tokens; if it should be there, ask an Intune administrator to check your role's scope tags."
	case graph.ClassThrottled:
		p.Status = http.StatusTooManyRequests
		p.Heading = "Intune is busy"
		p.Message = "Intune asked to slow down (too many requests). Nothing was changed."
		p.Next = "Try again in a minute."
		if e.RetryAfter > 0 {
			p.Next = fmt.Sprintf("Try again after %d seconds.", int(e.RetryAfter.Seconds()+0.5))
		}
	case graph.ClassUnavailable:
		p.Status = http.StatusServiceUnavailable
		p.Heading = "Intune is not answering"
		p.Message = "Microsoft Graph or Intune is unavailable or failed for this request. Nothing was changed."
		p.Next = "Try again in a few minutes. If it persists, check the Microsoft 365 service health page."
	case graph.ClassOutcomeUnknown:
		p.Status = http.StatusGatewayTimeout
		p.Heading = "We do not know whether Intune received the token"
		p.Message = "The token was sent, but no answer came back (the connection dropped or timed out). Intune may have renewed the token or not."
		p.Next = "Check the token's expiry date before trying again: if it moved about a year ahead, the renewal worked. Uploading the same file again is harmless if it did not."
		if in.ID != "" {
			p.Actions = []views.Link{{Label: "Check the token's status", Href: "/settings/" + in.ID}, home}
		}
	default:
		p.Heading = "Intune answered unexpectedly"
		p.Message = "Microsoft Graph gave an answer the portal does not understand. Nothing is known to have changed."
		p.Next = "Try again; if it happens again, give the identifiers below to the portal's operators."
	}
	return p
}

func graphLogLevel(e *graph.Error) slog.Level {
	switch e.Class() {
	case graph.ClassUnavailable, graph.ClassOutcomeUnknown, graph.ClassOther, graph.ClassMissingScope:
		return slog.LevelError
	}
	return slog.LevelWarn
}

func supportFacts(e *graph.Error) []views.Fact {
	var facts []views.Fact
	for _, f := range []views.Fact{
		{Label: "Request ID", Value: e.RequestID},
		{Label: "Client request ID", Value: e.ClientRequestID},
		{Label: "Date", Value: e.Date},
		{Label: "Activity ID", Value: e.ActivityID},
		{Label: "HTTP status", Value: statusText(e.Status)},
		{Label: "Graph error code", Value: e.Code},
	} {
		if f.Value != "" {
			facts = append(facts, f)
		}
	}
	return facts
}

func callFacts(c graph.CallInfo) []views.Fact {
	var facts []views.Fact
	for _, f := range []views.Fact{
		{Label: "Request ID", Value: c.RequestID},
		{Label: "Client request ID", Value: c.ClientRequestID},
		{Label: "Date", Value: c.Date},
		{Label: "HTTP status", Value: statusText(c.Status)},
	} {
		if f.Value != "" {
			facts = append(facts, f)
		}
	}
	return facts
}

func statusText(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
