package testkit

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Page is one answer as a test browser received it.
type Page struct {
	Status int
	Header http.Header
	Body   string
	// RedirectedFrom is the status of the POST whose 303 led here (0: no redirect).
	RedirectedFrom int
	Path           string // where the page was read after a 303 ("" otherwise)
}

// Browser is a person's browser without the browser: it keeps cookies and does not follow
// redirects, so that a test sees every hop. A request it has no method for goes through Send.
// Do, Get, Follow and SeeOther fail the test when the portal cannot be reached; Send says so.
type Browser struct {
	tb     testing.TB
	Client *http.Client
	Base   string // the portal's origin, e.g. http://127.0.0.1:41234
	// Seen, when set, is given the body of every answer (a leak test keeps them all).
	Seen func(body string)
}

// NewBrowser is a browser with no cookies, for the portal at base.
func NewBrowser(tb testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{tb: tb, Base: strings.TrimRight(base, "/"), Client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Send sends req and reads the whole answer.
func (b *Browser) Send(req *http.Request) (Page, error) {
	resp, err := b.Client.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if b.Seen != nil {
		b.Seen(string(raw))
	}
	return Page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}, err
}

func (b *Browser) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.Base + target
	}
	return target
}

func (b *Browser) try(method, target string, form url.Values, header map[string]string) (Page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.abs(target), body)
	if err != nil {
		return Page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	p, err := b.Send(req)
	if err != nil {
		return p, fmt.Errorf("%s %s: %w", method, target, err)
	}
	return p, nil
}

// Do sends a request (a form when form is not nil) with extra headers; target is a path of
// the portal or a whole URL.
func (b *Browser) Do(method, target string, form url.Values, header map[string]string) Page {
	b.tb.Helper()
	p, err := b.try(method, target, form, header)
	if err != nil {
		b.tb.Fatal(err)
	}
	return p
}

// Get is Do for a GET.
func (b *Browser) Get(target string) Page { return b.Do(http.MethodGet, target, nil, nil) }

func (b *Browser) follow(target string) (Page, string, error) {
	for range 10 {
		target = b.abs(target)
		p, err := b.try(http.MethodGet, target, nil, nil)
		if err != nil {
			return p, target, err
		}
		loc := p.Header.Get("Location")
		if p.Status < 300 || p.Status > 399 || loc == "" {
			return p, target, nil
		}
		target = loc
	}
	return Page{}, target, fmt.Errorf("too many redirects from %s", target)
}

// Follow GETs target and follows redirects, returning the last page and its URL.
func (b *Browser) Follow(target string) (Page, string) {
	b.tb.Helper()
	p, at, err := b.follow(target)
	if err != nil {
		b.tb.Fatal(err)
	}
	return p, at
}

// SeeOther follows a 303 the way a browser does after a form: a GET of the new address.
func (b *Browser) SeeOther(p Page) Page {
	b.tb.Helper()
	if p.Status != http.StatusSeeOther {
		return p
	}
	loc := p.Header.Get("Location")
	next := b.Get(loc)
	next.RedirectedFrom, next.Path = p.Status, loc
	return next
}

// Cookie is the browser's cookie of that name for the portal, or nil.
func (b *Browser) Cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.Base)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// SetCookie plants a cookie for the portal, as an attacker or a restored tab would.
func (b *Browser) SetCookie(c *http.Cookie) {
	u, _ := url.Parse(b.Base)
	b.Client.Jar.SetCookies(u, []*http.Cookie{c})
}

var (
	authRequestIDField = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
	csrfField          = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// CSRFToken is the form token a page carries, if it has one.
func CSRFToken(body string) (string, bool) {
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// SignIn walks the whole sandbox sign-in as persona ("hannah", "avery", "nora", "eve"): the
// portal's login, the provider's persona page and its form, the callback, and on to returnTo.
// It returns the page it lands on and its URL. It never fails the test itself, for a caller
// that must clean up first (a process to kill); most tests want MustSignIn.
func SignIn(b *Browser, persona, returnTo string) (Page, string, error) {
	return SignInFrom(b, "/auth/login?return_to="+url.QueryEscape(returnTo), persona)
}

// SignInFrom is SignIn for a sign-in that starts at start: a path or URL whose redirects lead
// to the provider's persona page, such as a Location the portal answered with.
func SignInFrom(b *Browser, start, persona string) (Page, string, error) {
	personaPage, personaURL, err := b.follow(start)
	if err != nil {
		return Page{}, "", err
	}
	m := authRequestIDField.FindStringSubmatch(personaPage.Body)
	if m == nil {
		return Page{}, "", fmt.Errorf("no persona page at %s: %d %s", personaURL, personaPage.Status, personaPage.Body)
	}
	u, err := url.Parse(personaURL)
	if err != nil {
		return Page{}, "", err
	}
	p, err := b.try(http.MethodPost, b.Base+u.Path, url.Values{"authRequestID": {m[1]}, "persona": {persona}}, map[string]string{"Origin": b.Base})
	if err != nil {
		return Page{}, "", err
	}
	loc := p.Header.Get("Location")
	if loc == "" {
		return Page{}, "", fmt.Errorf("persona POST: %d %s", p.Status, p.Body)
	}
	return b.follow(loc)
}

// MustSignIn is SignIn, failing the test when the walk cannot be made.
func MustSignIn(tb testing.TB, b *Browser, persona, returnTo string) (Page, string) {
	tb.Helper()
	p, at, err := SignIn(b, persona, returnTo)
	if err != nil {
		tb.Fatalf("sign in as %s: %v", persona, err)
	}
	return p, at
}

// MustSignInFrom is SignInFrom, failing the test when the walk cannot be made.
func MustSignInFrom(tb testing.TB, b *Browser, start, persona string) (Page, string) {
	tb.Helper()
	p, at, err := SignInFrom(b, start, persona)
	if err != nil {
		tb.Fatalf("sign in as %s from %s: %v", persona, start, err)
	}
	return p, at
}
