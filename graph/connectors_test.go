package graph

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// vppPage1 and vppPage2 are shaped as Graph beta documents vppToken, with the properties a
// client does not ask for (the token itself is never sent on a list) left out.
const vppPage1 = `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#deviceAppManagement/vppTokens",
 "@odata.nextLink":"%s/beta/deviceAppManagement/vppTokens?$skiptoken=2",
 "value":[{"@odata.type":"#microsoft.graph.vppToken","id":"9e1c7f2a-vpp-1","organizationName":"Contoso",
  "vppTokenAccountType":"business","appleId":"vpp@contoso.com","expirationDateTime":"2027-01-02T03:04:05.0000000Z",
  "lastSyncDateTime":"2026-11-20T08:00:00Z","lastModifiedDateTime":"2026-01-02T03:04:05Z","state":"valid",
  "tokenActionResults":[{"@odata.type":"#microsoft.graph.vppTokenLicenseSummary","actionName":"sync","actionState":"done",
   "startDateTime":"2026-11-20T07:59:00Z","lastUpdatedDateTime":"2026-11-20T08:00:00Z"}],
  "lastSyncStatus":"completed","automaticallyUpdateApps":true,"countryOrRegion":"us","dataSharingConsentGranted":true,
  "displayName":"Contoso Apps","locationName":"Contoso HQ","claimTokenManagementFromExternalMdm":false,"roleScopeTagIds":["0"]}]}`

const vppPage2 = `{"value":[{"id":"9e1c7f2a-vpp-2","organizationName":"Contoso Retail","appleId":"retail@contoso.com",
  "expirationDateTime":null,"lastSyncDateTime":"0001-01-01T00:00:00Z","state":"expired","displayName":"","locationName":""}]}`

func TestListVppTokensFollowsPages(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t)
	g.Handle(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path != "/beta/deviceAppManagement/vppTokens" {
			t.Errorf("path %s", r.URL.Path)
		}
		if n == 0 {
			w.Write([]byte(strings.Replace(vppPage1, "%s", g.URL, 1)))
			return
		}
		if r.URL.Query().Get("$skiptoken") != "2" {
			t.Errorf("second page asked without the skiptoken: %s", r.URL)
		}
		w.Write([]byte(vppPage2))
	})
	c, _ := MustClient(t, g.URL)
	var ops []string
	c.observe = func(op string, _ int, _ time.Duration) { ops = append(ops, op) }
	tokens, err := c.ListVppTokens(context.Background(), newCreds())
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 {
		t.Fatalf("got %d tokens, want 2 (both pages)", len(tokens))
	}
	first := tokens[0]
	if first.Name() != "Contoso Apps" || first.AppleID != "vpp@contoso.com" || first.State != VppStateValid ||
		!first.ExpirationDateTime.Equal(time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		len(first.TokenActionResults) != 1 || first.TokenActionResults[0].ActionState != "done" {
		t.Errorf("first token = %+v", first)
	}
	// Without a display or location name, the organisation names the token; "never" is zero.
	if second := tokens[1]; second.Name() != "Contoso Retail" || !second.ExpirationDateTime.IsZero() || !second.LastSyncDateTime.IsZero() {
		t.Errorf("second token = %+v, name %q", second, second.Name())
	}
	if strings.Join(ops, ",") != "vppTokens,vppTokens" {
		t.Errorf("observed operations %v", ops)
	}
}

func TestListVppTokensRefusesNextLinkElsewhere(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{body: strings.Replace(vppPage1, "%s", "https://attacker.example", 1)})
	c, _ := MustClient(t, g.URL)
	_, err := c.ListVppTokens(context.Background(), newCreds())
	e := MustGraphError(t, err, ClassOther)
	if !strings.Contains(e.Message, "attacker.example") {
		t.Errorf("message %q does not name the refused host", e.Message)
	}
	if n := len(g.Seen()); n != 1 {
		t.Errorf("%d requests, want 1: the bearer token must not follow the link", n)
	}
}

func TestGetApplePushNotificationCertificate(t *testing.T) {
	t.Parallel()
	const cert = `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#deviceManagement/applePushNotificationCertificate/$entity",
	 "@odata.type":"#microsoft.graph.applePushNotificationCertificate","id":"a1b2c3d4-apns","appleIdentifier":"mdm-push@contoso.com",
	 "topicIdentifier":"com.apple.mgmt.External.0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011","lastModifiedDateTime":"2026-01-10T12:00:00Z",
	 "expirationDateTime":"2027-01-10T12:00:00Z","certificateUploadStatus":null,"certificateUploadFailureReason":null,
	 "certificateSerialNumber":"3F2A1B","certificate":null}`
	t.Run("present", func(t *testing.T) {
		g := MustFakeGraph(t, reply{body: cert})
		c, _ := MustClient(t, g.URL)
		got, ok, err := c.GetApplePushNotificationCertificate(context.Background(), newCreds())
		if err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
		if got.AppleIdentifier != "mdm-push@contoso.com" || got.CertificateSerialNumber != "3F2A1B" ||
			!got.ExpirationDateTime.Equal(time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)) ||
			!strings.HasPrefix(got.TopicIdentifier, "com.apple.mgmt.External.") {
			t.Errorf("certificate = %+v", got)
		}
		if p := g.Seen()[0].RequestURI; p != "/beta/deviceManagement/applePushNotificationCertificate" {
			t.Errorf("asked %s", p)
		}
	})
	t.Run("none (404)", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 404, body: `{"error":{"code":"ResourceNotFound","message":"not found"}}`})
		c, _ := MustClient(t, g.URL)
		_, ok, err := c.GetApplePushNotificationCertificate(context.Background(), newCreds())
		if err != nil || ok {
			t.Fatalf("ok %v, err %v; want no certificate and no error", ok, err)
		}
	})
	t.Run("forbidden stays an error", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 403, body: `{"error":{"code":"Forbidden","message":"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.Read.All, DeviceManagementServiceConfig.ReadWrite.All"}}`})
		c, _ := MustClient(t, g.URL)
		_, _, err := c.GetApplePushNotificationCertificate(context.Background(), newCreds())
		MustGraphError(t, err, ClassMissingScope)
	})
	t.Run("a 503 is retried like any read", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 503}, reply{body: cert})
		c, rec := MustClient(t, g.URL)
		if _, ok, err := c.GetApplePushNotificationCertificate(context.Background(), newCreds()); err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
		if len(rec.Waits()) != 1 {
			t.Errorf("waits %v, want one backoff", rec.Waits())
		}
	})
}
