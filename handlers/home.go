package handlers

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/views"
)

// home greets the person and, for uploaders, lists the enrollment program tokens Intune shows
// them (their Intune role's scope tags apply).
func (s *server) home(c echo.Context) error {
	sess, _ := sessionOf(c)
	h := views.Home{
		CanUpload:    sess.Identity.HasRole(s.roles.Uploader),
		CanAudit:     sess.Identity.HasRole(s.roles.Auditor),
		UploaderRole: s.roles.Uploader,
		AuditorRole:  s.roles.Auditor,
	}
	if h.CanUpload {
		settings, err := s.Intune.ListOnboardingSettings(c.Request().Context(), s.Sessions.Delegated(sess))
		var ge *graph.Error
		switch {
		case errors.As(err, &ge):
			p := graphProblem(ge, &inSetting{})
			h.TokensError = &p
			s.Logger.Log(c.Request().Context(), graphLogLevel(ge), "list tokens", "request_id", requestIDOf(c), "err", err)
		case err != nil:
			return err
		}
		// Soonest expiry first: that is the one to renew.
		sort.SliceStable(settings, func(i, j int) bool {
			return settings[i].TokenExpirationDateTime.Before(settings[j].TokenExpirationDateTime)
		})
		now := s.Now()
		expiries := map[string]time.Time{}
		for _, st := range settings {
			h.Tokens = append(h.Tokens, tokenView(st, now))
			expiries[st.TokenName] = st.TokenExpirationDateTime
		}
		s.Metrics.TokenExpiries(expiries)
	}
	return render(c, http.StatusOK, views.HomePage(s.page(c, "Home"), h))
}
