package handlers

import (
	"math"
	"time"

	"github.com/depportal/depportal/graph"
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
	if t.Name == "" {
		t.Name = "(unnamed token " + st.ID + ")"
	}
	if !st.TokenExpirationDateTime.IsZero() {
		t.DaysLeft = int(math.Round(st.TokenExpirationDateTime.Sub(now).Hours() / 24))
		switch {
		case st.TokenExpirationDateTime.Before(now):
			t.State = "expired"
			if t.DaysLeft == 0 {
				t.DaysLeft = -1
			}
		case t.DaysLeft <= soonDays:
			t.State = "soon"
		default:
			t.State = "ok"
		}
	}
	return t
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

func dateOrUnknown(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2 Jan 2006")
}

func dateTimeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}
