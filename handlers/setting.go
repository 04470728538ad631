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
	form := views.RenewForm{}
	if q, _ := renewal.NormalizeAppleID(c.QueryParam("apple_id")); q != "" && len(q) <= renewal.MaxAppleIDLength {
		form.AppleID = q
	}
	return s.renderSettingPage(c, c.Param("id"), http.StatusOK, form, form.AppleID == "")
}

// renderSettingPage reads the token from Intune and shows it with the renewal form; with
// prefill, the form starts with the Apple ID Intune has for the token.
func (s *server) renderSettingPage(c echo.Context, id string, status int, form views.RenewForm, prefill bool) error {
	sess, _ := sessionOf(c)
	st, err := s.Intune.GetOnboardingSetting(c.Request().Context(), s.Sessions.Delegated(sess), id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	if prefill {
		form.AppleID = st.AppleIdentifier
	}
	t := tokenView(st, s.Now())
	return render(c, status, views.SettingPageView(s.page(c, t.Name), views.SettingPage{Token: t, Form: form}))
}
