package renewal_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/store"
)

const tokenFile = "Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m" // encrypted to intune-a

// fakeIntune answers like Intune for one setting whose key is intune-a, and for the other
// tokens of the tenant in others.
type fakeIntune struct {
	mu       sync.Mutex
	setting  graph.OnboardingSetting
	certPEM  string
	others   []otherToken
	uploads  int
	uploaded []string // the setting of each upload
	uploadFn func() (graph.CallInfo, error)
	syncs    int
	syncFn   func() (graph.CallInfo, error)
	onGet    func(*graph.OnboardingSetting) // changes what Intune holds before a read answers
	// otherKey, when set, answers the key reads of the other tokens instead.
	otherKey func(ctx context.Context, id string) (string, error)
}

type otherToken struct {
	setting graph.OnboardingSetting
	certPEM string
}

func (f *fakeIntune) ListOnboardingSettings(context.Context, graph.Credentials) ([]graph.OnboardingSetting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := []graph.OnboardingSetting{f.setting}
	for _, o := range f.others {
		all = append(all, o.setting)
	}
	return all, nil
}

func (f *fakeIntune) GetOnboardingSetting(_ context.Context, _ graph.Credentials, id string) (graph.OnboardingSetting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.others {
		if o.setting.ID == id {
			return o.setting, nil
		}
	}
	if f.onGet != nil {
		f.onGet(&f.setting)
	}
	return f.setting, nil
}

func (f *fakeIntune) GetEncryptionPublicKey(ctx context.Context, _ graph.Credentials, id string) (string, error) {
	f.mu.Lock()
	otherKey := f.otherKey
	for _, o := range f.others {
		if o.setting.ID == id && otherKey == nil {
			f.mu.Unlock()
			return o.certPEM, nil
		}
	}
	f.mu.Unlock()
	if id != f.setting.ID && otherKey != nil {
		return otherKey(ctx, id)
	}
	return f.certPEM, nil
}

func (f *fakeIntune) SyncWithApple(_ context.Context, _ graph.Credentials, id string) (graph.CallInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.syncFn != nil {
		return f.syncFn()
	}
	return graph.CallInfo{Status: 204}, nil
}

func (f *fakeIntune) UploadDepToken(_ context.Context, _ graph.Credentials, id, appleID string, file []byte) (graph.CallInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads++
	f.uploaded = append(f.uploaded, id)
	if f.uploadFn != nil {
		return f.uploadFn()
	}
	f.setting.AppleIdentifier = appleID
	f.setting.TokenExpirationDateTime = time.Date(2027, 11, 29, 7, 12, 45, 0, time.UTC)
	return graph.CallInfo{Status: 204, RequestID: "r1", ClientRequestID: "c1"}, nil
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func MustRead(tb testing.TB, parts ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "deptoken", "testdata"}, parts...)...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type rig struct {
	svc    *renewal.Service
	intune *fakeIntune
	clock  *clock
	db     *store.DB
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "r.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c := &clock{now: time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)}
	in := &fakeIntune{
		setting: graph.OnboardingSetting{ID: "s1", TokenName: "Contoso MDM", TokenType: graph.TokenTypeDEP, AppleIdentifier: "abm-admin@contoso.com",
			TokenExpirationDateTime: c.now.AddDate(0, 0, 9)},
		certPEM: string(MustRead(tb, "certs", "intune-a.crt")),
	}
	skey, _, err := audit.GenerateKey("depportal-test")
	if err != nil {
		tb.Fatal(err)
	}
	trail, err := audit.New(audit.Config{Store: db, SignerKey: skey, Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := renewal.New(renewal.Config{Intune: in, Store: db, Audit: trail, SessionKey: []byte("0123456789abcdef0123456789abcdef"), Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{svc: svc, intune: in, clock: c, db: db}
}

var sess = renewal.Session{Hash: "session-1"}

func (r *rig) prepare(tb testing.TB, appleID string, file []byte, name string) renewal.Review {
	tb.Helper()
	rv, err := r.svc.Prepare(context.Background(), sess, renewal.Request{SettingID: "s1", AppleID: appleID, FileName: name, File: file})
	if err != nil {
		tb.Fatalf("Prepare: %v", err)
	}
	return rv
}

func verdicts(rv renewal.Review) map[string]renewal.Verdict {
	m := map[string]renewal.Verdict{}
	for _, c := range rv.Checks {
		m[c.Name] = c.Verdict
	}
	return m
}

func TestPrepareValidToken(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	want := map[string]renewal.Verdict{"file": renewal.Pass, "recipient": renewal.Pass, "apple_id": renewal.Pass, "download": renewal.Pass}
	if got := verdicts(rv); !mapsEqual(got, want) {
		t.Errorf("verdicts = %v, want %v", got, want)
	}
	if rv.PendingID == "" || !rv.ExpiresAt.Equal(r.clock.Now().Add(10*time.Minute)) {
		t.Errorf("pending %q expires %s", rv.PendingID, rv.ExpiresAt)
	}
	var sealed []byte
	r.db.SQL().QueryRow(`SELECT sealed FROM pending_uploads`).Scan(&sealed)
	if len(sealed) == 0 || slices.Equal(sealed, MustRead(t, "files", tokenFile)) {
		t.Error("the pending file is not sealed at rest")
	}
}

func mapsEqual(a, b map[string]renewal.Verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTokenForAnotherKeyFails(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.certPEM = string(MustRead(t, "certs", "intune-b.crt"))
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	if verdicts(rv)["recipient"] != renewal.Fail || rv.PendingID != "" {
		t.Errorf("verdicts %v pending %q", verdicts(rv), rv.PendingID)
	}
}

func TestStaleDownloadWarns(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.clock.Advance(3 * 24 * time.Hour)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	if verdicts(rv)["download"] != renewal.Warn || !slices.Contains(renewal.Acks(rv.Checks), renewal.AckStale) {
		t.Errorf("3-day-old download: %v", rv.Checks)
	}
}

// The file name's hint at the program matters only when the key could not be compared: a
// file made for this token's key comes from this token's MDM server, whatever its name.
func TestTokenTypeMismatchWarnsOnlyWithoutTheKey(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.setting.TokenType = graph.TokenTypeAppleSchoolManager
	name := "Contoso ABM_Token_2026-11-29T07-12-45Z_smime.p7m"
	if rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), name); verdicts(rv)["token_type"] != "" {
		t.Errorf("key matched, yet a warning about the name: %v", rv.Checks)
	}
	r.intune.certPEM = "not a certificate"
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), name)
	if verdicts(rv)["token_type"] != renewal.Warn || verdicts(rv)["recipient"] != renewal.Warn {
		t.Errorf("ASM token given an ABM-named file it could not match: %v", rv.Checks)
	}
}

func TestPendingUploadExpiresAfterTenMinutes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	r.clock.Advance(10*time.Minute + time.Second)
	_, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
	if !errors.Is(err, renewal.ErrPendingGone) || r.intune.uploads != 0 {
		t.Errorf("confirm after 10 minutes: %v, uploads %d", err, r.intune.uploads)
	}
}

