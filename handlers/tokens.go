package handlers

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// soonDays is when a token counts as about to expire: Apple warns 30 days ahead too.
const soonDays = 30

func tokenView(st graph.OnboardingSetting, now time.Time) views.Token {
	t := views.Token{
		ID:           st.ID,
		Name:         st.TokenName,
		Program:      programName(st.TokenType),
		AppleID:      st.AppleIdentifier,
		Expiry:       dateOrUnknown(st.TokenExpirationDateTime),
		LastSync:     dateTimeOrNever(st.LastSuccessfulSyncDateTime),
		LastModified: dateTimeOrNever(st.LastModifiedDateTime),
		Devices:      st.SyncedDeviceCount,
	}
	if st.LastSyncErrorCode != 0 {
		t.SyncError = strconv.Itoa(st.LastSyncErrorCode)
	}
	if t.Name == "" {
		t.Name = "(unnamed token " + st.ID + ")"
	}
	t.DaysLeft, t.State = expiryState(st.TokenExpirationDateTime, now)
	return t
}

// expiryState is the whole days to an expiry, rounded (negative once past, -1 on the day it
// passed), and its state: "expired", "soon" (soonDays or less), "ok", or "" when unknown. Every
// page counts days this way.
func expiryState(expires, now time.Time) (int, string) {
	if expires.IsZero() {
		return 0, ""
	}
	days := int(math.Round(expires.Sub(now).Hours() / 24))
	switch {
	case expires.Before(now):
		return min(days, -1), "expired"
	case days <= soonDays:
		return days, "soon"
	}
	return days, "ok"
}

func programName(tokenType string) string {
	switch tokenType {
	case graph.TokenTypeAppleSchoolManager:
		return "Apple School Manager"
	case graph.TokenTypeDEP:
		return "Apple Business Manager"
	}
	return "Apple (type not set)"
}

// The one date style of the pages (renewal.Day, renewal.DayTime), as moments the script shows
// in the reader's local time.

func dateOrUnknown(t time.Time) views.When {
	if t.IsZero() {
		return views.When{Text: "unknown"}
	}
	return views.When{At: t.UTC().Format(time.RFC3339), Text: renewal.Day(t), Style: "date"}
}

func dateTimeOrNever(t time.Time) views.When {
	if t.IsZero() {
		return views.When{Text: "never"}
	}
	return views.When{At: t.UTC().Format(time.RFC3339), Text: renewal.DayTime(t), Style: "datetime"}
}

// timeSoon is a moment within the hour, with how far off it is: "in 10 minutes, 05:19 UTC".
func timeSoon(t, now time.Time) views.When {
	w := views.When{At: t.UTC().Format(time.RFC3339), Text: t.UTC().Format("15:04 UTC"), Style: "time"}
	switch d := t.Sub(now).Round(time.Minute); {
	case d <= 0:
		w.Rel = "now"
	case d < 2*time.Minute:
		w.Rel = "in 1 minute"
	default:
		w.Rel = fmt.Sprintf("in %d minutes", int(d.Minutes()))
	}
	return w
}
