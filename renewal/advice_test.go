package renewal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
)

// hannah is a session with a person behind it, as the portal makes them.
var hannah = renewal.Session{Hash: "session-h", Actor: audit.Actor{TenantID: "t1", ObjectID: "oid-hannah", Name: "Hannah"}}

func check(rv renewal.Review, name string) renewal.Check {
	for _, c := range rv.Checks {
		if c.Name == name {
			return c
		}
	}
	return renewal.Check{}
}

// The file is another token's of the tenant (the ASM file given to the ABM token): the review
// names that token, keeps the file, and renews that token from it without a second upload.
func TestFileForAnotherTokenIsNamedAndRenewsIt(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.certPEM = string(MustRead(t, "certs", "intune-b.crt")) // s1's key is not the file's
	r.intune.others = []otherToken{
		{graph.OnboardingSetting{ID: "s9", TokenName: "Contoso Legacy", TokenType: graph.TokenTypeDEP}, string(MustRead(t, "certs", "vendor-c.crt"))},
		{graph.OnboardingSetting{ID: "s2", TokenName: "Contoso Schools ASM", TokenType: graph.TokenTypeAppleSchoolManager, AppleIdentifier: "asm-admin@contoso.edu"},
			string(MustRead(t, "certs", "intune-a.crt"))},
	}
	file := MustRead(t, "files", tokenFile)
	rv, err := r.svc.Prepare(context.Background(), hannah, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: file})
	if err != nil {
		t.Fatal(err)
	}
	c := check(rv, "recipient")
	if c.Verdict != renewal.Fail || c.Title != "This file is the server token for Contoso Schools ASM" || c.For == nil || c.For.ID != "s2" || c.For.AppleID != "asm-admin@contoso.edu" {
		t.Fatalf("recipient check %+v", c)
	}
	if c.PublicKeyLink || c.Conditional != "" || strings.Contains(c.Message, "public key below") {
		t.Errorf("a file for another token must not lead to re-keying: %+v", c)
	}
	if rv.PendingID == "" || rv.Confirmable() {
		t.Fatalf("the file is kept (%q) but must not be confirmable", rv.PendingID)
	}
	if _, err := r.svc.Confirm(context.Background(), hannah, rv.PendingID, renewal.Acks(rv.Checks)); !errors.Is(err, renewal.ErrPendingGone) || r.intune.uploads != 0 {
		t.Fatalf("a failed review was confirmed: %v, %d uploads", err, r.intune.uploads)
	}
	if _, err := r.svc.RenewOther(context.Background(), hannah, rv.PendingID, "s9", "abm-admin@contoso.com"); !errors.Is(err, renewal.ErrPendingGone) {
		t.Errorf("renewing a token the file was not made for: %v", err)
	}
	if _, err := r.svc.RenewOther(context.Background(), renewal.Session{Hash: "other"}, rv.PendingID, "s2", "asm-admin@contoso.edu"); !errors.Is(err, renewal.ErrPendingGone) {
		t.Errorf("another session used the kept file: %v", err)
	}

	other, err := r.svc.RenewOther(context.Background(), hannah, rv.PendingID, "s2", "asm-admin@contoso.edu")
	if err != nil {
		t.Fatal(err)
	}
	if other.Setting.ID != "s2" || check(other, "recipient").Verdict != renewal.Pass || check(other, "apple_id").Verdict != renewal.Pass || !other.Confirmable() {
		t.Fatalf("review for the other token: %+v", other)
	}
	res, err := r.svc.Confirm(context.Background(), hannah, other.PendingID, renewal.Acks(other.Checks))
	if err != nil || res.Result.Outcome != renewal.Succeeded || !slices.Equal(r.intune.uploaded, []string{"s2"}) {
		t.Fatalf("renewing the other token: %+v %v, uploads to %v", res.Result, err, r.intune.uploaded)
	}
}

// A file no token of the tenant can open: said so, with the right server to download from,
// and re-keying only as a step for the case it fits.
func TestFileForNoTokenOfTheTenant(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.certPEM = string(MustRead(t, "certs", "intune-b.crt"))
	r.intune.others = []otherToken{{graph.OnboardingSetting{ID: "s9", TokenName: "Contoso Legacy"}, string(MustRead(t, "certs", "vendor-c.crt"))}}
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	c := check(rv, "recipient")
	if c.Verdict != renewal.Fail || c.Title != "Made for an MDM server this tenant does not hold" || c.For != nil {
		t.Fatalf("recipient check %+v", c)
	}
	if !strings.Contains(c.Message, "Management Services → Contoso MDM → Download Token") || !strings.Contains(c.Message, "nor of the one other token Intune shows you") {
		t.Errorf("message does not say where to download from or what was compared: %s", c.Message)
	}
	if !strings.HasPrefix(c.Conditional, "Only if this token's key was regenerated in Intune") || !c.PublicKeyLink {
		t.Errorf("re-keying is not a conditional step: %+v", c)
	}
	if strings.Contains(c.Message, "public key") {
		t.Errorf("re-keying leaks into the main advice: %s", c.Message)
	}
	if rv.PendingID != "" {
		t.Error("a file nobody can use was kept")
	}
}

