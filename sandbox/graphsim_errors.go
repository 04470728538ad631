package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// call is one Graph request: the IDs a support ticket would quote, and where it is going.
type call struct {
	w               http.ResponseWriter
	r               *http.Request
	requestID       string
	clientRequestID string
	date            time.Time
	route           route
	claims          *accessClaims
}

// newCall sets the headers Graph puts on every response, errors included. A client-request-id
// that is not a GUID is replaced, as Graph does, so a client cannot rely on sending anything else.
func (g *Graph) newCall(w http.ResponseWriter, r *http.Request) *call {
	c := &call{w: w, r: r, requestID: uuid.NewString(), date: g.now().UTC()}
	if id := r.Header.Get("client-request-id"); id != "" && uuid.Validate(id) == nil {
		c.clientRequestID = id
	} else {
		c.clientRequestID = uuid.NewString()
	}
	h := w.Header()
	h.Set("request-id", c.requestID)
	h.Set("client-request-id", c.clientRequestID)
	h.Set("Date", c.date.Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"SANDBOX0001","ADSiteName":"SBX"}}`)
	return c
}

// baseURL is the simulator's own https://graph.microsoft.com/beta, as the client reached it, so
// that @odata.nextLink can be followed.
func (c *call) baseURL() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host + strings.TrimSuffix(graphPathPrefix, "/")
}

// apiError is a Graph error response. With intune set, message goes out inside Intune's own
// envelope, as a JSON string in the Graph error's message.
type apiError struct {
	status     int
	code       string
	message    string
	intune     bool
	retryAfter time.Duration
	wwwAuth    bool // 401s carry Graph's WWW-Authenticate challenge
	// claims, with wwwAuth, makes the challenge a claims challenge: error="insufficient_claims"
	// and the base64 claims request a client signs in again with.
	claims string
}

// outcome is how an error is written in the received-uploads record.
func (e *apiError) outcome() string {
	return fmt.Sprintf("rejected: %d %s: %s", e.status, e.code, e.message)
}

type graphErrorBody struct {
	Error graphError `json:"error"`
}

type graphError struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError innerError `json:"innerError"`
}

type innerError struct {
	Date            string `json:"date"` // no zone, as Graph writes it
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// intuneEnvelope is what Intune puts, serialised, in a Graph error's message.
type intuneEnvelope struct {
	Version              int     `json:"_version"`
	Message              string  `json:"Message"`
	CustomApiErrorPhrase string  `json:"CustomApiErrorPhrase"`
	RetryAfter           *string `json:"RetryAfter"`
	ErrorSourceService   string  `json:"ErrorSourceService"`
	HttpHeaders          string  `json:"HttpHeaders"`
}

// intuneError words an error as Intune's front end does. The Activity ID is the request-id, so
// that the two IDs a user quotes lead to the same request.
func (c *call) intuneError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, intune: true, message: message}
}

func (c *call) notFound() *apiError {
	return c.intuneError(http.StatusNotFound, "ResourceNotFound",
		fmt.Sprintf("No depOnboardingSetting with id '%s' exists in this tenant", c.route.settingID))
}

// intuneURL is the Intune front-end address that Intune quotes in its messages.
func (c *call) intuneURL() string {
	const base = "https://fef.msua06.manage.microsoft.com/DeviceEnrollmentFE/StatelessDeviceEnrollmentFEService/deviceManagement/depOnboardingSettings"
	path := base
	if c.route.settingID != "" {
		path += "('" + c.route.settingID + "')"
		if c.route.op != OpGet {
			path += "/" + actionName(c.route.op)
		}
	}
	return path + "?api-version=2023-06-12"
}

func actionName(op Operation) string {
	switch op {
	case OpPublicKey:
		return "getEncryptionPublicKey"
	case OpUpload:
		return "uploadDepToken"
	case OpSync:
		return "syncWithAppleDeviceEnrollmentProgram"
	case OpGenerateKey:
		return "generateEncryptionPublicKey"
	}
	return ""
}

func (c *call) envelope(message string) string {
	if message == "" {
		message = "An error has occurred"
	}
	env := intuneEnvelope{
		Version: 3,
		Message: message + " - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: " +
			c.requestID + " - Url: " + c.intuneURL(),
		HttpHeaders: "{}",
	}
	raw, _ := json.MarshalIndent(env, "", "  ")
	// Intune's serialiser writes CRLF; a client that splits on "\n" alone would see stray "\r".
	return strings.ReplaceAll(string(raw), "\n", "\r\n")
}

func (c *call) writeError(e *apiError) {
	message := e.message
	if e.intune {
		message = c.envelope(e.message)
	}
	if e.retryAfter > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Round(time.Second)/time.Second)))
	}
	if e.wwwAuth {
		challenge := `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
		if e.claims != "" {
			challenge += `, error="insufficient_claims", claims="` + e.claims + `"`
		}
		c.w.Header().Set("WWW-Authenticate", challenge)
	}
	c.writeJSON(e.status, graphErrorBody{Error: graphError{
		Code:    e.code,
		Message: message,
		InnerError: innerError{
			Date:            c.date.Format("2006-01-02T15:04:05"),
			RequestID:       c.requestID,
			ClientRequestID: c.clientRequestID,
		},
	}})
}

