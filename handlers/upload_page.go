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

// awaitSending is how long the page of an upload still being sent waits for its result: a
// second click or a reload during the upload shows the first click's outcome.
const awaitSending = 60 * time.Second

// uploadPage shows an upload at every stage: the review while it waits for confirmation (to
// the session that made it), then what became of it, to that person and to auditors.
func (s *server) uploadPage(c echo.Context) error {
	sess, _ := sessionOf(c)
	viewer := renewal.Viewer{
		SessionHash: sess.IDHash,
		TenantID:    sess.Identity.TenantID,
		ObjectID:    sess.Identity.ObjectID,
		Auditor:     sess.Identity.HasRole(s.roles.Auditor),
	}
	p, err := s.Renewals.AwaitUpload(c.Request().Context(), c.Param("id"), viewer, awaitSending)
	if err != nil {
		return err
	}
	now := s.Now()
	// A file kept for sending again (RetryOf) is the reviewer's own from any session: they may
	// have had to sign in again (after a claims challenge, for one), as Confirm allows.
	mine := p.SessionHash == sess.IDHash ||
		(p.Result.RetryOf != "" && p.OwnerOID == sess.Identity.ObjectID && p.OwnerTenant == sess.Identity.TenantID)
	if p.Result.Outcome == renewal.NotSent && mine && now.Before(p.ExpiresAt) && sess.Identity.HasRole(s.roles.Uploader) {
		rv := p.Review()
		return render(c, http.StatusOK, views.ReviewPage(s.page(c, "Check "+p.SettingName), s.reviewView(p.SettingID, p.SettingName, rv, false)))
	}
	var retry *views.RetryForm
	if p.Result.RetryID != "" && now.Before(p.ExpiresAt) && sess.Identity.HasRole(s.roles.Uploader) &&
		(p.SessionHash == sess.IDHash || (p.OwnerOID == sess.Identity.ObjectID && p.OwnerTenant == sess.Identity.TenantID)) {
		retry = retryForm(p, sess.CreatedAt, now)
	}
	v := s.uploadView(p, viewer, now, retry)
	if v.State == string(renewal.Succeeded) && sess.Identity.HasRole(s.roles.Uploader) {
		// Intune syncs after a renewal by itself; a sync asked for now shows newly assigned
		// devices sooner.
		v.SyncAction = "/settings/" + url.PathEscape(p.SettingID) + "/sync"
	}
	return render(c, http.StatusOK, views.UploadResultPage(s.page(c, v.Heading), v))
}

// retryForm offers "Try again" for an upload that failed without changing Intune's token, for
// a reason that may pass: the reviewed file is kept as a new pending upload (RetryID) until the
// review's 10 minutes end, and is sent with the decisions already made on its warnings.
func retryForm(p renewal.PendingRecord, signedInAt, now time.Time) *views.RetryForm {
	res := p.Result
	r := &views.RetryForm{Action: "/uploads/" + res.RetryID + "/confirm", Acks: renewal.Acks(p.Checks), Until: timeSoon(p.ExpiresAt, now)}
	switch {
	case res.Reconciled != "":
		r.Note = "Reading the token back showed Intune still holds the previous one, so the same file can be sent again."
	case res.Error == nil:
	case res.Error.Class == graph.ClassThrottled && res.Error.RetryAfter > 0:
		r.Note = fmt.Sprintf("Nothing reached the token. Intune asked to wait %s: try again after %s.",
			seconds(int(res.Error.RetryAfter.Seconds()+0.5)), res.FinishedAt.Add(res.Error.RetryAfter).UTC().Format("15:04:05 UTC"))
	case res.Error.Class == graph.ClassInsufficientClaims:
		r.Note = "Nothing reached the token: your organisation asked for a fresh sign-in first (Conditional Access)."
		if !signedInAt.After(res.FinishedAt) {
			r.SignIn = claimsLoginURL("/uploads/"+res.RetryID, res.Error.Claims)
			r.Note += " Sign in again (you come back to the same file), then send it."
		}
	case res.Error.Class == graph.ClassUnauthorized:
		r.Note = "Nothing reached the token."
		if !signedInAt.After(res.FinishedAt) {
			// This session's sign-in is the one that expired: a new sign-in comes first.
			r.SignIn = loginURL("/uploads/" + p.ID)
			r.Note = "Nothing reached the token. Sign in again (you come back to this page), then try again."
		}
	default:
		r.Note = "Nothing reached the token, so the same file can be sent again."
	}
	return r
}