// Every other token's key is read at once: with four other tokens whose key reads each wait
// for all four to have started, a one-by-one reader would never find the match.
func TestOtherTokensKeysAreReadInParallel(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.certPEM = string(MustRead(t, "certs", "intune-b.crt"))
	for _, id := range []string{"s2", "s3", "s4", "s5"} {
		r.intune.others = append(r.intune.others, otherToken{setting: graph.OnboardingSetting{ID: id, TokenName: "Token " + id}})
	}
	var (
		started atomic.Int32
		alone   atomic.Bool // a read waited in vain for the others
	)
	all := make(chan struct{})
	r.intune.otherKey = func(ctx context.Context, id string) (string, error) {
		if started.Add(1) == 4 {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(time.Second):
			alone.Store(true)
			return "", errors.New("read alone")
		}
		if id == "s4" && !alone.Load() {
			return string(MustRead(t, "certs", "intune-a.crt")), nil
		}
		return string(MustRead(t, "certs", "vendor-c.crt")), nil
	}
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	if c := check(rv, "recipient"); c.For == nil || c.For.ID != "s4" {
		t.Errorf("recipient check %+v", c)
	}
}

// A file older than a year has expired: the review stops it, and says when it expired.
func TestExpiredFileFailsTheReview(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// The file name says 29 Nov 2026 07:12:45 UTC.
	r.clock.now = time.Date(2027, 11, 29, 8, 0, 0, 0, time.UTC)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	c := check(rv, "download")
	if c.Verdict != renewal.Fail || c.Title != "This file expired on 29 Nov 2027" || rv.PendingID != "" {
		t.Fatalf("a year-old file: %+v, pending %q", c, rv.PendingID)
	}
	if !strings.Contains(c.Message, "Download a new one") {
		t.Errorf("no way out: %s", c.Message)
	}
	r.clock.now = time.Date(2027, 11, 29, 7, 0, 0, 0, time.UTC)
	if c := check(r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile), "download"); c.Verdict != renewal.Warn || c.Title != "Downloaded 364 days ago" {
		t.Errorf("12 minutes before it expires: %+v", c)
	}
}

// A warning's headline is what was found, and its tick box says what renewing anyway does.
func TestWarningsSayWhatWasFound(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	file := MustRead(t, "files", tokenFile)
	rv, err := r.svc.Prepare(context.Background(), hannah, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: file})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Confirm(context.Background(), hannah, rv.PendingID, nil); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(4 * time.Minute)
	rv, err = r.svc.Prepare(context.Background(), hannah, renewal.Request{SettingID: "s1", AppleID: "new-admin@contoso.com", FileName: tokenFile, File: file})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"duplicate": "Already uploaded 4 minutes ago by you",
		"apple_id":  "Another Apple ID than Intune's (abm-admin@contoso.com)",
	}
	for name, title := range want {
		c := check(rv, name)
		if c.Verdict != renewal.Warn || c.Title != title {
			t.Errorf("%s: %q, want %q", name, c.Title, title)
		}
		if c.Ack == "" || c.Consequence == "" || strings.Contains(c.Consequence, "I have read") {
			t.Errorf("%s: tick box %q does not state a consequence", name, c.Consequence)
		}
	}
}

// Intune's refusal lists only causes the review did not rule out.
func TestRejectionCausesFitTheReview(t *testing.T) {
	t.Parallel()
	keyMatched := []renewal.Check{{Name: "recipient", Verdict: renewal.Pass}, {Name: "download", Verdict: renewal.Pass}}
	causes := strings.Join(renewal.RejectionCauses(keyMatched, graph.TokenTypeDEP), "\n")
	if strings.Contains(causes, "another MDM server's key") || strings.Contains(causes, "expired") {
		t.Errorf("causes the review ruled out:\n%s", causes)
	}
	if !strings.Contains(causes, "downloaded again in Apple Business Manager") {
		t.Errorf("the one cause a review cannot rule out is missing:\n%s", causes)
	}
	unknown := []renewal.Check{{Name: "recipient", Verdict: renewal.Warn}}
	causes = strings.Join(renewal.RejectionCauses(unknown, graph.TokenTypeAppleSchoolManager), "\n")
	if !strings.Contains(causes, "another MDM server's key") || !strings.Contains(causes, "expired") || !strings.Contains(causes, "Apple School Manager") {
		t.Errorf("causes the review could not rule out are missing:\n%s", causes)
	}
}

