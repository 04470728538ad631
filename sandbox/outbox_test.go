package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A script reading the outbox before anything arrived gets an empty list, not null.
func TestEmptyOutboxIsAnEmptyList(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	NewOutbox("").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_sandbox/outbox?format=json", nil))
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusOK || got != "[]" {
		t.Errorf("empty outbox: %d %q, want 200 []", rec.Code, got)
	}
}
