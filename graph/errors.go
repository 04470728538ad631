package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrorClass is what a handler needs to pick a page. It is also an error, so
// errors.Is(err, graph.ClassThrottled) works as well as switch graph.ClassOf(err).
type ErrorClass string

const (
	// ClassUnauthorized: 401. The sign-in expired or is invalid (also: tenant not licensed
	// for Intune). The person signs in again.
	ClassUnauthorized ErrorClass = "unauthorized"
	// ClassMissingScope: 403, the app registration lacks DeviceManagementServiceConfig
	// consent. An administrator fixes the app registration, not the person.
	ClassMissingScope ErrorClass = "missing-scope"
	// ClassMissingIntuneRole: any other 403. The person needs an Intune role with
	// "Enrollment programs: Update token" (and a scope tag that shows this token).
	ClassMissingIntuneRole ErrorClass = "missing-intune-role"
	// ClassInsufficientClaims: Conditional Access wants more (MFA, compliant device); the
	// person signs in again with Error.Claims as the claims challenge.
	ClassInsufficientClaims ErrorClass = "insufficient-claims"
	// ClassRejected: 400. Intune refused the request, for an upload usually the token file.
	ClassRejected ErrorClass = "rejected"
	// ClassNotFound: 404. The token (depOnboardingSetting) is gone or hidden.
	ClassNotFound ErrorClass = "not-found"
	// ClassThrottled: 429. Error.RetryAfter says when to try again, if Graph said.
	ClassThrottled ErrorClass = "throttled"
	// ClassUnavailable: a read failed because Graph was unavailable (500/502/503/504, a
	// 5xx that is not Graph JSON, or no answer), or a write (upload, sync) provably was not
	// processed: it never left in full because Graph could not be reached. Nothing changed.
	// A write that got a 5xx is ClassOutcomeUnknown instead, never this.
	ClassUnavailable ErrorClass = "unavailable"
	// ClassOutcomeUnknown: a write (upload, sync) whose effect is unknown: it left in full
	// and no answer came back, or Graph answered with a 5xx (a 504 is a gateway that stopped
	// waiting for Intune, which may have finished) or another status that is neither 2xx nor
	// 4xx. Intune may or may not have acted on it; check the token's status before trying
	// again. Status, Code, Message and the request IDs of such an answer are kept on the
	// *Error.
	ClassOutcomeUnknown ErrorClass = "outcome-unknown"
	// ClassOther: anything else (an unexpected status or body, a refused nextLink, bad input).
	ClassOther ErrorClass = "other"
)

func (c ErrorClass) Error() string { return "graph: " + string(c) }

// ClassOf returns the class of the *Error in err's chain, ClassOther for any other error
// and "" for nil.
func ClassOf(err error) ErrorClass {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class()
	}
	return ClassOther
}

// RestoreError rebuilds an error read back from storage (for a result page shown later, an
// audit entry) from its stored fields: it returns a copy of e whose class is class, as it
// was when the error happened, not recomputed from e.Status, because a write's 5xx is
// ClassOutcomeUnknown where a read's is ClassUnavailable. An empty class leaves the class
// to be derived from e's fields, as for an Error built by hand.
func RestoreError(class ErrorClass, e Error) *Error {
	e.class = class
	return &e
}

// Error is every error this package returns. It never holds the Authorization header, the
// access token or a request body.
type Error struct {
	Status  int    // HTTP status; 0 when no response came
	Code    string // Graph's error.code, e.g. "Forbidden"
	Message string // readable: Intune's inner message without its support-ID tail

	RequestID       string // request-id header or innerError
	ClientRequestID string // client-request-id we sent (or as echoed)
	Date            string // Date header or innerError date
	ActivityID      string // from Intune's inner message ("Activity ID: …")
	OperationID     string // from Intune's inner message ("Operation ID (for customer support): …")

	RetryAfter time.Duration // from Retry-After (or Intune's envelope); 0 when not given
	// Claims is the Conditional Access claims challenge (WWW-Authenticate claims="…"), to be
	// passed to the next sign-in.
	Claims string

	Call CallInfo // the last attempt
	Err  error    // the underlying cause: a transport error, a failed refresh

	class     ErrorClass
	challenge string // WWW-Authenticate error="…"
	graphJSON bool   // the body was a Graph error object
}

