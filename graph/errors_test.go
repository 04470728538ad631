package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	activityID  = "7f0e3b1c-9a2d-4e6f-8b1a-2c3d4e5f6a7b"
	operationID = "00000000-0000-0000-0000-000000000000"
	requestID   = "3c1f7a52-8d2e-4b0f-9a61-0e5d2b7c4f18"
	innerDate   = "2025-03-04T10:15:30"
)

// intuneBody builds Graph's error JSON with Intune's envelope, as a string, in message.
func intuneBody(code, inner string) string {
	envelope, _ := json.Marshal(map[string]any{
		"_version": 3,
		"Message": inner + " - Operation ID (for customer support): " + operationID +
			" - Activity ID: " + activityID +
			" - Url: https://fef.msub02.manage.microsoft.com/DeviceEnrollmentFE/StatelessDeviceEnrollmentFEService/deviceManagement/depOnboardingSettings('" + settingID + "')/uploadDepToken?api-version=5023-03-29 ",
		"CustomApiErrorPhrase": "",
		"RetryAfter":           nil,
		"ErrorSourceService":   "",
		"HttpHeaders":          "{}",
	})
	return graphBody(code, string(envelope))
}

func graphBody(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              innerDate,
			"request-id":        requestID,
			"client-request-id": "11111111-2222-3333-4444-555555555555",
		},
	}})
	return string(b)
}

func TestErrorClassesFromRealisticBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		class   ErrorClass
		code    string
		message string
	}{
		{
			name: "expired sign-in", status: 401,
			body:  graphBody("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
			class: ClassUnauthorized, code: "InvalidAuthenticationToken", message: "Access token has expired or is not yet valid.",
		},
		{
			name: "unlicensed tenant", status: 401,
			body:  intuneBody("Unauthorized", "{\"ErrorCode\":\"Tenant is not licensed for Intune\"}"),
			class: ClassUnauthorized, code: "Unauthorized",
		},
		{
			name: "missing scope", status: 403,
			body:  intuneBody("Forbidden", "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.Read.All, DeviceManagementServiceConfig.ReadWrite.All"),
			class: ClassMissingScope, code: "Forbidden",
			message: "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.Read.All, DeviceManagementServiceConfig.ReadWrite.All",
		},
		{
			name: "missing Intune role", status: 403,
			body:  intuneBody("Forbidden", "An error has occurred"),
			class: ClassMissingIntuneRole, code: "Forbidden", message: "An error has occurred",
		},
		{
			name: "conditional access", status: 403,
			header: map[string]string{"WWW-Authenticate": `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ=="`},
			body:   graphBody("InvalidAuthenticationToken", "Continuous access evaluation resulted in claims challenge with result: InteractionRequired and code: insufficient_claims"),
			class:  ClassInsufficientClaims, code: "InvalidAuthenticationToken",
		},
		{
			name: "token rejected", status: 400,
			body:  intuneBody("BadRequest", "The DEP token is invalid or it was generated for a different MDM server"),
			class: ClassRejected, code: "BadRequest", message: "The DEP token is invalid or it was generated for a different MDM server",
		},
		{
			name: "token gone", status: 404,
			body:  intuneBody("ResourceNotFound", "An error has occurred"),
			class: ClassNotFound, code: "ResourceNotFound",
		},
		{
			name: "throttled", status: 429, header: map[string]string{"Retry-After": "12"},
			body:  graphBody("TooManyRequests", "Too many requests from Identifier:"+settingID+" under category:Enrollment"),
			class: ClassThrottled, code: "TooManyRequests",
		},
		{
			name: "internal", status: 500, body: intuneBody("InternalServerError", "An internal server error has occurred"),
			class: ClassUnavailable, code: "InternalServerError",
		},
		{name: "bad gateway HTML", status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>", class: ClassUnavailable, message: "Bad Gateway"},
		{name: "unavailable", status: 503, body: graphBody("ServiceUnavailable", "Service is unavailable"), class: ClassUnavailable, code: "ServiceUnavailable"},
		{name: "gateway timeout empty", status: 504, class: ClassUnavailable, message: "Gateway Timeout"},
		{name: "non-JSON 507", status: 507, body: "Insufficient Storage", class: ClassUnavailable},
		{name: "Graph JSON 501", status: 501, body: graphBody("NotImplemented", "Not implemented"), class: ClassOther, code: "NotImplemented"},
		{name: "conflict", status: 409, body: graphBody("Conflict", "A sync is already in progress"), class: ClassOther, code: "Conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseError(mustResponse(tt.status, tt.header, tt.body), time.Now)
			if got := e.Class(); got != tt.class {
				t.Errorf("class = %s, want %s (%v)", got, tt.class, e)
			}
			if e.Status != tt.status {
				t.Errorf("Status = %d, want %d", e.Status, tt.status)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %q, want %q", e.Code, tt.code)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("Message = %q, want %q", e.Message, tt.message)
			}
			if e.Message == "" {
				t.Error("Message is empty")
			}
			if strings.Contains(e.Message, "Operation ID") || strings.Contains(e.Message, "Activity ID") || strings.Contains(e.Message, "_version") {
				t.Errorf("Message %q still carries the envelope or support tail", e.Message)
			}
		})
	}
}

