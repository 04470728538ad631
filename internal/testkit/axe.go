package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// AxeVersion is the axe-core release the accessibility tests run; .ci/run installs it from
// the npm registry into AxeDir.
const AxeVersion = "4.14.1"

// AxeDir is where .ci/run installs axe-core, relative to the repository's root.
const AxeDir = ".ci/axe"

// MustAxe returns the source of axe-core for a browser test to inject into pages: the file
// DEPPORTAL_AXE names, or the copy .ci/run installed under AxeDir (found from the test's
// folder upwards). Without it the test is Missing: skipped with the reason on a laptop, failed
// in CI.
func MustAxe(tb testing.TB) string {
	tb.Helper()
	candidates := []string{os.Getenv("DEPPORTAL_AXE")}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, AxeDir, "node_modules", "axe-core", "axe.min.js"))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if src, err := os.ReadFile(c); err == nil && len(src) > 0 {
			return string(src)
		}
	}
	Missing(tb, "axe-core", "not found in DEPPORTAL_AXE or "+AxeDir+" (run .ci/run, or: npm install --no-save --prefix "+AxeDir+" axe-core@"+AxeVersion+")")
	return ""
}