// Class returns what kind of failure this is.
func (e *Error) Class() ErrorClass {
	if e.class != "" {
		return e.class
	}
	return classify(e)
}

// Is makes errors.Is(err, graph.ClassX) true for an *Error of class X.
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorClass)
	return ok && c == e.Class()
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph:")
	if e.Status != 0 {
		fmt.Fprintf(&b, " %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" && e.Message != http.StatusText(e.Status) {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	var ids []string
	for _, kv := range [][2]string{
		{"request-id", e.RequestID}, {"client-request-id", e.ClientRequestID},
		{"date", e.Date}, {"activity-id", e.ActivityID},
	} {
		if kv[1] != "" {
			ids = append(ids, kv[0]+" "+kv[1])
		}
	}
	if len(ids) > 0 {
		b.WriteString(" [" + strings.Join(ids, ", ") + "]")
	}
	return b.String()
}

// classify derives the class from the answer alone, as for a read; attempt overrides it for a
// write whose answer does not prove that nothing changed (ClassOutcomeUnknown).
func classify(e *Error) ErrorClass {
	text := strings.ToLower(e.Code + " " + e.Message + " " + e.challenge)
	switch {
	case (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) &&
		strings.Contains(text, "insufficient_claims"):
		return ClassInsufficientClaims
	case e.Status == http.StatusUnauthorized:
		return ClassUnauthorized
	case e.Status == http.StatusForbidden:
		if strings.Contains(text, "application is not authorized") ||
			strings.Contains(text, "missing scope") ||
			strings.Contains(text, "following scopes") {
			return ClassMissingScope
		}
		return ClassMissingIntuneRole
	case e.Status == http.StatusBadRequest:
		return ClassRejected
	case e.Status == http.StatusNotFound:
		return ClassNotFound
	case e.Status == http.StatusTooManyRequests:
		return ClassThrottled
	case e.Status == http.StatusInternalServerError, e.Status == http.StatusBadGateway,
		e.Status == http.StatusServiceUnavailable, e.Status == http.StatusGatewayTimeout:
		return ClassUnavailable
	case e.Status >= 500 && !e.graphJSON:
		// A proxy or load balancer answered, not Graph.
		return ClassUnavailable
	}
	return ClassOther
}

// looseString accepts any JSON value where Graph promises a string, so that one odd field
// does not throw away the request IDs beside it.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	var str string
	switch {
	case string(b) == "null":
	case json.Unmarshal(b, &str) == nil:
		*s = looseString(str)
	default:
		*s = looseString(b)
	}
	return nil
}

type graphErrorBody struct {
	Error *struct {
		Code       looseString `json:"code"`
		Message    looseString `json:"message"`
		InnerError *struct {
			RequestID       looseString `json:"request-id"`
			ClientRequestID looseString `json:"client-request-id"`
			Date            looseString `json:"date"`
		} `json:"innerError"`
	} `json:"error"`
}

// intuneEnvelope is the JSON that Intune puts, as a string, into Graph's error.message.
type intuneEnvelope struct {
	Version              json.RawMessage `json:"_version"`
	Message              looseString     `json:"Message"`
	CustomAPIErrorPhrase looseString     `json:"CustomApiErrorPhrase"`
	RetryAfter           json.RawMessage `json:"RetryAfter"`
}

var (
	operationIDPattern = regexp.MustCompile(`(?i)Operation ID \(for customer support\)\s*:\s*([0-9a-f][0-9a-f-]{7,})`)
	activityIDPattern  = regexp.MustCompile(`(?i)Activity ID\s*:\s*([0-9a-f][0-9a-f-]{7,})`)
	// The support tail: "… - Operation ID (for customer support): … - Activity ID: … - Url: …".
	supportTailPattern = regexp.MustCompile(`(?is)[\s-]*\b(?:Operation ID \(for customer support\)|Activity ID)\s*:.*$`)
	wwwAuthErrPattern  = regexp.MustCompile(`(?i)\berror="([^"]*)"`)
	wwwAuthClaims      = regexp.MustCompile(`(?i)\bclaims="([^"]*)"`)
)

const maxMessage = 1024

// parseError reads at most maxErrorBody of a non-2xx response and makes the best Error it
// can: a body that is empty, HTML, truncated or not Graph's shape still gives the status.
func parseError(resp *http.Response, now func() time.Time) *Error {
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))

	var retryAfterEnvelope json.RawMessage
	var body graphErrorBody
	if len(raw) <= maxErrorBody && json.Unmarshal(raw, &body) == nil && body.Error != nil {
		e.graphJSON = true
		e.Code = strings.TrimSpace(string(body.Error.Code))
		msg := string(body.Error.Message)
		if env, ok := parseEnvelope(msg); ok {
			msg = string(env.Message)
			if m := operationIDPattern.FindStringSubmatch(msg); m != nil {
				e.OperationID = m[1]
			}
			if m := activityIDPattern.FindStringSubmatch(msg); m != nil {
				e.ActivityID = m[1]
			}
			msg = supportTailPattern.ReplaceAllString(msg, "")
			if strings.TrimSpace(msg) == "" {
				msg = string(env.CustomAPIErrorPhrase)
			}
			retryAfterEnvelope = env.RetryAfter
		}
		e.Message = clip(strings.TrimSpace(msg))
		if in := body.Error.InnerError; in != nil {
			e.RequestID = string(in.RequestID)
			e.ClientRequestID = string(in.ClientRequestID)
			e.Date = string(in.Date)
		}
	}
	// Headers first: they are there for every status, also when the body is not Graph's.
	if v := resp.Header.Get("request-id"); v != "" {
		e.RequestID = v
	}
	if v := resp.Header.Get("client-request-id"); v != "" {
		e.ClientRequestID = v
	}
	if v := resp.Header.Get("Date"); v != "" {
		e.Date = v
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
		if e.Message == "" {
			e.Message = "HTTP status " + strconv.Itoa(resp.StatusCode)
		}
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"), now); ok {
		e.RetryAfter = d
	} else if d, ok := envelopeRetryAfter(retryAfterEnvelope); ok {
		e.RetryAfter = d
	}
	if h := resp.Header.Get("WWW-Authenticate"); h != "" {
		if m := wwwAuthErrPattern.FindStringSubmatch(h); m != nil {
			e.challenge = m[1]
		}
		if m := wwwAuthClaims.FindStringSubmatch(h); m != nil {
			e.Claims = m[1]
		}
	}
	e.class = classify(e)
	return e
}

