package handlers

import (
	"net/http"
	"sort"

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
	switch {
	case h.CanUpload:
		if err := s.uploaderHome(c, s.Sessions.Delegated(sess), &h, &p); err != nil {
			return err
		}
	case s.Watch != nil:
		if err := s.watchedHome(c, &h); err != nil {
			return err
		}
	}
	return render(c, http.StatusOK, views.HomePage(p, h))
}

// uploaderHome fills in the three kinds of connector as the person's own token reads them.
func (s *server) uploaderHome(c echo.Context, cred graph.Credentials, h *views.Home, p *views.Page) error {
	r := s.readConnectors(c.Request().Context(), cred)
	var err error
	if h.TokensError, err = s.readProblem(c, "tokens", "", r.settingsErr); err != nil {
		return err
	}
	if h.VppError, err = s.readProblem(c, "Apps and Books tokens", "Intune did not list the Apps and Books tokens", r.vppErr); err != nil {
		return err
	}
	if h.PushError, err = s.readProblem(c, "MDM push certificate", "Intune did not show the MDM push certificate", r.pushErr); err != nil {
		return err
	}
	// Soonest expiry first: that is the one to renew.
	sort.SliceStable(r.settings, func(i, j int) bool {
		return r.settings[i].TokenExpirationDateTime.Before(r.settings[j].TokenExpirationDateTime)
	})
	now := s.Now()
	for _, st := range r.settings {
		h.Tokens = append(h.Tokens, tokenView(st, now))
	}
	read := watch.FromGraph(r.settings, r.vpp, r.push)
	s.Metrics.SeenConnectors(watch.Expiries(read))
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
	return nil
}

// watchedHome lists the watch's last read, for someone who does not read Intune here.
func (s *server) watchedHome(c echo.Context, h *views.Home) error {
	h.WatchOn = true
	cs, st, err := s.Watch.Latest(c.Request().Context())
	if err != nil || st.LastSuccessAt.IsZero() {
		return err
	}
	now := s.Now()
	for _, cn := range cs {
		h.Watched = append(h.Watched, connectorView(cn, now, false))
	}
	h.WatchedAt = dateTimeOrNever(st.LastSuccessAt)
	return nil
}