func TestPendingUploadIsSingleUseUnderConcurrency(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = r.svc.Confirm(context.Background(), sess, rv.PendingID, nil) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, renewal.ErrAlreadyConfirmed) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || r.intune.uploads != 1 {
		t.Errorf("%d confirmations succeeded, %d uploads; want 1 and 1", ok, r.intune.uploads)
	}
}

func TestConfirmFromAnotherSessionRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	_, err := r.svc.Confirm(context.Background(), renewal.Session{Hash: "someone-else"}, rv.PendingID, nil)
	if !errors.Is(err, renewal.ErrPendingGone) || r.intune.uploads != 0 {
		t.Errorf("other session: %v, uploads %d", err, r.intune.uploads)
	}
}

func TestFailedUploadIsNotADuplicate(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.intune.uploadFn = func() (graph.CallInfo, error) { return graph.CallInfo{}, &graph.Error{Status: 400} }
	file := MustRead(t, "files", tokenFile)
	rv := r.prepare(t, "abm-admin@contoso.com", file, tokenFile)
	if res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil); err != nil || res.Result.Outcome != renewal.Failed || res.Result.Error.Class != graph.ClassRejected {
		t.Fatalf("Confirm = %+v, %v", res.Result, err)
	}
	again := r.prepare(t, "abm-admin@contoso.com", file, tokenFile)
	if _, dup := verdicts(again)["duplicate"]; dup {
		t.Error("a rejected upload counted as a recent success")
	}
}

func TestNormalizeAppleID(t *testing.T) {
	t.Parallel()
	for in, wantOK := range map[string]bool{
		" abm-admin@contoso.com ":   true,
		"admin@contoso.appleid.com": true,
		"abm-admin":                 false,
		"abm admin@contoso.com":     false,
		"a@b":                       false,
		"<x@contoso.com>":           false,
		"":                          false,
	} {
		_, msg := renewal.NormalizeAppleID(in)
		if (msg == "") != wantOK {
			t.Errorf("NormalizeAppleID(%q) message %q", in, msg)
		}
	}
}

// recordingAuditor wraps the real trail, can refuse appends, and lets the fake Intune check
// what was committed when the upload arrives.
type recordingAuditor struct {
	mu     sync.Mutex
	inner  renewal.Auditor
	types  []audit.EventType
	refuse func(audit.EventType) bool
}

func (a *recordingAuditor) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse != nil && a.refuse(e.Type) {
		return audit.Record{}, errors.New("disk full")
	}
	rec, err := a.inner.Append(ctx, e)
	if err == nil {
		a.types = append(a.types, e.Type)
	}
	return rec, err
}

