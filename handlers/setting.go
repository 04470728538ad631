package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// setting shows one token, its sync with Apple and the renewal form. ?apple_id= refills the
// form after a detour (a failed check, a new sign-in); ?sync= says what came of a sync just
// asked for (the sync action's redirect).
func (s *server) setting(c echo.Context) error {
	form := views.RenewForm{}
	if q, _ := renewal.NormalizeAppleID(c.QueryParam("apple_id")); q != "" && len(q) <= renewal.MaxAppleIDLength {
		form.AppleID = q
	}
	return s.renderSettingPage(c, c.Param("id"), http.StatusOK, form, form.AppleID == "")
}

// renderSettingPage reads the token from Intune and shows it with the renewal form; with
// prefill, the form starts with the Apple ID Intune has for the token.
func (s *server) renderSettingPage(c echo.Context, id string, status int, form views.RenewForm, prefill bool) error {
	sess, _ := sessionOf(c)
	st, err := s.Intune.GetOnboardingSetting(c.Request().Context(), s.Sessions.Delegated(sess), id)
	if err != nil {
		return &inSetting{ID: id, Err: err}
	}
	if prefill {
		form.AppleID = st.AppleIdentifier
	}
	now := s.Now()
	t := tokenView(st, now)
	v := views.SettingPage{
		Token:        t,
		Form:         form,
		Manager:      renewal.Manager(st.TokenType),
		DownloadPath: renewal.DownloadPath(t.Name),
		Sync: views.SyncPanel{
			Action:        "/settings/" + url.PathEscape(st.ID) + "/sync",
			LastRequested: dateTimeOrNever(st.LastSyncTriggeredDateTime),
		},
	}
	if next := renewal.NextSync(st, now); !next.IsZero() {
		w := timeSoon(next, now)
		v.Sync.NextAllowed = &w
	}
	v.Sync.Notice, v.Sync.NoticeBad = syncNotice(c.QueryParam("sync"), t.Name, st, now)
	return render(c, status, views.SettingPageView(s.page(c, t.Name), v))
}

// syncNotice words what came of a sync the person just asked for.
func syncNotice(outcome, name string, st graph.OnboardingSetting, now time.Time) (string, bool) {
	switch outcome {
	case syncAsked:
		return "Intune was asked to sync " + name + " with Apple. It takes a few minutes: the last sync below changes when it is done.", false
	case syncTooSoon:
		msg := "Intune allows one manual sync every 15 minutes, and one was asked for less than 15 minutes ago. Nothing was asked this time."
		if next := renewal.NextSync(st, now); !next.IsZero() {
			msg = fmt.Sprintf("Intune allows one manual sync every 15 minutes; one was asked for at %s. Nothing was asked this time: try again after %s.",
				st.LastSyncTriggeredDateTime.UTC().Format("15:04 UTC"), next.UTC().Format("15:04 UTC"))
		}
		return msg, true
	case syncUnknown:
		return "Intune did not answer whether the sync started. Look at the last sync in a few minutes before asking again.", true
	}
	return "", false
}
