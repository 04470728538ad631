package renewal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
)

// Finding 1: the browser goes away while Intune applies the token.
func TestClosedTabAfterIntuneAppliedStillSucceeds(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	file := MustRead(t, "files", tokenFile)
	rv := r.prepare(t, "abm-admin@contoso.com", file, tokenFile)
	ctx, cancel := context.WithCancel(context.Background())
	r.intune.uploadFn = func() (graph.CallInfo, error) {
		cancel() // the tab closes while Intune works
		return graph.CallInfo{Status: 204}, nil
	}
	res, err := r.svc.Confirm(ctx, sess, rv.PendingID, nil)
	if err != nil || res.Result.Outcome != renewal.Succeeded {
		t.Fatalf("Intune answered 204 but Confirm says %q, %v", res.Result.Outcome, err)
	}
	again := r.prepare(t, "abm-admin@contoso.com", file, tokenFile)
	if _, dup := verdicts(again)["duplicate"]; !dup {
		t.Error("the duplicate check misses the upload Intune applied")
	}
}

// A 504 after Intune applied the token: the read-back proves the renewal, once the gateway's
// late work shows (the second read), and the sleeps between reads are the configured ones.
func TestUnknownOutcomeIsReconciledByReadBack(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	var slept []time.Duration
	svc, err := renewal.New(renewal.Config{Intune: r.intune, Store: r.db, Audit: rec, SessionKey: []byte("0123456789abcdef0123456789abcdef"), Now: r.clock.Now,
		ReconcileDelays: []time.Duration{0, 2 * time.Second, 5 * time.Second},
		Sleep:           func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	reads := 0
	r.intune.uploadFn = func() (graph.CallInfo, error) {
		return graph.CallInfo{}, graph.RestoreError(graph.ClassOutcomeUnknown, graph.Error{Status: 504, Code: "GatewayTimeout"})
	}
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	r.intune.onGet = func(s *graph.OnboardingSetting) {
		reads++
		if reads == 2 { // Intune finishes behind the gateway
			s.TokenExpirationDateTime = s.TokenExpirationDateTime.AddDate(1, 0, 0)
		}
	}
	res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
	if err != nil || res.Result.Outcome != renewal.Succeeded || res.Result.After == nil || res.Result.Reconciled == "" {
		t.Fatalf("Confirm = %+v, %v", res.Result, err)
	}
	if !slices.Equal(slept, []time.Duration{0, 2 * time.Second}) || reads != 2 {
		t.Errorf("slept %v over %d reads, want [0 2s] over 2", slept, reads)
	}
	if got := rec.seen(); !slices.Equal(got[len(got)-3:], []audit.EventType{audit.UploadIntent, audit.UploadUnknown, audit.UploadReconciled}) {
		t.Errorf("records %v", got)
	}
	// Reloaded from the store, the page shows the same.
	p, err := r.svc.Upload(context.Background(), rv.PendingID, renewal.Viewer{SessionHash: sess.Hash})
	if err != nil || p.Result.Outcome != renewal.Succeeded || p.Result.ReconcileSeq == 0 {
		t.Errorf("stored result %+v, %v", p.Result, err)
	}
}

// A portal killed mid-upload leaves it "sending"; once its work cannot still be running, the
// page says the outcome is unknown rather than waiting for ever.
func TestStaleSendingUploadIsShownUnknown(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	if _, err := r.db.ClaimPendingUpload(context.Background(), rv.PendingID, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	v := renewal.Viewer{SessionHash: sess.Hash}
	if p, _ := r.svc.Upload(context.Background(), rv.PendingID, v); p.Result.Outcome != renewal.Sending {
		t.Fatalf("just claimed: %q", p.Result.Outcome)
	}
	r.clock.Advance(time.Hour)
	if p, _ := r.svc.Upload(context.Background(), rv.PendingID, v); p.Result.Outcome != renewal.Unknown || p.Result.Reconciled == "" {
		t.Errorf("an hour later: %+v", p.Result)
	}
	if _, err := r.svc.Upload(context.Background(), rv.PendingID, renewal.Viewer{SessionHash: "someone-else", ObjectID: "x"}); err != renewal.ErrUploadNotFound {
		t.Errorf("another person sees the upload: %v", err)
	}
}

// One session cannot keep more than MaxPendingPerSession checked files waiting; the cap frees
// up as they expire.
func TestPendingUploadsPerSessionAreCapped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	file := MustRead(t, "files", tokenFile)
	for range renewal.MaxPendingPerSession {
		r.prepare(t, "abm-admin@contoso.com", file, tokenFile)
	}
	_, err := r.svc.Prepare(context.Background(), sess, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: file})
	if !errors.Is(err, renewal.ErrTooManyPending) {
		t.Fatalf("review %d: %v", renewal.MaxPendingPerSession+1, err)
	}
	other := sess
	other.Hash = "session-2"
	if _, err := r.svc.Prepare(context.Background(), other, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: file}); err != nil {
		t.Errorf("another session is held by this one's cap: %v", err)
	}
	r.clock.Advance(renewal.PendingTTL + time.Second)
	if _, err := r.svc.Prepare(context.Background(), sess, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: file}); err != nil {
		t.Errorf("after the reviews expired: %v", err)
	}
}

func TestCleanFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Contoso ABM_Token_2026-11-29T07-12-45Z_smime.p7m": "Contoso ABM_Token_2026-11-29T07-12-45Z_smime.p7m",
		"abm\u202Egnp.p7m":       "abmgnp.p7m", // right-to-left override
		"line\nbreak\x00.p7m":    "linebreak.p7m",
		"  spaced.p7m ":          "spaced.p7m",
		"bad\xffbyte.p7m":        "bad\uFFFDbyte.p7m",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
	} {
		if got := renewal.CleanFileName(in); got != want {
			t.Errorf("CleanFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
