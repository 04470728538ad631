// Package renewal is the use case the portal exists for: replacing an Apple ADE server token
// in Intune. It checks an upload before Intune sees it (Prepare → Review), holds the file as a
// pending upload, and performs the upload when the person confirms (Confirm → Result).
//
// It owns the order of things: nothing is sent to Intune without a review without failures, a
// confirmation, and a committed audit intent (Confirm appends upload.intent and calls Intune
// only once the append returned). It speaks plain Go types, never HTTP; it must never log,
// return or store the token file unencrypted.
package renewal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/deptoken"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/secret"
)

// Limits on what a person may submit.
const (
	MaxAppleIDLength = 254
	MaxFileSize      = 64 << 10 // a real token is about 3 KiB
	PendingTTL       = 10 * time.Minute
	DuplicateWindow  = 10 * time.Minute
	// MaxPendingPerSession caps the checked files one session keeps waiting: a person needs
	// one; a script could otherwise fill the database with sealed files.
	MaxPendingPerSession = 5
	StaleDownload        = 24 * time.Hour
)

// Intune is what a renewal needs from Microsoft Graph; *graph.Client implements it.
type Intune interface {
	// ListOnboardingSettings lets a file made for another token of the tenant be named.
	ListOnboardingSettings(ctx context.Context, cred graph.Credentials) ([]graph.OnboardingSetting, error)
	GetOnboardingSetting(ctx context.Context, cred graph.Credentials, id string) (graph.OnboardingSetting, error)
	GetEncryptionPublicKey(ctx context.Context, cred graph.Credentials, id string) (string, error)
	UploadDepToken(ctx context.Context, cred graph.Credentials, id, appleID string, tokenFile []byte) (graph.CallInfo, error)
	SyncWithApple(ctx context.Context, cred graph.Credentials, id string) (graph.CallInfo, error)
}

// Store keeps pending uploads and, once sent, their results; store/ implements it.
type Store interface {
	PutPendingUpload(ctx context.Context, p PendingRecord) error
	PendingUpload(ctx context.Context, id string) (PendingRecord, error)
	// CountPendingUploads counts a session's pending uploads still waiting at now.
	CountPendingUploads(ctx context.Context, sessionHash string, now time.Time) (int, error)
	// PendingUploadByIntent finds the upload whose upload.intent audit record is intentSeq.
	PendingUploadByIntent(ctx context.Context, intentSeq int64) (PendingRecord, error)
	// ClaimPendingUpload marks a pending upload as sending and takes its file out, atomically:
	// of two concurrent confirmations only one gets the record.
	ClaimPendingUpload(ctx context.Context, id string, at time.Time) (PendingRecord, error)
	// ReleasePendingUpload undoes a claim whose upload was never sent, putting the file back.
	ReleasePendingUpload(ctx context.Context, id string, sealed []byte) error
	// SaveUploadResult records what is known of a sent upload; it is called again as more is.
	SaveUploadResult(ctx context.Context, id string, r UploadResult) error
	// LastUpload returns the newest upload of this file to this token since the given time
	// that Intune took or may have taken (succeeded, unknown or still sending).
	LastUpload(ctx context.Context, settingID, fileSHA256 string, since time.Time) (PendingRecord, bool, error)
	DeletePendingUploadsBefore(ctx context.Context, before time.Time) (int64, error)
}

// ErrNotFound is what a Store returns for a missing or already used pending upload.
var ErrNotFound = errors.New("pending upload not found")

// PendingRecord is a reviewed upload, as stored: waiting for confirmation, then the record of
// what happened to it, which the result page shows again on every reload.
type PendingRecord struct {
	ID          string
	SessionHash string // the session that reviewed it; no other may confirm
	OwnerTenant string // who reviewed it, to show the result to the same person later
	OwnerOID    string
	OwnerName   string
	SettingID   string
	SettingName string
	// Setting is the token as Intune described it at review time: the upload does not read it
	// again, and a read-back after an unknown outcome is compared with it.
	Setting    graph.OnboardingSetting
	AppleID    string
	FileName   string
	FileSHA256 string
	Sealed     []byte  // the token file, sealed; emptied when claimed for sending
	Checks     []Check // the review, to show again and to know which warnings need a tick
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt time.Time // when it was claimed for sending; zero while it waits
	IntentSeq  int64     // the upload.intent audit record, once written
	Result     UploadResult
}

