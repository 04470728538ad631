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
}

// routes is every route the portal serves, in one list. The guard test walks this list.
func (s *server) routes() []route {
	rs := []route{
		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodGet, "/readyz", public, s.readyz},
		{http.MethodGet, "/metrics", metricsReader, s.metrics},
		{http.MethodGet, "/static/*", public, s.static},
		{http.MethodGet, "/auth/login", public, s.login},
		{http.MethodGet, "/auth/callback", public, s.callback},
		{http.MethodPost, "/auth/logout", public, s.logout},
		{http.MethodGet, "/signed-out", public, s.signedOut},

		{http.MethodGet, "/", anyRole, s.home},
		{http.MethodGet, "/audit", anyRole, s.auditList},
		{http.MethodGet, "/audit/export", anyRole, s.auditExport},
		{http.MethodGet, "/audit/:seq", anyRole, s.auditDetail},
		{http.MethodPost, "/audit/checkpoint", auditor, s.auditCheckpoint},
		{http.MethodGet, "/settings/:id", uploader, s.setting},
		{http.MethodGet, "/settings/:id/public-key", uploader, s.publicKey},
		{http.MethodPost, "/settings/:id/upload", uploader, s.upload},
		{http.MethodGet, "/uploads/:id", anyRole, s.uploadPage},
		{http.MethodPost, "/uploads/:id/confirm", uploader, s.confirm},
	}
	if s.Sandbox != nil {
		sandbox := echo.WrapHandler(s.Sandbox)
		rs = append(rs,
			route{http.MethodGet, "/_sandbox/*", public, sandbox},
			route{http.MethodPost, "/_sandbox/*", public, sandbox},
		)
	}
	return rs
}
