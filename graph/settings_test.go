package graph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// settingJSON is a depOnboardingSetting as Graph beta returns it, every property present.
const settingJSON = `{
  "@odata.type": "#microsoft.graph.depOnboardingSetting",
  "id": "` + settingID + `",
  "appleIdentifier": "abm-admin@example.com",
  "tokenExpirationDateTime": "2026-03-04T10:15:30.1234567Z",
  "lastModifiedDateTime": "2025-03-04T10:16:00Z",
  "lastSuccessfulSyncDateTime": "2025-03-05T01:00:00.5+01:00",
  "lastSyncTriggeredDateTime": "0001-01-01T00:00:00Z",
  "lastSyncErrorCode": 7,
  "tokenType": "appleSchoolManager",
  "tokenName": "Springfield Elementary ASM",
  "syncedDeviceCount": 1432,
  "dataSharingConsentGranted": true,
  "shareTokenWithSchoolDataSyncService": true,
  "roleScopeTagIds": ["0", "4"]
}`

func TestOnboardingSettingDecodesEveryProperty(t *testing.T) {
	t.Parallel()
	var got OnboardingSetting
	if err := json.Unmarshal([]byte(settingJSON), &got); err != nil {
		t.Fatal(err)
	}
	want := OnboardingSetting{
		ID:                                  settingID,
		AppleIdentifier:                     "abm-admin@example.com",
		TokenExpirationDateTime:             time.Date(2026, 3, 4, 10, 15, 30, 123456700, time.UTC),
		LastModifiedDateTime:                time.Date(2025, 3, 4, 10, 16, 0, 0, time.UTC),
		LastSuccessfulSyncDateTime:          time.Date(2025, 3, 5, 0, 0, 0, 500000000, time.UTC),
		LastSyncErrorCode:                   7,
		TokenType:                           TokenTypeAppleSchoolManager,
		TokenName:                           "Springfield Elementary ASM",
		SyncedDeviceCount:                   1432,
		DataSharingConsentGranted:           true,
		ShareTokenWithSchoolDataSyncService: true,
		RoleScopeTagIDs:                     []string{"0", "4"},
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"TokenExpirationDateTime", got.TokenExpirationDateTime, want.TokenExpirationDateTime},
		{"LastModifiedDateTime", got.LastModifiedDateTime, want.LastModifiedDateTime},
		{"LastSuccessfulSyncDateTime", got.LastSuccessfulSyncDateTime, want.LastSuccessfulSyncDateTime},
	} {
		if !f.got.Equal(f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if !got.LastSyncTriggeredDateTime.IsZero() {
		t.Errorf("LastSyncTriggeredDateTime = %v, want zero for Intune's 'never'", got.LastSyncTriggeredDateTime)
	}
	// Times compared above; the rest field by field.
	got.TokenExpirationDateTime, got.LastModifiedDateTime, got.LastSuccessfulSyncDateTime = want.TokenExpirationDateTime, want.LastModifiedDateTime, want.LastSuccessfulSyncDateTime
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Every exported field must have been set by the JSON above, so a renamed tag shows up.
	var zero OnboardingSetting
	v, z := reflect.ValueOf(got), reflect.ValueOf(zero)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "LastSyncTriggeredDateTime" {
			continue
		}
		if reflect.DeepEqual(v.Field(i).Interface(), z.Field(i).Interface()) {
			t.Errorf("%s was not decoded", name)
		}
	}
}

func TestOnboardingSettingJSONNames(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(OnboardingSetting{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"id", "appleIdentifier", "tokenExpirationDateTime", "lastModifiedDateTime",
		"lastSuccessfulSyncDateTime", "lastSyncTriggeredDateTime", "lastSyncErrorCode", "tokenType", "tokenName",
		"syncedDeviceCount", "dataSharingConsentGranted", "shareTokenWithSchoolDataSyncService", "roleScopeTagIds"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no JSON property %q", name)
		}
		delete(m, name)
	}
	if len(m) != 0 {
		t.Errorf("unexpected JSON properties %v", m)
	}
}

func TestOnboardingSettingToleratesNullsAndMissing(t *testing.T) {
	t.Parallel()
	nulls := `{"id":"` + settingID + `","appleIdentifier":null,"tokenExpirationDateTime":null,"lastModifiedDateTime":null,
	  "lastSuccessfulSyncDateTime":null,"lastSyncTriggeredDateTime":null,"lastSyncErrorCode":null,"tokenType":null,
	  "tokenName":null,"syncedDeviceCount":null,"dataSharingConsentGranted":null,
	  "shareTokenWithSchoolDataSyncService":null,"roleScopeTagIds":null,"somethingNew":{"x":1}}`
	for name, body := range map[string]string{"nulls": nulls, "missing": `{"id":"` + settingID + `"}`} {
		t.Run(name, func(t *testing.T) {
			g := MustFakeGraph(t, reply{status: 200, body: body})
			c, _ := MustClient(t, g.URL)
			got, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, OnboardingSetting{ID: settingID}) {
				t.Errorf("got %+v, want only the id", got)
			}
		})
	}
}

func TestGetOnboardingSettingRejectsNonJSON(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 200, header: map[string]string{"request-id": requestID}, body: "<html>sign in to continue</html>"})
	c, _ := MustClient(t, g.URL)
	_, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
	e := MustGraphError(t, err, ClassOther)
	if e.RequestID != requestID || e.Status != 200 || len(g.Seen()) != 1 {
		t.Errorf("RequestID %q, status %d, requests %d", e.RequestID, e.Status, len(g.Seen()))
	}
}

