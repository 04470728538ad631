// Package renewal is the use case the portal exists for: replacing an Apple ADE server token
// in Intune. It checks an upload before Intune sees it (Prepare → Review), holds the file as a
// pending upload, and performs the upload when the person confirms (Confirm → Result).
//
// It owns the order of things: nothing is sent to Intune without a review without failures, a
// confirmation, and (once wired) a committed audit intent. It speaks plain Go types, never
// HTTP; it must never log, return or store the token file unencrypted.
package renewal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/deptoken"
	"github.com/depportal/depportal/graph"
)

// Limits on what a person may submit.
const (
	MaxAppleIDLength = 254
	MaxFileSize      = 64 << 10 // a real token is about 3 KiB
	PendingTTL       = 10 * time.Minute
	DuplicateWindow  = 10 * time.Minute
	StaleDownload    = 24 * time.Hour
)

// Intune is what a renewal needs from Microsoft Graph; *graph.Client implements it.
type Intune interface {
	GetOnboardingSetting(ctx context.Context, cred graph.Credentials, id string) (graph.OnboardingSetting, error)
	GetEncryptionPublicKey(ctx context.Context, cred graph.Credentials, id string) (string, error)
	UploadDepToken(ctx context.Context, cred graph.Credentials, id, appleID string, tokenFile []byte) (graph.CallInfo, error)
}

// Store keeps pending uploads; store/ implements it.
type Store interface {
	PutPendingUpload(ctx context.Context, p PendingRecord) error
	PendingUpload(ctx context.Context, id string) (PendingRecord, error)
	// ConsumePendingUpload marks a pending upload used and drops its file, atomically: of two
	// concurrent confirmations only one gets the record.
	ConsumePendingUpload(ctx context.Context, id string, at time.Time) (PendingRecord, error)
	SetPendingOutcome(ctx context.Context, id, outcome string) error
	// SucceededRecently reports whether this file was uploaded to this token successfully
	// since the given time.
	SucceededRecently(ctx context.Context, settingID, fileSHA256 string, since time.Time) (bool, error)
	DeletePendingUploadsBefore(ctx context.Context, before time.Time) (int64, error)
}

// ErrNotFound is what a Store returns for a missing or already used pending upload.
var ErrNotFound = errors.New("pending upload not found")

// PendingRecord is a reviewed upload waiting for confirmation, as stored.
type PendingRecord struct {
	ID          string
	SessionHash string // the session that reviewed it; no other may confirm
	SettingID   string
	SettingName string
	AppleID     string
	FileName    string
	FileSHA256  string
	Sealed      []byte  // the token file, sealed; emptied when consumed
	Checks      []Check // the review, to show again and to know which warnings need a tick
	CreatedAt   time.Time
	ExpiresAt   time.Time
	ConsumedAt  time.Time
	Outcome     string
}

// Auditor records what happens; *audit.Trail implements it. Append returns only once the
// record is durable, and an error means nothing was recorded.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Config wires a Service.
type Config struct {
	Intune     Intune
	Store      Store
	Audit      Auditor
	SessionKey []byte
	Now        func() time.Time
}

// Service performs renewals.
type Service struct {
	intune Intune
	store  Store
	audit  Auditor
	sealer *auth.Sealer
	now    func() time.Time
}

// New builds the service.
func New(cfg Config) (*Service, error) {
	sealer, err := auth.NewSealer(cfg.SessionKey, "pending-upload")
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		return nil, errors.New("renewal: an audit trail is required")
	}
	return &Service{intune: cfg.Intune, store: cfg.Store, audit: cfg.Audit, sealer: sealer, now: cfg.Now}, nil
}

// Request is what the person submitted on the renewal form.
type Request struct {
	SettingID string
	AppleID   string
	FileName  string
	File      []byte
}

// FieldErrors names what is wrong with each form field; the form shows each beside its field.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	var parts []string
	for k, v := range f {
		parts = append(parts, k+": "+v)
	}
	return "invalid form: " + strings.Join(parts, "; ")
}

