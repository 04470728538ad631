package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
)

const (
	ctxRequestID = "depportal.request_id"
	ctxSession   = "depportal.session"
	ctxRoute     = "depportal.route"
)

// routeOf is the matched route as the route table names it ("GET /settings/:id"'s path), for
// logs, metrics and audit records; "unmatched" when no route matched. It never comes from
// the router's own idea of a path, so a change of router changes no label.
func routeOf(c echo.Context) string {
	if r, ok := c.Get(ctxRoute).(string); ok {
		return r
	}
	return "unmatched"
}

// requestIDPattern is what an upstream request ID must look like before it is even logged.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestID gives every request a fresh ID of our own. An incoming X-Request-ID is kept only
// as "upstream_request_id" in the log (when well formed): a client must not choose our IDs.
func (s *server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := newID()
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// securityHeaders sets the CSP (with a per-request nonce handed to templ) and the other
// headers every response carries.
func (s *server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	formAction := "'self'"
	if s.Config.Mode == config.ModeTenant {
		// Chrome applies form-action to the redirects after a submission: sign-out posts
		// here and is redirected to the provider's end-session endpoint.
		formAction += " " + s.Config.AuthorityHost
	}
	return func(c echo.Context) error {
		nonce := newID() + newID()
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+nonce+"'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action "+formAction)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Pages show tokens, reviews and results of one person: never kept by a browser or a
		// proxy, so Back and a shared PC ask the server again. Static files set their own.
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		if s.Config.SecureCookies() {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		req := c.Request()
		c.SetRequest(req.WithContext(templ.WithNonce(req.Context(), nonce)))
		return next(c)
	}
}

// accessLog writes one line per request: no query strings (the callback's carries the code).
func (s *server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		attrs := []any{
			slog.String("request_id", requestIDOf(c)),
			slog.String("method", c.Request().Method),
			slog.String("route", routeOf(c)),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", c.Response().Status),
			slog.Duration("latency", s.Now().Sub(start)),
			slog.String("client_ip", c.RealIP()),
		}
		if up := c.Request().Header.Get(echo.HeaderXRequestID); requestIDPattern.MatchString(up) {
			attrs = append(attrs, slog.String("upstream_request_id", up))
		}
		if sess, ok := sessionOf(c); ok {
			attrs = append(attrs, slog.String("actor_oid", sess.Identity.ObjectID))
		}
		s.Logger.Info("request", attrs...)
		s.Metrics.HTTPRequest(routeOf(c), c.Response().Status)
		return nil
	}
}

// recoverPanics turns a panic into the 500 page and one log line with the stack's message.
func (s *server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// loadSession attaches the signed-in session, if any, to the request.
func (s *server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, err := c.Cookie(s.Sessions.SessionCookieName())
		if err != nil || cookie.Value == "" {
			return next(c)
		}
		sess, err := s.Sessions.Load(c.Request().Context(), cookie.Value)
		switch {
		case err == nil:
			c.Set(ctxSession, sess)
		case errors.Is(err, auth.ErrNoSession), errors.Is(err, auth.ErrSessionExpired):
			c.SetCookie(s.Sessions.SessionCookie(""))
		default:
			return err
		}
		return next(c)
	}
}

func sessionOf(c echo.Context) (auth.Session, bool) {
	sess, ok := c.Get(ctxSession).(auth.Session)
	return sess, ok
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF requires the session's token on every unsafe request made with a session. The
// sandbox's own pages stand for another site (the identity provider) and carry none.
func (s *server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSafeMethod(c.Request().Method) || strings.HasPrefix(c.Request().URL.Path, "/_sandbox/") {
			return next(c)
		}
		sess, ok := sessionOf(c)
		if !ok {
			return next(c) // the route's guard decides; without a session there is nothing to forge
		}
		submitted := c.Request().Header.Get("X-CSRF-Token")
		if submitted == "" {
			if err := parseForm(c.Request()); err != nil {
				return err
			}
			submitted = c.Request().FormValue("csrf_token")
		}
		if !s.Sessions.CheckCSRF(sess, submitted) {
			return errCSRF
		}
		return next(c)
	}
}

// maxBody bounds every request body: the largest legitimate one is a token upload (a token
// is about 3 KiB, accepted up to 64 KiB) with its form fields.
const maxBody = 256 << 10

func (s *server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().ContentLength > maxBody {
			return errTooLarge
		}
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxBody)
		return next(c)
	}
}

// parseForm reads a urlencoded or multipart body once; a body over the limit is a 413, not a
// missing field.
func parseForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed form")
	}
	return nil
}

// guard names the route (from the table), refuses cross-site GETs where the route says so,
// enforces its access level, then its request budget.
func (s *server) guard(r route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(ctxRoute, r.Path)
			if r.SameSiteOnly && c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
				return errCrossSite
			}
			if answered, err := s.authorize(c, r.Access); answered || err != nil {
				return err
			}
			if r.Limit != nil {
				if err := s.checkLimit(c, r.Limit); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// authorize enforces an access level. answered is true when it has written the response
// itself (a redirect to sign in).
func (s *server) authorize(c echo.Context, a access) (answered bool, err error) {
	switch a {
	case public:
		return false, nil
	case metricsReader:
		if !s.mayReadMetrics(c) {
			return false, errMetricsDenied
		}
		return false, nil
	}
	sess, ok := sessionOf(c)
	if !ok {
		if isSafeMethod(c.Request().Method) {
			return true, c.Redirect(http.StatusSeeOther, loginURL(c.Request().URL.RequestURI()))
		}
		return false, errSignedOut
	}
	if !s.roles.Any(sess.Identity) {
		s.recordDenied(c, "")
		return false, &forbiddenError{route: routeOf(c)}
	}
	if a == uploader && !sess.Identity.HasRole(s.roles.Uploader) {
		s.recordDenied(c, s.roles.Uploader)
		return false, &forbiddenError{route: routeOf(c), role: s.roles.Uploader}
	}
	if a == auditor && !sess.Identity.HasRole(s.roles.Auditor) {
		s.recordDenied(c, s.roles.Auditor)
		return false, &forbiddenError{route: routeOf(c), role: s.roles.Auditor}
	}
	return false, nil
}
