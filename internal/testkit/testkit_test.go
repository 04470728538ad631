package testkit_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/depportal/depportal/internal/testkit"
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
