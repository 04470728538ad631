package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/views"
)

func (s *server) home(c echo.Context) error {
	sess, _ := sessionOf(c)
	return render(c, http.StatusOK, views.HomePage(s.page(c, "Home"), views.Home{
		CanUpload:    sess.Identity.HasRole(s.roles.Uploader),
		CanAudit:     sess.Identity.HasRole(s.roles.Auditor),
		UploaderRole: s.roles.Uploader,
		AuditorRole:  s.roles.Auditor,
	}))
}