func TestListFollowsNextLink(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t)
	g.Handle(func(w http.ResponseWriter, r *http.Request, n int) {
		var next string
		if n < 2 {
			next = fmt.Sprintf(`,"@odata.nextLink":"http://%s/beta/deviceManagement/depOnboardingSettings?$skiptoken=page%d"`, r.Host, n+2)
		}
		fmt.Fprintf(w, `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#deviceManagement/depOnboardingSettings","value":[{"id":"t%da"},{"id":"t%db"}]%s}`, n, n, next)
	})
	c, _ := MustClient(t, g.URL)
	got, err := c.ListOnboardingSettings(t.Context(), newCreds())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "t0a,t0b,t1a,t1b,t2a,t2b" {
		t.Errorf("ids = %v", ids)
	}
	seen := g.Seen()
	if len(seen) != 3 {
		t.Fatalf("%d requests, want 3", len(seen))
	}
	if seen[0].RequestURI != "/beta/deviceManagement/depOnboardingSettings" || seen[2].RequestURI != "/beta/deviceManagement/depOnboardingSettings?$skiptoken=page3" {
		t.Errorf("request URIs %q, %q", seen[0].RequestURI, seen[2].RequestURI)
	}
	for _, r := range seen {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Error("a page was fetched without the bearer token")
		}
	}
}

func TestListRefusesForeignNextLink(t *testing.T) {
	t.Parallel()
	foreign := MustFakeGraph(t, reply{status: 200, body: `{"value":[{"id":"evil"}]}`})
	for name, link := range map[string]string{
		"other host":        foreign.URL + "/beta/deviceManagement/depOnboardingSettings?$skiptoken=x",
		"https downgrade":   "https://" + strings.TrimPrefix(foreign.URL, "http://") + "/x",
		"credentials in it": strings.Replace(foreign.URL, "http://", "http://u:p@", 1),
	} {
		t.Run(name, func(t *testing.T) {
			g := MustFakeGraph(t, reply{status: 200, body: `{"value":[{"id":"a"}],"@odata.nextLink":"` + link + `"}`})
			c, _ := MustClient(t, g.URL)
			got, err := c.ListOnboardingSettings(t.Context(), newCreds())
			e := MustGraphError(t, err, ClassOther)
			if got != nil || !strings.Contains(e.Message, "nextLink") || e.Call.Status != 200 {
				t.Errorf("settings %v, error %v, call %+v", got, e, e.Call)
			}
		})
	}
	if len(foreign.Seen()) != 0 {
		t.Error("the foreign host received a request")
	}
}

func TestListCapsPages(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t)
	g.Handle(func(w http.ResponseWriter, r *http.Request, n int) {
		fmt.Fprintf(w, `{"value":[{"id":"t%d"}],"@odata.nextLink":"/beta/deviceManagement/depOnboardingSettings?$skiptoken=%d"}`, n, n)
	})
	c, _ := MustClient(t, g.URL)
	_, err := c.ListOnboardingSettings(t.Context(), newCreds())
	MustGraphError(t, err, ClassOther)
	if n := len(g.Seen()); n != maxPages {
		t.Errorf("%d requests, want %d", n, maxPages)
	}
}

func TestGetEncryptionPublicKey(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN CERTIFICATE-----MIIDBjCCAe6gAwIBAgIQbWVDpFp4JqZ1kXfL+zQjczANBgkqhkiG9w0BAQsFADA=-----END CERTIFICATE-----"
	g := MustFakeGraph(t, reply{status: 200, body: `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#Edm.String","value":"` + pem + `"}`})
	c, _ := MustClient(t, g.URL)
	got, err := c.GetEncryptionPublicKey(t.Context(), newCreds(), settingID)
	if err != nil {
		t.Fatal(err)
	}
	if got != pem {
		t.Errorf("key = %q, want it exactly as returned", got)
	}
	r := g.Seen()[0]
	if r.Method != http.MethodGet || r.RequestURI != "/beta/deviceManagement/depOnboardingSettings/"+settingID+"/getEncryptionPublicKey" {
		t.Errorf("request = %s %s", r.Method, r.RequestURI)
	}

	empty := MustFakeGraph(t, reply{status: 200, body: `{"value":null}`})
	c, _ = MustClient(t, empty.URL)
	_, err = c.GetEncryptionPublicKey(t.Context(), newCreds(), settingID)
	MustGraphError(t, err, ClassOther)
}

func TestNotFoundThroughTheClient(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 404, header: map[string]string{"request-id": requestID}, body: intuneBody("ResourceNotFound", "An error has occurred")})
	c, _ := MustClient(t, g.URL)
	_, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
	e := MustGraphError(t, err, ClassNotFound)
	if e.ActivityID != activityID || e.RequestID != requestID || e.Call.RequestID != requestID || e.Call.Attempts != 1 {
		t.Errorf("error %+v", e)
	}
	if e.ClientRequestID != "11111111-2222-3333-4444-555555555555" || e.Call.ClientRequestID != g.Seen()[0].Header.Get("client-request-id") {
		t.Errorf("ClientRequestID %q, Call.ClientRequestID %q", e.ClientRequestID, e.Call.ClientRequestID)
	}
}

func TestObserveSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t,
		reply{status: 429, header: map[string]string{"Retry-After": "1"}, body: intuneBody("TooManyRequests", "busy")},
		reply{status: 204},
	)
	type seen struct {
		op     string
		status int
	}
	var got []seen
	c, _ := MustClient(t, g.URL, func(cfg *Config) {
		cfg.Observe = func(op string, status int, d time.Duration) { got = append(got, seen{op, status}) }
	})
	if _, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "abm-admin@contoso.com", []byte("MIME-Version: 1.0\r\n")); err != nil {
		t.Fatal(err)
	}
	want := []seen{{OpUpload, 429}, {OpUpload, 204}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("observed %v, want %v", got, want)
	}
}
