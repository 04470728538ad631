package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/secret"
)

// login starts the authorization code flow: a fresh state, nonce and PKCE verifier kept
// server-side, bound to this browser by a short-lived cookie.
func (s *server) login(c echo.Context) error {
	binding := ""
	if ck, err := c.Cookie(s.Sessions.LoginCookieName()); err == nil && len(ck.Value) == 43 {
		// Reuse the browser's binding so sign-ins started in two tabs both complete.
		binding = ck.Value
	} else {
		binding = secret.RandomToken()
	}
	// claims is a claims challenge Graph answered with (graphProblem, confirm): the provider
	// is asked for those claims, as Conditional Access wants.
	target, err := s.SignIn.BeginWithClaims(c.Request().Context(), binding, c.QueryParam("return_to"), c.QueryParam("claims"))
	if errors.Is(err, auth.ErrClaimsChallenge) {
		s.Logger.Warn("sign-in link with a malformed claims challenge: signing in without it", "request_id", requestIDOf(c))
		target, err = s.SignIn.Begin(c.Request().Context(), binding, c.QueryParam("return_to"))
	}
	if err != nil {
		return err
	}
	c.SetCookie(s.Sessions.LoginCookie(binding))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}
