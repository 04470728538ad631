package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// A fresh tenant makes five RSA keys in its data folder (its provider's signing key and one
// per onboarding setting: about half a second, several under the race detector) and loads them
// on a restart. seedFiles is one fresh tenant's folder, made once per process.
var seedFiles = sync.OnceValues(func() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "depportal-sandbox-seed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if _, err := NewTenant(TenantConfig{BaseURL: "http://127.0.0.1", DataDir: dir, ClientSecret: "seed"}); err != nil {
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

// SeedDataDir writes into dataDir what a fresh tenant writes there when it first starts (its
// keys, made once per process), so that a tenant or portal started on dataDir loads them as on
// a restart instead of making its own. For tests that start many tenants: every folder seeded
// in one process gets the same keys.
func SeedDataDir(dataDir string) error {
	files, err := seedFiles()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dataDir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
