//go:build !nosandbox

package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// startSandboxWithLogs starts a sandbox app logging into its own buffer.
func startSandboxWithLogs(tb testing.TB) (*app.App, *testkit.LogBuffer) {
	tb.Helper()
	dir := tb.TempDir()
	if err := sandbox.SeedDataDir(dir); err != nil {
		tb.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	return MustStartApp(tb, dir, app.Options{Logs: logs}).app, logs
}

// The sandbox's OpenID provider logs through slog's default logger; with two apps in one
// process, each app's provider logs reach that app's log, not the other's (nor the newest's).
func TestSandboxProviderLogsReachTheirOwnApp(t *testing.T) {
	t.Parallel()
	first, firstLogs := startSandboxWithLogs(t)
	second, secondLogs := startSandboxWithLogs(t)
	// An authorization request for an unknown client: the provider logs "auth request".
	for _, a := range []*app.App{first, second} {
		resp, err := http.Get(a.Config().Issuer() + "/authorize?client_id=nobody&response_type=code")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for name, logs := range map[string]*testkit.LogBuffer{"first": firstLogs, "second": secondLogs} {
		if n := strings.Count(logs.String(), `msg="auth request"`) + strings.Count(logs.String(), `"msg":"auth request"`); n != 1 {
			t.Errorf("the %s app's log holds %d of the provider's \"auth request\" records, want its own 1:\n%s", name, n, logs.String())
		}
	}
}
