package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// confirm sends a reviewed token file to Intune with the person's own delegated token.
func (s *server) confirm(c echo.Context) error {
	sess, _ := sessionOf(c)
	ctx := c.Request().Context()
	pendingID := c.Param("id")
	rs := s.renewalSession(c)

	res, err := s.Renewals.Confirm(ctx, rs, pendingID, c.Request().Form["ack"])
	if res.Outcome != "" {
		s.Metrics.Upload(res.Outcome)
	}
	var missing *renewal.AckMissingError
	if errors.As(err, &missing) {
		p, perr := s.Renewals.Pending(ctx, sess.IDHash, pendingID)
		if perr != nil {
			return perr
		}
		rv := renewal.Review{AppleID: p.AppleID, FileName: p.FileName, Checks: p.Checks, PendingID: p.ID, ExpiresAt: p.ExpiresAt}
		rv.Report.SHA256 = p.FileSHA256
		return render(c, http.StatusUnprocessableEntity, views.ReviewPage(s.page(c, "Check "+p.SettingName), s.reviewView(p.SettingID, p.SettingName, rv, true)))
	}
	if err != nil && res.SettingID != "" {
		return &inSetting{ID: res.SettingID, AppleID: res.AppleID, Err: err}
	}
	if err != nil {
		return err
	}
	s.Logger.Info("token renewed", "request_id", requestIDOf(c), "setting_id", res.SettingID, "oid", sess.Identity.ObjectID,
		"graph_request_id", res.Call.RequestID, "client_request_id", res.Call.ClientRequestID)
	if res.OutcomeNotRecorded != nil {
		s.Logger.Error("upload outcome not recorded in the audit trail", "request_id", requestIDOf(c), "intent_seq", res.IntentSeq, "err", res.OutcomeNotRecorded)
	}
	v := views.Result{
		OutcomeNotRecorded: res.OutcomeNotRecorded != nil,
		IntentSeq:          res.IntentSeq,
		Token:              tokenView(res.After, s.Now()),
		AppleID:            res.AppleID,
		Before:             dateOrUnknown(res.Before),
		ReadBackFailed:     res.ReadBackErr != nil,
		Support:            callFacts(res.Call),
	}
	if res.ReadBackErr != nil {
		v.Token.Name = res.SettingName
		s.Logger.Warn("read back renewed token", "request_id", requestIDOf(c), "setting_id", res.SettingID, "err", res.ReadBackErr)
	}
	return render(c, http.StatusOK, views.ResultPage(s.page(c, "Token renewed"), v))
}
