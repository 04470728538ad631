package sandbox

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const maxEndSessionFormBytes = 16 << 10

// signOutPage is Entra's sign-out screens: the account picker, shown when the request does
// not say which account to sign out (no logout_hint), and the page that stays when the client
// named no registered place to return to. No script and no inline style (the portal's CSP).
var signOutPage = page("signout", `{{.Title}}`, `<section class="card">
<h1>{{.Title}}</h1>
{{- if .Accounts}}
<form method="post" action="{{.Action}}" class="personas">
{{- range $k, $v := .Keep}}
<input type="hidden" name="{{$k}}" value="{{$v}}">
{{- end}}
{{- range .Accounts}}
<button type="submit" name="logout_hint" value="{{.Hint}}" id="signout-{{.Key}}">
<span class="persona-name">{{.Name}}</span>
<span class="persona-desc">{{.Username}} · Signed in</span>
</button>
{{- end}}
</form>
{{- else}}
<p class="lead">{{.Message}}</p>
{{- end}}
</section>
`)

type signOutAccount struct {
	Key, Name, Username, Hint string
}

type signOutPageData struct {
	Title    string
	Message  string
	Action   string
	Keep     map[string]string
	Accounts []signOutAccount
}

// serveEndSession is Entra's end-session endpoint. It returns the browser to
// post_logout_redirect_uri only when that is one of the registration's redirect URIs (the
// front-channel logout URL does not count) and the client is known; otherwise the person is
// signed out and stays on the provider's page, as with Entra. Without logout_hint (or an
// id_token_hint) it first asks which account to sign out. Ending the browser's session calls
// the front-channel logout URL of every client it signed in to, with iss and sid, and without
// any cookie of the client's: Entra calls it from a hidden cross-site iframe, where a
// SameSite=Lax cookie is not sent.
func (p *IdP) serveEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEndSessionFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "AADSTS90015: the sign-out request could not be read", http.StatusBadRequest)
		return
	}
	clientID := r.Form.Get("client_id")
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](r.Context(), hint, p.provider.IDTokenHintVerifier(r.Context()))
		if err == nil || claims != nil {
			clientID = claims.GetAuthorizedParty()
		}
	}
	returnTo := ""
	if target := r.Form.Get("post_logout_redirect_uri"); target != "" {
		if clientID == ClientID && p.registration.redirectURIRegistered(target) {
			returnTo = withState(target, r.Form.Get("state"))
		} else {
			p.logger.Warn("sandbox idp: post_logout_redirect_uri is not one of the app's registered redirect URIs: signing out without returning, as Entra does",
				"post_logout_redirect_uri", target)
		}
	}

	cookie := ""
	if c, err := r.Cookie(browserSessionCookie); err == nil {
		cookie = c.Value
	}
	session, signedIn := p.storage.browserSessionOf(cookie)
	persona, _ := personaByKey(session.personaKey)
	hint := r.Form.Get("logout_hint")
	switch {
	case signedIn && hint == "" && r.Form.Get("id_token_hint") == "":
		p.pickAccount(w, r, persona)
		return
	case signedIn && (hint == "" || hint == persona.loginHint()):
		p.storage.endBrowserSession(cookie)
		http.SetCookie(w, p.browserSessionCookie(""))
		p.logger.Info("sandbox idp: signed out", "persona", persona.Key, "sid", session.sid)
		for client := range session.clients {
			p.callFrontChannel(r.Context(), client, session.sid)
		}
	case signedIn:
		p.logger.Info("sandbox idp: logout_hint names an account not signed in here; nothing to end")
	}
	if returnTo != "" {
		http.Redirect(w, r, returnTo, http.StatusFound)
		return
	}
	p.renderSignOutPage(w, http.StatusOK, signOutPageData{
		Title:   "You signed out of your account",
		Message: "It's a good idea to close all browser windows.",
	})
}

// pickAccount asks which account to sign out, keeping the request's parameters for the answer.
func (p *IdP) pickAccount(w http.ResponseWriter, r *http.Request, persona Persona) {
	keep := map[string]string{}
	for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
		if v := r.Form.Get(k); v != "" {
			keep[k] = v
		}
	}
	p.renderSignOutPage(w, http.StatusOK, signOutPageData{
		Title:    "Pick an account",
		Action:   r.URL.Path,
		Keep:     keep,
		Accounts: []signOutAccount{{Key: persona.Key, Name: persona.Name, Username: persona.Username, Hint: persona.loginHint()}},
	})
}

// callFrontChannel makes the front-channel logout call for one client: a GET of its
// registered URL with iss and sid, carrying no cookie.
func (p *IdP) callFrontChannel(ctx context.Context, clientID, sid string) {
	if clientID != ClientID || p.registration.FrontChannelLogoutURL == "" {
		return
	}
	u, err := url.Parse(p.registration.FrontChannelLogoutURL)
	if err != nil {
		return
	}
	q := u.Query()
	q.Set("iss", p.issuer)
	q.Set("sid", sid)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, u.String(), nil)
	if err != nil {
		return
	}
	// What the browser sends for a cross-site iframe.
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Sec-Fetch-Dest", "iframe")
	resp, err := p.frontChannel.Do(req)
	if err != nil {
		p.logger.Warn("sandbox idp: front-channel logout call failed", "url", p.registration.FrontChannelLogoutURL, "err", err)
		return
	}
	resp.Body.Close()
	p.logger.Info("sandbox idp: called the front-channel logout URL", "url", p.registration.FrontChannelLogoutURL, "status", resp.StatusCode, "sid", sid)
}

func withState(target, state string) string {
	if state == "" {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String()
}

func (p *IdP) renderSignOutPage(w http.ResponseWriter, status int, data signOutPageData) {
	var page bytes.Buffer
	if err := signOutPage.Execute(&page, data); err != nil {
		p.logger.Error("sandbox idp: render sign-out page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = page.WriteTo(w)
}
