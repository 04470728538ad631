package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/static"
)

var staticFiles = http.StripPrefix("/static/", http.FileServerFS(static.FS))

func (s *server) static(c echo.Context) error {
	// Files only: a folder's listing is nobody's business.
	if p := c.Request().URL.Path; strings.HasSuffix(p, "/") {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	staticFiles.ServeHTTP(c.Response(), c.Request())
	return nil
}

// favicon answers the browser's own request for /favicon.ico (pages that do not name their
// icon, such as the sandbox's) with the portal's icon, so no page logs a 404 for it.
func (s *server) favicon(c echo.Context) error {
	icon, err := static.FS.ReadFile("favicon.svg")
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/svg+xml", icon)
}
