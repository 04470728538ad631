package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/views"
)

// signedOut is where the provider sends people after signing out.
func (s *server) signedOut(c echo.Context) error {
	return render(c, http.StatusOK, views.ProblemPage(s.page(c, "Signed out"), views.Problem{
		Status:  http.StatusOK,
		Heading: "You are signed out",
		Message: "Your depportal session has ended.",
		Actions: []views.Link{{Label: "Sign in again", Href: "/auth/login"}},
	}))
}
