// Package auth signs people in through OpenID Connect (Entra ID, or the sandbox's provider: the
// same code path), keeps their sessions server-side, decides what their app roles allow, and holds
// the delegated Microsoft Graph token each session acts with.
//
// It owns every security decision about identity: ID token checks (including the nonce and tid
// that go-oidc leaves to the caller), session lifetime, cookie attributes, CSRF tokens, redirect
// targets. It must never let a Graph access or refresh token leave the server, never store one
// unencrypted, never log one, and never authorise on an email address or UPN.
package auth
