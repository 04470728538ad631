package renewal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
)

// SyncInterval is how often Intune lets a person ask for a sync with Apple: at most once in
// 15 minutes, as Intune's ADE documentation says; the sandbox refuses sooner ones the same way.
const SyncInterval = 15 * time.Minute

// SyncTooSoonError: a manual sync was asked for less than SyncInterval ago. Nothing was asked.
type SyncTooSoonError struct {
	Last time.Time // when the last one was asked for; zero when only Intune's refusal says so
}

func (e *SyncTooSoonError) Error() string {
	return fmt.Sprintf("a sync with Apple was asked for at %s; Intune allows one every %s", e.Last, SyncInterval)
}

// Next is when Intune accepts the next manual sync, when known.
func (e *SyncTooSoonError) Next() time.Time {
	if e.Last.IsZero() {
		return time.Time{}
	}
	return e.Last.Add(SyncInterval)
}

// NextSync is when Intune accepts a manual sync of this token, or zero when it does now.
func NextSync(st graph.OnboardingSetting, now time.Time) time.Time {
	if next := st.LastSyncTriggeredDateTime.Add(SyncInterval); !st.LastSyncTriggeredDateTime.IsZero() && now.Before(next) {
		return next
	}
	return time.Time{}
}

// SyncWithApple asks Intune to sync a token's devices with Apple now, with the person's own
// sign-in, after recording that it was asked for (sync.requested; no record, no sync), and
// records Intune's answer (sync.answered). A sync asked for within Intune's 15 minutes is
// refused here without calling it, and Intune's own refusal (409) becomes the same error. A
// sync only reads from Apple: an answer that does not tell whether it started
// (graph.ClassOutcomeUnknown) is harmless, and returned as it is.
func (s *Service) SyncWithApple(ctx context.Context, sess Session, settingID string) error {
	st, err := s.intune.GetOnboardingSetting(ctx, sess.Credentials, settingID)
	if err != nil {
		return err
	}
	if !NextSync(st, s.now()).IsZero() {
		return &SyncTooSoonError{Last: st.LastSyncTriggeredDateTime}
	}
	// A write to Intune in the person's name: recorded before it is asked for.
	e := sess.entry(audit.SyncRequested)
	e.Setting = audit.Setting{ID: st.ID, Name: st.TokenName}
	asked, err := s.audit.Append(ctx, e)
	if err != nil {
		return audit.Unrecorded(err)
	}
	call, err := s.intune.SyncWithApple(ctx, sess.Credentials, settingID)
	// The answer is recorded even when the person has gone meanwhile. The sync was asked for
	// either way: a failure to record its answer is logged, not shown as the sync's.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.workTimeout)
	defer cancel()
	if _, aerr := s.recordOutcome(work, sess, e, asked.Seq, audit.SyncAnswered, graphOutcome(err), call, err, ""); aerr != "" {
		s.log.Error("sync with Apple: Intune's answer not recorded", "setting", settingID, "err", aerr)
	}
	if ge, ok := errors.AsType[*graph.Error](err); ok && ge.Status == http.StatusConflict {
		return &SyncTooSoonError{}
	}
	return err
}
