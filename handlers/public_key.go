package handlers

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/deptoken"
)

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// publicKey downloads the token's certificate as the three-line PEM Apple Business Manager
// accepts for an MDM server's public key. It only reads the key Intune holds; it never asks
// Intune for a new one (that would break the token in use).
func (s *server) publicKey(c echo.Context) error {
	sess, _ := sessionOf(c)
	id := c.Param("id")
	ctx := c.Request().Context()
	cred := s.Sessions.Delegated(sess)
	st, err := s.Intune.GetOnboardingSetting(ctx, cred, id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	certPEM, err := s.Intune.GetEncryptionPublicKey(ctx, cred, id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	pem, err := deptoken.ThreeLinePEM(certPEM)
	if err != nil {
		return fmt.Errorf("Intune's public key for %s is not a certificate: %w", id, err)
	}
	e := s.auditEntry(c, audit.PublicKeyDownloaded)
	e.Setting = audit.Setting{ID: st.ID, Name: st.TokenName}
	if _, err := s.Audit.Append(ctx, e); err != nil {
		return errAuditDown(err)
	}
	name := unsafeFileChars.ReplaceAllString(st.TokenName, "_")
	if name == "" {
		name = "intune"
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_public_key.pem"`, name))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/x-pem-file", []byte(pem))
}
