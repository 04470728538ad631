package testkit

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// AdaptiveCardsVersion is the release of Microsoft's Adaptive Cards SDK (npm "adaptivecards")
// that checks the Teams cards; .ci/run installs it from the npm registry into AdaptiveCardsDir.
const AdaptiveCardsVersion = "3.0.6"

// AdaptiveCardsDir is where .ci/run installs it, relative to the repository's root.
const AdaptiveCardsDir = ".ci/adaptivecards"

// MustAdaptiveCards returns the node executable and the SDK's bundle (the file
// DEPPORTAL_ADAPTIVECARDS names, or the copy .ci/run installed, found from the test's folder
// upwards). Without either the test is Missing: skipped with the reason on a laptop, failed
// in CI.
func MustAdaptiveCards(tb testing.TB) (node, sdk string) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(tb, "Node.js", "node is not on PATH (apt-get install -y nodejs); the Adaptive Cards SDK runs in it")
		return "", ""
	}
	if sdk := installed("DEPPORTAL_ADAPTIVECARDS", filepath.Join(AdaptiveCardsDir, "node_modules", "adaptivecards", "dist", "adaptivecards.js")); sdk != "" {
		return node, sdk
	}
	Missing(tb, "the Adaptive Cards SDK", "not found in DEPPORTAL_ADAPTIVECARDS or "+AdaptiveCardsDir+
		" (run .ci/run, or: npm install --no-save --prefix "+AdaptiveCardsDir+" adaptivecards@"+AdaptiveCardsVersion+")")
	return "", ""
}