func (c *call) writeReply(rep reply) {
	switch {
	case rep.err != nil:
		c.writeError(rep.err)
	case rep.body == nil:
		c.w.WriteHeader(rep.status)
	default:
		c.writeJSON(rep.status, rep.body)
	}
}

func (c *call) writeJSON(status int, body any) {
	raw, err := json.Marshal(body)
	if err != nil {
		http.Error(c.w, "internal error", http.StatusInternalServerError)
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	h.Set("OData-Version", "4.0")
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	c.w.WriteHeader(status)
	if c.r.Method != http.MethodHead {
		_, _ = c.w.Write(raw)
	}
}

// badGatewayPage is what an Azure front end sends when the service behind it is gone: HTML, not
// JSON, so a client that assumes every error parses as Graph's is caught out.
const badGatewayPage = `<!DOCTYPE html>
<html><head><title>502 - Web server received an invalid response while acting as a gateway or proxy server.</title></head>
<body><div id="header"><h1>Server Error</h1></div>
<div id="content"><fieldset><h2>502 - Web server received an invalid response while acting as a gateway or proxy server.</h2>
<h3>There is a problem with the page you are looking for, and it cannot be displayed. When the Web server (while acting as a gateway or proxy) contacted the upstream content server, it received an invalid response from the content server.</h3>
</fieldset></div></body></html>
`

func (c *call) writeFault(f Fault) {
	if f.HTML {
		c.w.Header().Set("Content-Type", "text/html")
		c.w.WriteHeader(f.Status)
		_, _ = c.w.Write([]byte(badGatewayPage))
		return
	}
	e := &apiError{status: f.Status, retryAfter: f.RetryAfter}
	switch f.Status {
	case http.StatusTooManyRequests:
		e.code, e.intune, e.message = "TooManyRequests", true, "Too many requests: the request was throttled"
		if e.retryAfter == 0 {
			e.retryAfter = defaultRetryAfter
		}
	case http.StatusForbidden:
		// Graph lets the scope through; Intune's own role check refuses (Help Desk Operator
		// has Read token but not Update token).
		e.code, e.intune, e.message = "Forbidden", true,
			"User is not authorized to perform this operation: an Intune role with Enrollment programs: Update token is required"
	case http.StatusUnauthorized:
		e.code, e.message, e.wwwAuth = "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", true
	case http.StatusServiceUnavailable:
		e.code, e.message = "ServiceUnavailable", "The service is temporarily unavailable. Please try again later."
	case http.StatusGatewayTimeout:
		e.code, e.message = "GatewayTimeout", "The request timed out."
	case http.StatusBadGateway:
		e.code, e.message = "BadGateway", "The service returned an invalid response."
	case http.StatusInternalServerError:
		e.code, e.intune, e.message = "InternalServerError", true, "An error has occurred"
	default:
		e.code, e.message = "UnknownError", http.StatusText(f.Status)
	}
	c.writeError(e)
}
