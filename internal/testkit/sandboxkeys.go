//go:build !nosandbox

package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/depportal/depportal/sandbox"
)

// The sandbox tenant makes five RSA keys on a fresh data folder (its provider's signing key and
// one per onboarding setting; about half a second, several under the race detector) and loads
// them from the folder on a restart. One tenant is made per test binary; its files are written
// into each test's folder, so each portal starts as a restart would: same behaviour, no keys
// to make.
var sandboxFiles = sync.OnceValues(func() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "depportal-sandbox-keys-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if _, err := sandbox.NewTenant(sandbox.TenantConfig{BaseURL: "http://127.0.0.1", DataDir: dir, ClientSecret: "testkit"}); err != nil {
		return nil, fmt.Errorf("make the sandbox's keys: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("a fresh sandbox tenant wrote nothing to %s: nothing to reuse", dir)
	}
	return files, nil
})

// WriteSandboxKeys writes into dataDir what a fresh sandbox tenant writes there when it starts
// (its keys, made once per test binary), so that a portal started on dataDir loads them
// instead of making its own. Every test gets the same keys; each gets its own folder.
func WriteSandboxKeys(tb testing.TB, dataDir string) {
	tb.Helper()
	files, err := sandboxFiles()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dataDir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
