package sandbox

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Entra refuses Eve (another organisation, not a guest: the app is single-tenant) and Una (no
// assignment, which the app requires) itself, after they chose an account, and says so on the
// redirect back: error, error_description starting with the AADSTS number and ending with the
// trace and correlation IDs, and the state.
func TestEntraRefuses(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	for key, number := range map[string]string{"eve": "AADSTS50020: ", "una": "AADSTS50105: "} {
		t.Run(key, func(t *testing.T) {
			a := newAuthorization()
			id := MustStartSignIn(t, rp, rp.authCodeURL(a))
			resp := MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {key}})
			back, err := url.Parse(MustRedirect(t, resp, http.StatusFound))
			if err != nil {
				t.Fatal(err)
			}
			q := back.Query()
			if got := back.Scheme + "://" + back.Host + back.Path; got != s.idp.RedirectURI() {
				t.Errorf("refusal sent to %s", got)
			}
			if q.Get("error") != "access_denied" || !strings.HasPrefix(q.Get("error_description"), number) ||
				!strings.Contains(q.Get("error_description"), "\r\nTrace ID: ") || !strings.Contains(q.Get("error_description"), "\r\nCorrelation ID: ") ||
				q.Get("state") != a.state || q.Get("code") != "" {
				t.Errorf("refusal %v", q)
			}
			// The request is spent: choosing someone else now does not sign anyone in.
			resp = MustPostForm(t, rp.browser, s.url+loginPath, url.Values{"authRequestID": {id}, "persona": {"hannah"}})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("the refused request could be completed: %d", resp.StatusCode)
			}
		})
	}
}

// A client that declares cp1 gets xms_cc in its access token, and a sign-in that asks for an
// authentication context (a claims challenge's acrs) gets it; a refresh keeps the context and
// echoes cp1 only when it declares it again.
func TestClaimsRequest(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	cp1 := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	stepUp := `{"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"essential":true,"value":"c1"}}}`

	signIn := func(claims string) *oauth2.Token {
		a := newAuthorization()
		code := MustGetCode(t, rp, a, "hannah", oauth2.SetAuthURLParam("claims", claims))
		token, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	raw := func(token string) map[string]json.RawMessage { return MustVerifyAccessToken(t, s.idp, token).RawClaims }

	capable := raw(signIn(cp1).AccessToken)
	if string(capable["xms_cc"]) != `["cp1"]` || capable["acrs"] != nil {
		t.Errorf("cp1 declared: xms_cc %s, acrs %s", capable["xms_cc"], capable["acrs"])
	}
	stepped := signIn(stepUp)
	if c := raw(stepped.AccessToken); string(c["acrs"]) != `["c1"]` || string(c["xms_cc"]) != `["cp1"]` {
		t.Errorf("step-up: xms_cc %s, acrs %s", c["xms_cc"], c["acrs"])
	}

	refresh := func(refreshToken, claims string) *oauth2.Token {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {ClientID},
			"client_secret": {testClientSecret}, "scope": {strings.Join(portalScopes, " ")}}
		if claims != "" {
			form.Set("claims", claims)
		}
		resp := MustPostForm(t, http.DefaultClient, rp.oauth.Endpoint.TokenURL, form)
		var tok oauth2.Token
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(MustBody(t, resp)), &tok) != nil {
			t.Fatalf("refresh: %d", resp.StatusCode)
		}
		return &tok
	}
	again := refresh(stepped.RefreshToken, cp1)
	if c := raw(again.AccessToken); string(c["acrs"]) != `["c1"]` || string(c["xms_cc"]) != `["cp1"]` {
		t.Errorf("refreshed with cp1: xms_cc %s, acrs %s", c["xms_cc"], c["acrs"])
	}
	if c := raw(refresh(again.RefreshToken, "").AccessToken); c["xms_cc"] != nil {
		t.Errorf("a refresh that declared nothing got xms_cc %s", c["xms_cc"])
	}

	// A malformed claims parameter is refused before anything else.
	bad := rp.authCodeURL(newAuthorization(), oauth2.SetAuthURLParam("claims", "{not json"))
	if resp := MustGet(t, rp.browser, bad); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed claims: %d", resp.StatusCode)
	}
}

// Once the portal's client secret has passed the expiry the registration shows, the token
// endpoint refuses it with AADSTS7000222.
func TestExpiredClientSecret(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	idp, err := NewIdP(IdPConfig{BaseURL: server.URL, DataDir: t.TempDir(), ClientSecret: testClientSecret,
		ClientSecretExpires: time.Now().Add(-time.Hour), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(idpPathPrefix, idp)
	s := &sandboxServer{idp: idp, url: server.URL, mux: mux, clock: new(testClock), logs: new(lockedBuffer)}
	rp := MustNewRelyingParty(t, s)
	a := newAuthorization()
	code := MustGetCode(t, rp, a, "hannah")
	_, err = rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
	MustOAuthError(t, err, "invalid_client")
	MustAADSTS(t, err, 7000222)
}

func TestClaimsRequestParsing(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]claimsRequest{
		``: {},
		`{"access_token":{"xms_cc":{"values":["cp1"]}}}`:                                 {capabilities: []string{"cp1"}},
		`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`:                      {acrs: []string{"c1"}},
		`{"access_token":{"nbf":{"essential":true,"value":"1604106651"}},"id_token":{}}`: {},
	} {
		got, err := parseClaimsRequest(raw)
		if err != nil || !slices.Equal(got.capabilities, want.capabilities) || !slices.Equal(got.acrs, want.acrs) {
			t.Errorf("%s: %+v %v", raw, got, err)
		}
	}
	for _, raw := range []string{`{`, `[]`, `"x"`, strings.Repeat(" ", 5000) + "{}"} {
		if _, err := parseClaimsRequest(raw); err == nil {
			t.Errorf("%.20q accepted", raw)
		}
	}
}
