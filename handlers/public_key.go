package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// publicKey downloads the token's certificate as the three-line PEM Apple Business Manager
// accepts for an MDM server's public key. The renewal service records the download first.
func (s *server) publicKey(c echo.Context) error {
	id := c.Param("id")
	f, err := s.Renewals.PublicKey(c.Request().Context(), s.renewalSession(c), id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, f.FileName))
	return c.Blob(http.StatusOK, "application/x-pem-file", []byte(f.PEM))
}
