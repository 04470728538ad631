// Package audit keeps the portal's tamper-evident trail of every sign-in, refusal, review and
// token upload: an append-only chain of records, each holding the SHA-256 of the one before,
// with checkpoints of the chain head signed by an Ed25519 key (golang.org/x/mod/sumdb/note).
// docs/audit-format.md describes the bytes so that anyone can verify a trail without this code.
//
// audit owns what a record says, how it is encoded and hashed, when checkpoints are signed, how
// the chain is verified, and how it is exported. Storage is someone else's: the Store interface
// below is implemented by package store for SQLite and PostgreSQL.
//
// What it must never do:
//   - hold a secret or the token file's content. A Record has no field for either: the file is
//     represented by its SHA-256 and recipient only, and the Graph token never reaches this
//     package;
//   - change or delete a record once written: the Store interface has no method for it;
//   - let an action proceed without its record: Append returns only after the record is
//     committed durably, and returns an error otherwise so that the caller fails closed.
package audit
