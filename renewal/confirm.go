package renewal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/secret"
)

var (
	// ErrPendingGone: the review expired unused or belongs to another session. Nothing was sent.
	ErrPendingGone = errors.New("pending upload expired or not yours")
	// ErrAlreadyConfirmed: this session confirmed the review before (a second click, a
	// resubmitted form). Nothing more is sent; its result page tells what happened.
	ErrAlreadyConfirmed = errors.New("pending upload already confirmed")
	// ErrUploadNotFound: no upload with this id that the viewer may see.
	ErrUploadNotFound = errors.New("upload not found")
)

// AckMissingError: a warning was not acknowledged. Nothing was sent; the review stays usable.
type AckMissingError struct {
	Missing []string
	Review  Review // the review to show again
}

func (e *AckMissingError) Error() string {
	return fmt.Sprintf("confirmation missing for %v", e.Missing)
}

// Outcome is what became of a confirmed upload. The rule (docs/decisions/0007): Succeeded only
// when Intune answered 2xx or a read-back shows the new token in place; Failed only when nothing
// can have reached Intune (refused before sending, a 4xx from Intune, 429) or a read-back shows
// the previous token still in place; everything else is Unknown.
type Outcome string

const (
	NotSent   Outcome = ""
	Sending   Outcome = "sending"
	Succeeded Outcome = "succeeded"
	Failed    Outcome = "failed"
	Unknown   Outcome = "unknown"
)

// UploadResult is what is known of a sent upload: what the result page shows on every reload.
type UploadResult struct {
	Outcome    Outcome        `json:"outcome"`
	SentAt     time.Time      `json:"sentAt"`
	FinishedAt time.Time      `json:"finishedAt"`
	Call       graph.CallInfo `json:"call"`
	// Error is Intune's answer when the upload did not plainly succeed.
	Error *StoredError `json:"error,omitempty"`
	// After is the token as read back after the upload; nil when no read-back worked.
	After         *graph.OnboardingSetting `json:"after,omitempty"`
	ReadBackError string                   `json:"readBackError,omitempty"`
	// Reconciled is set when a read-back decided the outcome (or tried to): what it showed.
	Reconciled string `json:"reconciled,omitempty"`
	// Audit records of this upload; AuditError when one could not be written.
	IntentSeq    int64  `json:"intentSeq"`
	OutcomeSeq   int64  `json:"outcomeSeq"`
	ReconcileSeq int64  `json:"reconcileSeq"`
	AuditError   string `json:"auditError,omitempty"`
	// RetryID is the pending upload that sends the same reviewed file again, kept after a
	// failure that left Intune as it was for a reason that may pass (Retryable); it waits
	// until the review's own 10 minutes end. RetryOf, on that pending upload, points back.
	RetryID string `json:"retryId,omitempty"`
	RetryOf string `json:"retryOf,omitempty"`
}

// Retryable reports whether a failed upload provably left Intune as it was, for a reason that
// may pass (throttling, an outage, an expired sign-in, or a read-back showing the previous
// token in place): the same reviewed file may then be sent again as it is. A refusal of the
// file itself (400), a missing role or a token that is gone are not: sending again changes
// nothing.
func (r UploadResult) Retryable() bool {
	if r.Outcome != Failed {
		return false
	}
	if r.Reconciled != "" {
		return true
	}
	if r.Error == nil {
		return false
	}
	// A claims challenge is not among them: it is answered by a sign-in that asks for the
	// claims, which comes back to the review itself.
	switch r.Error.Class {
	case graph.ClassThrottled, graph.ClassUnavailable, graph.ClassUnauthorized:
		return true
	}
	return false
}

// StoredError is a *graph.Error as kept with the result: the words and IDs, not the cause.
type StoredError struct {
	Class           graph.ErrorClass `json:"class"`
	Status          int              `json:"status"`
	Code            string           `json:"code"`
	Message         string           `json:"message"`
	RequestID       string           `json:"requestId"`
	ClientRequestID string           `json:"clientRequestId"`
	Date            string           `json:"date"`
	ActivityID      string           `json:"activityId"`
	RetryAfter      time.Duration    `json:"retryAfter"`
	// Claims is Graph's claims challenge (base64), with ClassInsufficientClaims: what the
	// person's fresh sign-in must ask for before Try again can work.
	Claims string `json:"claims,omitempty"`
}

