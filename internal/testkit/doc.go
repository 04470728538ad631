// Package testkit holds what the tests of several packages share: the policy for what a test
// needs from the machine (Missing), databases to test against, a log buffer, an injected
// clock, and the sign-in walk of a browser that shows every hop. (A sandbox tenant's keys, made
// once per test binary, come from sandbox.SeedDataDir.)
//
// Only tests import it. It must never be imported by a production package, and it holds no
// assertion of its own about the portal: a helper fails a test only when it cannot do its job.
package testkit
