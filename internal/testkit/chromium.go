package testkit

import (
	"os"
	"testing"
)

// MustChromium finds Debian's Chromium (or DEPPORTAL_CHROMIUM) for the browser tests; without
// it, they are Missing. Never a downloaded browser.
func MustChromium(tb testing.TB) string {
	tb.Helper()
	for _, c := range []string{os.Getenv("DEPPORTAL_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	Missing(tb, "Chromium", "not found at /usr/bin/chromium (apt-get install -y chromium, or set DEPPORTAL_CHROMIUM)")
	return ""
}