// NormalizeAppleID trims and checks the Apple ID; the message is for the form.
func NormalizeAppleID(raw string) (string, string) {
	id := strings.TrimSpace(raw)
	switch {
	case id == "":
		return "", "Enter the Apple ID used to create the original token (an email address)."
	case len(id) > MaxAppleIDLength:
		return id, fmt.Sprintf("An Apple ID is at most %d characters.", MaxAppleIDLength)
	}
	addr, err := mail.ParseAddress(id)
	if err != nil || addr.Address != id || addr.Name != "" || !strings.Contains(id[strings.LastIndex(id, "@")+1:], ".") {
		return id, "This does not look like an Apple ID. It is an email address, such as abm-admin@contoso.com."
	}
	return id, ""
}

// Validate checks the form before anything else happens.
func (r Request) Validate() (Request, error) {
	fe := FieldErrors{}
	appleID, msg := NormalizeAppleID(r.AppleID)
	r.AppleID = appleID
	if msg != "" {
		fe["apple_id"] = msg
	}
	switch {
	case r.File == nil:
		fe["token_file"] = "Choose the server token file (.p7m) you downloaded from Apple Business Manager."
	case len(r.File) == 0:
		fe["token_file"] = "The chosen file is empty. Download the token again from Apple Business Manager."
	case len(r.File) > MaxFileSize:
		fe["token_file"] = fmt.Sprintf("The file is %d KB; a server token is about 3 KB (at most %d KB accepted). Check you chose the .p7m file.", len(r.File)/1024, MaxFileSize/1024)
	}
	if len(fe) > 0 {
		return r, fe
	}
	return r, nil
}

// Verdict of a check in the review.
type Verdict string

const (
	Pass Verdict = "pass"
	Warn Verdict = "warn"
	Fail Verdict = "fail"
)

// Check is one line of the pre-flight review.
type Check struct {
	Name    string  `json:"name"`  // stable key, e.g. "file", "recipient"
	Title   string  `json:"title"` // what was checked, for the page
	Verdict Verdict `json:"verdict"`
	Message string  `json:"message"` // what was found and, for warn/fail, what to do
	// Ack is set on warnings the person must explicitly accept before confirming.
	Ack string `json:"ack,omitempty"`
	// PublicKeyLink asks the page to offer this token's public key download.
	PublicKeyLink bool `json:"publicKeyLink,omitempty"`
}

// Review is what the person sees before confirming.
type Review struct {
	Setting   graph.OnboardingSetting
	AppleID   string
	FileName  string
	Report    deptoken.Report // zero when the file is not a token
	Checks    []Check
	PendingID string // empty when a check failed: there is nothing to confirm
	ExpiresAt time.Time
}

// Failed reports whether any check failed.
func (r Review) Failed() bool {
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			return true
		}
	}
	return false
}

// Acks lists the acknowledgements a review's warnings need.
func Acks(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if c.Ack != "" {
			out = append(out, c.Ack)
		}
	}
	return out
}

// Acknowledgement keys.
const (
	AckAppleIDChange = "apple_id_change"
	AckDuplicate     = "duplicate"
	AckStale         = "stale_download"
	AckTokenType     = "token_type"
	AckUnmatched     = "unmatched"
)

// Session is who is renewing: the session hash binds the pending upload, the credentials call
// Graph, the rest goes into the audit trail.
type Session struct {
	Hash        string
	Credentials graph.Credentials
	Actor       audit.Actor
	Client      audit.Client
	RequestID   string
}

// entry starts an audit entry for this session.
func (s Session) entry(t audit.EventType) audit.Entry {
	return audit.Entry{Type: t, Actor: s.Actor, Client: s.Client, RequestID: s.RequestID}
}

// ErrAuditUnavailable: the audit trail could not record the step, so it was not taken.
var ErrAuditUnavailable = errors.New("the audit trail cannot be written")