func TestIntuneEnvelopeBothLayers(t *testing.T) {
	t.Parallel()
	// Exactly Intune's shape: a JSON document, pretty-printed with CRLF, inside a string.
	message := "{\r\n  \"_version\": 3,\r\n  \"Message\": \"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.ReadWrite.All - Operation ID (for customer support): " + operationID + " - Activity ID: " + activityID + " - Url: https://fef.msub02.manage.microsoft.com/DeviceEnrollmentFE/StatelessDeviceEnrollmentFEService/deviceManagement/depOnboardingSettings?api-version=5023-03-29 \",\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null,\r\n  \"ErrorSourceService\": \"\",\r\n  \"HttpHeaders\": \"{}\"\r\n}"
	body := graphBody("Forbidden", message)
	e := parseError(mustResponse(403, nil, body), time.Now)

	if e.ActivityID != activityID {
		t.Errorf("ActivityID = %q, want %q", e.ActivityID, activityID)
	}
	if e.OperationID != operationID {
		t.Errorf("OperationID = %q, want %q", e.OperationID, operationID)
	}
	want := "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.ReadWrite.All"
	if e.Message != want {
		t.Errorf("Message = %q, want %q", e.Message, want)
	}
	if e.RequestID != requestID || e.Date != innerDate || e.ClientRequestID != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("innerError ids = %q %q %q", e.RequestID, e.ClientRequestID, e.Date)
	}
	if e.Class() != ClassMissingScope {
		t.Errorf("class = %s, want %s", e.Class(), ClassMissingScope)
	}
	if e.RetryAfter != 0 {
		t.Errorf("RetryAfter = %v from a null envelope value", e.RetryAfter)
	}
	s := e.Error()
	for _, want := range []string{"403", "Forbidden", requestID, activityID} {
		if !strings.Contains(s, want) {
			t.Errorf("Error() = %q, missing %q", s, want)
		}
	}
}

func TestEnvelopeRetryAfterAndPhraseFallback(t *testing.T) {
	t.Parallel()
	body := graphBody("TooManyRequests", `{"_version":3,"Message":" - Operation ID (for customer support): `+operationID+` - Activity ID: `+activityID+` - Url: https://fef.example/x","CustomApiErrorPhrase":"Too many enrollment writes","RetryAfter":"00:00:20","ErrorSourceService":"","HttpHeaders":"{}"}`)
	e := parseError(mustResponse(429, nil, body), time.Now)
	if e.Message != "Too many enrollment writes" {
		t.Errorf("Message = %q", e.Message)
	}
	if e.RetryAfter != 20*time.Second {
		t.Errorf("RetryAfter = %v, want 20s", e.RetryAfter)
	}
	if e.ActivityID != activityID {
		t.Errorf("ActivityID = %q", e.ActivityID)
	}
}

func TestErrorFromUnhelpfulBodies(t *testing.T) {
	t.Parallel()
	huge := `{"error":{"code":"BadRequest","message":"` + strings.Repeat("x", 200<<10) + `"}}`
	tests := []struct {
		name, body string
		status     int
		class      ErrorClass
		message    string
	}{
		{"empty", "", 400, ClassRejected, "Bad Request"},
		{"HTML", "<!DOCTYPE html><html><head><title>Service Unavailable</title></head></html>", 503, ClassUnavailable, "Service Unavailable"},
		{"plain text", "upstream connect error or disconnect/reset before headers", 502, ClassUnavailable, "Bad Gateway"},
		{"huge", huge, 400, ClassRejected, "Bad Request"},
		{"truncated JSON", `{"error":{"code":"Forbidden","message":"Applica`, 403, ClassMissingIntuneRole, "Forbidden"},
		{"JSON not Graph's", `{"status":"error"}`, 500, ClassUnavailable, "Internal Server Error"},
		{"message is an object", `{"error":{"code":"BadRequest","message":{"text":"odd"}}}`, 400, ClassRejected, `{"text":"odd"}`},
		{"envelope garbage", `{"error":{"code":"BadRequest","message":"{not json at all}"}}`, 400, ClassRejected, "{not json at all}"},
		{"unknown status", "", 599, ClassUnavailable, "HTTP status 599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := mustResponse(tt.status, map[string]string{"request-id": requestID}, tt.body)
			e := parseError(resp, time.Now)
			if e.Class() != tt.class {
				t.Errorf("class = %s, want %s", e.Class(), tt.class)
			}
			if e.Message != tt.message {
				t.Errorf("Message = %.80q, want %q", e.Message, tt.message)
			}
			if e.RequestID != requestID {
				t.Errorf("RequestID = %q, want the header's %q", e.RequestID, requestID)
			}
		})
	}
}