// GraphError rebuilds the error for the pages that explain Graph failures.
func (e *StoredError) GraphError() *graph.Error {
	return graph.RestoreError(e.Class, graph.Error{Status: e.Status, Code: e.Code, Message: e.Message, RequestID: e.RequestID, Claims: e.Claims,
		ClientRequestID: e.ClientRequestID, Date: e.Date, ActivityID: e.ActivityID, RetryAfter: e.RetryAfter})
}

func storeError(err error) *StoredError {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return &StoredError{Class: graph.ClassOther, Message: err.Error()}
	}
	return &StoredError{Class: ge.Class(), Status: ge.Status, Code: ge.Code, Message: ge.Message, RequestID: ge.RequestID,
		ClientRequestID: ge.ClientRequestID, Date: ge.Date, ActivityID: ge.ActivityID, RetryAfter: ge.RetryAfter, Claims: ge.Claims}
}

// Viewer is who asks to see an upload.
type Viewer struct {
	SessionHash string
	TenantID    string
	ObjectID    string
	Auditor     bool // auditors see every upload
}

func (v Viewer) mayView(p PendingRecord) bool {
	return v.Auditor || (v.SessionHash != "" && v.SessionHash == p.SessionHash) ||
		(p.OwnerOID != "" && p.OwnerOID == v.ObjectID && p.OwnerTenant == v.TenantID)
}

// Pending returns a pending upload for the review page of the session that made it.
func (s *Service) Pending(ctx context.Context, sessionHash, id string) (PendingRecord, error) {
	p, err := s.store.PendingUpload(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && p.SessionHash != sessionHash) {
		return PendingRecord{}, ErrPendingGone
	}
	if err != nil {
		return PendingRecord{}, err
	}
	if !p.ConsumedAt.IsZero() {
		return p, ErrAlreadyConfirmed
	}
	if s.now().After(p.ExpiresAt) {
		return PendingRecord{}, ErrPendingGone
	}
	return p, nil
}

// Upload returns an upload (reviewed, being sent, or done) for its page. An upload whose
// outcome was never recorded (the portal stopped mid-way) is shown as unknown once its work
// cannot still be running.
func (s *Service) Upload(ctx context.Context, id string, v Viewer) (PendingRecord, error) {
	p, err := s.store.PendingUpload(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !v.mayView(p)) {
		return PendingRecord{}, ErrUploadNotFound
	}
	if err != nil {
		return PendingRecord{}, err
	}
	if s.working(p) && s.now().After(p.ConsumedAt.Add(s.workTimeout+time.Minute)) {
		// The work cannot still be running: the portal stopped before it finished.
		if p.Result.Outcome == Sending {
			p.Result.Outcome = Unknown
			p.Result.Reconciled = "The portal stopped before it knew the outcome of this upload."
		}
		p.Result.FinishedAt = p.ConsumedAt.Add(s.workTimeout)
	}
	return p, nil
}

// working reports whether a claimed upload's work has not finished: Intune's answer may be
// known already (it is saved at once, for the duplicate check), but its audit records and the
// read-back are not.
func (s *Service) working(p PendingRecord) bool {
	return !p.ConsumedAt.IsZero() && p.Result.FinishedAt.IsZero()
}

// UploadByIntent finds the upload of an upload.intent audit record, for the audit pages.
func (s *Service) UploadByIntent(ctx context.Context, intentSeq int64) (PendingRecord, error) {
	p, err := s.store.PendingUploadByIntent(ctx, intentSeq)
	if errors.Is(err, ErrNotFound) {
		return PendingRecord{}, ErrUploadNotFound
	}
	return p, err
}

// AwaitUpload is Upload, waiting (up to max, or until ctx ends) while the upload's work is not
// finished: a second click or a reload shows the first click's whole result, not "in progress".
func (s *Service) AwaitUpload(ctx context.Context, id string, v Viewer, max time.Duration) (PendingRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	for {
		p, err := s.Upload(ctx, id, v)
		if err != nil || !s.working(p) {
			return p, err
		}
		if sleepContext(ctx, 200*time.Millisecond) != nil {
			return p, nil
		}
	}
}