// Review rebuilds the review page of a pending upload.
func (p PendingRecord) Review() Review {
	rv := Review{Setting: p.Setting, AppleID: p.AppleID, FileName: p.FileName, Checks: p.Checks, PendingID: p.ID, ExpiresAt: p.ExpiresAt}
	if rv.Setting.ID == "" {
		rv.Setting.ID, rv.Setting.TokenName = p.SettingID, p.SettingName
	}
	rv.Report.SHA256 = p.FileSHA256
	return rv
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
	// WorkTimeout bounds a confirmed upload: the Graph call, its read-back and its records,
	// which run to completion whatever the browser does. Default 2 minutes.
	WorkTimeout time.Duration
	// ReconcileDelays are the waits before each read-back of a token whose upload outcome is
	// unknown (default 0, 2 s, 5 s): a gateway's 504 can come before Intune finished.
	ReconcileDelays []time.Duration
	// Sleep waits between read-backs; tests inject it.
	Sleep func(context.Context, time.Duration) error
	// Renewed, when set, hears of every upload that Intune took (an answer of 2xx, or a
	// read-back showing the new token), with the token as read back after it (nil when that
	// read failed), and of every upload whose outcome stayed unknown (nil): the watch stops
	// calling the token about to expire, or reads Intune again to find out.
	Renewed func(ctx context.Context, settingID string, after *graph.OnboardingSetting)
	// Logger hears what the person is not shown: an answer from Intune that could not be
	// recorded. Default: discarded.
	Logger *slog.Logger
}

// Service performs renewals.
type Service struct {
	intune Intune
	store  Store
	audit  Auditor
	sealer *secret.Sealer
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	log    *slog.Logger
	// renewed is Config.Renewed, or nothing.
	renewed func(ctx context.Context, settingID string, after *graph.OnboardingSetting)

	workTimeout     time.Duration
	reconcileDelays []time.Duration
}

