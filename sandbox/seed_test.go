package sandbox

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func folder(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// The speed of every portal test rests on this: a tenant started on a seeded folder makes no
// key of its own.
func TestSeededKeysAreLoadedNotMade(t *testing.T) {
	dir := t.TempDir()
	if err := SeedDataDir(dir); err != nil {
		t.Fatal(err)
	}
	before := folder(t, dir)
	if len(before) == 0 {
		t.Fatal("nothing written")
	}
	logs := new(lockedBuffer)
	if _, err := NewTenant(TenantConfig{
		BaseURL: "http://127.0.0.1:8080", DataDir: dir, ClientSecret: "secret",
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}); err != nil {
		t.Fatal(err)
	}
	if after := folder(t, dir); !maps.Equal(before, after) {
		t.Errorf("the tenant changed its folder: it made keys instead of loading them\nbefore: %v\nafter:  %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	if strings.Contains(logs.String(), "created") {
		t.Errorf("the tenant says it created something:\n%s", logs)
	}
}
