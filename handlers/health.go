package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz says the process is alive; nothing more, so a slow database does not get it killed.
func (s *server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// readyz says the portal can serve sign-ins: the database answers and discovery is loaded.
func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status := http.StatusOK
	db, oidc := "ok", "ok"
	if err := s.Database.Ping(ctx); err != nil {
		status, db = http.StatusServiceUnavailable, "unreachable"
	}
	if !s.SignIn.Ready() {
		status, oidc = http.StatusServiceUnavailable, "discovery not loaded"
	}
	return c.JSON(status, map[string]string{"database": db, "oidc": oidc})
}