func TestLongMessageIsClipped(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 5000)
	e := parseError(mustResponse(400, nil, graphBody("BadRequest", long)), time.Now)
	if len(e.Message) > maxMessage+len("…") || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("Message has %d bytes, want at most %d and a trailing ellipsis", len(e.Message), maxMessage)
	}
	if !json.Valid([]byte(`"` + e.Message + `"`)) {
		t.Error("clipping split a rune")
	}
}

func TestHeadersWinOverInnerError(t *testing.T) {
	t.Parallel()
	h := map[string]string{"request-id": "header-request-id", "client-request-id": "header-crid", "Date": "Tue, 04 Mar 2025 10:15:31 GMT"}
	e := parseError(mustResponse(404, h, graphBody("NotFound", "gone")), time.Now)
	if e.RequestID != "header-request-id" || e.ClientRequestID != "header-crid" || e.Date != "Tue, 04 Mar 2025 10:15:31 GMT" {
		t.Errorf("ids = %q %q %q", e.RequestID, e.ClientRequestID, e.Date)
	}
}

func TestClassOfAndErrorsIs(t *testing.T) {
	t.Parallel()
	e := &Error{Status: 429}
	wrapped := fmt.Errorf("renewing: %w", e)
	if ClassOf(wrapped) != ClassThrottled {
		t.Errorf("ClassOf = %s", ClassOf(wrapped))
	}
	if !errors.Is(wrapped, ClassThrottled) || errors.Is(wrapped, ClassUnavailable) {
		t.Error("errors.Is does not follow the class")
	}
	if ClassOf(errors.New("x")) != ClassOther || ClassOf(nil) != "" {
		t.Error("ClassOf of a foreign error or nil")
	}
	cause := context.DeadlineExceeded
	if !errors.Is(&Error{Err: cause, class: ClassOutcomeUnknown}, context.DeadlineExceeded) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	serverNow := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	localNow := func() time.Time { return serverNow.Add(time.Hour) } // a skewed local clock
	tests := []struct {
		value, date string
		want        time.Duration
		ok          bool
	}{
		{"30", "", 30 * time.Second, true},
		{" 0 ", "", 0, true},
		{"-5", "", 0, false},
		{"99999999999999", "", maxRetryAfter, true},
		{serverNow.Add(7 * time.Second).Format(http.TimeFormat), serverNow.Format(http.TimeFormat), 7 * time.Second, true},
		{serverNow.Add(-time.Minute).Format(http.TimeFormat), serverNow.Format(http.TimeFormat), 0, true},
		{localNow().Add(3 * time.Second).Format(http.TimeFormat), "", 3 * time.Second, true},
		{"soon", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.value, tt.date, localNow)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q, %q) = %v, %v; want %v, %v", tt.value, tt.date, got, ok, tt.want, tt.ok)
		}
	}
}

func mustResponse(status int, header map[string]string, body string) *http.Response {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestRestoreError(t *testing.T) {
	t.Parallel()
	stored := Error{
		Status: 504, Code: "GatewayTimeout", Message: "Gateway Timeout",
		RequestID: requestID, ClientRequestID: "11111111-2222-3333-4444-555555555555", ActivityID: activityID,
		Call: CallInfo{Status: 504, Attempts: 1, RequestID: requestID},
	}
	e := RestoreError(ClassOutcomeUnknown, stored)
	// Status 504 alone would classify as unavailable; the stored class wins.
	if e.Class() != ClassOutcomeUnknown || !errors.Is(e, ClassOutcomeUnknown) || ClassOf(fmt.Errorf("page: %w", e)) != ClassOutcomeUnknown {
		t.Errorf("class = %s, want %s", e.Class(), ClassOutcomeUnknown)
	}
	if e.Status != 504 || e.Code != "GatewayTimeout" || e.RequestID != requestID || e.ActivityID != activityID || e.Call != stored.Call {
		t.Errorf("fields not kept: %+v", e)
	}
	for _, want := range []string{"504 Gateway Timeout", "GatewayTimeout", requestID, activityID} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("Error() = %q, missing %q", e.Error(), want)
		}
	}
	if RestoreError(ClassThrottled, stored).Class() != ClassThrottled || e.Class() != ClassOutcomeUnknown {
		t.Error("a second restore changed the first")
	}
	if got := RestoreError("", Error{Status: 429}).Class(); got != ClassThrottled {
		t.Errorf("empty class: Class() = %s, want it derived from Status (%s)", got, ClassThrottled)
	}
}
