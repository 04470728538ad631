package renewal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/depportal/depportal/graph"
)

var (
	// ErrPendingGone: the pending upload expired, was already confirmed, or belongs to another
	// session. Nothing was sent.
	ErrPendingGone = errors.New("pending upload expired or already used")
)

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
	p, err = s.store.ConsumePendingUpload(ctx, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return res, ErrPendingGone // a concurrent confirmation won
	}
	if err != nil {
		return res, err
	}
	file, err := s.sealer.Open(p.Sealed, []byte(p.ID))
	if err != nil {
		return res, fmt.Errorf("open pending upload: %w", err)
	}
	res.Call, err = s.intune.UploadDepToken(ctx, sess.Credentials, p.SettingID, p.AppleID, file)
	clear(file)
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
		if graph.ClassOf(err) == graph.ClassOutcomeUnknown {
			outcome = "unknown"
		}
	}
	res.Outcome = outcome
	if oerr := s.store.SetPendingOutcome(ctx, id, outcome); oerr != nil && err == nil {
		err = fmt.Errorf("record outcome: %w", oerr)
	}
	if err != nil {
		return res, err
	}
	res.After, res.ReadBackErr = s.intune.GetOnboardingSetting(ctx, sess.Credentials, p.SettingID)
	return res, nil
}

// Sweep deletes pending uploads older than a day (the duplicate check looks back 10 minutes).
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	return s.store.DeletePendingUploadsBefore(ctx, s.now().Add(-24*time.Hour))
}
