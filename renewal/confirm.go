package renewal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
)

var (
	// ErrPendingGone: the pending upload expired, was already confirmed, or belongs to another
	// session. Nothing was sent.
	ErrPendingGone = errors.New("pending upload expired or already used")
)

// OutcomeNotRecordedError: the upload happened (or failed), but its outcome record could not be
// written. The intent record stands; operators find it by IntentSeq.
type OutcomeNotRecordedError struct {
	Err       error // the upload's own error, nil when it succeeded
	IntentSeq int64
	AuditErr  error
}

func (e *OutcomeNotRecordedError) Error() string {
	return fmt.Sprintf("outcome of upload intent #%d not recorded: %v (upload: %v)", e.IntentSeq, e.AuditErr, e.Err)
}
func (e *OutcomeNotRecordedError) Unwrap() error { return e.Err }

// AckMissingError: a warning was not acknowledged. Nothing was sent; the pending upload stays.
type AckMissingError struct{ Missing []string }

func (e *AckMissingError) Error() string {
	return fmt.Sprintf("confirmation missing for %v", e.Missing)
}

// Result is what the person sees after the upload.
type Result struct {
	SettingID   string
	SettingName string
	AppleID     string
	FileSHA256  string
	// Outcome is "succeeded", "failed" or "unknown" once the file was sent to Intune, "" when
	// it never was.
	Outcome string
	Call    graph.CallInfo
	Before  time.Time // the expiry before the renewal
	After   graph.OnboardingSetting
	// ReadBackErr is set when the upload succeeded but reading the token back failed: the
	// renewal stands, only the new expiry is not known yet.
	ReadBackErr error
	// IntentSeq is the audit record written before the call; OutcomeSeq the one after (0 if
	// it could not be written: OutcomeNotRecorded then says why).
	IntentSeq          int64
	OutcomeSeq         int64
	OutcomeNotRecorded error
}

// Pending returns a pending upload for the review page of the session that made it.
func (s *Service) Pending(ctx context.Context, sessionHash, id string) (PendingRecord, error) {
	p, err := s.store.PendingUpload(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (p.SessionHash != sessionHash || !p.ConsumedAt.IsZero() || s.now().After(p.ExpiresAt))) {
		return PendingRecord{}, ErrPendingGone
	}
	return p, err
}

// Confirm performs a reviewed upload: checks the acknowledgements, consumes the pending upload
// (single use), calls uploadDepToken with the person's token, and reads the token back for its
// new expiry. A *graph.Error comes back as it is for the page to explain.
func (s *Service) Confirm(ctx context.Context, sess Session, id string, acks []string) (Result, error) {
	p, err := s.Pending(ctx, sess.Hash, id)
	if err != nil {
		return Result{}, err
	}
	res := Result{SettingID: p.SettingID, SettingName: p.SettingName, AppleID: p.AppleID, FileSHA256: p.FileSHA256}
	var missing []string
	for _, need := range Acks(p.Checks) {
		if !slices.Contains(acks, need) {
			missing = append(missing, need)
		}
	}
	if len(missing) > 0 {
		return res, &AckMissingError{Missing: missing}
	}
	before, err := s.intune.GetOnboardingSetting(ctx, sess.Credentials, p.SettingID)
	if err != nil {
		return res, err
	}
	res.Before = before.TokenExpirationDateTime

	// The intent is committed before anything can reach Intune: no record, no upload.
	intent := sess.entry(audit.UploadIntent)
	intent.Setting = audit.Setting{ID: p.SettingID, Name: p.SettingName}
	intent.AppleID = p.AppleID
	intent.Token = audit.TokenFile{SHA256: p.FileSHA256}
	rec, err := s.audit.Append(ctx, intent)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	res.IntentSeq = rec.Seq

	p, err = s.store.ConsumePendingUpload(ctx, id, s.now())
	if err != nil {
		// Nothing was sent: close the intent so it does not look like a lost upload.
		reason := "not sent: " + err.Error()
		if errors.Is(err, ErrNotFound) {
			reason, err = "not sent: the review was confirmed by another request", ErrPendingGone
		}
		s.recordOutcome(ctx, sess, intent, rec.Seq, audit.UploadFailed, graph.CallInfo{}, nil, reason)
		return res, err
	}
	file, err := s.sealer.Open(p.Sealed, []byte(p.ID))
	if err != nil {
		s.recordOutcome(ctx, sess, intent, rec.Seq, audit.UploadFailed, graph.CallInfo{}, nil, "not sent: pending upload unreadable")
		return res, fmt.Errorf("open pending upload: %w", err)
	}
	res.Call, err = s.intune.UploadDepToken(ctx, sess.Credentials, p.SettingID, p.AppleID, file)
	clear(file)
	outcome, event := "succeeded", audit.UploadSucceeded
	if err != nil {
		outcome, event = "failed", audit.UploadFailed
		if graph.ClassOf(err) == graph.ClassOutcomeUnknown {
			outcome, event = "unknown", audit.UploadUnknown
		}
	}
	res.Outcome = outcome
	if oerr := s.store.SetPendingOutcome(ctx, id, outcome); oerr != nil && err == nil {
		err = fmt.Errorf("record outcome: %w", oerr)
	}
	res.OutcomeSeq, res.OutcomeNotRecorded = s.recordOutcome(ctx, sess, intent, rec.Seq, event, res.Call, err, "")
	if err != nil {
		if res.OutcomeNotRecorded != nil {
			return res, &OutcomeNotRecordedError{Err: err, IntentSeq: rec.Seq, AuditErr: res.OutcomeNotRecorded}
		}
		return res, err
	}
	res.After, res.ReadBackErr = s.intune.GetOnboardingSetting(ctx, sess.Credentials, p.SettingID)
	return res, nil
}

// recordOutcome writes the record that closes an intent. Its failure cannot undo what Intune
// did, so it is returned for the page and the log rather than replacing the upload's result.
func (s *Service) recordOutcome(ctx context.Context, sess Session, intent audit.Entry, intentSeq int64, event audit.EventType, call graph.CallInfo, callErr error, reason string) (int64, error) {
	e := intent
	e.Type, e.Outcome, e.IntentSeq, e.Reason = event, "", intentSeq, reason
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
	// A cancelled request must not lose the outcome of an upload that already happened.
	rec, err := s.audit.Append(context.WithoutCancel(ctx), e)
	if err != nil {
		return 0, err
	}
	return rec.Seq, nil
}

// Sweep deletes pending uploads older than a day (the duplicate check looks back 10 minutes).
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	return s.store.DeletePendingUploadsBefore(ctx, s.now().Add(-24*time.Hour))
}
