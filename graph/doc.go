// Package graph owns depportal's conversation with Microsoft Graph about Intune's Apple
// connectors (beta): the ADE enrollment tokens (depOnboardingSettings), which it also renews,
// and the Apps and Books tokens (vppTokens) and the MDM push certificate
// (applePushNotificationCertificate), which it only reads. It builds the requests, retries the
// ones that may safely be retried, and turns Graph's and Intune's error bodies into one typed
// *Error whose Class picks the page a person sees.
//
// Every call runs with the Credentials it is given: a signed-in person's delegated token, or
// the watch's read-only application token; this package holds no identity of its own.
//
// What it must never do:
//   - log anything, or put the Authorization header, the access token or a request body (the
//     uploaded token file) into an error: errors end up on pages, in logs and in the audit trail;
//   - call generateEncryptionPublicKey: it may replace the key pair that Apple encrypts tokens
//     to, which silently invalidates the token file a person is about to upload (and every
//     other token made for the old key). The client does not even offer the call;
//   - repeat an upload or a sync whose request may already have reached Intune: such a call
//     ends with ClassOutcomeUnknown and the person checks the token before trying again. That
//     includes every 5xx: a 504 is Graph's gateway giving up on a service that may have
//     finished. A write is repeated only after a 429, a 401 (once, with a refreshed token) or
//     a failure before the request was written.
package graph
