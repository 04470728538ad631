package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// EventType says what happened. The set is closed: Append refuses any other value, so a typo in
// a caller cannot create a type that filters and reports do not know.
type EventType string

const (
	SignInSucceeded EventType = "signin.succeeded"
	SignInRefused   EventType = "signin.refused"   // Reason says why
	AccessDenied    EventType = "access.denied"    // Route, and the missing role in Reason
	UploadReviewed  EventType = "upload.reviewed"  // Verdicts of the pre-flight checks
	UploadIntent    EventType = "upload.intent"    // committed before Graph is called
	UploadSucceeded EventType = "upload.succeeded" // IntentSeq points at the intent
	UploadFailed    EventType = "upload.failed"    // IntentSeq, Graph error details
	UploadUnknown   EventType = "upload.unknown"   // Intune's answer does not tell (none came, or a 5xx)
	// UploadReconciled: the token was read back after an unknown outcome; Outcome says what
	// the read-back proved (success, failure, or still unknown), Reason what it showed.
	UploadReconciled    EventType = "upload.reconciled"
	PublicKeyDownloaded EventType = "publickey.downloaded"
	AuditExported       EventType = "audit.exported"
	// ReminderSent: the watch delivered a reminder (success) or gave it up (failure). The
	// connector is in Setting, the channel in Route; Reason holds kind, threshold and expiry.
	ReminderSent EventType = "reminder.sent"
	// SyncRequested: a person asked Intune to sync a token's devices with Apple. Written
	// before Intune is called (no record, no sync); sync.answered follows.
	SyncRequested EventType = "sync.requested"
	// SyncAnswered: Intune's answer to the sync.requested in IntentSeq, with Graph's
	// identifiers: success when it took the request, failure when it refused it, unknown
	// when no answer said (none came, or a 5xx).
	SyncAnswered EventType = "sync.answered"
)

// EventTypes lists every event type, in the order a person reads the flow.
var EventTypes = []EventType{
	SignInSucceeded, SignInRefused, AccessDenied, UploadReviewed, UploadIntent,
	UploadSucceeded, UploadFailed, UploadUnknown, UploadReconciled, PublicKeyDownloaded, AuditExported,
	ReminderSent, SyncRequested, SyncAnswered,
}

// Outcome is the AU-3 "outcome" of an event.
type Outcome string

const (
	Success Outcome = "success"
	Failure Outcome = "failure"
	Unknown Outcome = "unknown" // an upload whose result Intune never reported
	Pending Outcome = "pending" // an intent: the outcome follows in a later record
)

// Result is a pre-flight check's verdict.
type Result string

const (
	Pass Result = "pass"
	Warn Result = "warn"
	Fail Result = "fail"
)

// Verdict is one pre-flight check as the person saw it on the review page.
type Verdict struct {
	Check   string `json:"check"`
	Result  Result `json:"result"`
	Message string `json:"message"`
}

// Actor is who acted, as Entra ID named them. TenantID and ObjectID identify the person; Name
// and UPN are kept as shown because that is what an auditor reads.
type Actor struct {
	TenantID string
	ObjectID string
	Name     string
	UPN      string
}

// Client is where the request came from.
type Client struct {
	IP        string
	UserAgent string
}

// Setting is the Intune depOnboardingSetting (the enrollment program token) acted on.
type Setting struct {
	ID   string
	Name string
}

// TokenFile identifies the uploaded .p7m without its content: the content is a secret.
type TokenFile struct {
	SHA256    string // lowercase hex of the file's bytes
	Recipient string // the certificate the file is encrypted to, as text
}

// GraphResult is what Microsoft Graph answered, kept for support tickets.
type GraphResult struct {
	Status          int // HTTP status; 0 when no answer came
	Code            string
	RequestID       string
	ClientRequestID string
	ActivityID      string
}

// Entry is what a caller hands to Trail.Append. There is deliberately no field that could hold
// a token, a secret or the file's content.
type Entry struct {
	Type       EventType
	Outcome    Outcome // empty: derived from Type (see DefaultOutcome)
	Actor      Actor
	Client     Client
	RequestID  string
	Setting    Setting
	AppleID    string
	Token      TokenFile
	Verdicts   []Verdict
	Graph      GraphResult
	DurationMS int64
	IntentSeq  int64  // outcome records: the Seq of their upload.intent (sync.requested) record
	Reason     string // refusals and denials
	Route      string // access.denied
}

// Record is an Entry as committed: numbered, timed and chained.
type Record struct {
	Seq  int64     // 1, 2, 3… with no gaps
	Time time.Time // UTC, microsecond precision, never earlier than the previous record's
	Entry
	PrevHash Hash // Hash of record Seq-1; zero for record 1
	Hash     Hash // SHA-256 of Canonical()
}

