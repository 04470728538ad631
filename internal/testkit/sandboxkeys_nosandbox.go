//go:build nosandbox

package testkit

import "testing"

// WriteSandboxKeys: a build without the sandbox has no sandbox keys to write; the tests that
// need a sandbox tenant do not run in it.
func WriteSandboxKeys(tb testing.TB, dataDir string) {
	tb.Helper()
	tb.Skip("this build has no sandbox tenant (-tags nosandbox)")
}
