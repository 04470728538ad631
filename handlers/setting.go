package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// setting shows one token and the renewal form. ?apple_id= refills the form after a detour
// (a failed check, a new sign-in).
func (s *server) setting(c echo.Context) error {
	sess, _ := sessionOf(c)
	id := c.Param("id")
	st, err := s.Intune.GetOnboardingSetting(c.Request().Context(), s.Sessions.Delegated(sess), id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	appleID := st.AppleIdentifier
	if q, _ := renewal.NormalizeAppleID(c.QueryParam("apple_id")); q != "" && len(q) <= renewal.MaxAppleIDLength {
		appleID = q
	}
	t := tokenView(st, s.Now())
	return render(c, http.StatusOK, views.SettingPageView(s.page(c, t.Name), views.SettingPage{
		Token: t,
		Form:  views.RenewForm{AppleID: appleID},
	}))
}