// After a failure that left Intune as it was (429 here), the same reviewed file is kept for
// "Try again" within the review's 10 minutes; the same person may send it from a new session
// (after signing in again), nobody else may.
func TestRetryableFailureKeepsTheFile(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	calls := 0
	r.intune.uploadFn = func() (graph.CallInfo, error) {
		calls++
		if calls == 1 {
			return graph.CallInfo{}, &graph.Error{Status: 429, Code: "TooManyRequests", RetryAfter: 30 * time.Second}
		}
		return graph.CallInfo{Status: 204}, nil
	}
	file := MustRead(t, "files", tokenFile)
	rv, err := r.svc.Prepare(context.Background(), hannah, renewal.Request{SettingID: "s1", AppleID: "new-admin@contoso.com", FileName: tokenFile, File: file})
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.svc.Confirm(context.Background(), hannah, rv.PendingID, renewal.Acks(rv.Checks))
	if err != nil || first.Result.Outcome != renewal.Failed || first.Result.RetryID == "" {
		t.Fatalf("throttled upload: %+v %v", first.Result, err)
	}
	stored, err := r.svc.Upload(context.Background(), rv.PendingID, renewal.Viewer{SessionHash: hannah.Hash})
	if err != nil || stored.Result.RetryID != first.Result.RetryID {
		t.Fatalf("the retry is not kept with the result: %+v %v", stored.Result, err)
	}
	if _, err := r.svc.Confirm(context.Background(), renewal.Session{Hash: "mallory", Actor: audit.Actor{TenantID: "t1", ObjectID: "oid-mallory"}}, first.Result.RetryID, renewal.Acks(rv.Checks)); !errors.Is(err, renewal.ErrPendingGone) {
		t.Errorf("another person sent the retry: %v", err)
	}
	if _, err := r.svc.Confirm(context.Background(), hannah, first.Result.RetryID, nil); err == nil {
		t.Error("the retry went without the warnings' decisions")
	}
	signedInAgain := hannah
	signedInAgain.Hash = "session-h2"
	second, err := r.svc.Confirm(context.Background(), signedInAgain, first.Result.RetryID, renewal.Acks(rv.Checks))
	if err != nil || second.Result.Outcome != renewal.Succeeded || r.intune.uploads != 2 {
		t.Fatalf("try again: %+v %v, %d uploads", second.Result, err, r.intune.uploads)
	}
	if _, err := r.svc.Confirm(context.Background(), signedInAgain, first.Result.RetryID, renewal.Acks(rv.Checks)); !errors.Is(err, renewal.ErrAlreadyConfirmed) || r.intune.uploads != 2 {
		t.Errorf("the retry was sent twice: %v", err)
	}
}

// No retry is kept when sending again cannot help (Intune refused the file, the role is
// missing) or when the review's 10 minutes are over.
func TestNoRetryWhenItCannotHelp(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		err   error
		after time.Duration
	}{
		"rejected":       {&graph.Error{Status: 400, Code: "BadRequest"}, 0},
		"missing role":   {&graph.Error{Status: 403, Code: "Forbidden"}, 0},
		"review expired": {&graph.Error{Status: 429, Code: "TooManyRequests"}, renewal.PendingTTL},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.intune.uploadFn = func() (graph.CallInfo, error) {
				r.clock.Advance(tt.after) // Intune was slow
				return graph.CallInfo{}, tt.err
			}
			rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
			res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
			if err != nil || res.Result.Outcome != renewal.Failed || res.Result.RetryID != "" {
				t.Errorf("want a failure without a retry: %+v %v", res.Result, err)
			}
		})
	}
}

// A manual sync with Apple is asked for only outside Intune's 15 minutes; Intune's own refusal
// (409) reads the same.
func TestSyncWithAppleKeepsIntunesInterval(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); err != nil || r.intune.syncs != 1 {
		t.Fatalf("first sync: %v, %d calls", err, r.intune.syncs)
	}
	r.intune.setting.LastSyncTriggeredDateTime = r.clock.Now().Add(-14 * time.Minute)
	var soon *renewal.SyncTooSoonError
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); !errors.As(err, &soon) || r.intune.syncs != 1 ||
		!soon.Next().Equal(r.clock.Now().Add(time.Minute)) {
		t.Fatalf("14 minutes later: %v, %d calls", err, r.intune.syncs)
	}
	r.clock.Advance(time.Minute)
	r.intune.syncFn = func() (graph.CallInfo, error) { return graph.CallInfo{}, &graph.Error{Status: 409, Code: "Conflict"} }
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); !errors.As(err, &soon) || r.intune.syncs != 2 {
		t.Errorf("Intune's own refusal: %v, %d calls", err, r.intune.syncs)
	}
}

