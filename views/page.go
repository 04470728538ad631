// Package views renders the portal's pages with templ. Components take view models (plain
// structs of strings and numbers) and never call services: no auth, graph or store imports.
package views

import (
	"strconv"
	"strings"
)

// withErrorTitle marks the title of a page showing a form's errors: the first thing a screen
// reader says, and the tab shows, is that something needs fixing.
func withErrorTitle(p Page, errs bool) Page {
	if errs && !strings.HasPrefix(p.Title, "Error: ") {
		p.Title = "Error: " + p.Title
	}
	return p
}

// Page is what every page's layout needs.
type Page struct {
	Title     string
	Sandbox   bool
	User      *User  // nil when nobody is signed in
	CSRFToken string // for the sign-out form and every other form
	Nav       []Link // the sections this person may open
	// Credential, when set, warns signed-in people that the portal's own credential at Entra ID
	// expires soon (or has): after that nobody can sign in.
	Credential *CredentialNotice
	// Connectors are the Apple connectors expired or expiring within 30 days (or whose sync
	// failed), soonest first: a banner for everyone signed in.
	Connectors []Connector
	// ConnectorsOpen shows the banner's list opened (the start page); elsewhere it is one line.
	ConnectorsOpen bool
}

// connectorNames names the connectors in a banner's one line.
func connectorNames(cs []Connector) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// Connector is one Apple connector (an ADE token, an Apps and Books token, the MDM push
// certificate) with its expiry and where it is renewed.
type Connector struct {
	Kind     string // "ADE server token", "Apps and Books token", "MDM push certificate"
	KindKey  string // "ade", "vpp", "apns"
	ID       string
	Name     string
	AppleID  string
	Expiry   When
	DaysLeft int
	State    string // "expired", "soon", "ok", or "" when unknown (as Token.State)
	// Problem is what else is wrong, in words ("last sync with Apple failed: error 9"), "" if none.
	Problem string
	// Renew is the portal's page that renews it (ADE, for uploaders); "" when the portal does
	// not renew it.
	Renew string
	// Elsewhere says where it is renewed when not here.
	Elsewhere string
}

// CredentialNotice is the banner about the portal's client secret or certificate.
type CredentialNotice struct {
	Kind     string // "secret" or "certificate"
	Expires  When
	DaysLeft int  // whole days left, 0 on the last day
	Expired  bool // already past: sign-ins fail from now on
}

// User is the signed-in person as shown in the header.
type User struct {
	Name     string
	Username string
	TenantID string
	ObjectID string
	Roles    []string // the portal roles held, e.g. DepToken.Upload
}

// Problem is an error or notice page: what happened, and what to do next.
type Problem struct {
	Status    int
	Heading   string
	Message   string
	Next      string // what to do now, one sentence
	RequestID string // for a support ticket
	Actions   []Link
	Support   []Fact // identifiers from Intune for a support ticket
	Causes    []string
}

// Fact is a labelled value, e.g. a request ID for a support ticket. A Fact with When set shows
// that moment instead of Value.
type Fact struct {
	Label string
	Value string
	When  *When
}

// Link is a call to action, or a section of the navigation (Current: the one shown now).
type Link struct {
	Label   string
	Href    string
	Current bool
}

// Home is the landing page after sign-in.
type Home struct {
	CanUpload    bool
	CanAudit     bool
	UploaderRole string
	AuditorRole  string
	Tokens       []Token
	TokensError  *Problem // the token list could not be read
	// The other two yearly connectors, read with the person's own token (uploaders).
	Vpp       []Connector
	VppError  *Problem
	Push      *Connector // nil: the tenant has none, or it could not be read
	PushError *Problem
	// Watched is the watch's last read, for people who do not read Intune here (auditors);
	// WatchedAt says when it was; empty when the watch is off or never read.
	Watched   []Connector
	WatchedAt When
	WatchOn   bool
}

// Token is one enrollment program token (an Intune depOnboardingSetting) as listed.
type Token struct {
	ID           string
	Name         string
	Program      string // "Apple Business Manager" or "Apple School Manager"
	AppleID      string
	Expiry       When // Text "unknown" when Intune gives none
	DaysLeft     int
	State        string // "expired", "soon" (30 days or less), "ok", or "" when unknown
	LastSync     When
	Devices      int
	LastModified When
	// SyncError is the last sync's error code as Intune gives it, "" when it succeeded.
	SyncError string
}

// RenewForm is the renewal form with what the person typed and what is wrong with it.
type RenewForm struct {
	AppleID string
	Errors  map[string]string // field name → message
	// DroppedFile is the name of a file the person had chosen that the returned form no longer
	// holds (browsers never refill a file input): they must choose it again.
	DroppedFile string
}

// FieldError is one line of a form's error summary, linking to its field.
type FieldError struct {
	Field   string
	Message string
}

// renewFields is the order of the renewal form's fields, for its error summary.
var renewFields = []string{"apple_id", "token_file"}

// Summary lists the form's errors in the order of its fields.
func (f RenewForm) Summary() []FieldError {
	var out []FieldError
	for _, name := range renewFields {
		if msg, ok := f.Errors[name]; ok {
			out = append(out, FieldError{Field: name, Message: msg})
		}
	}
	return out
}

// SettingPage shows one token, its sync with Apple and its renewal form.
type SettingPage struct {
	Token Token
	Form  RenewForm
	// DownloadPath is the menu path to this token's file in Apple's portal (Manager).
	Manager      string
	DownloadPath string
	Sync         SyncPanel
}

