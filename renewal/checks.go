package renewal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/deptoken"
	"github.com/depportal/depportal/graph"
)

// The checks of the review. Each says what it found, in the words a helpdesk person acts on:
// a warning's Title is the finding ("Downloaded 12 days ago"), not the rule, and its tick box
// states what renewing anyway leads to. Advice to download a token again appears only where
// nothing was sent (a failed review) or where Intune said it cannot use the file.

// ABM's menu path to a server token, as Apple's Business Manager user guide words it now:
// Management Services → the MDM server → Download Token. Every page names this path and no
// other.
const (
	MenuManagementServices = "Management Services"
	MenuDownloadToken      = "Download Token"
)

// DownloadPath is the menu path to the token of the MDM server called server.
func DownloadPath(server string) string {
	if server == "" {
		server = "the MDM server"
	}
	return MenuManagementServices + " → " + server + " → " + MenuDownloadToken
}

// Manager names the Apple portal a token comes from.
func Manager(tokenType string) string {
	if tokenType == graph.TokenTypeAppleSchoolManager {
		return "Apple School Manager"
	}
	return "Apple Business Manager"
}

// TokenRef names a token of the tenant: the one a file was made for, when it is not the one
// being renewed.
type TokenRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Program string `json:"program"`
	// AppleID is the Apple ID Intune holds for that token, to renew it with.
	AppleID string `json:"appleId"`
}

// keyMatch is what the file's recipient was found to be among the tenant's tokens.
type keyMatch struct {
	target   deptoken.MatchResult
	targetOK bool // this token's key was read and compared
	other    *graph.OnboardingSetting
	// compared counts the other tokens whose key was read; unread those whose key was not
	// (the list itself failing counts as -1).
	compared, unread int
}

// otherTokensConcurrency bounds the public-key reads of one review: a tenant with many tokens
// must not burst Intune's read limits for one person's upload.
const otherTokensConcurrency = 8

// matchOtherTokens compares the file's recipient with the public key of every other token the
// person can see, reading the keys in parallel. It is called only when the file was not made
// for the token being renewed: the common case costs no extra Graph call.
func (s *Service) matchOtherTokens(ctx context.Context, cred graph.Credentials, report deptoken.Report, settingID string) keyMatch {
	var km keyMatch
	all, err := s.intune.ListOnboardingSettings(ctx, cred)
	if err != nil {
		km.unread = -1
		return km
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, otherTokensConcurrency)
	)
	for _, st := range all {
		if st.ID == settingID {
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			pem, err := s.intune.GetEncryptionPublicKey(ctx, cred, st.ID)
			var m deptoken.MatchResult
			if err == nil {
				m, err = deptoken.Match(report, pem)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if km.other == nil {
					km.unread++
				}
			case m.Matched:
				found := st
				km.other = &found
				km.compared++
				cancel() // one match settles it
			default:
				km.compared++
			}
		})
	}
	wg.Wait()
	return km
}

func recipientCheck(report deptoken.Report, setting graph.OnboardingSetting, km keyMatch) Check {
	c := Check{Name: "recipient", Title: "Made for this token's key"}
	manager := Manager(setting.TokenType)
	switch {
	case km.targetOK && km.target.Matched:
		c.Verdict = Pass
		c.Message = "The file was encrypted to the public key Intune holds for " + setting.TokenName + ", so Intune can open it."
	case km.other != nil:
		o := km.other
		c.Verdict = Fail
		c.Title = "This file is the server token for " + o.TokenName
		c.Message = fmt.Sprintf("It was encrypted to the public key of %s (%s), another token of this tenant, not to %s's. Intune could not use it here. Renew %s with it instead; %s needs a file downloaded from its own MDM server.",
			o.TokenName, Manager(o.TokenType), setting.TokenName, o.TokenName, setting.TokenName)
		c.For = &TokenRef{ID: o.ID, Name: o.TokenName, Program: Manager(o.TokenType), AppleID: o.AppleIdentifier}
	case !km.targetOK:
		c.Verdict, c.Ack = Warn, AckUnmatched
		c.Title = "This token's public key could not be read"
		c.Message = "Intune did not hand out the public key of " + setting.TokenName + ", so the file could not be matched to it (nor to any other token). Intune will decide when it receives the file."
		c.Consequence = "Renew without the key check: if the file was made for another key, Intune refuses it and keeps the current token."
	default:
		c.Verdict = Fail
		c.Title = "Made for an MDM server this tenant does not hold"
		c.Message = fmt.Sprintf("The file was encrypted to %s, which is not the key of %s", describeRecipients(report), setting.TokenName)
		switch {
		case km.unread < 0:
			c.Message += ", and the other tokens could not be listed to compare."
		case km.unread > 0:
			c.Message += fmt.Sprintf(" nor of %s compared (%s could not be read, so it may be for one of those).", otherTokens(km.compared), otherTokens(km.unread))
		case km.compared == 1:
			c.Message += " nor of the one other token Intune shows you."
		case km.compared > 1:
			c.Message += fmt.Sprintf(" nor of any of the %d other tokens Intune shows you.", km.compared)
		default:
			c.Message += "."
		}
		c.Message += fmt.Sprintf(" Intune cannot open it. In %s, download the token from the MDM server named like this token: %s.", manager, DownloadPath(setting.TokenName))
		c.Conditional = fmt.Sprintf("Only if this token's key was regenerated in Intune: download its public key, upload it to that MDM server in %s, then download the token again.", manager)
		if km.target.SameIssuer {
			c.Conditional += " The file names this token's issuer with another serial number, which is what a key regenerated on one side looks like."
		}
		c.PublicKeyLink = true
	}
	return c
}

