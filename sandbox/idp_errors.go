package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// entraError is a refusal in Entra ID's words: an OAuth error code, the AADSTS number, and the
// message. Entra sends it as error/error_description on the redirect back to the client, or
// as its JSON body from the token endpoint; error_description ends with the identifiers a
// support ticket needs.
type entraError struct {
	status  int    // for the token endpoint
	code    string // OAuth error: access_denied, invalid_client, invalid_grant…
	number  int    // AADSTS number
	message string
}

// describe is Entra's error_description: AADSTSn: message, then its trace and correlation IDs
// and the time, each on its own line.
func (e entraError) describe(trace, correlation string, at time.Time) string {
	return fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
		e.number, e.message, trace, correlation, at.UTC().Format("2006-01-02 15:04:05Z"))
}

func (p *IdP) errorURI(number int) string {
	return p.baseURL + idpPathPrefix + "error?code=" + strconv.Itoa(number)
}

// redirectRefusal sends the browser back to the client's redirect URI with the refusal, as
// Entra does for a sign-in it refuses after the person chose an account.
func (p *IdP) redirectRefusal(w http.ResponseWriter, r *http.Request, a *authRequest, e entraError) {
	u, err := url.Parse(a.redirectURI)
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	trace, correlation := uuid.NewString(), uuid.NewString()
	q := u.Query()
	q.Set("error", e.code)
	q.Set("error_description", e.describe(trace, correlation, p.storage.now()))
	q.Set("error_uri", p.errorURI(e.number))
	if a.state != "" {
		q.Set("state", a.state)
	}
	u.RawQuery = q.Encode()
	p.logger.Info("sandbox idp: refused a sign-in", "aadsts", e.number, "error", e.code, "trace_id", trace)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// writeTokenError answers a token request with Entra's error body.
func (p *IdP) writeTokenError(w http.ResponseWriter, e entraError) {
	trace, correlation := uuid.NewString(), uuid.NewString()
	now := p.storage.now()
	body := map[string]any{
		"error":             e.code,
		"error_description": e.describe(trace, correlation, now),
		"error_codes":       []int{e.number},
		"timestamp":         now.UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    correlation,
		"error_uri":         p.errorURI(e.number),
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}
