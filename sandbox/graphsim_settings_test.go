package sandbox

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The properties Graph documents for a depOnboardingSetting (see graphsim_settings.go).
var settingProperties = []string{
	"id", "appleIdentifier", "tokenExpirationDateTime", "lastModifiedDateTime", "lastSuccessfulSyncDateTime",
	"lastSyncTriggeredDateTime", "lastSyncErrorCode", "tokenType", "tokenName", "syncedDeviceCount",
	"dataSharingConsentGranted", "shareTokenWithSchoolDataSyncService", "roleScopeTagIds",
}

func MustParseGraphTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("time %v: %v", v, err)
	}
	return t
}

func TestGraphListSettings(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", MustMintToken(t, nil), nil)
	MustStatus(t, resp, http.StatusOK)
	var page struct {
		Context  string           `json:"@odata.context"`
		NextLink string           `json:"@odata.nextLink"`
		Value    []map[string]any `json:"value"`
	}
	MustJSON(t, resp.body, &page)
	if !strings.HasSuffix(page.Context, "/$metadata#deviceManagement/depOnboardingSettings") || page.NextLink != "" {
		t.Errorf("context %q, nextLink %q", page.Context, page.NextLink)
	}
	if len(page.Value) != 3 {
		t.Fatalf("%d settings, want 3", len(page.Value))
	}
	now := time.Now()
	day := 24 * time.Hour
	want := []struct {
		id, name, tokenType, appleID string
		expiresIn                    time.Duration
	}{
		{settingSoon, "Contoso ABM", "dep", "abm-admin@contoso.com", 9 * day},
		{settingExpired, "Contoso Retail ABM", "dep", "retail-it@contoso.com", -3 * day},
		{settingSchool, "Contoso Schools ASM", "appleSchoolManager", "asm-admin@contoso.edu", 200 * day},
	}
	for i, w := range want {
		got := page.Value[i]
		for _, p := range settingProperties {
			if _, ok := got[p]; !ok {
				t.Errorf("%s lacks %s", w.name, p)
			}
		}
		if len(got) != len(settingProperties) {
			t.Errorf("%s has %d properties, want %d: %v", w.name, len(got), len(settingProperties), got)
		}
		if got["id"] != w.id || got["tokenName"] != w.name || got["tokenType"] != w.tokenType || got["appleIdentifier"] != w.appleID {
			t.Errorf("setting %d = %v", i, got)
		}
		expiry := MustParseGraphTime(t, got["tokenExpirationDateTime"])
		if d := expiry.Sub(now.Add(w.expiresIn)); d < -time.Minute || d > time.Minute {
			t.Errorf("%s expires %v, want about now%+v", w.name, expiry, w.expiresIn)
		}
		if !slices.Equal(anyStrings(got["roleScopeTagIds"]), []string{"0"}) {
			t.Errorf("%s roleScopeTagIds %v", w.name, got["roleScopeTagIds"])
		}
		if got["lastSyncTriggeredDateTime"] != "0001-01-01T00:00:00Z" {
			t.Errorf("%s lastSyncTriggeredDateTime %v, want Intune's never", w.name, got["lastSyncTriggeredDateTime"])
		}
		if n, _ := got["syncedDeviceCount"].(float64); n <= 0 {
			t.Errorf("%s syncedDeviceCount %v", w.name, got["syncedDeviceCount"])
		}
		MustParseGraphTime(t, got["lastSuccessfulSyncDateTime"])
		MustParseGraphTime(t, got["lastModifiedDateTime"])
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// MustListAllPages follows @odata.nextLink from first and returns the ids and the page count.
func MustListAllPages(tb testing.TB, s *graphServer, token, first string) ([]string, int) {
	tb.Helper()
	var ids []string
	next := first
	pages := 0
	for ; next != ""; pages++ {
		if pages > 3 {
			tb.Fatal("paging does not end")
		}
		resp := MustCallGraph(tb, s, http.MethodGet, next, token, nil)
		MustStatus(tb, resp, http.StatusOK)
		var page struct {
			NextLink string `json:"@odata.nextLink"`
			Value    []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		MustJSON(tb, resp.body, &page)
		for _, v := range page.Value {
			ids = append(ids, v.ID)
		}
		if page.NextLink != "" && !strings.HasPrefix(page.NextLink, s.base()+"/deviceManagement/depOnboardingSettings?") {
			tb.Fatalf("nextLink %q", page.NextLink)
		}
		next = page.NextLink
	}
	return ids, pages
}

func TestGraphListPaging(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	all := []string{settingSoon, settingExpired, settingSchool}
	list := s.base() + "/deviceManagement/depOnboardingSettings"
	for query, wantPages := range map[string]int{"": 1, "?$top=1": 3, "?$top=2": 2, "?$top=3": 1, "?$top=50": 1} {
		if ids, pages := MustListAllPages(t, s, token, list+query); !slices.Equal(ids, all) || pages != wantPages {
			t.Errorf("%q: ids %v in %d pages, want all in %d", query, ids, pages, wantPages)
		}
	}

	paged := MustStartGraph(t, func(cfg *GraphConfig) { cfg.PageSize = 2 })
	list = paged.base() + "/deviceManagement/depOnboardingSettings"
	if ids, pages := MustListAllPages(t, paged, token, list); !slices.Equal(ids, all) || pages != 2 {
		t.Errorf("PageSize 2: ids %v in %d pages", ids, pages)
	}
	if ids, pages := MustListAllPages(t, paged, token, list+"?$top=1"); !slices.Equal(ids, all) || pages != 3 {
		t.Errorf("PageSize 2, $top=1: ids %v in %d pages", ids, pages)
	}

	for _, query := range []string{"$top=0", "$top=two", "$skiptoken=abc", "$skiptoken=offset--1"} {
		resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings?"+query, token, nil)
		MustGraphError(t, resp, http.StatusBadRequest, "BadRequest")
	}
}

func TestGraphGetSetting(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	for _, path := range []string{
		"/deviceManagement/depOnboardingSettings/" + settingSchool,
		"/deviceManagement/depOnboardingSettings('" + settingSchool + "')",
		"/devicemanagement/deponboardingsettings/" + strings.ToUpper(settingSchool),
	} {
		resp := MustCallGraph(t, s, http.MethodGet, path, token, nil)
		MustStatus(t, resp, http.StatusOK)
		var got map[string]any
		MustJSON(t, resp.body, &got)
		if got["id"] != settingSchool || got["tokenName"] != "Contoso Schools ASM" || got["shareTokenWithSchoolDataSyncService"] != true {
			t.Errorf("%s: %v", path, got)
		}
		if ctx, _ := got["@odata.context"].(string); !strings.HasSuffix(ctx, "depOnboardingSettings/$entity") {
			t.Errorf("%s: @odata.context %q", path, ctx)
		}
	}
	resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings/11111111-2222-3333-4444-555555555555", token, nil)
	message := MustIntuneError(t, resp, http.StatusNotFound, "ResourceNotFound")
	if !strings.Contains(message, "depOnboardingSettings('11111111-2222-3333-4444-555555555555')") {
		t.Errorf("Message %q does not name the Url with the id", message)
	}
}

func TestGraphEncryptionPublicKey(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	serials := map[string]bool{}
	for _, id := range []string{settingSoon, settingExpired, settingSchool} {
		resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings/"+id+"/getEncryptionPublicKey", token, nil)
		MustStatus(t, resp, http.StatusOK)
		var got struct {
			Value string `json:"value"`
		}
		MustJSON(t, resp.body, &got)
		cert := MustOneLineCert(t, got.Value)
		if !strings.Contains(cert.Subject.CommonName, id) || cert.Subject.String() != cert.Issuer.String() {
			t.Errorf("certificate subject %q, issuer %q", cert.Subject, cert.Issuer)
		}
		if serials[cert.SerialNumber.String()] {
			t.Errorf("serial %v repeats", cert.SerialNumber)
		}
		serials[cert.SerialNumber.String()] = true
		if !cert.Equal(MustSettingKey(t, s.graph, id).cert) {
			t.Error("getEncryptionPublicKey is not the setting's certificate")
		}
	}
	resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings/11111111-2222-3333-4444-555555555555/getEncryptionPublicKey", token, nil)
	MustIntuneError(t, resp, http.StatusNotFound, "ResourceNotFound")
}

// MustOneLineCert parses getEncryptionPublicKey's value: PEM with no line breaks at all.
func MustOneLineCert(tb testing.TB, value string) *x509.Certificate {
	tb.Helper()
	if strings.ContainsAny(value, "\r\n") {
		tb.Fatalf("value has line breaks: %q", value)
	}
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	inner, ok := strings.CutPrefix(value, begin)
	if ok {
		inner, ok = strings.CutSuffix(inner, end)
	}
	if !ok || !strings.HasPrefix(inner, "MII") {
		tb.Fatalf("value is not one-line PEM: %q", value)
	}
	der, err := base64.StdEncoding.DecodeString(inner)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

func MustSettingKey(tb testing.TB, g *Graph, id string) *settingKey {
	tb.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.settingLocked(id)
	if s == nil {
		tb.Fatalf("no setting %s", id)
	}
	return s.key
}

func TestGraphSyncOncePerFifteenMinutes(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	path := "/deviceManagement/depOnboardingSettings/" + settingSoon + "/syncWithAppleDeviceEnrollmentProgram"
	MustStatus(t, MustCallGraph(t, s, http.MethodPost, path, token, []byte{}), http.StatusNoContent)
	triggered := s.graph.Settings()[0].LastSyncTriggeredDateTime
	if time.Since(triggered) > time.Minute {
		t.Errorf("lastSyncTriggeredDateTime %v", triggered)
	}
	s.clock.advance(14 * time.Minute)
	message := MustIntuneError(t, MustCallGraph(t, s, http.MethodPost, path, token, []byte{}), http.StatusConflict, "Conflict")
	if !strings.Contains(message, "15 minutes") {
		t.Errorf("Message %q", message)
	}
	// Another token's sync is its own.
	MustStatus(t, MustCallGraph(t, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingSchool+"/syncWithAppleDeviceEnrollmentProgram", token, []byte{}), http.StatusNoContent)
	s.clock.advance(2 * time.Minute)
	MustStatus(t, MustCallGraph(t, s, http.MethodPost, path, token, []byte{}), http.StatusNoContent)
}

func TestGraphKeysPersistAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := MustStartGraphIn(t, dir)
	sample := MustSample(t, first.graph, settingSoon, SampleValid)
	firstCert := MustSettingKey(t, first.graph, settingSoon).cert

	for _, name := range []string{settingSoon, settingExpired, settingSchool, otherMDMKeyName} {
		info, err := os.Stat(filepath.Join(dir, "sandbox-graph-key-"+name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, info.Mode().Perm())
		}
	}

	second := MustStartGraphIn(t, dir, func(cfg *GraphConfig) {
		cfg.newKey = func() (*rsa.PrivateKey, error) {
			t.Error("a key was made again")
			return generateSettingKey()
		}
	})
	if !MustSettingKey(t, second.graph, settingSoon).cert.Equal(firstCert) {
		t.Error("the certificate changed across the restart")
	}
	resp := MustUpload(t, second, settingSoon, "abm-admin@contoso.com", string(sample.Data))
	MustStatus(t, resp, http.StatusNoContent)

	t.Run("a damaged key file is an error, not a new key", func(t *testing.T) {
		path := filepath.Join(dir, "sandbox-graph-key-"+settingSchool+".pem")
		if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewGraph(testGraphConfig(t, dir, new(graphClock), &graphLogs{}))
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("NewGraph: %v, want an error naming %s", err, path)
		}
	})
}

func TestGraphGenerateEncryptionPublicKeyRotates(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	old := MustSample(t, s.graph, settingSoon, SampleValid)
	oldCert := MustSettingKey(t, s.graph, settingSoon).cert

	resp := MustCallGraph(t, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingSoon+"/generateEncryptionPublicKey", token, []byte{})
	MustStatus(t, resp, http.StatusOK)
	var got struct {
		Value string `json:"value"`
	}
	MustJSON(t, resp.body, &got)
	cert := MustOneLineCert(t, got.Value)
	if cert.Equal(oldCert) || cert.SerialNumber.Cmp(oldCert.SerialNumber) == 0 {
		t.Fatal("the key did not change")
	}
	if !strings.Contains(s.logs.String(), "generateEncryptionPublicKey rotated the key") {
		t.Error("the rotation was not logged as a warning")
	}
	message := MustIntuneError(t, MustUpload(t, s, settingSoon, "abm-admin@contoso.com", string(old.Data)), http.StatusBadRequest, "BadRequest")
	if !strings.Contains(message, "could not be decrypted") {
		t.Errorf("Message %q", message)
	}
	fresh := MustSample(t, s.graph, settingSoon, SampleValid)
	MustStatus(t, MustUpload(t, s, settingSoon, "abm-admin@contoso.com", string(fresh.Data)), http.StatusNoContent)

	// The rotated key is what a restart loads.
	key, err := parseSettingKey(MustReadGraphFile(t, filepath.Join(s.dataDir, "sandbox-graph-key-"+settingSoon+".pem")))
	if err != nil || !key.cert.Equal(cert) {
		t.Errorf("key file holds another certificate (err %v)", err)
	}
}

func MustReadGraphFile(tb testing.TB, path string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}