// Confirm performs a reviewed upload: it checks the acknowledgements, claims the pending
// upload (single use), commits the audit intent, calls uploadDepToken with the person's token,
// and settles the outcome, by read-back when Intune's answer does not settle it.
//
// Once the intent is committed the work belongs to the server: it runs on a context detached
// from ctx (bounded by WorkTimeout), so a closed tab or a second click changes nothing. The
// returned record carries the result; errors before anything was sent come back as errors.
func (s *Service) Confirm(ctx context.Context, sess Session, id string, acks []string) (PendingRecord, error) {
	p, err := s.pendingFor(ctx, sess, id)
	if err != nil {
		return p, err
	}
	if p.Review().Failed() {
		// Kept only to renew the token it was made for; never sent here.
		return PendingRecord{}, fmt.Errorf("%w: a check of its review failed", ErrPendingGone)
	}
	var missing []string
	for _, need := range Acks(p.Checks) {
		if !slices.Contains(acks, need) {
			missing = append(missing, need)
		}
	}
	if len(missing) > 0 {
		return p, &AckMissingError{Missing: missing, Review: p.Review()}
	}

	p, err = s.store.ClaimPendingUpload(ctx, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return p, ErrAlreadyConfirmed // another request of this session claimed it first
	}
	if err != nil {
		return p, fmt.Errorf("claim pending upload: %w", err)
	}
	sealed := p.Sealed
	// From here a failure must put the file back, or finish the upload's record.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.workTimeout)
	defer cancel()

	// The intent is committed before anything can reach Intune: no record, no upload.
	intent := sess.entry(audit.UploadIntent)
	intent.Setting = audit.Setting{ID: p.SettingID, Name: p.SettingName}
	intent.AppleID = p.AppleID
	intent.Token = audit.TokenFile{SHA256: p.FileSHA256}
	rec, err := s.audit.Append(work, intent)
	if err != nil {
		if rerr := s.store.ReleasePendingUpload(work, id, sealed); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release pending upload: %w", rerr))
		}
		return p, audit.Unrecorded(err)
	}
	p.IntentSeq = rec.Seq
	res := UploadResult{Outcome: Sending, SentAt: p.ConsumedAt, IntentSeq: rec.Seq, RetryOf: p.Result.RetryOf}

	file, err := s.sealer.Open(sealed, []byte(p.ID))
	if err != nil {
		res.Outcome, res.Error = Failed, &StoredError{Class: graph.ClassOther, Message: "the checked file could not be opened; nothing was sent"}
		res.OutcomeSeq, res.AuditError = s.recordOutcome(work, sess, intent, rec.Seq, audit.UploadFailed, "", graph.CallInfo{}, nil, "not sent: pending upload unreadable")
		return s.finish(work, p, res)
	}
	// The file stays open until the outcome is known: a failure that left Intune as it was
	// keeps it for "Try again".
	defer clear(file)
	res.Call, err = s.intune.UploadDepToken(work, sess.Credentials, p.SettingID, p.AppleID, file)
	outcome, event := classifyUpload(err)
	res.Outcome = outcome
	if err != nil {
		res.Error = storeError(err)
	}
	// Saved before anything else, so the duplicate check sees an upload Intune took even if a
	// later step fails.
	if serr := s.store.SaveUploadResult(work, id, res); serr != nil {
		res.AuditError = joinText(res.AuditError, "result not saved: "+serr.Error())
	}
	var aerr string
	res.OutcomeSeq, aerr = s.recordOutcome(work, sess, intent, rec.Seq, event, "", res.Call, err, "")
	res.AuditError = joinText(res.AuditError, aerr)

	switch res.Outcome {
	case Succeeded:
		// The new expiry, for the page. The renewal stands whether or not this read works.
		after, rerr := s.intune.GetOnboardingSetting(work, sess.Credentials, p.SettingID)
		if rerr != nil {
			res.ReadBackError = readBackText(rerr)
		} else {
			res.After = &after
		}
	case Unknown:
		s.reconcile(work, sess, intent, p, &res)
	}
	switch res.Outcome {
	case Succeeded:
		s.renewed(work, p.SettingID, res.After)
	case Unknown:
		s.renewed(work, p.SettingID, nil) // the watch's next read finds out
	}
	if res.Retryable() || res.ClaimsChallenged() {
		// A claims challenge keeps the file too: the person's fresh sign-in, asking for the
		// claims, comes back to the kept review (handlers/confirm.go).
		s.keepForRetry(work, p, file, &res)
	}
	return s.finish(work, p, res)
}

// ClaimsChallenged reports whether Graph refused the upload with a claims challenge
// (Conditional Access wants a fresh sign-in): nothing reached Intune, and the person signs in
// again asking for Error.Claims before the same file is sent again.
func (r UploadResult) ClaimsChallenged() bool {
	return r.Outcome == Failed && r.Error != nil && r.Error.Class == graph.ClassInsufficientClaims && r.Error.Claims != ""
}