func (a *recordingAuditor) seen() []audit.EventType {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.types)
}

func newAuditedRig(tb testing.TB) (*rig, *recordingAuditor) {
	tb.Helper()
	r := newRig(tb)
	skey, _, _ := audit.GenerateKey("depportal-test")
	trail, _ := audit.New(audit.Config{Store: r.db, SignerKey: skey, Now: r.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	rec := &recordingAuditor{inner: trail}
	svc, err := renewal.New(renewal.Config{Intune: r.intune, Store: r.db, Audit: rec, SessionKey: []byte("0123456789abcdef0123456789abcdef"), Now: r.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	r.svc = svc
	return r, rec
}

func TestIntentIsCommittedBeforeTheUpload(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	var atUpload []audit.EventType
	r.intune.uploadFn = func() (graph.CallInfo, error) {
		atUpload = rec.seen()
		return graph.CallInfo{Status: 204}, nil
	}
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(atUpload, []audit.EventType{audit.UploadReviewed, audit.UploadIntent}) {
		t.Errorf("records when Intune was called: %v", atUpload)
	}
	if got := rec.seen(); !slices.Equal(got, []audit.EventType{audit.UploadReviewed, audit.UploadIntent, audit.UploadSucceeded}) {
		t.Errorf("records: %v", got)
	}
	if res.Result.IntentSeq == 0 || res.Result.OutcomeSeq != res.Result.IntentSeq+1 {
		t.Errorf("intent %d outcome %d", res.Result.IntentSeq, res.Result.OutcomeSeq)
	}
}

func TestNoIntentNoUpload(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	rec.refuse = func(e audit.EventType) bool { return e == audit.UploadIntent }
	_, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
	if !errors.Is(err, audit.ErrUnavailable) || r.intune.uploads != 0 {
		t.Fatalf("err %v, uploads %d", err, r.intune.uploads)
	}
	// The review was not used up: once the trail works again, the person can go on.
	rec.refuse = nil
	if _, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil); err != nil || r.intune.uploads != 1 {
		t.Errorf("after the trail recovered: %v, uploads %d", err, r.intune.uploads)
	}
}

func TestNoReviewRecordNoPendingUpload(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	rec.refuse = func(e audit.EventType) bool { return e == audit.UploadReviewed }
	_, err := r.svc.Prepare(context.Background(), sess, renewal.Request{SettingID: "s1", AppleID: "abm-admin@contoso.com", FileName: tokenFile, File: MustRead(t, "files", tokenFile)})
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	var n int
	r.db.SQL().QueryRow(`SELECT COUNT(*) FROM pending_uploads`).Scan(&n)
	if n != 0 {
		t.Errorf("%d pending uploads kept without a review record", n)
	}
}

func TestOutcomeNotRecordedIsReported(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	rec.refuse = func(e audit.EventType) bool { return e == audit.UploadSucceeded }
	res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil)
	if err != nil || r.intune.uploads != 1 {
		t.Fatalf("the upload itself succeeded: %v", err)
	}
	if res.Result.Outcome != renewal.Succeeded || res.Result.AuditError == "" || res.Result.IntentSeq == 0 || res.Result.OutcomeSeq != 0 {
		t.Errorf("result %+v does not say the outcome is missing", res.Result)
	}
}

func TestFailedUploadRecordsGraphDetails(t *testing.T) {
	t.Parallel()
	r, rec := newAuditedRig(t)
	r.intune.uploadFn = func() (graph.CallInfo, error) {
		return graph.CallInfo{}, &graph.Error{Status: 400, Code: "BadRequest", RequestID: "req-1", ClientRequestID: "cli-1", ActivityID: "act-1", Message: "The DEP token is invalid"}
	}
	rv := r.prepare(t, "abm-admin@contoso.com", MustRead(t, "files", tokenFile), tokenFile)
	if res, err := r.svc.Confirm(context.Background(), sess, rv.PendingID, nil); err != nil || res.Result.Outcome != renewal.Failed {
		t.Fatalf("want the rejection: %+v, %v", res.Result, err)
	}
	if got := rec.seen(); got[len(got)-1] != audit.UploadFailed {
		t.Fatalf("records %v", got)
	}
	recs, _, err := rec.inner.(*audit.Trail).Query(context.Background(), audit.Filter{Type: audit.UploadFailed}, 10, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("query: %v %d", err, len(recs))
	}
	g := recs[0].Graph
	if g.Status != 400 || g.Code != "BadRequest" || g.RequestID != "req-1" || g.ClientRequestID != "cli-1" || g.ActivityID != "act-1" || recs[0].IntentSeq == 0 {
		t.Errorf("failure record %+v", recs[0])
	}
}
