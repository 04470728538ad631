package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/views"
)

// frontChannelLogout is the app registration's front-channel logout URL. Entra ID loads it in
// a hidden iframe on its own sign-out page, with iss and sid, when the person signs out of
// their Entra session (from this portal or any other app): every portal session that Entra
// session signed in ends. The iframe is cross-site, so no SameSite=Lax cookie comes with it;
// the sid alone says which sessions. The page may be framed by the authority's origin only.
func (s *server) frontChannelLogout(c echo.Context) error {
	h := c.Response().Header()
	h.Del("X-Frame-Options") // frame-ancestors says who may frame it; X-Frame-Options cannot
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"),
		"frame-ancestors 'none'", "frame-ancestors "+authorityOrigin(s.Config.AuthorityHost), 1))
	n, err := s.Sessions.EndProviderSession(c.Request().Context(), s.SignIn, c.QueryParam("iss"), c.QueryParam("sid"))
	if errors.Is(err, auth.ErrFrontChannel) {
		s.Logger.Warn("front-channel logout for another issuer or without sid: nothing ended", "request_id", requestIDOf(c))
		return echo.NewHTTPError(http.StatusBadRequest, "front-channel logout: wrong issuer or no sid")
	}
	if err != nil {
		return err
	}
	s.Logger.Info("front-channel logout", "request_id", requestIDOf(c), "sessions_ended", n)
	return render(c, http.StatusOK, views.ProblemPage(views.Page{Title: "Signed out"}, views.Problem{
		Status:  http.StatusOK,
		Heading: "Signed out",
		Message: "Your depportal sessions signed in through this Microsoft Entra ID session have ended.",
	}))
}

// authorityOrigin is the scheme and host of the sign-in authority: the only origin that
// frames the front-channel logout URL.
func authorityOrigin(authorityHost string) string {
	u, err := url.Parse(authorityHost)
	if err != nil || u.Host == "" {
		return "'none'"
	}
	return u.Scheme + "://" + u.Host
}
