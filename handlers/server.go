// Package handlers is the portal's HTTP layer: every route (routes.go), the middleware that
// guards them, one file per page or action, and the one place where errors become pages
// (errors.go).
//
// It is the only package besides main that imports Echo; everything it calls speaks net/http,
// context and plain Go types. It must never render a token, a secret or a raw upstream error.
package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
	"github.com/depportal/depportal/watch"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Intune is what the pages read from Graph directly; *graph.Client implements it.
type Intune interface {
	ListOnboardingSettings(ctx context.Context, cred graph.Credentials) ([]graph.OnboardingSetting, error)
	GetOnboardingSetting(ctx context.Context, cred graph.Credentials, id string) (graph.OnboardingSetting, error)
	GetEncryptionPublicKey(ctx context.Context, cred graph.Credentials, id string) (string, error)
	ListVppTokens(ctx context.Context, cred graph.Credentials) ([]graph.VppToken, error)
	GetApplePushNotificationCertificate(ctx context.Context, cred graph.Credentials) (graph.ApplePushNotificationCertificate, bool, error)
}

// Watch is the watch's last read of the Apple connectors (*watch.Watch).
type Watch interface {
	Latest(ctx context.Context) ([]watch.Connector, watch.State, error)
}

// Deps is everything the HTTP layer needs, passed in once.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	SignIn   *auth.SignIn
	Sessions *auth.Sessions
	Database Pinger
	Intune   Intune
	Renewals *renewal.Service
	Metrics  *metrics.Metrics
	// Audit records events; AuditStore is what exports stream from.
	Audit      *audit.Trail
	AuditStore audit.Store
	// Sandbox serves /_sandbox/ in sandbox mode; nil in tenant mode.
	Sandbox http.Handler
	Now     func() time.Time
	// CredentialExpires is when the portal's client secret or certificate expires; zero when
	// not known. Signed-in people see a banner from 30 days before.
	CredentialExpires time.Time
	// Watch, when the watch runs, feeds the banner about Apple connectors every signed-in
	// person sees; nil when it is off.
	Watch Watch
}

type server struct {
	Deps
	roles  auth.Roles
	echo   *echo.Echo
	limits limits
}

// New builds the portal's handler.
func New(deps Deps) http.Handler {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	for _, r := range auth.Refusals {
		deps.Metrics.DeclareSignInResults(string(r))
	}
	s := &server{
		Deps:   deps,
		roles:  auth.Roles{Uploader: deps.Config.UploaderRole, Auditor: deps.Config.AuditorRole},
		echo:   echo.New(),
		limits: newLimits(deps.Now),
	}
	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(deps.Config)

	// The session is loaded before the body is limited: a renewal form too large to read is
	// answered with the person's form again (uploadTooLarge), which needs them.
	e.Use(s.requestID, s.securityHeaders, s.accessLog, s.recoverPanics, s.loadSession, s.limitBody, s.checkCSRF)
	for _, r := range s.routes() {
		e.Add(r.Method, r.Path, r.Handler, s.guard(r))
	}
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })

	// Go's cross-origin protection refuses unsafe requests a browser marks as cross-site
	// (Sec-Fetch-Site, Origin); the per-session token in checkCSRF covers older browsers. Its
	// refusal is a page of ours, with the same security headers as every other.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := e.NewContext(r, w)
		_ = s.securityHeaders(func(c echo.Context) error {
			s.handleError(errCrossOrigin, c)
			return nil
		})(c)
	}))
	return cop.Handler(e)
}

// ipExtractor believes X-Forwarded-For only from the configured proxies; otherwise the socket
// address is the client.
func ipExtractor(cfg config.Config) echo.IPExtractor {
	if len(cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range cfg.TrustedProxies {
		_, ipnet, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(ipnet))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// page builds the layout model for the current request.
func (s *server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Sandbox: s.Config.Mode == config.ModeSandbox}
	if sess, ok := sessionOf(c); ok {
		p.User = &views.User{
			Name:     sess.Identity.Name,
			Username: sess.Identity.Username,
			TenantID: sess.Identity.TenantID,
			ObjectID: sess.Identity.ObjectID,
			Roles:    s.roles.Describe(sess.Identity),
		}
		p.CSRFToken = sess.CSRFToken
		// The section the page belongs to is marked current (aria-current) in the navigation.
		path := c.Request().URL.Path
		inAudit := strings.HasPrefix(path, "/audit")
		if sess.Identity.HasRole(s.roles.Uploader) {
			p.Nav = append(p.Nav, views.Link{Label: "Tokens", Href: "/", Current: !inAudit})
		}
		if s.roles.Any(sess.Identity) {
			p.Nav = append(p.Nav, views.Link{Label: "Audit trail", Href: "/audit", Current: inAudit})
		}
		p.Credential = s.credentialNotice()
		if s.roles.Any(sess.Identity) {
			// Only for the portal's people: a tenant member without a role learns nothing.
			p.Connectors = s.connectorBanner(c, sess.Identity.HasRole(s.roles.Uploader))
		}
	}
	return p
}

// credentialWarning is how long before the portal's client credential expires the people
// signed in see a banner: long enough for one of them to tell the operators in time.
const credentialWarning = 30 * 24 * time.Hour

// credentialNotice is the banner about the portal's own client secret or certificate, from
// 30 days before it expires; nil before that or when its expiry is not known.
func (s *server) credentialNotice() *views.CredentialNotice {
	at := s.CredentialExpires
	if at.IsZero() {
		return nil
	}
	left := at.Sub(s.Now())
	if left > credentialWarning {
		return nil
	}
	kind := "secret"
	if len(s.Config.ClientCertificatePEM) > 0 {
		kind = "certificate"
	}
	return &views.CredentialNotice{Kind: kind, Expires: dateOrUnknown(at), DaysLeft: int(left.Hours() / 24), Expired: left <= 0}
}

// render writes a templ component with the request's CSP nonce.
func render(c echo.Context, status int, component templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return component.Render(c.Request().Context(), c.Response())
}

// loginURL sends a person to sign in and back to where they were going.
func loginURL(returnTo string) string {
	return "/auth/login?return_to=" + url.QueryEscape(auth.SafeReturnTo(returnTo))
}

// claimsLoginURL is loginURL answering Graph's claims challenge: the sign-in asks Entra for
// the claims Conditional Access wants (claims is the challenge's base64 value).
func claimsLoginURL(returnTo, claims string) string {
	if claims == "" {
		return loginURL(returnTo)
	}
	return loginURL(returnTo) + "&claims=" + url.QueryEscape(claims)
}
