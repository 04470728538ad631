package handlers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/sandbox"
)

// TestGraphClientAgainstSimulator is the contract test: the typed Graph client (written from
// graph/'s reading of Graph) against the Intune simulator (written from Microsoft's documentation, not from graph/), with a
// real delegated token from the sandbox sign-in.
func TestGraphClientAgainstSimulator(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, _ := signedInHannah(t, p)
	sess, err := p.app.Sessions().Load(context.Background(), hannah.Cookie("depportal_session").Value)
	if err != nil {
		t.Fatal(err)
	}
	cred := p.app.Sessions().Delegated(sess)
	client, err := graph.New(graph.Config{BaseURL: p.tenant.GraphBaseURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	settings, err := client.ListOnboardingSettings(ctx, cred) // two pages of two
	if err != nil || len(settings) != 3 {
		t.Fatalf("list: %d settings, %v", len(settings), err)
	}
	byID := map[string]graph.OnboardingSetting{}
	for _, s := range settings {
		byID[s.ID] = s
	}
	abm := byID[abmSoon]
	if abm.TokenName != "Contoso ABM" || abm.TokenType != graph.TokenTypeDEP || abm.AppleIdentifier == "" ||
		abm.TokenExpirationDateTime.IsZero() || abm.LastSuccessfulSyncDateTime.IsZero() || len(abm.RoleScopeTagIDs) == 0 {
		t.Errorf("setting = %+v", abm)
	}
	if byID[asm].TokenType != graph.TokenTypeAppleSchoolManager {
		t.Errorf("ASM token type %q", byID[asm].TokenType)
	}

	one, err := client.GetOnboardingSetting(ctx, cred, abmSoon)
	if err != nil || one.ID != abmSoon || !one.TokenExpirationDateTime.Equal(abm.TokenExpirationDateTime) {
		t.Errorf("get: %+v %v", one, err)
	}
	if _, err := client.GetOnboardingSetting(ctx, cred, "00000000-0000-0000-0000-000000000000"); graph.ClassOf(err) != graph.ClassNotFound {
		t.Errorf("unknown id: %v", err)
	}

	key, err := client.GetEncryptionPublicKey(ctx, cred, abmSoon)
	if err != nil || strings.Contains(key, "\n") || !strings.HasPrefix(key, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("public key (one line expected): %q %v", key, err)
	}

	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	info, err := client.UploadDepToken(ctx, cred, abmSoon, "abm-admin@contoso.com", valid.Data)
	if err != nil || info.Status != 204 || info.RequestID == "" || info.ClientRequestID == "" {
		t.Errorf("upload: %+v %v", info, err)
	}

	wrong := MustSample(t, p, abmSoon, sandbox.SampleWrongKey)
	_, err = client.UploadDepToken(ctx, cred, abmSoon, "abm-admin@contoso.com", wrong.Data)
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.Class() != graph.ClassRejected || ge.Status != 400 ||
		ge.ActivityID == "" || ge.RequestID == "" || ge.Message == "" || strings.Contains(ge.Message, "Activity ID") {
		t.Errorf("wrong-key upload: %#v", err)
	}
}
