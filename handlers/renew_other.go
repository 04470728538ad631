package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// renewOther reviews a file already checked for one token again for the token of the tenant it
// was made for (the review named it): the person renews the right token without uploading the
// file a second time. Nothing is sent to Intune here.
func (s *server) renewOther(c echo.Context) error {
	if err := parseForm(c.Request()); err != nil {
		return err
	}
	pendingID := c.Param("id")
	settingID := c.Request().PostFormValue("setting_id")
	appleID := c.Request().PostFormValue("apple_id")
	review, err := s.Renewals.RenewOther(c.Request().Context(), s.renewalSession(c), pendingID, settingID, appleID)
	var fe renewal.FieldErrors
	if errors.As(err, &fe) {
		// Only the Apple ID can be wrong: show the first review again with the message by it.
		sess, _ := sessionOf(c)
		p, perr := s.Renewals.Pending(c.Request().Context(), sess.IDHash, pendingID)
		if perr != nil {
			return perr
		}
		v := s.reviewView(p.SettingID, p.SettingName, p.Review(), false)
		if v.Other != nil {
			v.Other.AppleID, v.Other.Error = appleID, fe["apple_id"]
		}
		return render(c, http.StatusUnprocessableEntity, views.ReviewPage(s.page(c, "Check "+p.SettingName), v))
	}
	if err != nil {
		return &inSetting{ID: settingID, AppleID: appleID, Err: err}
	}
	if review.Failed() {
		return render(c, http.StatusUnprocessableEntity, views.ReviewPage(s.page(c, "Check "+review.Setting.TokenName), s.reviewView(review.Setting.ID, review.Setting.TokenName, review, false)))
	}
	return c.Redirect(http.StatusSeeOther, "/uploads/"+review.PendingID)
}
