// Package deptoken reads an uploaded Apple Automated Device Enrollment server
// token (the "<server>_Token_<date>_smime.p7m" file from Apple Business or
// School Manager) and says precisely what it is: the CMS EnvelopedData
// recipients (issuer + serial of the certificate it was encrypted to), the
// algorithms, and when the file name says it was downloaded. When the upload
// is not a token, it names what it is instead (a certificate, a .vpptoken, a
// PDF, a private key...) with a message helpdesk staff can act on.
//
// It owns: sniffing the upload, a bounded BER reader, recipient matching
// against the certificate Intune's getEncryptionPublicKey returns, and the
// three-line PEM form Apple Business Manager accepts for that certificate.
//
// It must never: touch the network; panic or do unbounded work on any input
// (reads at most the size limit + 1 byte, caps BER nesting); put file content
// in an error message; log anything; or keep secret material. Private keys,
// decrypted tokens and Apps and Books tokens are wiped from the buffers this
// package owns as soon as they are recognised. It cannot decrypt the token:
// only Intune holds the private key.
package deptoken
