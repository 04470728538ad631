package sandbox

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPersonaPage(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	id := MustStartSignIn(t, rp, rp.authCodeURL(newAuthorization()))

	resp := MustGet(t, rp.browser, s.url+loginPath+"?authRequestID="+url.QueryEscape(id))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	page := MustBody(t, resp)
	for _, want := range []string{
		`<link rel="stylesheet" href="/static/app.css">`,
		`<title>Sign in to the sandbox tenant</title>`,
		`<h1>Sign in to the sandbox tenant</h1>`,
		`class="sandbox-banner"`,
		`Sandbox — not connected to a real tenant`,
		`<form method="post" action="/_sandbox/idp/login"`,
		`name="authRequestID" value="` + id + `"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "style=") {
		t.Error("page has script or inline style")
	}
	if n := strings.Count(page, "<button"); n != len(Personas()) {
		t.Errorf("%d buttons, want one per persona (%d)", n, len(Personas()))
	}
	for _, p := range Personas() {
		button := regexp.MustCompile(`(?s)<button[^>]*\bid="persona-` + p.Key + `"[^>]*>(.*?)</button>`).FindStringSubmatch(page)
		if button == nil {
			t.Errorf("no button with id persona-%s", p.Key)
			continue
		}
		if !strings.Contains(button[0], `name="persona" value="`+p.Key+`"`) {
			t.Errorf("button persona-%s does not submit persona=%s: %s", p.Key, p.Key, button[0])
		}
		for _, text := range []string{p.Name, p.Description} {
			if !strings.Contains(button[1], html.EscapeString(text)) {
				t.Errorf("button persona-%s lacks %q", p.Key, text)
			}
		}
	}
}

func TestPersonaPageRefusesBadRequests(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	id := MustStartSignIn(t, rp, rp.authCodeURL(newAuthorization()))

	check := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		page := MustBody(t, resp)
		if !strings.Contains(page, `class="sandbox-banner"`) || !strings.Contains(page, "Sign-in cannot continue") {
			t.Errorf("not the sandbox's error page:\n%s", page)
		}
		if strings.Contains(page, "<button") {
			t.Error("error page offers personas")
		}
	}
	t.Run("unknown request, GET", func(t *testing.T) {
		check(t, MustGet(t, rp.browser, s.url+loginPath+"?authRequestID=no-such-request"))
	})
	t.Run("no request, GET", func(t *testing.T) {
		check(t, MustGet(t, rp.browser, s.url+loginPath))
	})
	t.Run("unknown request, POST", func(t *testing.T) {
		check(t, MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {"no-such-request"}, "persona": {"hannah"}}))
	})
	t.Run("unknown persona", func(t *testing.T) {
		check(t, MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {"mallory"}}))
	})
	t.Run("expired request", func(t *testing.T) {
		s.clock.advance(authRequestLifetime + time.Second)
		t.Cleanup(func() { s.clock.advance(-authRequestLifetime - time.Second) })
		check(t, MustGet(t, rp.browser, s.url+loginPath+"?authRequestID="+url.QueryEscape(id)))
		check(t, MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {"hannah"}}))
	})
	t.Run("wrong method", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, s.url+loginPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp := MustDo(t, rp.browser, req); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT: status %d, want 405", resp.StatusCode)
		}
	})
}

func TestPersonaCannotChangeOnceACodeIsIssued(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	id := MustStartSignIn(t, rp, rp.authCodeURL(newAuthorization()))

	// Browser back before the code: choosing again is fine.
	for _, key := range []string{"nora", "hannah"} {
		resp := MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {key}})
		MustRedirect(t, resp, http.StatusSeeOther)
	}
	callback := MustRedirect(t, MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {"hannah"}}), http.StatusSeeOther)
	MustRedirect(t, MustGet(t, rp.browser, callback), http.StatusFound)

	resp := MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {"eve"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("persona changed after the code was issued: status %d", resp.StatusCode)
	}
}
