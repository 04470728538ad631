// Package secret seals the small secrets the portal keeps at rest and makes the random values
// it hands out (session IDs, sign-in state and nonce, pending upload IDs, assertion IDs).
//
// It owns one sealing scheme: AES-256-GCM under a key derived for one purpose with HKDF-SHA256
// from the 32-byte session key (info "depportal/" + purpose), a random nonce in front of each
// blob, and additional data that binds a blob to its row. Rows sealed by earlier releases are
// in databases today: the algorithm, the derivation and the layout must never change without
// a version marker that still opens the old blobs (testdata holds blobs that must keep
// opening).
//
// It must never log, print or put a key or a plaintext into an error, and never import
// another package of the portal: auth and renewal both use it, and it sits below them.
package secret
