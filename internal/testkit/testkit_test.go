package testkit_test

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// tbRecorder is a testing.TB that records how a helper stopped the test instead of stopping it.
type tbRecorder struct {
	testing.TB
	skipped, failed string
}

func (r *tbRecorder) Helper()                          {}
func (r *tbRecorder) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }
func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestMissingSkipsOutsideCIAndFailsInCI(t *testing.T) {
	for ci, want := range map[string]string{"": "skipped", "false": "skipped", "true": "failed"} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		testkit.Missing(r, "PostgreSQL", "no server at 127.0.0.1:5432")
		got := "skipped"
		if r.failed != "" {
			got = "failed"
		}
		if got != want || !strings.Contains(r.skipped+r.failed, "no server at 127.0.0.1:5432") || !strings.Contains(r.skipped+r.failed, "PostgreSQL") {
			t.Errorf("CI=%q: skipped %q, failed %q; want %s with the reason", ci, r.skipped, r.failed, want)
		}
	}
}

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

// The speed of every portal test rests on this: a sandbox tenant started on a folder holding
// the written keys makes no key of its own.
func TestWrittenSandboxKeysAreLoadedNotMade(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteSandboxKeys(t, dir)
	before := folder(t, dir)
	if len(before) == 0 {
		t.Fatal("nothing written")
	}
	logs := &testkit.LogBuffer{}
	if _, err := sandbox.NewTenant(sandbox.TenantConfig{
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