// Prepare checks the upload and, when no check fails, keeps it as a pending upload. Graph
// errors (the setting or its key could not be read) are returned as they are.
func (s *Service) Prepare(ctx context.Context, sess Session, req Request) (Review, error) {
	req, err := req.Validate()
	if err != nil {
		return Review{}, err
	}
	setting, err := s.intune.GetOnboardingSetting(ctx, sess.Credentials, req.SettingID)
	if err != nil {
		return Review{}, err
	}
	rv := Review{Setting: setting, AppleID: req.AppleID, FileName: req.FileName}

	report, inspectErr := deptoken.Inspect(bytes.NewReader(req.File), deptoken.WithFileName(req.FileName), deptoken.WithMaxSize(MaxFileSize))
	sum := sha256.Sum256(req.File)
	fileSHA := hex.EncodeToString(sum[:])
	var fe *deptoken.FileError
	switch {
	case errors.As(inspectErr, &fe):
		rv.Checks = append(rv.Checks, Check{Name: "file", Title: "The file is an Apple server token", Verdict: Fail, Message: fe.Msg})
		return rv, s.recordReview(ctx, sess, rv, fileSHA)
	case inspectErr != nil:
		return Review{}, fmt.Errorf("read token file: %w", inspectErr)
	}
	rv.Report = report
	rv.Checks = append(rv.Checks, Check{Name: "file", Title: "The file is an Apple server token", Verdict: Pass,
		Message: fmt.Sprintf("An encrypted server token (%s, %d bytes, %s).", report.ContentEncryption.Name, report.Size, report.Format)})

	certPEM, err := s.intune.GetEncryptionPublicKey(ctx, sess.Credentials, req.SettingID)
	if err != nil {
		return Review{}, err
	}
	rv.Checks = append(rv.Checks, recipientCheck(report, certPEM, setting))
	rv.Checks = append(rv.Checks, appleIDCheck(req.AppleID, setting))
	if c, ok := downloadCheck(report, s.now()); ok {
		rv.Checks = append(rv.Checks, c)
	}
	if c, ok := tokenTypeCheck(report, setting); ok {
		rv.Checks = append(rv.Checks, c)
	}
	dup, err := s.store.SucceededRecently(ctx, req.SettingID, fileSHA, s.now().Add(-DuplicateWindow))
	if err != nil {
		return Review{}, err
	}
	if dup {
		rv.Checks = append(rv.Checks, Check{Name: "duplicate", Title: "Not uploaded already", Verdict: Warn, Ack: AckDuplicate,
			Message: "This same file was uploaded to this token successfully in the last 10 minutes. Uploading it again changes nothing; confirm only if that is intended."})
	}
	if rv.Failed() {
		return rv, s.recordReview(ctx, sess, rv, fileSHA)
	}
	if err := s.recordReview(ctx, sess, rv, fileSHA); err != nil {
		return Review{}, err
	}

	id := auth.RandomToken()
	now := s.now()
	rec := PendingRecord{
		ID: id, SessionHash: sess.Hash, SettingID: req.SettingID, SettingName: setting.TokenName,
		AppleID: req.AppleID, FileName: req.FileName, FileSHA256: fileSHA,
		Sealed: s.sealer.Seal(req.File, []byte(id)), Checks: rv.Checks,
		CreatedAt: now, ExpiresAt: now.Add(PendingTTL),
	}
	if err := s.store.PutPendingUpload(ctx, rec); err != nil {
		return Review{}, fmt.Errorf("keep pending upload: %w", err)
	}
	rv.PendingID, rv.ExpiresAt = id, rec.ExpiresAt
	return rv, nil
}