// A token whose key cannot be read may be the file's: the finding says so rather than that
// the tenant holds no such server.
func TestUnreadKeysAreSaid(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.certPEM = string(MustRead(t, "certs", "intune-b.crt"))
	r.intune.others = []otherToken{{setting: graph.OnboardingSetting{ID: "s2", TokenName: "Contoso Schools ASM"}}}
	r.intune.otherKey = func(context.Context, string) (string, error) {
		return "", &graph.Error{Status: 403, Code: "Forbidden"}
	}
	c := check(r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile), "recipient")
	if c.Verdict != renewal.Fail || !strings.Contains(c.Message, "1 other token could not be read, so it may be for one of those") {
		t.Errorf("recipient check %+v", c)
	}
}

// A sync is a write to Intune in the person's name: recorded first, and not asked for when
// the trail cannot record it.
func TestSyncIsRecordedBeforeItIsAsked(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); err != nil || r.intune.syncs != 1 {
		t.Fatalf("sync: %v, %d calls", err, r.intune.syncs)
	}
	if got := rec.seen(); !slices.Equal(got, []audit.EventType{audit.SyncRequested, audit.SyncAnswered}) {
		t.Errorf("records %v", got)
	}
	r.clock.Advance(renewal.SyncInterval + time.Minute)
	r.intune.setting.LastSyncTriggeredDateTime = time.Time{}
	rec.refuse = func(e audit.EventType) bool { return e == audit.SyncRequested }
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); !errors.Is(err, audit.ErrUnavailable) || r.intune.syncs != 1 {
		t.Errorf("with the trail refusing: %v, %d calls", err, r.intune.syncs)
	}
}

// Intune's answer to a sync is recorded after it, tied to the request, with Graph's
// identifiers and an outcome an auditor can read: taken, refused, or not known.
func TestSyncAnswerIsRecorded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		call    graph.CallInfo
		err     error
		outcome audit.Outcome
		status  int
	}{
		{"taken", graph.CallInfo{Status: 204, RequestID: "req-1", ClientRequestID: "client-1"}, nil, audit.Success, 204},
		{"refused: too soon", graph.CallInfo{}, &graph.Error{Status: 409, Code: "Conflict", RequestID: "req-2"}, audit.Failure, 409},
		{"refused: no Intune role", graph.CallInfo{}, &graph.Error{Status: 403, Code: "Forbidden", RequestID: "req-3"}, audit.Failure, 403},
		{"not known: a 503", graph.CallInfo{}, &graph.Error{Status: 503, Code: "ServiceUnavailable", RequestID: "req-4"}, audit.Unknown, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, rec := newAuditedRig(t)
			r.intune.syncFn = func() (graph.CallInfo, error) { return tc.call, tc.err }
			r.svc.SyncWithApple(context.Background(), hannah, "s1")
			if got := rec.seen(); !slices.Equal(got, []audit.EventType{audit.SyncRequested, audit.SyncAnswered}) {
				t.Fatalf("records %v", got)
			}
			var asked, answer audit.Record
			for r, err := range r.db.Records(context.Background(), audit.Filter{}, 0) {
				if err != nil {
					t.Fatal(err)
				}
				switch r.Type {
				case audit.SyncRequested:
					asked = r
				case audit.SyncAnswered:
					answer = r
				}
			}
			if answer.IntentSeq != asked.Seq || answer.Outcome != tc.outcome || answer.Graph.Status != tc.status ||
				answer.Graph.RequestID == "" || answer.Setting.ID != "s1" || answer.Actor.Name != "Hannah" {
				t.Errorf("sync.answered = %+v\nfor sync.requested #%d", answer, asked.Seq)
			}
		})
	}
}

// The sync was asked for even when its answer cannot be recorded: the person is told what
// Intune said, and the request's record stands.
func TestSyncAnswerUnrecordedIsNoFailedSync(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	rec.refuse = func(e audit.EventType) bool { return e == audit.SyncAnswered }
	if err := r.svc.SyncWithApple(context.Background(), hannah, "s1"); err != nil || r.intune.syncs != 1 {
		t.Errorf("sync with its answer unrecorded: %v, %d calls", err, r.intune.syncs)
	}
	if got := rec.seen(); !slices.Equal(got, []audit.EventType{audit.SyncRequested}) {
		t.Errorf("records %v", got)
	}
}
