// Package watch owns the watch: an opt-in, read-only poller of the tenant's three yearly Apple
// connectors (ADE server tokens, Apps and Books tokens, the MDM push certificate) with a
// credential of its own, an app registration holding only the application permission
// DeviceManagementServiceConfig.Read.All (docs/decisions/0011). It keeps the latest read in
// the database, so that every instance exports the same fresh expiry metrics, and with several
// instances exactly one of them reads Intune at a time (a lease in the database).
//
// What it must never do: write to Intune (its Intune interface has no write, and its
// registration no write permission), act with a person's token, or hold a secret in the
// database.
package watch