// recordReview writes the upload.reviewed record; without it the review does not count.
func (s *Service) recordReview(ctx context.Context, sess Session, rv Review, fileSHA string) error {
	e := sess.entry(audit.UploadReviewed)
	e.Setting = audit.Setting{ID: rv.Setting.ID, Name: rv.Setting.TokenName}
	e.AppleID = rv.AppleID
	e.Token = audit.TokenFile{SHA256: fileSHA}
	if len(rv.Report.Recipients) > 0 {
		e.Token.Recipient = describeRecipients(rv.Report)
	}
	for _, c := range rv.Checks {
		e.Verdicts = append(e.Verdicts, audit.Verdict{Check: c.Name, Result: audit.Result(c.Verdict), Message: c.Message})
	}
	if _, err := s.audit.Append(ctx, e); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	return nil
}

func recipientCheck(report deptoken.Report, certPEM string, setting graph.OnboardingSetting) Check {
	c := Check{Name: "recipient", Title: "Made for this token's key", PublicKeyLink: true}
	m, err := deptoken.Match(report, certPEM)
	switch {
	case err != nil:
		c.Verdict, c.Message = Warn, "Intune's public key for this token could not be read, so the file could not be matched to it. Intune will decide."
		c.Ack = AckUnmatched
	case m.Matched:
		c.Verdict = Pass
		c.Message = "The file was encrypted to the public key Intune holds for " + setting.TokenName + ", so Intune can open it."
		c.PublicKeyLink = false
	default:
		c.Verdict = Fail
		c.Message = "The file was made for another MDM server's key (it names " + describeRecipients(report) +
			"), not this token's key. Intune cannot open it. Download this token's public key below, upload it to the MDM server in Apple Business Manager (Edit MDM Server → Upload Public Key), then download the token again and upload that file here."
		if m.SameIssuer {
			c.Message += " The issuer is the same but the serial differs: this MDM server's key pair was regenerated on one side only."
		}
	}
	return c
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
		c.Message = fmt.Sprintf("Intune has %s for this token; you entered %s. Changing the Apple ID does not affect enrolled devices, but it should be the Apple ID that downloaded this token.", setting.AppleIdentifier, appleID)
	}
	return c
}

func downloadCheck(report deptoken.Report, now time.Time) (Check, bool) {
	if report.DownloadedAt == nil {
		return Check{}, false
	}
	age := now.Sub(*report.DownloadedAt)
	c := Check{Name: "download", Title: "Downloaded recently"}
	if age > StaleDownload {
		c.Verdict, c.Ack = Warn, AckStale
		c.Message = fmt.Sprintf("The file name says it was downloaded %s ago (%s). Every download in Apple Business Manager replaces the previous token: if anyone downloaded it since, this file no longer works.",
			roundAge(age), report.DownloadedAt.UTC().Format("2006-01-02 15:04 UTC"))
	} else {
		c.Verdict, c.Message = Pass, "Downloaded "+report.DownloadedAt.UTC().Format("2006-01-02 15:04 UTC")+"."
	}
	return c, true
}

func roundAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return fmt.Sprintf("%d hours", int(d.Hours()))
}

// tokenTypeCheck warns when a School Manager token receives a file whose name says Business
// Manager, or the reverse, where the file name tells.
func tokenTypeCheck(report deptoken.Report, setting graph.OnboardingSetting) (Check, bool) {
	name := strings.ToLower(report.ServerName + " " + report.FileName)
	school := strings.Contains(name, "asm") || strings.Contains(name, "school")
	business := strings.Contains(name, "abm") || strings.Contains(name, "business")
	c := Check{Name: "token_type", Title: "Business or School Manager as expected"}
	switch {
	case setting.TokenType == graph.TokenTypeAppleSchoolManager && business && !school:
		c.Verdict, c.Ack = Warn, AckTokenType
		c.Message = "This is an Apple School Manager token, but the file name suggests Apple Business Manager. Check you downloaded it from the right MDM server."
	case setting.TokenType == graph.TokenTypeDEP && school && !business:
		c.Verdict, c.Ack = Warn, AckTokenType
		c.Message = "This is an Apple Business Manager token, but the file name suggests Apple School Manager. Check you downloaded it from the right MDM server."
	default:
		return Check{}, false
	}
	return c, true
}
