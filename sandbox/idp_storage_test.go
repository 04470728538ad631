package sandbox

import (
	"log/slog"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func MustNewStorage(tb testing.TB) (*idpStorage, *testClock) {
	tb.Helper()
	key, _, err := loadOrCreateSigningKey(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	client := &portalClient{registration: newRegistration("http://localhost"), loginURL: "http://localhost" + loginPath, idTokenLifetime: time.Hour}
	storage := newIDPStorage(client, "secret", key, time.Hour, slog.New(slog.DiscardHandler))
	clock := new(testClock)
	storage.now = clock.now
	return storage, clock
}

func MustCreateAuthRequest(tb testing.TB, s *idpStorage) string {
	tb.Helper()
	req, err := s.CreateAuthRequest(tb.Context(), &oidc.AuthRequest{
		ClientID: ClientID, RedirectURI: s.client.registration.RedirectURIs[0], ResponseType: oidc.ResponseTypeCode,
		Scopes: portalScopes, CodeChallenge: "challenge", CodeChallengeMethod: oidc.CodeChallengeMethodS256,
	}, "")
	if err != nil {
		tb.Fatal(err)
	}
	return req.GetID()
}

func TestExpiredAuthRequestsAreRemoved(t *testing.T) {
	t.Parallel()
	s, clock := MustNewStorage(t)
	old := MustCreateAuthRequest(t, s)
	if err := s.SaveAuthCode(t.Context(), old, "old-code"); err != nil {
		t.Fatal(err)
	}
	clock.advance(authRequestLifetime)
	if _, err := s.AuthRequestByID(t.Context(), old); err == nil {
		t.Error("expired auth request still found")
	}

	fresh := MustCreateAuthRequest(t, s) // storing something new sweeps
	s.mu.Lock()
	_, oldKept := s.authRequests[old]
	_, freshKept := s.authRequests[fresh]
	requests, codes := len(s.authRequests), len(s.codes)
	s.mu.Unlock()
	if oldKept || !freshKept || requests != 1 {
		t.Errorf("%d auth requests in memory (old kept %v), want only the fresh one", requests, oldKept)
	}
	if codes != 0 {
		t.Errorf("%d codes in memory, want 0", codes)
	}
	if _, err := s.AuthRequestByCode(t.Context(), "old-code"); err == nil {
		t.Error("code of an expired auth request still works")
	}
}

func TestSavingACodeReplacesThePreviousOne(t *testing.T) {
	t.Parallel()
	s, _ := MustNewStorage(t)
	id := MustCreateAuthRequest(t, s)
	for _, code := range []string{"first", "second"} {
		if err := s.SaveAuthCode(t.Context(), id, code); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AuthRequestByCode(t.Context(), "first"); err == nil {
		t.Error("the replaced code still works")
	}
	if _, err := s.AuthRequestByCode(t.Context(), "second"); err != nil {
		t.Errorf("the current code: %v", err)
	}
	if _, err := s.AuthRequestByCode(t.Context(), "second"); err == nil {
		t.Error("a code worked twice")
	}
}

func TestClientSecretCheck(t *testing.T) {
	t.Parallel()
	s, _ := MustNewStorage(t)
	if err := s.AuthorizeClientIDSecret(t.Context(), ClientID, "secret"); err != nil {
		t.Errorf("right secret: %v", err)
	}
	for _, tc := range [][2]string{{ClientID, "wrong"}, {ClientID, ""}, {"other-client", "secret"}} {
		if err := s.AuthorizeClientIDSecret(t.Context(), tc[0], tc[1]); err == nil {
			t.Errorf("accepted client %q with secret %q", tc[0], tc[1])
		}
	}
}

func TestGraphPermissions(t *testing.T) {
	t.Parallel()
	got := graphPermissions([]string{"openid", graphReadWrite, "offline_access", graphRead, "https://graph.microsoft.com.evil/X"})
	if want := "DeviceManagementServiceConfig.ReadWrite.All DeviceManagementServiceConfig.Read.All"; got != want {
		t.Errorf("graphPermissions = %q, want %q", got, want)
	}
}
