package testkit

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where nothing may be skipped for want of
// a service.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops a test that needs what this machine lacks (what: "PostgreSQL", "Chromium").
// Outside CI it skips with why, so a laptop without the service still runs everything else; in
// CI it fails, so a pipeline never goes green by skipping.
func Missing(tb testing.TB, what, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s is required in CI: %s", what, why)
	}
	tb.Skipf("%s unavailable, test skipped: %s", what, why)
}
