package sandbox

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
)

const maxPersonaFormBytes = 16 << 10

// personaPage is the sandbox's sign-in screen. It has no script and no inline style, so that it
// passes the portal's CSP unchanged.
var personaPage = page("persona", `{{.Title}}`, `<section class="card{{if .Problem}} problem{{end}}">
<h1>{{.Title}}</h1>
{{- if .Problem}}
<p>{{.Problem}}</p>
<p><a href="{{.PortalURL}}">Back to the portal</a> to sign in again.</p>
{{- else}}
<p class="lead">Choose who to be. Nobody needs a password here: each person shows how the portal treats one kind of user.</p>
<form method="post" action="{{.Action}}" class="personas">
<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
{{- range .Personas}}
<button type="submit" name="persona" value="{{.Key}}" id="persona-{{.Key}}">
<span class="persona-name">{{.Name}}</span>
<span class="persona-desc">{{.Description}} · {{.Username}}</span>
</button>
{{- end}}
</form>
{{- end}}
</section>
`)

type personaPageData struct {
	Title         string
	Action        string
	AuthRequestID string
	Personas      []Persona
	Problem       string // set on the error page instead of the personas
	PortalURL     string
}

func (p *IdP) serveLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.showPersonas(w, r)
	case http.MethodPost:
		p.signInAsPersona(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (p *IdP) showPersonas(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if _, err := p.storage.AuthRequestByID(r.Context(), id); err != nil {
		p.showProblem(w, "This sign-in request is unknown or has expired (they last 10 minutes).")
		return
	}
	p.renderPersonaPage(w, http.StatusOK, personaPageData{
		Title:         "Sign in to the sandbox tenant",
		Action:        loginPath,
		AuthRequestID: id,
		Personas:      Personas(),
	})
}

// signInAsPersona completes the auth request and hands the browser back to zitadel, which
// redirects it to the portal with a code.
func (p *IdP) signInAsPersona(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPersonaFormBytes)
	if err := r.ParseForm(); err != nil {
		p.showProblem(w, "The sign-in form could not be read.")
		return
	}
	id := r.PostForm.Get("authRequestID")
	persona, ok := personaByKey(r.PostForm.Get("persona"))
	if !ok {
		p.showProblem(w, "There is no such person in the sandbox tenant.")
		return
	}
	if refusal, refused := p.refusalFor(persona); refused {
		// Entra refuses these people itself, after they chose an account, and tells the app.
		a, err := p.storage.refuseSignIn(id)
		if err != nil {
			p.showProblem(w, "This sign-in request is unknown, already used or has expired (they last 10 minutes).")
			return
		}
		p.redirectRefusal(w, r, a, refusal)
		return
	}
	cookie := ""
	if c, err := r.Cookie(browserSessionCookie); err == nil {
		cookie = c.Value
	}
	cookie, sid := p.storage.signInBrowser(cookie, persona.Key, ClientID)
	if err := p.storage.completeSignIn(id, persona.Key, sid); err != nil {
		p.showProblem(w, "This sign-in request is unknown, already used or has expired (they last 10 minutes).")
		return
	}
	http.SetCookie(w, p.browserSessionCookie(cookie))
	p.logger.Info("sandbox idp: signed in", "persona", persona.Key, "tid", persona.TenantID, "oid", persona.ObjectID, "sid", sid)
	callback := op.AuthCallbackURL(p.provider)(op.ContextWithIssuer(r.Context(), p.issuer), id)
	http.Redirect(w, r, callback, http.StatusSeeOther)
}

// browserSessionCookie is the provider's own session cookie, as Entra keeps one on its host:
// the browser's sign-in, which single sign-on and sign-out work on.
const browserSessionCookie = "sandbox_idp_session"

func (p *IdP) browserSessionCookie(value string) *http.Cookie {
	c := &http.Cookie{Name: browserSessionCookie, Value: value, Path: idpPathPrefix, HttpOnly: true,
		Secure: strings.HasPrefix(p.baseURL, "https://"), SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}

// refusalFor is Entra's refusal of a persona, if it refuses them: an account of another
// organisation that is not a guest here (the app is single-tenant), and a person without an
// assignment when the app requires one.
func (p *IdP) refusalFor(persona Persona) (entraError, bool) {
	switch {
	case persona.TenantID != TenantID:
		return entraError{code: "access_denied", number: 50020, message: fmt.Sprintf(
			"User account '%s' from identity provider 'https://sts.windows.net/%s/' does not exist in tenant 'Contoso Sandbox' and cannot access the application '%s'(depportal) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user account.",
			persona.Username, persona.TenantID, ClientID)}, true
	case persona.Unassigned && p.registration.AssignmentRequired:
		return entraError{code: "access_denied", number: 50105, message: fmt.Sprintf(
			"Your administrator has configured the application depportal ('%s') to block users unless they are specifically granted ('assigned') access to the application. The signed in user '%s' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator. Please contact your administrator to assign access to this application.",
			ClientID, persona.Username)}, true
	}
	return entraError{}, false
}

func (p *IdP) showProblem(w http.ResponseWriter, problem string) {
	p.renderPersonaPage(w, http.StatusBadRequest, personaPageData{
		Title:     "Sign-in cannot continue",
		Problem:   problem,
		PortalURL: p.baseURL + "/",
	})
}

func (p *IdP) renderPersonaPage(w http.ResponseWriter, status int, data personaPageData) {
	var page bytes.Buffer
	if err := personaPage.Execute(&page, data); err != nil {
		p.logger.Error("sandbox idp: render persona page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = page.WriteTo(w)
}
