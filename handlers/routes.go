package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// access says who may use a route.
type access int

const (
	// public routes need no session: health probes, static files, sign-in and the sandbox.
	public access = iota
	// anyRole routes need a session holding the uploader or the auditor role.
	anyRole
	// uploader routes need the uploader role: they read and renew tokens.
	uploader
	// metricsReader routes need the metrics bearer token or an address in the metrics networks.
	metricsReader
	// auditor routes need the auditor role.
	auditor
)

type route struct {
	Method  string
	Path    string
	Access  access
	Handler echo.HandlerFunc
	// Limit is the route's request budget (ratelimit.go); nil: none.
	Limit *limit
	// SameSiteOnly refuses a GET that another site started (Sec-Fetch-Site: cross-site): for
	// GETs that act, such as downloads that are audited in the person's name.
	SameSiteOnly bool
}

func newRoute(method, path string, a access, h echo.HandlerFunc) route {
	return route{Method: method, Path: path, Access: a, Handler: h}
}

func (r route) limited(l *limit) route { r.Limit = l; return r }
func (r route) sameSiteOnly() route    { r.SameSiteOnly = true; return r }

// routes is every route the portal serves, in one list. The guard test walks this list.
func (s *server) routes() []route {
	rs := []route{
		newRoute(http.MethodGet, "/healthz", public, s.healthz),
		newRoute(http.MethodGet, "/readyz", public, s.readyz),
		newRoute(http.MethodGet, "/metrics", metricsReader, s.metrics),
		newRoute(http.MethodGet, "/static/*", public, s.static),
		newRoute(http.MethodGet, "/favicon.ico", public, s.favicon),
		newRoute(http.MethodGet, "/auth/login", public, s.login).limited(s.limits.auth),
		newRoute(http.MethodGet, "/auth/callback", public, s.callback).limited(s.limits.auth),
		newRoute(http.MethodPost, "/auth/logout", public, s.logout).limited(s.limits.auth),
		newRoute(http.MethodGet, "/auth/front-channel-logout", public, s.frontChannelLogout).limited(s.limits.auth),
		newRoute(http.MethodGet, "/signed-out", public, s.signedOut),

		newRoute(http.MethodGet, "/", anyRole, s.home),
		newRoute(http.MethodGet, "/audit", anyRole, s.auditList),
		newRoute(http.MethodGet, "/audit/export", anyRole, s.auditExport).limited(s.limits.export).sameSiteOnly(),
		newRoute(http.MethodGet, "/audit/:seq", anyRole, s.auditDetail),
		newRoute(http.MethodPost, "/audit/checkpoint", auditor, s.auditCheckpoint).limited(s.limits.checkpoint),
		newRoute(http.MethodGet, "/settings/:id", uploader, s.setting),
		newRoute(http.MethodGet, "/settings/:id/public-key", uploader, s.publicKey).sameSiteOnly(),
		newRoute(http.MethodPost, uploadRoute, uploader, s.upload).limited(s.limits.upload),
		newRoute(http.MethodPost, "/settings/:id/sync", uploader, s.syncWithApple).limited(s.limits.upload),
		newRoute(http.MethodGet, "/uploads/:id", anyRole, s.uploadPage),
		newRoute(http.MethodPost, "/uploads/:id/confirm", uploader, s.confirm).limited(s.limits.confirm),
		newRoute(http.MethodPost, "/uploads/:id/renew-other", uploader, s.renewOther).limited(s.limits.upload),
	}
	if s.Sandbox != nil {
		sandbox := echo.WrapHandler(s.Sandbox)
		rs = append(rs,
			newRoute(http.MethodGet, "/_sandbox/*", public, sandbox),
			newRoute(http.MethodPost, "/_sandbox/*", public, sandbox),
		)
	}
	return rs
}