// keepForRetry keeps the reviewed file as a new pending upload, with the same checks and the
// review's own expiry, so that "Try again" sends it without anything being chosen again. It
// may be confirmed by the same person from a new session (they may have had to sign in
// again). Failing to keep it only means the page offers the form instead.
func (s *Service) keepForRetry(ctx context.Context, p PendingRecord, file []byte, res *UploadResult) {
	now := s.now()
	if !now.Before(p.ExpiresAt) {
		return
	}
	retry := p
	retry.ID = secret.RandomToken()
	retry.Sealed = s.sealer.Seal(file, []byte(retry.ID))
	retry.CreatedAt, retry.ConsumedAt, retry.IntentSeq, retry.Result = now, time.Time{}, 0, UploadResult{}
	if err := s.store.PutPendingUpload(ctx, retry); err != nil {
		return
	}
	if err := s.store.SaveUploadResult(ctx, retry.ID, UploadResult{RetryOf: p.ID}); err != nil {
		return
	}
	res.RetryID = retry.ID
}

// pendingFor is Pending for a confirmation: a pending upload kept for "Try again" may also be
// confirmed by the person who reviewed it from another session (after signing in again).
func (s *Service) pendingFor(ctx context.Context, sess Session, id string) (PendingRecord, error) {
	p, err := s.Pending(ctx, sess.Hash, id)
	if !errors.Is(err, ErrPendingGone) {
		return p, err
	}
	q, qerr := s.store.PendingUpload(ctx, id)
	if qerr != nil || q.Result.RetryOf == "" || q.OwnerOID == "" || q.OwnerOID != sess.Actor.ObjectID || q.OwnerTenant != sess.Actor.TenantID {
		return p, err
	}
	if !q.ConsumedAt.IsZero() {
		return q, ErrAlreadyConfirmed
	}
	if s.now().After(q.ExpiresAt) {
		return PendingRecord{}, ErrPendingGone
	}
	return q, nil
}

// RenewOther reviews a kept file again, for the token of the tenant its review found it was
// made for (Check.For): the person renews that token without uploading the file a second time.
// appleID is the Apple ID to renew it with. The new review is kept as a pending upload like any
// other; the first one stays as it was.
func (s *Service) RenewOther(ctx context.Context, sess Session, pendingID, settingID, appleID string) (Review, error) {
	p, err := s.Pending(ctx, sess.Hash, pendingID)
	if err != nil {
		return Review{}, err
	}
	other := p.Review().ForOther()
	if other == nil || other.ID != settingID {
		return Review{}, fmt.Errorf("%w: its file was not found to be made for token %q", ErrPendingGone, settingID)
	}
	file, err := s.sealer.Open(p.Sealed, []byte(p.ID))
	if err != nil {
		return Review{}, fmt.Errorf("open kept file: %w", err)
	}
	defer clear(file)
	return s.Prepare(ctx, sess, Request{SettingID: settingID, AppleID: appleID, FileName: p.FileName, File: file})
}

// classifyUpload applies the outcome rule to Intune's answer to an upload.
func classifyUpload(err error) (Outcome, audit.EventType) {
	switch graphOutcome(err) {
	case audit.Success:
		return Succeeded, audit.UploadSucceeded
	case audit.Failure:
		return Failed, audit.UploadFailed
	}
	return Unknown, audit.UploadUnknown
}

// graphOutcome is the outcome rule for a write to Intune: success when it answered yes,
// failure when it (or Graph in front of it) refused, or nothing was sent; unknown when no
// answer said, as after a timeout, a dropped connection or a 5xx.
func graphOutcome(err error) audit.Outcome {
	if err == nil {
		return audit.Success
	}
	var ge *graph.Error
	if !errors.As(err, &ge) {
		return audit.Unknown // not Graph's words: nothing proves the request stayed here
	}
	switch {
	case ge.Class() == graph.ClassOutcomeUnknown:
		return audit.Unknown
	case ge.Status >= 400 && ge.Status < 500:
		return audit.Failure // Intune (or Graph in front of it) refused it
	case ge.Status == 0:
		return audit.Failure // refused before sending: no connection, bad input
	}
	return audit.Unknown
}