// Hash is a SHA-256 digest.
type Hash [32]byte

// String returns lowercase hex, the form used in exports and logs.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Head is the last record of the chain as the next Append sees it. The zero Head is the empty
// chain: the genesis record gets Seq 1 and a zero PrevHash.
type Head struct {
	Seq  int64
	Time time.Time
	Hash Hash
}

// MaxFieldBytes bounds every text field. Values such as the user agent come from the client;
// a record must stay small whatever is sent.
const MaxFieldBytes = 4096

// MaxUserAgentBytes bounds the user agent more tightly: a real one is a few hundred bytes, and
// anyone, signed in or not, can send any.
const MaxUserAgentBytes = 512

// ErrInvalidEntry wraps every reason Append refuses an entry.
var ErrInvalidEntry = errors.New("invalid audit entry")

// DefaultOutcome is the outcome an event type implies when the caller leaves it empty.
func DefaultOutcome(t EventType, verdicts []Verdict) Outcome {
	switch t {
	case SignInRefused, AccessDenied, UploadFailed:
		return Failure
	case UploadUnknown, UploadReconciled, SyncAnswered:
		return Unknown
	case UploadIntent:
		return Pending
	case UploadReviewed:
		for _, v := range verdicts {
			if v.Result == Fail {
				return Failure // the review blocked the upload
			}
		}
	}
	return Success
}

// normalised returns the entry as it will be hashed and stored, or why it cannot be.
// Text is made valid UTF-8 without NUL (PostgreSQL rejects both in TEXT) and cut to
// MaxFieldBytes, so what is hashed is exactly what the database keeps.
func (e Entry) normalised() (Entry, error) {
	if !knownType(e.Type) {
		return e, fmt.Errorf("%w: unknown event type %q", ErrInvalidEntry, e.Type)
	}
	if e.Outcome == "" {
		e.Outcome = DefaultOutcome(e.Type, e.Verdicts)
	}
	switch e.Outcome {
	case Success, Failure, Unknown, Pending:
	default:
		return e, fmt.Errorf("%w: unknown outcome %q", ErrInvalidEntry, e.Outcome)
	}
	switch e.Type {
	case UploadSucceeded, UploadFailed, UploadUnknown, UploadReconciled:
		if e.IntentSeq <= 0 {
			return e, fmt.Errorf("%w: %s needs the seq of its upload.intent record", ErrInvalidEntry, e.Type)
		}
	case SyncAnswered:
		if e.IntentSeq <= 0 {
			return e, fmt.Errorf("%w: %s needs the seq of its sync.requested record", ErrInvalidEntry, e.Type)
		}
	}
	if e.IntentSeq < 0 || e.DurationMS < 0 || e.Graph.Status < 0 || e.Graph.Status > 999 {
		return e, fmt.Errorf("%w: negative or impossible number", ErrInvalidEntry)
	}
	e.Token.SHA256 = strings.ToLower(e.Token.SHA256)
	if s := e.Token.SHA256; s != "" {
		if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
			return e, fmt.Errorf("%w: token SHA-256 must be 64 hex digits", ErrInvalidEntry)
		}
	}
	for _, p := range []*string{
		&e.Actor.TenantID, &e.Actor.ObjectID, &e.Actor.Name, &e.Actor.UPN,
		&e.Client.IP, &e.Client.UserAgent, &e.RequestID, &e.Setting.ID, &e.Setting.Name,
		&e.AppleID, &e.Token.Recipient, &e.Graph.Code, &e.Graph.RequestID,
		&e.Graph.ClientRequestID, &e.Graph.ActivityID, &e.Reason, &e.Route,
	} {
		*p = cleanText(*p)
	}
	e.Client.UserAgent = cut(e.Client.UserAgent, MaxUserAgentBytes)
	if len(e.Verdicts) > 0 {
		vs := make([]Verdict, len(e.Verdicts)) // never write into the caller's slice
		for i, v := range e.Verdicts {
			if v.Result != Pass && v.Result != Warn && v.Result != Fail {
				return e, fmt.Errorf("%w: verdict %q has result %q, want pass, warn or fail", ErrInvalidEntry, v.Check, v.Result)
			}
			vs[i] = Verdict{Check: cleanText(v.Check), Result: v.Result, Message: cleanText(v.Message)}
		}
		e.Verdicts = vs
	} else {
		e.Verdicts = nil
	}
	return e, nil
}

func knownType(t EventType) bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return cut(s, MaxFieldBytes)
}

// cut shortens s to at most n bytes at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
