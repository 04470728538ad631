package handlers

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/views"
	"github.com/depportal/depportal/watch"
)

// home greets the person and, for uploaders, lists the three kinds of Apple connector Intune
// shows them, read with their own token (their Intune role's scope tags apply): the enrollment
// program tokens, renewed here, and the Apps and Books tokens and the MDM push certificate,
// renewed elsewhere. Others see the watch's last read, when the watch runs.
func (s *server) home(c echo.Context) error {
	sess, _ := sessionOf(c)
	h := views.Home{
		CanUpload:    sess.Identity.HasRole(s.roles.Uploader),
		CanAudit:     sess.Identity.HasRole(s.roles.Auditor),
		UploaderRole: s.roles.Uploader,
		AuditorRole:  s.roles.Auditor,
	}
	p := s.page(c, "Home")
	p.ConnectorsOpen = true
	if h.CanUpload {
		ctx := c.Request().Context()
		cred := s.Sessions.Delegated(sess)
		// The three kinds side by side: the person waits for the slowest read, not the sum.
		var (
			settings []graph.OnboardingSetting
			err      error
			others   = make(chan *delegatedConnectors, 1)
		)
		go func() { others <- s.readOtherConnectors(ctx, cred) }()
		settings, err = s.Intune.ListOnboardingSettings(ctx, cred)
		other := <-others
		var ge *graph.Error
		switch {
		case errors.As(err, &ge):
			prob := graphProblem(ge, &inSetting{})
			h.TokensError = &prob
			s.Logger.Log(ctx, graphLogLevel(ge), "list tokens", "request_id", requestIDOf(c), "err", err)
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

		if other.vppErr != nil {
			if h.VppError, err = s.readProblem(c, "Apps and Books tokens", other.vppErr); err != nil {
				return err
			}
		}
		if other.pushErr != nil {
			if h.PushError, err = s.readProblem(c, "MDM push certificate", other.pushErr); err != nil {
				return err
			}
			h.PushError.Heading = "Intune did not show the MDM push certificate"
		}
		read := watch.FromGraph(settings, other.vpp, other.push)
		for _, cn := range read {
			switch cn.Kind {
			case watch.VPP:
				h.Vpp = append(h.Vpp, connectorView(cn, now, true))
			case watch.APNs:
				v := connectorView(cn, now, true)
				h.Push = &v
			}
		}
		if s.Watch == nil {
			// No watch, no banner on other pages: here at least, what this read found.
			p.Connectors = s.attention(read, true)
		}
	} else if s.Watch != nil {
		h.WatchOn = true
		cs, st, err := s.Watch.Latest(c.Request().Context())
		if err != nil {
			return err
		}
		if !st.LastSuccessAt.IsZero() {
			now := s.Now()
			for _, cn := range cs {
				h.Watched = append(h.Watched, connectorView(cn, now, false))
			}
			h.WatchedAt = dateTimeOrNever(st.LastSuccessAt)
		}
	}
	return render(c, http.StatusOK, views.HomePage(p, h))
}