// reconcile reads the token back after an unknown outcome and compares it with the token as
// it was at review time. A moved expiry or modification time proves the upload took effect;
// the same values on every read show the previous token is still there; no read at all
// leaves the outcome unknown.
func (s *Service) reconcile(ctx context.Context, sess Session, intent audit.Entry, p PendingRecord, res *UploadResult) {
	before := p.Setting
	var (
		seen    *graph.OnboardingSetting
		lastErr error
	)
	for _, d := range s.reconcileDelays {
		if s.sleep(ctx, d) != nil {
			break
		}
		after, err := s.intune.GetOnboardingSetting(ctx, sess.Credentials, p.SettingID)
		if err != nil {
			lastErr = err
			continue
		}
		seen = &after
		if tookEffect(before, after) {
			break
		}
	}
	e := intent
	e.Type, e.IntentSeq = audit.UploadReconciled, res.IntentSeq
	switch {
	case seen != nil && tookEffect(before, *seen):
		res.Outcome, res.After = Succeeded, seen
		res.Reconciled = fmt.Sprintf("Intune's answer did not settle it, so the token was read back: it now expires %s (before: %s) and was modified %s. The new token is in place.",
			stamp(seen.TokenExpirationDateTime), stamp(before.TokenExpirationDateTime), stamp(seen.LastModifiedDateTime))
		e.Outcome = audit.Success
	case seen != nil:
		res.Outcome, res.After = Failed, seen
		res.Reconciled = fmt.Sprintf("Intune's answer did not settle it, so the token was read back %d times over %s: it still expires %s and was last modified %s, as before the upload. Intune still holds the previous token.",
			len(s.reconcileDelays), sum(s.reconcileDelays), stamp(seen.TokenExpirationDateTime), stamp(seen.LastModifiedDateTime))
		e.Outcome = audit.Failure
	default:
		res.ReadBackError = readBackText(lastErr)
		res.Reconciled = "Intune's answer did not settle it, and the token could not be read back to find out."
		e.Outcome = audit.Unknown
	}
	e.Reason = res.Reconciled
	rec, err := s.audit.Append(ctx, e)
	if err != nil {
		res.AuditError = joinText(res.AuditError, "reconciliation not recorded: "+err.Error())
		return
	}
	res.ReconcileSeq = rec.Seq
}

func tookEffect(before, after graph.OnboardingSetting) bool {
	return !after.TokenExpirationDateTime.Equal(before.TokenExpirationDateTime) ||
		after.LastModifiedDateTime.After(before.LastModifiedDateTime)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006 15:04:05 UTC")
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func readBackText(err error) string {
	if err == nil {
		return ""
	}
	var ge *graph.Error
	if errors.As(err, &ge) {
		return fmt.Sprintf("%s: %s", ge.Class(), ge.Message)
	}
	return err.Error()
}

func joinText(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// finish saves the final result. A failure to save does not change what happened: the
// returned record still carries it, and the audit trail has it.
func (s *Service) finish(ctx context.Context, p PendingRecord, res UploadResult) (PendingRecord, error) {
	res.FinishedAt = s.now()
	if err := s.store.SaveUploadResult(ctx, p.ID, res); err != nil {
		res.AuditError = joinText(res.AuditError, "result not saved: "+err.Error())
	}
	p.Result = res
	return p, nil
}

// recordOutcome writes the record that closes an intent. Its failure cannot undo what Intune
// did, so it is returned as text for the page and the log rather than replacing the result.
func (s *Service) recordOutcome(ctx context.Context, sess Session, intent audit.Entry, intentSeq int64, event audit.EventType, outcome audit.Outcome, call graph.CallInfo, callErr error, reason string) (int64, string) {
	e := intent
	e.Type, e.Outcome, e.IntentSeq, e.Reason = event, outcome, intentSeq, reason
	e.Graph = audit.GraphResult{Status: call.Status, RequestID: call.RequestID, ClientRequestID: call.ClientRequestID}
	e.DurationMS = call.Duration.Milliseconds()
	var ge *graph.Error
	if errors.As(callErr, &ge) {
		e.Graph = audit.GraphResult{Status: ge.Status, Code: ge.Code, RequestID: ge.RequestID, ClientRequestID: ge.ClientRequestID, ActivityID: ge.ActivityID}
		e.DurationMS = ge.Call.Duration.Milliseconds()
		if e.Reason == "" {
			e.Reason = string(ge.Class()) + ": " + ge.Message
		}
	} else if callErr != nil && e.Reason == "" {
		e.Reason = callErr.Error()
	}
	rec, err := s.audit.Append(ctx, e)
	if err != nil {
		return 0, "outcome not recorded: " + err.Error()
	}
	return rec.Seq, ""
}

// Sweep deletes uploads older than a day (the duplicate check looks back 10 minutes; a
// result page stays viewable for that day, the audit trail for ever).
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	return s.store.DeletePendingUploadsBefore(ctx, s.now().Add(-24*time.Hour))
}