// uploadView words an upload's state. The rule it follows: "renewed" only when Intune said so
// or a read-back proved it; "not renewed" only when nothing can have reached Intune or a
// read-back proved the previous token is still there; otherwise "not known", said plainly,
// and never advice to download the token again when the upload may have taken effect.
//
// retry, when the viewer may send the same file again, replaces the advice to upload it again.
func (s *server) uploadView(p renewal.PendingRecord, viewer renewal.Viewer, now time.Time, retry *views.RetryForm) views.UploadResult {
	res := p.Result
	v := views.UploadResult{UploadID: p.ID, State: string(res.Outcome), Token: tokenView(p.Setting, now)}
	v.Token.ID, v.Token.Name = p.SettingID, p.SettingName
	back := views.Link{Label: "Back to all tokens", Href: "/"}
	tokenPage := views.Link{Label: "Open " + p.SettingName, Href: "/settings/" + url.PathEscape(p.SettingID)}
	renewAgain := views.Link{Label: "Upload the same file again", Href: (&inSetting{ID: p.SettingID, AppleID: p.AppleID}).path()}

	who := p.OwnerName
	if p.SessionHash == viewer.SessionHash || (p.OwnerOID != "" && p.OwnerOID == viewer.ObjectID) {
		who = "you"
	}
	v.Facts = append(v.Facts,
		views.Fact{Label: "Token", Value: p.SettingName},
		views.Fact{Label: "Apple ID", Value: p.AppleID},
		views.Fact{Label: "File", Value: p.FileName},
		views.Fact{Label: "File SHA-256", Value: p.FileSHA256},
	)
	if !res.SentAt.IsZero() {
		sent := dateTimeOrNever(res.SentAt)
		v.Facts = append(v.Facts, views.Fact{Label: "Sent", When: &sent, Value: "by " + who})
	}
	before := dateOrUnknown(p.Setting.TokenExpirationDateTime)
	v.Facts = append(v.Facts, views.Fact{Label: "Expiry before", When: &before})
	v.Token.State = "" // the state shown is the one read after the upload, if any
	if res.After != nil {
		v.Token = tokenView(*res.After, now)
		v.Token.ID, v.Token.Name = p.SettingID, p.SettingName
		after := v.Token.Expiry
		v.NewExpiry = &after
	}
	if res.IntentSeq > 0 {
		v.Records = auditSeqs(res)
	}
	v.Support = callFacts(res.Call)
	if res.Error != nil {
		v.Support = supportFacts(res.Error.GraphError())
	}
	if res.Reconciled != "" {
		v.Notes = append(v.Notes, res.Reconciled)
	}
	if res.AuditError != "" {
		v.Notes = append(v.Notes, fmt.Sprintf("Part of this upload's record could not be written to the audit trail (its intent is record #%d). Tell the portal's operators.", res.IntentSeq))
	}

	switch res.Outcome {
	case renewal.NotSent:
		if rv := p.Review(); rv.Failed() {
			// Kept only because it is another token's file: never sent here.
			v.State, v.Heading = "stopped", "Not sent: the review stopped this file"
			for _, c := range rv.Checks {
				if c.Verdict == renewal.Fail {
					v.Message = c.Title + ". " + c.Message
					break
				}
			}
			v.Actions = []views.Link{tokenPage, back}
			if o := rv.ForOther(); o != nil {
				v.Actions = []views.Link{{Label: "Open " + o.Name, Href: "/settings/" + url.PathEscape(o.ID)}, tokenPage}
			}
			break
		}
		if now.Before(p.ExpiresAt) {
			v.State, v.Heading = "waiting", "Reviewed, not sent"
			v.Message = fmt.Sprintf("%s checked this file for %s; it has not been sent to Intune.", capitalise(who), p.SettingName)
			v.Actions = []views.Link{tokenPage, back}
			break
		}
		v.State, v.Heading = "expired", "This review expired unused"
		v.Message = fmt.Sprintf("Nothing was sent to Intune. A checked file waits 10 minutes for confirmation; this one waited until %s.", renewal.DayTime(p.ExpiresAt))
		v.Next = "Upload the same file again. It stays valid until someone downloads this token again in Apple Business Manager."
		v.Actions = []views.Link{renewAgain, back}
	case renewal.Sending:
		v.Heading = "Sending to Intune…"
		v.Message = "The renewal was sent and Intune has not answered yet. It goes on even if you close this page."
		v.Next = "Reload this page in a minute to see the result."
		v.NoDownload = true
		v.Actions = []views.Link{{Label: "Reload", Href: "/uploads/" + p.ID}, back}
	case renewal.Succeeded:
		v.Heading = "Token renewed"
		v.Message = "Intune accepted the new server token for " + p.SettingName + "."
		if res.Reconciled != "" {
			v.Message = "The new server token for " + p.SettingName + " is in place. " + answerCause(res) + " did not say so, but reading the token back does."
		}
		if res.After == nil {
			v.NewExpiryNote = "not read back yet — open the token again in a minute"
		}
		v.NoDownload = true
		v.Actions = []views.Link{back, tokenPage}
	case renewal.Failed:
		if res.Reconciled != "" {
			v.Heading = "Not renewed: Intune still holds the previous token"
			v.Message = answerCause(res) + " did not say whether Intune took the file, so the portal read the token back: it did not."
			v.Next = "Upload the same file again; you do not need a new one. It stays valid until someone downloads this token again in Apple Business Manager."
			v.Actions = []views.Link{renewAgain, tokenPage}
			break
		}
		pr := graphProblem(res.Error.GraphError(), &inSetting{ID: p.SettingID, AppleID: p.AppleID})
		v.Heading, v.Message, v.Next, v.Causes, v.Actions = pr.Heading, pr.Message, pr.Next, pr.Causes, pr.Actions
		switch res.Error.Class {
		case graph.ClassRejected:
			// Intune's own words first, then only the causes the review did not rule out.
			v.Reason = clipText(res.Error.Message, 300)
			if v.Reason == "" {
				v.Reason = "(no reason given)"
			}
			v.Message = "Intune cannot use this file, so it still holds the previous token, which Apple may already have replaced."
			v.Causes = renewal.RejectionCauses(p.Checks, p.Setting.TokenType)
			v.Next = fmt.Sprintf("Download the token once more in %s (%s) and upload that file straight away: until then devices cannot enroll through this token.",
				renewal.Manager(p.Setting.TokenType), renewal.DownloadPath(p.SettingName))
			v.Actions = []views.Link{renewAgain, back}
			v.Actions[0].Label = "Upload a new file"
		case graph.ClassThrottled, graph.ClassUnavailable:
			if res.RetryID == "" {
				// Nothing reached Intune: the same file is still good.
				v.Actions = append([]views.Link{renewAgain}, v.Actions...)
			}
		}
	default: // unknown
		v.State = "unknown"
		v.Heading = "We could not confirm whether Intune took the token"
		v.Message = unknownMessage(res)
		v.Next = "Open the token in a few minutes: if its expiry moved about a year ahead, the renewal worked. If it did not, upload this same file again: sending the same file twice is harmless."
		v.NoDownload = true
		v.Actions = []views.Link{tokenPage, renewAgain}
	}
	if retry != nil {
		// "Try again" (with its sign-in first, if needed) is what to do: it sends the file
		// itself, so neither the form nor the advice to fill it in again is offered.
		v.Retry, v.Next = retry, ""
		v.Actions = []views.Link{tokenPage, back}
	}
	return v
}

