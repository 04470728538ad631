package deptoken

// Kind names what an upload is when it is not a server token. The values are
// stable strings so they can go into audit records and metric labels as is.
type Kind string

// The kinds of wrong upload. Each has a sentinel (ErrEmpty, ...) for
// errors.Is, and every *FileError carries one.
const (
	KindEmpty          Kind = "empty"          // 0 bytes, or only blank lines
	KindTooLarge       Kind = "tooLarge"       // over the size limit
	KindTruncated      Kind = "truncated"      // ends early: interrupted download or cut copy
	KindCorrupt        Kind = "corrupt"        // bytes that cannot belong to a token (edited, mangled)
	KindSignedData     Kind = "signedData"     // PKCS#7 signed-data: signed mail, .p7b certificate bundle
	KindNotEnveloped   Kind = "notEnveloped"   // PKCS#7/CMS, but neither signed nor enveloped
	KindNoRecipient    Kind = "noRecipient"    // enveloped, but not to a certificate (password, shared key)
	KindVPPToken       Kind = "vppToken"       // Apps and Books content token
	KindCertificate    Kind = "certificate"    // certificate, public key or certificate request
	KindPrivateKey     Kind = "privateKey"     // private key or .p12/.pfx
	KindDecryptedToken Kind = "decryptedToken" // a token someone already decrypted: secrets in clear
	KindPDF            Kind = "pdf"            // PDF document
	KindZIP            Kind = "zip"            // ZIP archive, including Office documents
	KindImage          Kind = "image"          // screenshot or photo
	KindHTML           Kind = "html"           // a saved web page, typically a sign-in page
	KindUnknown        Kind = "unknown"        // anything else
)

// FileError says what a wrong upload is. Msg is written for the person who
// uploaded it and is safe to show; Detail is structural and meant for logs.
// Neither ever contains bytes from the file.
type FileError struct {
	Kind   Kind
	Msg    string
	Detail string
}

func (e *FileError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrVPPToken) and friends work whatever the Detail.
func (e *FileError) Is(target error) bool {
	t, ok := target.(*FileError)
	return ok && t.Kind == e.Kind
}

// Sensitive reports whether the upload held secret material (which Inspect
// has wiped) so a caller knows to discard it too and must not store it.
func (e *FileError) Sensitive() bool {
	return e.Kind == KindPrivateKey || e.Kind == KindDecryptedToken || e.Kind == KindVPPToken
}

// fetchToken names the menu path in Apple's current words (Management Services → the MDM
// server → Download Token), as every page of the portal does.
const fetchToken = "In Apple Business Manager (or Apple School Manager) open Management " +
	"Services → the MDM server → Download Token, and upload the file it gives you, named " +
	"like \"<server>_Token_<date>_smime.p7m\", without opening or converting it."

var messages = map[Kind]string{
	KindEmpty: "The file is empty. The download from Apple Business Manager did not complete. " +
		fetchToken,
	KindTooLarge: "The file is far too large to be a server token (a token is about 3 KB). " +
		fetchToken,
	KindTruncated: "The file is incomplete: it stops before the end of the token, so the download " +
		"was interrupted or the file was cut when it was copied. Download the token again. " + fetchToken,
	KindCorrupt: "The file is damaged: it contains data that cannot be part of a server token " +
		"(it may have been opened and saved in an editor, or changed in transfer). " + fetchToken,
	KindSignedData: "This is a signed PKCS#7 file (a signed e-mail or a .p7b certificate bundle), " +
		"not the encrypted server token. " + fetchToken,
	KindNotEnveloped: "This is a PKCS#7/CMS file, but not an encrypted server token. " + fetchToken,
	KindNoRecipient: "This is an encrypted file, but it is locked with a password or shared key " +
		"rather than a certificate, so it is not an Apple server token. " + fetchToken,
	KindVPPToken: "This is an Apps and Books content token (.vpptoken), used for app licences, " +
		"not the Automated Device Enrollment server token. It was not stored. " + fetchToken,
	KindCertificate: "This is a certificate (for example the Apple Push Notification certificate, " +
		"or the MDM server's public key from Intune), not the server token. The public key goes " +
		"to Apple Business Manager; the token comes back from it. " + fetchToken,
	KindPrivateKey: "This file contains a PRIVATE KEY. It was NOT stored or logged and has been " +
		"discarded. Never upload private keys here; tell the key's owner it was handled outside " +
		"its safe place. This is not the server token. " + fetchToken,
	KindDecryptedToken: "This is a server token that has already been DECRYPTED: its secrets are " +
		"in clear text. It was NOT stored or logged and has been discarded; delete this copy " +
		"from your computer. Intune needs the token exactly as Apple encrypted it. " + fetchToken,
	KindPDF: "This is a PDF document, not the server token. " + fetchToken,
	KindZIP: "This is a ZIP archive (or an Office document, which is a ZIP inside). If the token " +
		"was sent to you zipped, extract it first and upload the _smime.p7m file inside. " + fetchToken,
	KindImage: "This is an image (a screenshot or a photo), not the server token. " + fetchToken,
	KindHTML: "This is a saved web page (HTML), probably a sign-in page, not the server token: " +
		"the download did not give you the token. " + fetchToken,
	KindUnknown: "This file is not an Apple server token and was not recognised. " + fetchToken,
}

// Variants of a kind's message where a more exact name helps the person
// decide what to do; the Kind stays the same so callers branch on one value.
const (
	msgPublicKey = "This is a public key, not the server token. The public key goes to Apple " +
		"Business Manager; the token comes back from it. " + fetchToken
	msgCertRequest = "This is a certificate signing request, not the server token. " + fetchToken
	msgPFX         = "This is a certificate WITH ITS PRIVATE KEY (.p12/.pfx). It was NOT stored or " +
		"logged and has been discarded. Never upload private keys here. This is not the server " +
		"token. " + fetchToken
)

// Sentinels for errors.Is; Inspect returns fresh *FileError values that
// match them by Kind.
var (
	ErrEmpty          = newFileError(KindEmpty, "")
	ErrTooLarge       = newFileError(KindTooLarge, "")
	ErrTruncated      = newFileError(KindTruncated, "")
	ErrCorrupt        = newFileError(KindCorrupt, "")
	ErrSignedData     = newFileError(KindSignedData, "")
	ErrNotEnveloped   = newFileError(KindNotEnveloped, "")
	ErrNoRecipient    = newFileError(KindNoRecipient, "")
	ErrVPPToken       = newFileError(KindVPPToken, "")
	ErrCertificate    = newFileError(KindCertificate, "")
	ErrPrivateKey     = newFileError(KindPrivateKey, "")
	ErrDecryptedToken = newFileError(KindDecryptedToken, "")
	ErrPDF            = newFileError(KindPDF, "")
	ErrZIP            = newFileError(KindZIP, "")
	ErrImage          = newFileError(KindImage, "")
	ErrHTML           = newFileError(KindHTML, "")
	ErrUnknown        = newFileError(KindUnknown, "")
)

func newFileError(k Kind, detail string) *FileError {
	return &FileError{Kind: k, Msg: messages[k], Detail: detail}
}

func withMsg(k Kind, msg, detail string) *FileError {
	return &FileError{Kind: k, Msg: msg, Detail: detail}
}
