package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	vppPath  = "/deviceAppManagement/vppTokens"
	pushPath = "/deviceManagement/applePushNotificationCertificate"
)

// appToken is a client-credentials token as Entra issues it: application permissions in
// roles, no scp, no upn.
func appToken(tb testing.TB, roles ...string) string {
	tb.Helper()
	claims := map[string]any{"scp": nil, "upn": nil, "idtyp": "app", "azp": "watch-client"}
	if roles != nil {
		claims["roles"] = roles
	}
	return MustMintToken(tb, claims)
}

func TestGraphServesVppTokens(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	resp := MustCallGraph(t, s, http.MethodGet, vppPath, MustMintToken(t, map[string]any{"scp": scopeRead}), nil)
	MustStatus(t, resp, http.StatusOK)
	var page struct {
		Context string           `json:"@odata.context"`
		Value   []map[string]any `json:"value"`
	}
	MustJSON(t, resp.body, &page)
	if !strings.HasSuffix(page.Context, "/$metadata#deviceAppManagement/vppTokens") || len(page.Value) != 2 {
		t.Fatalf("page = %s", resp.body)
	}
	now := time.Now()
	var days []int
	for _, v := range page.Value {
		for _, k := range []string{"id", "organizationName", "appleId", "expirationDateTime", "lastSyncDateTime", "state", "tokenActionResults", "displayName", "locationName"} {
			if _, ok := v[k]; !ok {
				t.Errorf("vppToken lacks %s: %v", k, v)
			}
		}
		if v["token"] != nil {
			t.Errorf("the token itself was returned: %v", v["token"])
		}
		exp, err := time.Parse(time.RFC3339, v["expirationDateTime"].(string))
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, int(exp.Sub(now).Hours()/24+0.5))
	}
	if days[0] != 20 || days[1] < 200 {
		t.Errorf("days left %v, want one in 20 days and one valid for months", days)
	}
}

func TestGraphServesThePushCertificate(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	resp := MustCallGraph(t, s, http.MethodGet, pushPath, MustMintToken(t, nil), nil)
	MustStatus(t, resp, http.StatusOK)
	var cert map[string]any
	MustJSON(t, resp.body, &cert)
	for _, k := range []string{"appleIdentifier", "topicIdentifier", "expirationDateTime", "certificateSerialNumber", "lastModifiedDateTime"} {
		if s, _ := cert[k].(string); s == "" {
			t.Errorf("certificate lacks %s: %s", k, resp.body)
		}
	}
	exp, _ := time.Parse(time.RFC3339, cert["expirationDateTime"].(string))
	if d := int(time.Until(exp).Hours()/24 + 0.5); d != 45 {
		t.Errorf("expires in %d days, want 45", d)
	}
}

// An expired token reads as Intune shows it, and a renewal moves it a year out.
func TestVppTokenExpiresAndRenews(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	s.clock.advance(21 * 24 * time.Hour)
	token := MustMintToken(t, map[string]any{"exp": time.Now().Add(22 * 24 * time.Hour).Unix()})
	var page struct{ Value []map[string]any }
	MustJSON(t, MustCallGraph(t, s, http.MethodGet, vppPath, token, nil).body, &page)
	if page.Value[0]["state"] != VppStateExpired {
		t.Errorf("state after expiry = %v", page.Value[0]["state"])
	}
	id := s.graph.VppTokens()[0].ID
	if !s.graph.RenewVppToken(id) || s.graph.RenewVppToken("nope") {
		t.Fatal("RenewVppToken")
	}
	MustJSON(t, MustCallGraph(t, s, http.MethodGet, vppPath, token, nil).body, &page)
	if page.Value[0]["state"] != VppStateValid {
		t.Errorf("state after renewal = %v", page.Value[0]["state"])
	}
}

// The watch reads with an application permission: Graph takes an app token by its roles,
// and refuses one whose application was granted nothing that reads Intune.
func TestGraphAppTokens(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	settings := "/deviceManagement/depOnboardingSettings"
	for _, tc := range []struct {
		name   string
		token  string
		method string
		path   string
		want   int
	}{
		{"Read.All role, settings", appToken(t, scopeRead), http.MethodGet, settings, http.StatusOK},
		{"Read.All role, VPP", appToken(t, scopeRead), http.MethodGet, vppPath, http.StatusOK},
		{"Read.All role, push certificate", appToken(t, scopeRead), http.MethodGet, pushPath, http.StatusOK},
		{"no roles at all", appToken(t), http.MethodGet, vppPath, http.StatusForbidden},
		{"another role", appToken(t, "User.Read.All"), http.MethodGet, pushPath, http.StatusForbidden},
		{"a delegated scope's name as role, other case", appToken(t, strings.ToLower(scopeRead)), http.MethodGet, settings, http.StatusForbidden},
		{"Read.All role cannot sync", appToken(t, scopeRead), http.MethodPost, settings + "/" + settingSoon + "/syncWithAppleDeviceEnrollmentProgram", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == http.MethodPost {
				body = []byte{}
			}
			resp := MustCallGraph(t, s, tc.method, tc.path, tc.token, body)
			if tc.want == http.StatusOK {
				MustStatus(t, resp, tc.want)
				return
			}
			message := MustIntuneError(t, resp, tc.want, "Forbidden")
			if !strings.Contains(message, "Application is not authorized to perform this operation") {
				t.Errorf("message %q", message)
			}
		})
	}
	if !s.graph.Settings()[0].LastSyncTriggeredDateTime.IsZero() {
		t.Error("a refused sync was carried out")
	}
}

func TestConnectorSubpathsAreUnknown(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	for _, p := range []string{vppPath + "/5c1e9b7a-3d2f-4a8e-9b6c-7e1f3a5d9c14", pushPath + "/downloadApplePushNotificationCertificateSigningRequest"} {
		e := MustGraphError(t, MustCallGraph(t, s, http.MethodGet, p, MustMintToken(t, nil), nil), http.StatusBadRequest, "BadRequest")
		if !strings.HasPrefix(e.Message, "Resource not found for the segment") {
			t.Errorf("%s: %q", p, e.Message)
		}
	}
	resp := MustCallGraph(t, s, http.MethodPost, vppPath, MustMintToken(t, nil), []byte(`{}`))
	MustStatus(t, resp, http.StatusMethodNotAllowed)
}

// Graph has no vppTokens under deviceManagement: the Apps and Books tokens are read from
// deviceAppManagement, and the wrong collection gets Graph's 400.
func TestGraphHasNoVppTokensUnderDeviceManagement(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/vppTokens", MustMintToken(t, map[string]any{"scp": scopeRead}), nil)
	MustStatus(t, resp, http.StatusBadRequest)
	if !strings.Contains(string(resp.body), "Resource not found for the segment 'vppTokens'.") {
		t.Errorf("answer = %s", resp.body)
	}
}
