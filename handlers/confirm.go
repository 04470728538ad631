package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// confirm sends a reviewed token file to Intune with the person's own delegated token, then
// answers 303 to the upload's page (Post/Redirect/Get): a reload or Back never sends again.
func (s *server) confirm(c echo.Context) error {
	if err := parseForm(c.Request()); err != nil {
		return err
	}
	pendingID := c.Param("id")
	rs := s.renewalSession(c)

	p, err := s.Renewals.Confirm(c.Request().Context(), rs, pendingID, c.Request().PostForm["ack"])
	var missing *renewal.AckMissingError
	switch {
	case errors.As(err, &missing):
		rv := missing.Review
		return render(c, http.StatusUnprocessableEntity, views.ReviewPage(s.page(c, "Check "+rv.Setting.TokenName), s.reviewView(rv.Setting.ID, rv.Setting.TokenName, rv, true)))
	case errors.Is(err, renewal.ErrAlreadyConfirmed):
		// A second click or a resubmitted form: the first one's result page tells the story.
		return c.Redirect(http.StatusSeeOther, "/uploads/"+pendingID)
	case err != nil && p.SettingID != "":
		return &inSetting{ID: p.SettingID, AppleID: p.AppleID, Err: err}
	case err != nil:
		return err
	}
	res := p.Result
	s.Metrics.Upload(string(res.Outcome))
	attrs := []any{"request_id", requestIDOf(c), "upload_id", p.ID, "setting_id", p.SettingID, "outcome", res.Outcome,
		"intent_seq", res.IntentSeq, "graph_status", res.Call.Status, "graph_request_id", res.Call.RequestID, "client_request_id", res.Call.ClientRequestID}
	if res.Error != nil {
		attrs = append(attrs, "graph_error_class", string(res.Error.Class), "graph_error_status", res.Error.Status, "graph_error_request_id", res.Error.RequestID)
	}
	switch res.Outcome {
	case renewal.Succeeded:
		s.Logger.Info("token renewed", attrs...)
	case renewal.Failed:
		s.Logger.Warn("token not renewed", attrs...)
	default:
		s.Logger.Error("token renewal outcome unknown", attrs...)
	}
	if res.AuditError != "" {
		s.Logger.Error("upload outcome not fully recorded", "request_id", requestIDOf(c), "upload_id", p.ID, "intent_seq", res.IntentSeq, "err", res.AuditError)
	}
	if res.ClaimsChallenged() {
		// Conditional Access wants a fresh sign-in before Intune may be changed (Graph's claims
		// challenge; nothing reached Intune). Straight through sign-in with the claims it asks
		// for, and back to the review of the same file, kept for it.
		back := "/uploads/" + p.ID
		if res.RetryID != "" {
			back = "/uploads/" + res.RetryID
		}
		return c.Redirect(http.StatusSeeOther, claimsLoginURL(back, res.Error.Claims))
	}
	return c.Redirect(http.StatusSeeOther, "/uploads/"+p.ID)
}
