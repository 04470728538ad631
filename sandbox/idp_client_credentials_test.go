package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

func MustClientCredentials(tb testing.TB, idp *sandboxServer, form url.Values) (int, map[string]any) {
	tb.Helper()
	resp, err := http.PostForm(idp.idp.TokenURL(), form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		tb.Fatalf("token endpoint answered %d with %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

// The watch's grant as Entra's v2.0 endpoint serves it, and Graph taking the app-only token
// by its roles.
func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	idp := MustStartIdP(t)
	s := MustStartGraph(t, func(cfg *GraphConfig) {
		cfg.Issuer = idp.idp.Issuer()
		cfg.Keys = idp.idp.PublicKeys
	})
	idp.idp.RegisterWatchClient("watch-secret", scopeRead)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {WatchClientID}, "client_secret": {"watch-secret"},
		"scope": {"https://graph.microsoft.com/.default"}}
	status, body := MustClientCredentials(t, idp, form)
	if status != http.StatusOK || body["token_type"] != "Bearer" || body["refresh_token"] != nil || body["id_token"] != nil {
		t.Fatalf("%d %v", status, body)
	}
	token := body["access_token"].(string)
	MustStatus(t, MustCallGraph(t, s, http.MethodGet, vppPath, token, nil), http.StatusOK)
	MustStatus(t, MustCallGraph(t, s, http.MethodGet, pushPath, token, nil), http.StatusOK)
	MustIntuneError(t, MustCallGraph(t, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingSoon+"/syncWithAppleDeviceEnrollmentProgram", token, []byte{}),
		http.StatusForbidden, "Forbidden")

	t.Run("wrong secret", func(t *testing.T) {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("client_secret", "guess")
		if status, body := MustClientCredentials(t, idp, f); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("%d %v", status, body)
		}
	})
	t.Run("a delegated scope instead of .default", func(t *testing.T) {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("scope", "https://graph.microsoft.com/DeviceManagementServiceConfig.Read.All")
		if status, body := MustClientCredentials(t, idp, f); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("%d %v", status, body)
		}
	})
	t.Run("permission never consented: Graph refuses", func(t *testing.T) {
		idp.idp.RegisterWatchClient("watch-secret")
		_, body := MustClientCredentials(t, idp, form)
		MustIntuneError(t, MustCallGraph(t, s, http.MethodGet, vppPath, body["access_token"].(string), nil), http.StatusForbidden, "Forbidden")
	})
}