// parseEnvelope finds Intune's JSON-in-a-string in Graph's message, tolerating text around it.
func parseEnvelope(msg string) (intuneEnvelope, bool) {
	var env intuneEnvelope
	i, j := strings.IndexByte(msg, '{'), strings.LastIndexByte(msg, '}')
	if i < 0 || j < i {
		return env, false
	}
	if json.Unmarshal([]byte(msg[i:j+1]), &env) != nil {
		return env, false
	}
	return env, env.Message != "" || env.Version != nil
}

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Retry-After values beyond this are treated as this: they only need to exceed maxRetryWait
// and must not overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads delta-seconds or an HTTP-date. An HTTP-date is measured against the
// response's own Date when there is one, so a skewed local clock does not matter.
func parseRetryAfter(v, date string, now func() time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return min(time.Duration(min(n, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter), true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	ref := now()
	if d, err := http.ParseTime(date); err == nil {
		ref = d
	}
	return min(max(at.Sub(ref), 0), maxRetryAfter), true
}

// envelopeRetryAfter reads Intune's own RetryAfter, whose format is undocumented: seconds as
// a number or string, or a .NET TimeSpan "hh:mm:ss".
func envelopeRetryAfter(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > maxRetryAfter.Seconds() {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 || h > 24 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
	return d, d > 0
}
