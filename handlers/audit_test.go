package handlers_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// MustRecords returns the audit records of one type, oldest first.
func MustRecords(tb testing.TB, p *testPortal, t audit.EventType) []audit.Record {
	tb.Helper()
	recs, _, err := p.app.Trail().Query(context.Background(), audit.Filter{Type: t}, 500, 0)
	if err != nil {
		tb.Fatal(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func MustOneRecord(tb testing.TB, p *testPortal, t audit.EventType) audit.Record {
	tb.Helper()
	recs := MustRecords(tb, p, t)
	if len(recs) != 1 {
		tb.Fatalf("%d %s records, want 1", len(recs), t)
	}
	return recs[0]
}

// TestEveryEventTypeFromTheRealFlow drives the portal as people would and checks that each
// event type is recorded with the fields an auditor needs.
func TestEveryEventTypeFromTheRealFlow(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, csrf := signedInHannah(t, p)

	in := MustOneRecord(t, p, audit.SignInSucceeded)
	if in.Actor.Name != "Hannah Helpdesk" || in.Actor.TenantID != sandbox.TenantID || in.Actor.ObjectID == "" || in.Actor.UPN == "" ||
		in.Client.IP != "127.0.0.1" || in.Client.UserAgent == "" || in.RequestID == "" || in.Outcome != audit.Success {
		t.Errorf("signin.succeeded = %+v", in)
	}

	// Entra itself refuses Eve, an account of another organisation (AADSTS50020).
	testkit.MustSignIn(t, p.browser(t), "eve", "/")
	if r := MustOneRecord(t, p, audit.SignInRefused); !strings.Contains(r.Reason, "AADSTS50020") || r.Outcome != audit.Failure {
		t.Errorf("signin.refused = %+v", r)
	}

	testkit.MustSignIn(t, p.browser(t), "nora", "/")
	if r := MustOneRecord(t, p, audit.AccessDenied); r.Route != "GET /" || r.Actor.Name != "Nora Norole" || !strings.Contains(r.Reason, "no portal role") {
		t.Errorf("access.denied = %+v", r)
	}

	// A renewal: reviewed, intent, succeeded.
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if got := confirmReview(t, hannah, review); got.Status != http.StatusOK {
		t.Fatalf("renewal: %d", got.Status)
	}
	rv := MustOneRecord(t, p, audit.UploadReviewed)
	if rv.Setting.ID != abmSoon || rv.Setting.Name != "Contoso ABM" || rv.AppleID != "abm-admin@contoso.com" ||
		len(rv.Token.SHA256) != 64 || rv.Token.Recipient == "" || len(rv.Verdicts) < 3 || rv.Outcome != audit.Success {
		t.Errorf("upload.reviewed = %+v", rv)
	}
	intent := MustOneRecord(t, p, audit.UploadIntent)
	ok := MustOneRecord(t, p, audit.UploadSucceeded)
	if intent.Outcome != audit.Pending || intent.Token.SHA256 != rv.Token.SHA256 || ok.IntentSeq != intent.Seq || ok.Seq <= intent.Seq {
		t.Errorf("intent %+v / outcome %+v", intent, ok)
	}
	if ok.Graph.Status != 204 || ok.Graph.RequestID == "" || ok.Graph.ClientRequestID == "" || ok.Outcome != audit.Success {
		t.Errorf("upload.succeeded graph = %+v", ok.Graph)
	}

	// Intune refuses a file: upload.failed with Graph's identifiers. (Renamed, the expired
	// sample no longer tells its download time, so the review lets it through to Intune.)
	expired := MustSample(t, p, abmSoon, sandbox.SampleExpired)
	review = postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", "token.p7m", expired.Data)
	confirmReview(t, hannah, review, ackAll(review)...)
	if r := MustOneRecord(t, p, audit.UploadFailed); r.Graph.Status != 400 || r.Graph.Code == "" || r.Graph.ActivityID == "" || r.IntentSeq == 0 || r.Outcome != audit.Failure {
		t.Errorf("upload.failed = %+v", r)
	}

	// The answer never comes: upload.unknown.
	p.tenant.Graph.InjectFault(sandbox.OpUpload, sandbox.Fault{Drop: true})
	review = postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	confirmReview(t, hannah, review, ackAll(review)...)
	unknown := MustOneRecord(t, p, audit.UploadUnknown)
	if unknown.Outcome != audit.Unknown || unknown.IntentSeq == 0 {
		t.Errorf("upload.unknown = %+v", unknown)
	}
	// ...so the token is read back: it still has the previous token.
	if r := MustOneRecord(t, p, audit.UploadReconciled); r.Outcome != audit.Failure || r.IntentSeq != unknown.IntentSeq ||
		r.Seq <= unknown.Seq || !strings.Contains(r.Reason, "Intune still holds the previous token") {
		t.Errorf("upload.reconciled = %+v", r)
	}

	// A sync with Apple: asked for, then Intune's answer, tied to it.
	hannah.SeeOther(hannah.Do(http.MethodPost, "/settings/"+abmSoon+"/sync", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": hannah.Base}))
	asked := MustOneRecord(t, p, audit.SyncRequested)
	if answer := MustOneRecord(t, p, audit.SyncAnswered); asked.Setting.ID != abmSoon || answer.IntentSeq != asked.Seq ||
		answer.Outcome != audit.Success || answer.Graph.Status != 204 || answer.Graph.RequestID == "" {
		t.Errorf("sync.requested %+v / sync.answered %+v", asked, answer)
	}

	hannah.Get("/settings/" + abmSoon + "/public-key")
	if r := MustOneRecord(t, p, audit.PublicKeyDownloaded); r.Setting.ID != abmSoon {
		t.Errorf("publickey.downloaded = %+v", r)
	}

	hannah.Get("/audit/export?format=csv")
	if r := MustOneRecord(t, p, audit.AuditExported); !strings.Contains(r.Reason, "format=csv") || r.Actor.Name != "Hannah Helpdesk" {
		t.Errorf("audit.exported = %+v", r)
	}

	// Every record is also a log line for a SIEM.
	if n := strings.Count(p.logs.String(), `msg=audit`); n < 10 {
		t.Errorf("%d audit log lines", n)
	}
}

func TestAuditorSeesEverythingUploaderOnlyOwn(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	signedInHannah(t, p)
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/")
	testkit.MustSignIn(t, p.browser(t), "nora", "/")

	all := avery.Get("/audit")
	for _, want := range []string{"Hannah Helpdesk", "Avery Auditor", "Nora Norole", "access.denied", "hash chain"} {
		if !strings.Contains(strings.ToLower(all.Body), strings.ToLower(want)) {
			t.Errorf("auditor's view lacks %q", want)
		}
	}
	hannah, _ := signedInHannah(t, p)
	own := hannah.Get("/audit")
	if own.Status != http.StatusOK || strings.Contains(own.Body, "Avery Auditor") || strings.Contains(own.Body, "Nora Norole") || !strings.Contains(own.Body, "You see your own records") {
		t.Errorf("uploader's view: %d\n%s", own.Status, own.Body)
	}
	// Not even by asking for someone else, or opening their record directly.
	nora := MustOneRecord(t, p, audit.AccessDenied)
	if got := hannah.Get("/audit?actor=" + nora.Actor.ObjectID); strings.Contains(got.Body, "Nora Norole") {
		t.Error("uploader read another person's records through the filter")
	}
	if got := hannah.Get("/audit/" + itoa(nora.Seq)); got.Status != http.StatusNotFound {
		t.Errorf("uploader opened another person's record: %d", got.Status)
	}
	if got := avery.Get("/audit/" + itoa(nora.Seq)); got.Status != http.StatusOK || !strings.Contains(got.Body, "missing") && !strings.Contains(got.Body, "no portal role") {
		t.Errorf("auditor detail: %d", got.Status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAuditFiltersAndExport(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	confirmReview(t, hannah, review)
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/")

	// Rows name their event in people's words; each row's link says what it opens.
	got := avery.Get("/audit?type=upload.succeeded")
	if strings.Count(got.Body, ">Token renewed<span class=\"visually-hidden\">, record ") != 1 || strings.Contains(got.Body, ">Signed in<span") {
		t.Errorf("type filter:\n%s", got.Body)
	}
	if !strings.Contains(got.Body, `<option value="upload.intent">Renewal sent</option>`) || !strings.Contains(got.Body, `<option value="`+abmSoon+`">Contoso ABM</option>`) {
		t.Errorf("the filters do not offer events and tokens by name:\n%s", got.Body)
	}
	got = avery.Get("/audit?actor=avery")
	if strings.Contains(got.Body, "Hannah Helpdesk</td>") || !strings.Contains(got.Body, "Avery Auditor") {
		t.Error("actor filter")
	}
	got = avery.Get("/audit?token=" + abmSoon + "&outcome=pending")
	if strings.Count(got.Body, ">Renewal sent<span") != 1 {
		t.Error("token + outcome filter")
	}
	if got := avery.Get("/audit?from=not-a-date"); got.Status != http.StatusBadRequest {
		t.Errorf("bad date: %d", got.Status)
	}

	exp := avery.Get("/audit/export?format=csv&type=upload.succeeded")
	if exp.Status != http.StatusOK || !strings.Contains(exp.Header.Get("Content-Disposition"), `filename="depportal-audit_start_`) {
		t.Fatalf("export: %d %q", exp.Status, exp.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(strings.NewReader(exp.Body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "seq" || rows[1][2] != "upload.succeeded" {
		t.Errorf("CSV: %v %q", err, rows)
	}
	if got := avery.Get("/audit/export?format=xml"); got.Status != http.StatusBadRequest {
		t.Errorf("unknown format: %d", got.Status)
	}
	jl := avery.Get("/audit/export?format=jsonl")
	if lines := strings.Count(strings.TrimSpace(jl.Body), "\n") + 1; lines < 6 || !strings.Contains(jl.Body, `"type":"upload.intent"`) {
		t.Errorf("JSONL export: %d lines", lines)
	}
}

// TestAuditRefusalStopsTheUpload: when the database refuses audit writes, nothing reaches
// Intune and the person is told why.
func TestAuditRefusalStopsTheUpload(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if _, err := p.app.DB().SQL().Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END`); err != nil {
		t.Fatal(err)
	}
	got := confirmReview(t, hannah, review)
	if got.Status != http.StatusServiceUnavailable || !strings.Contains(got.Body, "The audit trail cannot be written") || !strings.Contains(got.Body, "nothing was sent to Intune") {
		t.Errorf("page: %d\n%s", got.Status, got.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Errorf("Intune received %d uploads without an intent record", n)
	}
}

func TestAuditorSignsACheckpointOnDemand(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	signedInHannah(t, p)
	avery := p.browser(t)
	home, _ := testkit.MustSignIn(t, avery, "avery", "/")
	got := avery.Do(http.MethodPost, "/audit/checkpoint", map[string][]string{"csrf_token": {csrfFrom(t, home.Body)}}, map[string]string{"Origin": avery.Base})
	if got.Status != http.StatusSeeOther {
		t.Fatalf("checkpoint: %d", got.Status)
	}
	list := avery.Get("/audit")
	if !strings.Contains(list.Body, "the 2 records up to then are intact") {
		t.Errorf("banner after the checkpoint:\n%s", list.Body)
	}
	report, err := audit.Verify(context.Background(), p.app.DB(), p.app.Trail().VerifierKey())
	if err != nil || !report.Intact() || report.Checkpoints == 0 || report.Signed != 2 {
		t.Errorf("verify: %v %s", err, report)
	}
}