func unknownMessage(res renewal.UploadResult) string {
	if res.Error == nil {
		return "The renewal was sent, but its outcome was not recorded."
	}
	if res.Error.Status >= 500 {
		return fmt.Sprintf("Intune answered %s, which Microsoft Graph can send after the token was already applied.", statusText(res.Error.Status))
	}
	if res.Error.Class == graph.ClassOutcomeUnknown {
		return "The token was sent, but no answer came back (the connection dropped or timed out). Intune may have renewed the token or not."
	}
	return "The token was sent, and Intune's answer does not say whether it was applied."
}

// answerCause names what Intune answered to an upload whose outcome it did not settle.
func answerCause(res renewal.UploadResult) string {
	if res.Error != nil && res.Error.Status != 0 {
		return "Intune's answer (" + statusText(res.Error.Status) + ")"
	}
	return "The lost answer (the connection dropped or timed out)"
}

func auditSeqs(res renewal.UploadResult) string {
	out := fmt.Sprintf("#%d intent", res.IntentSeq)
	if res.OutcomeSeq > 0 {
		out += fmt.Sprintf(", #%d outcome", res.OutcomeSeq)
	}
	if res.ReconcileSeq > 0 {
		out += fmt.Sprintf(", #%d read-back", res.ReconcileSeq)
	}
	return out
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
