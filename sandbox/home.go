package sandbox

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
)

const homePath = "/_sandbox/"

// homePage explains the sandbox to someone who just ran `go run .`: who they can be, which
// tokens exist, and which files make each renewal outcome happen. No script and no inline
// style, so it passes the portal's CSP unchanged.
var homePage = page("home", `depportal sandbox`, `<section class="card">
<h1>The sandbox tenant</h1>
<p class="lead">No Entra ID tenant is configured, so the portal runs against a simulated one in this process: a sign-in page with made-up people, an Intune that holds three Apple enrollment tokens, and token files to renew them with. Nothing here reaches Microsoft or Apple, and nothing it issues is valid anywhere else.</p>
<p><a href="/">Open the portal</a></p>
</section>

<section class="card">
<h2>Who you can sign in as</h2>
<p>The sign-in page lets you pick one of these people; no password is needed.</p>
<table>
<thead><tr><th>Person</th><th>App roles</th><th>What they can do</th></tr></thead>
<tbody>
{{- range .Personas}}
<tr><td>{{.Name}}<br><small>{{.Username}}</small></td><td>{{.Roles}}</td><td>{{.Description}}</td></tr>
{{- end}}
</tbody>
</table>
</section>

<section class="card">
<h2>Enrollment program tokens in the sandbox Intune</h2>
<p>Download a file for a token, then renew that token in the portal with it. The files are made for this sandbox's keys; they stay valid across restarts.</p>
{{- range .Settings}}
<article class="sandbox-setting" id="setting-{{.ID}}">
<h3>{{.Name}}</h3>
<p>{{.Type}} · Apple ID {{.AppleID}} · {{.Expiry}}</p>
<ul>
{{- range .Samples}}
<li><a href="{{.Path}}" download>{{.Label}}</a> <small>({{.FileName}})</small>: {{.Description}}</li>
{{- end}}
</ul>
</article>
{{- end}}
</section>

<section class="card">
<h2>The watch's reminders</h2>
<p>The watch reads the sandbox's Apple connectors at start and every interval, with its own application token, and sends reminders at 30, 14, 7, 3 and 1 days before expiry (then daily once expired) to a Teams receiver, a signed webhook receiver and an SMTP server, all in this process. The sandbox's Apps and Books token expiring in 20 days and its MDM push certificate (45 days) are among what it reads.</p>
<p><a href="/_sandbox/outbox">Open the outbox</a>: every message each channel carried.</p>
</section>

<section class="card">
<h2>Wrong files</h2>
<p>Files people pick by mistake. The portal should name them before anything is sent to Intune.</p>
<ul>
{{- range .WrongFiles}}
<li><a href="{{.Path}}" download>{{.Label}}</a> <small>({{.FileName}})</small>: {{.Description}}</li>
{{- end}}
</ul>
</section>

<section class="card">
<h2>Making Intune misbehave</h2>
<p>Set <code>DEPPORTAL_SANDBOX_FAULTS</code> before starting, as a comma-separated list of <code>operation=fault[*count]</code>. Operations: <code>list</code>, <code>get</code>, <code>publicKey</code>, <code>upload</code>, <code>sync</code>, <code>generateKey</code>. Faults: <code>429[:seconds]</code>, <code>503[:seconds]</code>, <code>401</code>, <code>403</code>, <code>500</code>, <code>502</code>, <code>504</code>, <code>500applied</code>, <code>502applied</code>, <code>504applied</code> (the call done, then answered with that status), <code>502html</code> (an HTML error page), <code>drop</code> (connection closed, nothing done), <code>lost</code> (upload taken, then connection closed), <code>latency:2s</code>, <code>claims</code> (Conditional Access wants a step-up: Graph answers a client that declared the <code>cp1</code> capability with a claims challenge until it signs in again with those claims). A count is a number (default 1) or <code>always</code>; entries for one operation play in order.</p>
<p>Example: <code>upload=429:30,upload=lost,list=latency:2s*always</code></p>
<p>Now: {{if .Faults}}<code>{{.Faults}}</code>{{else}}no faults configured.{{end}}</p>
<p>Intune allows one manual sync with Apple per token every 15 minutes; a second one within that time gets 409 Conflict.</p>
</section>
`)

type homeData struct {
	Personas   []homePersona
	Settings   []homeSetting
	WrongFiles []homeSample
	Faults     string
}

type homePersona struct {
	Name, Username, Roles, Description string
}

type homeSetting struct {
	ID, Name, Type, AppleID, Expiry string
	Samples                         []homeSample
}

type homeSample struct {
	Path, Label, FileName, Description string
}

var sampleLabels = map[SampleKind]string{
	SampleValid:    "Valid token",
	SampleWrongKey: "Token for another MDM server",
	SampleExpired:  "Expired token",
	SampleVPPToken: "Apps and Books token (.vpptoken)",
	SampleAPNsCert: "APNs certificate (.pem)",
}

// Home is the sandbox home page at /_sandbox/.
type Home struct {
	graph  *Graph
	logger *slog.Logger
}

// NewHome serves the page for g's settings and samples and the IdP's personas.
func NewHome(g *Graph) *Home { return &Home{graph: g, logger: g.logger} }

func (h *Home) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != homePath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var page bytes.Buffer
	if err := homePage.Execute(&page, h.data()); err != nil {
		h.logger.Error("sandbox home: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		_, _ = page.WriteTo(w)
	}
}

func (h *Home) data() homeData {
	g := h.graph
	now := g.now()
	data := homeData{Faults: g.faultSpec}
	for _, p := range Personas() {
		roles := strings.Join(p.Roles, ", ")
		if roles == "" {
			roles = "none"
		}
		if p.TenantID != TenantID {
			roles += " (in another tenant)"
		}
		data.Personas = append(data.Personas, homePersona{Name: p.Name, Username: p.Username, Roles: roles, Description: p.Description})
	}
	samples := g.Samples()
	for _, s := range g.Settings() {
		setting := homeSetting{ID: s.ID, Name: s.TokenName, Type: tokenTypeLabel(s.TokenType), AppleID: s.AppleIdentifier,
			Expiry: expiryLabel(s.TokenExpirationDateTime, now)}
		for _, sample := range samples {
			if sample.SettingID == s.ID {
				setting.Samples = append(setting.Samples, homeSampleOf(sample))
			}
		}
		data.Settings = append(data.Settings, setting)
	}
	for _, sample := range samples {
		if sample.SettingID == "" {
			data.WrongFiles = append(data.WrongFiles, homeSampleOf(sample))
		}
	}
	return data
}

func homeSampleOf(s Sample) homeSample {
	return homeSample{Path: s.Path, Label: sampleLabels[s.Kind], FileName: s.FileName, Description: s.Description}
}

func tokenTypeLabel(tokenType string) string {
	switch tokenType {
	case TokenTypeDEP:
		return "Apple Business Manager"
	case TokenTypeAppleSchoolManager:
		return "Apple School Manager"
	}
	return tokenType
}

func expiryLabel(expiry, now time.Time) string {
	date := expiry.UTC().Format("2 January 2006 15:04 UTC")
	days := int(math.Round(expiry.Sub(now).Hours() / 24))
	switch {
	case !expiry.After(now) && days == 0:
		return fmt.Sprintf("expired %s (today)", date)
	case !expiry.After(now):
		return fmt.Sprintf("expired %s (%d days ago)", date, -days)
	case days == 0:
		return fmt.Sprintf("expires %s (today)", date)
	default:
		return fmt.Sprintf("expires %s (in %d days)", date, days)
	}
}