func otherTokens(n int) string {
	if n == 1 {
		return "1 other token"
	}
	return fmt.Sprintf("%d other tokens", n)
}

// duplicateCheck says what was found: the same file sent to this token minutes ago.
func duplicateCheck(last PendingRecord, me audit.Actor, now time.Time) Check {
	who := last.OwnerName
	if who == "" {
		who = "someone"
	}
	if last.OwnerOID != "" && last.OwnerOID == me.ObjectID && last.OwnerTenant == me.TenantID {
		who = "you"
	}
	when := minutesAgo(now.Sub(last.ConsumedAt))
	c := Check{Name: "duplicate", Verdict: Warn, Ack: AckDuplicate}
	switch last.Result.Outcome {
	case Succeeded:
		c.Title = fmt.Sprintf("Already uploaded %s by %s", when, who)
		c.Message = "Intune took that upload. Uploading the same file again changes nothing."
		c.Consequence = "Send it again: Intune already holds this file, so nothing changes."
	case Sending:
		c.Title = fmt.Sprintf("Being uploaded right now (started %s by %s)", when, who)
		c.Message = "Wait for that result before sending it again."
		c.Consequence = "Send it again while the first upload is still going: if the first one works, this one changes nothing."
	default:
		c.Title = fmt.Sprintf("Uploaded %s by %s, outcome not known", when, who)
		c.Message = "Whether Intune took that upload is not known. Sending the same file again is harmless."
		c.Consequence = "Send it again: if the first upload worked, this one changes nothing."
	}
	return c
}

func minutesAgo(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < 2*time.Minute:
		return "1 minute ago"
	}
	return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
}

func describeRecipients(r deptoken.Report) string {
	var parts []string
	for _, rc := range r.Recipients {
		if rc.Issuer != "" {
			parts = append(parts, rc.Issuer+" (serial "+rc.Serial+")")
		}
	}
	if len(parts) == 0 {
		return "an unknown recipient"
	}
	return strings.Join(parts, "; ")
}

func appleIDCheck(appleID string, setting graph.OnboardingSetting) Check {
	c := Check{Name: "apple_id", Title: "Same Apple ID as the current token"}
	switch {
	case setting.AppleIdentifier == "":
		c.Verdict, c.Message = Pass, "Intune shows no Apple ID for this token yet."
	case strings.EqualFold(appleID, setting.AppleIdentifier):
		c.Verdict, c.Message = Pass, "Matches the Apple ID Intune has for this token."
	default:
		c.Verdict, c.Ack = Warn, AckAppleIDChange
		c.Title = "Another Apple ID than Intune's (" + setting.AppleIdentifier + ")"
		c.Message = fmt.Sprintf("Intune has %s for this token; you entered %s. It should be the Apple ID that downloaded this token. Changing it does not affect enrolled devices.", setting.AppleIdentifier, appleID)
		c.Consequence = fmt.Sprintf("Renew with %s: Intune shows this Apple ID for the token from now on; enrolled devices are not affected.", appleID)
	}
	return c
}

// tokenLifetimeYears is how long a server token is valid after its download: a year, as
// Apple and Intune's enrollment documentation say; the file's name carries the download
// time (read by deptoken.Inspect).
const tokenLifetimeYears = 1

// ExpiresAt is when a token file downloaded at downloaded stops working.
func ExpiresAt(downloaded time.Time) time.Time {
	return downloaded.AddDate(tokenLifetimeYears, 0, 0)
}

