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
	if path := installed("DEPPORTAL_AXE", filepath.Join(AxeDir, "node_modules", "axe-core", "axe.min.js")); path != "" {
		if src, err := os.ReadFile(path); err == nil {
			return string(src)
		}
	}
	Missing(tb, "axe-core", "not found in DEPPORTAL_AXE or "+AxeDir+" (run .ci/run, or: npm install --no-save --prefix "+AxeDir+" axe-core@"+AxeVersion+")")
	return ""
}

// installed finds a file .ci/run installs: the one the variable env names, else rel (relative
// to the repository's root) found from the test's folder upwards; "" when neither is there.
func installed(env, rel string) string {
	candidates := []string{os.Getenv(env)}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, rel))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			if abs, err := filepath.Abs(c); err == nil {
				return abs
			}
			return c
		}
	}
	return ""
}