// SyncPanel is the token's sync with Apple: when it last happened and how, and the button to
// ask for one now (Intune allows one every 15 minutes).
type SyncPanel struct {
	Action        string // the form's address; "" when this person may not ask for a sync
	LastRequested When   // the last sync asked for by hand
	// NextAllowed is when Intune accepts the next manual sync, while that is in the future.
	NextAllowed *When
	// Notice is what came of a sync just asked for; NoticeBad marks a refusal.
	Notice    string
	NoticeBad bool
}

// Review is the pre-flight review of an upload.
type Review struct {
	Token      Token
	AppleID    string
	FileName   string
	FileSHA256 string
	Checks     []Check
	// ConfirmAction is where the confirmation form posts; "" when a check failed and there is
	// nothing to confirm.
	ConfirmAction string
	ExpiresAt     When
	AckMissing    bool // the confirmation came back without a required tick
	// Stopped is the finding that stopped the file, when a check failed.
	Stopped string
	// Other offers to renew the token the file was made for, when it is another one.
	Other *RenewOther
	// ChooseAnother is the renewal form of this token with the Apple ID kept.
	ChooseAnother string
}

// Decisions counts the warnings the person must decide on before renewing.
func (r Review) Decisions() int {
	n := 0
	for _, c := range r.Checks {
		if c.Ack != "" {
			n++
		}
	}
	return n
}

// RenewOther renews another token with the file already checked: no second upload.
type RenewOther struct {
	Action    string // the form's address
	SettingID string
	TokenName string
	Program   string
	AppleID   string
	Error     string // what is wrong with the Apple ID, when it came back
}

// Check is one line of the review.
type Check struct {
	ID            string // the element's id, for the tick box that refers to it
	Title         string
	Verdict       string // pass, warn, fail
	Message       string
	Ack           string // form value of the tick box this warning needs
	Consequence   string // the tick box's words: what renewing anyway leads to
	Conditional   string // a step that applies only in the case it names
	PublicKeyHref string
}

// When is a moment as pages show it: UTC text that reads without script, and the instant for
// the script to show in the reader's local time, with the UTC text on hover.
type When struct {
	At    string // RFC 3339 in UTC; "" when there is no moment (Text says "never")
	Text  string // "2 Jan 2026", "2 Jan 2026 15:04 UTC" or "15:04 UTC"; "never", "unknown"
	Style string // "date", "datetime" or "time"
	Rel   string // relative words where they help ("in 10 minutes"), as of the page's making
}

// UploadResult is the page of a confirmed upload, shown again on every reload and visit:
// what happened, with the evidence, and what to do (and not do) next.
type UploadResult struct {
	UploadID string
	// State is "sending", "succeeded", "failed", "unknown", "expired" (reviewed, never sent)
	// or "waiting" (reviewed in another session, not sent yet).
	State   string
	Heading string
	Message string
	Notes   []string // further facts: what a read-back showed, an audit record missing
	Causes  []string
	Next    string
	// NoDownload warns against downloading the token again: the upload may have taken effect.
	NoDownload bool
	Token      Token
	Facts      []Fact // token, Apple ID, file, sent at and by, expiry before
	NewExpiry  *When  // as read back after the upload; nil when not read
	// NewExpiryNote replaces NewExpiry when it could not be read back.
	NewExpiryNote string
	Records       string // the audit records of this upload, e.g. "#3 intent, #4 outcome"
	Support       []Fact
	Actions       []Link
	// Retry sends the same reviewed file again, when nothing reached Intune's token.
	Retry *RetryForm
	// Reason is Intune's own words when it refused the file: the page leads with them.
	Reason string
	// SyncAction asks Intune to sync the renewed token with Apple now; "" when not offered.
	SyncAction string
}

// RetryForm is "Try again": the reviewed file, kept, sent again with the decisions already
// made on its warnings.
type RetryForm struct {
	Action string
	Acks   []string
	Until  When
	// SignIn, when set, is where to sign in again first (the sign-in had expired).
	SignIn string
	Note   string // why trying again can work, and when
}

// AuditList is the audit trail page.
type AuditList struct {
	OwnOnly    bool // an uploader sees only their own records
	Filter     AuditFilter
	Records    []AuditRow
	OlderHref  string // next page, "" on the last
	ExportCSV  string
	ExportJSON string
	Chain      ChainStatus
	EventTypes []Option
	Outcomes   []Option
	// Tokens lets the token filter be picked by name; empty when the tokens could not be
	// listed, and the filter takes a token ID instead.
	Tokens []Option
	// CanCheckpoint offers auditors "verify and sign now".
	CanCheckpoint bool
	CSRFToken     string
}

// AuditFilter is what the filter form shows.
type AuditFilter struct {
	From, To, Actor, Token, Type, Outcome string
}

// Option is one choice of a select: the value sent and the words shown.
type Option struct {
	Value string
	Label string
}

// AuditRow is one record in the list.
type AuditRow struct {
	Seq     int64
	Time    When
	Event   string // in people's words, e.g. "Renewal sent"
	Outcome string // the outcome's value, for its colour
	Result  string // the outcome in words
	Actor   string
	Token   string
	Summary string
	Href    string
}

// ChainStatus is the banner over the trail.
type ChainStatus struct {
	Checked bool
	Intact  bool
	Text    string
}

// AuditDetail is one record in full.
type AuditDetail struct {
	Seq    int64
	Event  string // in people's words
	Chain  ChainStatus
	Fields []Fact
	Checks []Check
	// UploadHref is the result page of the renewal this record belongs to, while it is kept.
	UploadHref string
}

// daysAgo is how long ago something expired: "today" on the day itself.
func daysAgo(n int) string {
	switch {
	case n <= 0:
		return "today"
	case n == 1:
		return "1 day ago"
	}
	return strconv.Itoa(n) + " days ago"
}

// daysText is a number of days in words: "today", "1 day", "12 days".
func daysText(n int) string {
	switch {
	case n <= 0:
		return "less than a day"
	case n == 1:
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}
