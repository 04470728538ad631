package handlers

import (
	"crypto/subtle"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// metrics serves Prometheus metrics to those mayReadMetrics lets in.
func (s *server) metrics(c echo.Context) error {
	s.Metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// mayReadMetrics: the bearer token from anywhere, or an address in the metrics networks. The
// address is the one DEPPORTAL_TRUSTED_PROXIES lets Echo believe, so X-Forwarded-For from an
// untrusted peer cannot claim to be local.
func (s *server) mayReadMetrics(c echo.Context) bool {
	if want := s.Config.MetricsToken; want != "" {
		got, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return true
		}
	}
	ip, err := netip.ParseAddr(c.RealIP())
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.Config.MetricsNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