// downloadCheck reads the download time in the file name: a file older than a year has
// expired (Intune would refuse it, so the review fails); one older than a day may have been
// replaced by a later download.
func downloadCheck(report deptoken.Report, setting graph.OnboardingSetting, now time.Time) (Check, bool) {
	if report.DownloadedAt == nil {
		return Check{}, false
	}
	at := report.DownloadedAt.UTC()
	age := now.Sub(at)
	c := Check{Name: "download", Title: "Downloaded recently"}
	switch expires := ExpiresAt(at); {
	case !now.Before(expires):
		c.Verdict = Fail
		c.Title = "This file expired on " + Day(expires)
		c.Message = fmt.Sprintf("The file name says it was downloaded on %s, and a server token is valid for a year from its download. Intune would refuse it. Download a new one in %s (%s) and upload that file.",
			DayTime(at), Manager(setting.TokenType), DownloadPath(setting.TokenName))
	case age > StaleDownload:
		c.Verdict, c.Ack = Warn, AckStale
		c.Title = "Downloaded " + roundAge(age) + " ago"
		c.Message = fmt.Sprintf("The file name says it was downloaded on %s. Every download in %s replaces the previous token: if anyone downloaded this token again since, this file no longer works.",
			DayTime(at), Manager(setting.TokenType))
		c.Consequence = fmt.Sprintf("Renew with it anyway: if the token was downloaded again since %s, Intune refuses this file and keeps the current token.", Day(at))
	default:
		c.Verdict, c.Message = Pass, "Downloaded "+DayTime(at)+" ("+roundAge(age)+" ago)."
	}
	return c, true
}

func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return "a minute"
}

// tokenTypeCheck warns when a School Manager token receives a file whose name says Business
// Manager, or the reverse. It runs only when the key could not settle it: a file made for this
// token's key comes from this token's MDM server, whatever its name says.
func tokenTypeCheck(report deptoken.Report, setting graph.OnboardingSetting) (Check, bool) {
	name := strings.ToLower(report.ServerName + " " + report.FileName)
	school := strings.Contains(name, "asm") || strings.Contains(name, "school")
	business := strings.Contains(name, "abm") || strings.Contains(name, "business")
	c := Check{Name: "token_type", Verdict: Warn, Ack: AckTokenType}
	switch {
	case setting.TokenType == graph.TokenTypeAppleSchoolManager && business && !school:
		c.Title = "The file name suggests Apple Business Manager"
		c.Message = setting.TokenName + " is an Apple School Manager token. Check you downloaded the file from its MDM server in Apple School Manager."
	case setting.TokenType == graph.TokenTypeDEP && school && !business:
		c.Title = "The file name suggests Apple School Manager"
		c.Message = setting.TokenName + " is an Apple Business Manager token. Check you downloaded the file from its MDM server in Apple Business Manager."
	default:
		return Check{}, false
	}
	c.Consequence = "Renew " + setting.TokenName + " with it anyway: if the file came from another MDM server, Intune refuses it and keeps the current token."
	return c, true
}

// CheckName names a check, by its stable key, in the review's words (for the audit trail,
// whose records keep the key).
func CheckName(key string) string {
	switch key {
	case "file":
		return "The file is an Apple server token"
	case "recipient":
		return "Made for this token's key"
	case "apple_id":
		return "Same Apple ID as the current token"
	case "download":
		return "Downloaded recently, not expired"
	case "token_type":
		return "Business or School Manager as expected"
	case "duplicate":
		return "Not uploaded already"
	}
	return key
}

// Day and DayTime are the one date style of the portal's words (pages enhance dates they
// show as elements to the reader's local time).
func Day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// DayTime is Day with the time of day, in UTC.
func DayTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// RejectionCauses lists the reasons Intune refuses a token file that fit what the review
// found: a cause the review ruled out (the key matched; the file name dates the download within
// the year) is left out, so the person is not sent to fix what is not broken.
func RejectionCauses(checks []Check, tokenType string) []string {
	keyMatched, dated := false, false
	for _, c := range checks {
		switch {
		case c.Name == "recipient" && c.Verdict == Pass:
			keyMatched = true
		case c.Name == "download" && c.Verdict != Fail:
			dated = true
		}
	}
	var causes []string
	if !keyMatched {
		causes = append(causes, "The file was made for another MDM server's key (the review could not compare it with this token's key).")
	}
	causes = append(causes, "The token was downloaded again in "+Manager(tokenType)+" after this file was: every download makes the previous file invalid.")
	if !dated {
		causes = append(causes, "The file has expired: a server token is valid for a year from its download.")
	}
	causes = append(causes, "The file was opened and saved by another program; it must be uploaded exactly as downloaded.")
	return causes
}