// New builds the service.
func New(cfg Config) (*Service, error) {
	sealer, err := secret.NewSealer(cfg.SessionKey, "pending-upload")
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		return nil, errors.New("renewal: an audit trail is required")
	}
	if cfg.WorkTimeout <= 0 {
		cfg.WorkTimeout = 2 * time.Minute
	}
	if cfg.ReconcileDelays == nil {
		cfg.ReconcileDelays = []time.Duration{0, 2 * time.Second, 5 * time.Second}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	if cfg.Renewed == nil {
		cfg.Renewed = func(context.Context, string, *graph.OnboardingSetting) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{intune: cfg.Intune, store: cfg.Store, audit: cfg.Audit, sealer: sealer, now: cfg.Now, sleep: cfg.Sleep,
		log: cfg.Logger, renewed: cfg.Renewed, workTimeout: cfg.WorkTimeout, reconcileDelays: cfg.ReconcileDelays}, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Request is what the person submitted on the renewal form.
type Request struct {
	SettingID string
	AppleID   string
	FileName  string
	File      []byte
	// Size is the file's size as sent, when known: File holds at most MaxFileSize+1 bytes of
	// it, and a message about a file too large gives the real size.
	Size int64
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

// MaxFileNameBytes bounds a file name as kept, shown and logged.
const MaxFileNameBytes = 255

// CleanFileName is the name a browser sent for the file, made safe to keep, show and log:
// control and format characters (bidirectional overrides among them, which can make
// "abm_token.p7m" display as something else) are dropped, and it is cut to MaxFileNameBytes
// at a character boundary.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > MaxFileNameBytes {
		cut := MaxFileNameBytes
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return name
}

// Validate checks the form before anything else happens.
func (r Request) Validate() (Request, error) {
	fe := FieldErrors{}
	appleID, msg := NormalizeAppleID(r.AppleID)
	r.AppleID = appleID
	if msg != "" {
		fe["apple_id"] = msg
	}
	r.FileName = CleanFileName(r.FileName)
	switch {
	case r.File == nil:
		fe["token_file"] = "Choose the server token file (.p7m) you downloaded from Apple Business Manager."
	case len(r.File) == 0:
		fe["token_file"] = "The chosen file is empty (0 bytes). Choose it again; if it is empty in your downloads folder too, its download did not finish: download the token again in Apple Business Manager."
	case len(r.File) > MaxFileSize:
		fe["token_file"] = fmt.Sprintf("The file is %s; a server token is about 3 KB (at most %d KB accepted). Check you chose the .p7m file.", Size(max(len(r.File), int(r.Size))), MaxFileSize/1024)
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
	Name string `json:"name"` // stable key, e.g. "file", "recipient"
	// Title is what was checked when it passed, and what was found when it did not
	// ("Downloaded 12 days ago"): the line a person reads first.
	Title   string  `json:"title"`
	Verdict Verdict `json:"verdict"`
	Message string  `json:"message"` // what was found and, for warn/fail, what to do
	// Ack is set on warnings the person must explicitly accept before confirming, and
	// Consequence says what renewing anyway leads to: the words beside the tick box.
	Ack         string `json:"ack,omitempty"`
	Consequence string `json:"consequence,omitempty"`
	// Conditional is a further step that applies only in the case it names, shown apart from
	// the main advice so it is not taken for it.
	Conditional string `json:"conditional,omitempty"`
	// PublicKeyLink asks the page to offer this token's public key download.
	PublicKeyLink bool `json:"publicKeyLink,omitempty"`
	// For is the token of this tenant the file was made for, when it is another one: the
	// page offers to renew that token with the same file.
	For *TokenRef `json:"for,omitempty"`
}

// Review is what the person sees before confirming.
type Review struct {
	Setting  graph.OnboardingSetting
	AppleID  string
	FileName string
	Report   deptoken.Report // zero when the file is not a token
	Checks   []Check
	// PendingID is the file kept for this review: to confirm when no check failed, or, when
	// the file belongs to another token (a check's For), to renew that token with. Empty when
	// nothing was kept.
	PendingID string
	ExpiresAt time.Time
}

// Confirmable reports whether the review may be sent to Intune.
func (r Review) Confirmable() bool { return r.PendingID != "" && !r.Failed() }

// ForOther is the other token of the tenant the file was made for, if the review found one.
func (r Review) ForOther() *TokenRef {
	for _, c := range r.Checks {
		if c.For != nil {
			return c.For
		}
	}
	return nil
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

// ErrTooManyPending: the session already has MaxPendingPerSession checked files waiting.
var ErrTooManyPending = fmt.Errorf("more than %d checked files waiting in one session", MaxPendingPerSession)

// Prepare checks the upload and, when no check fails, keeps it as a pending upload. Graph
// errors (the setting or its key could not be read) are returned as they are.
func (s *Service) Prepare(ctx context.Context, sess Session, req Request) (Review, error) {
	req, err := req.Validate()
	if err != nil {
		return Review{}, err
	}
	// Held in the database, so the cap holds across instances.
	if n, err := s.store.CountPendingUploads(ctx, sess.Hash, s.now()); err != nil {
		return Review{}, err
	} else if n >= MaxPendingPerSession {
		return Review{}, ErrTooManyPending
	}
	return s.review(ctx, sess, req)
}

// review runs the checks on a validated request and keeps the file when it can be used: as a
// pending upload to confirm, or, when it was made for another token of the tenant, to renew
// that one without a second upload.
func (s *Service) review(ctx context.Context, sess Session, req Request) (Review, error) {
	// The setting and its public key are read side by side: one Graph round trip, not two.
	var (
		setting graph.OnboardingSetting
		certPEM string
		keyErr  error
		err     error
	)
	keyCtx, cancelKey := context.WithCancel(ctx)
	keyDone := make(chan struct{})
	go func() {
		defer close(keyDone)
		certPEM, keyErr = s.intune.GetEncryptionPublicKey(keyCtx, sess.Credentials, req.SettingID)
	}()
	// Whatever path returns, the key read is not left running (a file that is not a token
	// does not need it).
	defer func() { cancelKey(); <-keyDone }()
	setting, err = s.intune.GetOnboardingSetting(ctx, sess.Credentials, req.SettingID)
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
		rv.Checks = append(rv.Checks, Check{Name: "file", Title: "The file is not an Apple server token", Verdict: Fail, Message: fe.Msg})
		return rv, s.recordReview(ctx, sess, rv, fileSHA)
	case inspectErr != nil:
		return Review{}, fmt.Errorf("read token file: %w", inspectErr)
	}
	rv.Report = report
	rv.Checks = append(rv.Checks, Check{Name: "file", Title: "The file is an Apple server token", Verdict: Pass,
		Message: fmt.Sprintf("An encrypted server token (%s, %s, %s).", report.ContentEncryption.Name, Size(report.Size), report.Format)})

	<-keyDone
	var km keyMatch
	switch {
	case keyErr != nil:
		return Review{}, keyErr
	default:
		// A key that is not a certificate leaves the match to Intune (a warning).
		km.target, err = deptoken.Match(report, certPEM)
		km.targetOK = err == nil
	}
	if !km.targetOK || !km.target.Matched {
		other := s.matchOtherTokens(ctx, sess.Credentials, report, req.SettingID)
		other.target, other.targetOK = km.target, km.targetOK
		km = other
	}
	recipient := recipientCheck(report, setting, km)
	rv.Checks = append(rv.Checks, recipient)
	rv.Checks = append(rv.Checks, appleIDCheck(req.AppleID, setting))
	if c, ok := downloadCheck(report, setting, s.now()); ok {
		rv.Checks = append(rv.Checks, c)
	}
	if recipient.Verdict != Pass {
		if c, ok := tokenTypeCheck(report, setting); ok {
			rv.Checks = append(rv.Checks, c)
		}
	}
	last, dup, err := s.store.LastUpload(ctx, req.SettingID, fileSHA, s.now().Add(-DuplicateWindow))
	if err != nil {
		return Review{}, err
	}
	if dup {
		rv.Checks = append(rv.Checks, duplicateCheck(last, sess.Actor, s.now()))
	}
	if err := s.recordReview(ctx, sess, rv, fileSHA); err != nil {
		return Review{}, err
	}
	if rv.Failed() && rv.ForOther() == nil {
		return rv, nil // nothing to do with this file
	}

	id := secret.RandomToken()
	now := s.now()
	rec := PendingRecord{
		ID: id, SessionHash: sess.Hash, SettingID: req.SettingID, SettingName: setting.TokenName, Setting: setting,
		OwnerTenant: sess.Actor.TenantID, OwnerOID: sess.Actor.ObjectID, OwnerName: sess.Actor.Name,
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

// Size is a file size as the pages give it: exact bytes when small, else KB with one decimal.
func Size(n int) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 1024:
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1024)
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
		return audit.Unrecorded(err)
	}
	return nil
}
