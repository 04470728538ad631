package sandbox

import (
	"html"
	"net/http"
	"strings"
	"testing"
)

func TestHomePage(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=429:30" })
	resp := MustCallGraph(t, s, http.MethodGet, s.url+"/_sandbox/", "", nil)
	MustStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	page := html.UnescapeString(string(resp.body))
	want := []string{
		`<link rel="stylesheet" href="/static/app.css">`,
		`<div class="sandbox-banner" role="note">Sandbox — not connected to a real tenant</div>`,
		`<a href="/">Open the portal</a>`,
		"DEPPORTAL_SANDBOX_FAULTS", "upload=429:30", "latency:2s",
		"Contoso ABM", "Contoso Retail ABM", "Contoso Schools ASM",
		"Apple Business Manager", "Apple School Manager",
		"(in 9 days)", "(3 days ago)", "(in 200 days)",
	}
	for _, p := range Personas() {
		want = append(want, p.Name, p.Description)
	}
	for _, sample := range s.graph.Samples() {
		want = append(want, `<a href="`+sample.Path+`" download>`, sample.FileName, sample.Description)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("home page lacks %q", w)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "style=") {
		t.Error("home page has script or inline style")
	}

	MustStatus(t, MustCallGraph(t, s, http.MethodGet, s.url+"/_sandbox/other", "", nil), http.StatusNotFound)
	MustStatus(t, MustCallGraph(t, s, http.MethodPost, s.url+"/_sandbox/", "", []byte{}), http.StatusMethodNotAllowed)
}

func TestHomePageShowsRenewals(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	sample := MustSample(t, s.graph, settingExpired, SampleValid)
	MustStatus(t, MustUpload(t, s, settingExpired, "new-retail@contoso.com", string(sample.Data)), http.StatusNoContent)
	page := string(MustCallGraph(t, s, http.MethodGet, s.url+"/_sandbox/", "", nil).body)
	if !strings.Contains(page, "new-retail@contoso.com") || strings.Contains(page, "(3 days ago)") {
		t.Error("the home page does not show the renewed token")
	}
}
