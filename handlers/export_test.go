package handlers

// The seam between this package and its tests, which live in package handlers_test because
// they start the portal through app (and app imports handlers). Only what a test cannot reach
// through HTTP is exported here, and only to tests.

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/views"
)

// RouteInfo is one entry of the route table: its method, its Echo path pattern and who may use
// it ("public", "anyRole", "uploader", "auditor", "metricsReader").
type RouteInfo struct {
	Method, Path, Access string
}

// Routes is the route table the portal serves with cfg, with the sandbox's routes when sandbox
// is not nil: the list the guard tests walk.
func Routes(cfg config.Config, sandbox http.Handler) []RouteInfo {
	s := &server{Deps: Deps{Config: cfg, Sandbox: sandbox}}
	var out []RouteInfo
	for _, r := range s.routes() {
		out = append(out, RouteInfo{Method: r.Method, Path: r.Path, Access: r.Access.name()})
	}
	return out
}

func (a access) name() string {
	switch a {
	case public:
		return "public"
	case anyRole:
		return "anyRole"
	case uploader:
		return "uploader"
	case auditor:
		return "auditor"
	case metricsReader:
		return "metricsReader"
	}
	return fmt.Sprintf("access(%d)", int(a)) // a level the tests do not know yet: they fail
}

// IsSafeMethod is the middleware's rule for which methods change nothing (no CSRF check).
var IsSafeMethod = isSafeMethod

// RenderError runs the one place where errors become pages on err, for request r carrying the
// request ID requestID.
func RenderError(deps Deps, err error, w http.ResponseWriter, r *http.Request, requestID string) {
	s := &server{Deps: deps, roles: auth.Roles{Uploader: deps.Config.UploaderRole, Auditor: deps.Config.AuditorRole}}
	c := echo.New().NewContext(r, w)
	c.Set(ctxRequestID, requestID)
	s.handleError(err, c)
}

// SignInProblem is the page a refused sign-in gets.
func SignInProblem(cfg config.Config, e *auth.SignInError) views.Problem {
	s := &server{Deps: Deps{Config: cfg}, roles: auth.Roles{Uploader: cfg.UploaderRole, Auditor: cfg.AuditorRole}}
	return s.signInProblem(e)
}
