package deptoken

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
)

var (
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidPKCS7         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7}
	oidSMIMEContent  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1}
	oidPKCS5         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	oidPKCS12PBE     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

// algorithmNames covers what Apple, openssl and smallstep/pkcs7 write; other
// OIDs are reported by number.
var algorithmNames = map[string]string{
	"1.2.840.113549.1.1.1":    "RSAES-PKCS1-v1_5",
	"1.2.840.113549.1.1.7":    "RSAES-OAEP",
	"2.16.840.1.101.3.4.1.2":  "AES-128-CBC",
	"2.16.840.1.101.3.4.1.22": "AES-192-CBC",
	"2.16.840.1.101.3.4.1.42": "AES-256-CBC",
	"2.16.840.1.101.3.4.1.6":  "AES-128-GCM",
	"2.16.840.1.101.3.4.1.26": "AES-192-GCM",
	"2.16.840.1.101.3.4.1.46": "AES-256-GCM",
	"1.2.840.113549.3.7":      "DES-EDE3-CBC",
	"1.3.14.3.2.7":            "DES-CBC",
	"1.2.840.113549.3.2":      "RC2-CBC",
}

func algorithmFor(oid asn1.ObjectIdentifier) Algorithm {
	s := oid.String()
	name, ok := algorithmNames[s]
	if !ok {
		name = s
	}
	return Algorithm{Name: name, OID: s}
}

// contentTypeNames name the CMS types people might upload instead of a token.
var contentTypeNames = map[string]string{
	"1.2.840.113549.1.7.1":       "data",
	"1.2.840.113549.1.7.4":       "signed-and-enveloped-data",
	"1.2.840.113549.1.7.5":       "digested-data",
	"1.2.840.113549.1.7.6":       "encrypted-data",
	"1.2.840.113549.1.9.16.1.2":  "authenticated-data",
	"1.2.840.113549.1.9.16.1.9":  "compressed-data",
	"1.2.840.113549.1.9.16.1.23": "authenticated-enveloped-data",
}

// maxRecipients bounds allocations; Apple encrypts to exactly one.
const maxRecipients = 64

// envelope is what the DER/BER of a token yields.
type envelope struct {
	recipients        []Recipient
	contentEncryption Algorithm
}

// classifyDER decides what a binary blob is: a token (returned), or a
// *FileError naming what else it is.
func classifyDER(der []byte) (envelope, error) {
	top, rest, err := readElement(der)
	if err != nil {
		return envelope{}, berFileError(err)
	}
	if len(rest) > 0 {
		return envelope{}, newFileError(KindCorrupt, "data after the end of the outer element")
	}
	if !top.is(classUniversal, tagSequence) || !top.constructed {
		return envelope{}, newFileError(KindUnknown, "outer element is not a SEQUENCE")
	}
	c := childrenOf(top)
	first, err := c.next()
	if err != nil {
		return envelope{}, berFileError(err)
	}
	if !first.is(classUniversal, tagOID) {
		return envelope{}, shapeError(top)
	}
	oid, err := oidOf(first)
	if err != nil {
		return envelope{}, berFileError(err)
	}
	switch {
	case oid.Equal(oidEnvelopedData):
	case oid.Equal(oidSignedData):
		return envelope{}, newFileError(KindSignedData, "content type "+oid.String())
	case isPrefix(oidPKCS7, oid) || isPrefix(oidSMIMEContent, oid):
		fe := newFileError(KindNotEnveloped, "content type "+oid.String())
		if name := contentTypeNames[oid.String()]; name != "" {
			fe.Msg = "This is a PKCS#7/CMS " + name + " file, not an encrypted server token. " + fetchToken
		}
		return envelope{}, fe
	default:
		return envelope{}, newFileError(KindUnknown, "content type "+oid.String())
	}
	explicit, err := c.next()
	if err != nil {
		return envelope{}, newFileError(KindTruncated, "enveloped-data without content")
	}
	if !explicit.is(classContext, 0) || !explicit.constructed || c.more() {
		return envelope{}, newFileError(KindCorrupt, "ContentInfo.content is not [0] EXPLICIT")
	}
	inner := childrenOf(explicit)
	ed, err := inner.next()
	if err != nil {
		return envelope{}, berFileError(err)
	}
	if inner.more() {
		return envelope{}, newFileError(KindCorrupt, "data after EnvelopedData")
	}
	env, err := parseEnvelopedData(ed)
	if err != nil {
		return envelope{}, berFileError(err)
	}
	if len(env.recipients) == 0 {
		return envelope{}, newFileError(KindNoRecipient, "no key-transport recipient")
	}
	return env, nil
}

func isPrefix(prefix, oid asn1.ObjectIdentifier) bool {
	return len(oid) > len(prefix) && prefix.Equal(oid[:len(prefix)])
}

// parseEnvelopedData reads RFC 5652 section 6.1:
//
//	EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL,
//	  recipientInfos SET, encryptedContentInfo SEQUENCE, unprotectedAttrs [1] OPTIONAL }
func parseEnvelopedData(ed element) (envelope, error) {
	var env envelope
	if !ed.is(classUniversal, tagSequence) || !ed.constructed {
		return env, berError("EnvelopedData is not a SEQUENCE")
	}
	c := childrenOf(ed)
	version, err := c.next()
	if err != nil {
		return env, err
	}
	if _, ok := smallInt(version); !ok {
		return env, berError("EnvelopedData version")
	}
	next, err := c.next()
	if err != nil {
		return env, err
	}
	if next.is(classContext, 0) {
		if next, err = c.next(); err != nil {
			return env, err
		}
	}
	if !next.is(classUniversal, tagSet) || !next.constructed {
		return env, berError("recipientInfos is not a SET")
	}
	if env.recipients, err = parseRecipientInfos(next); err != nil {
		return env, err
	}
	eci, err := c.next()
	if err != nil {
		return env, err
	}
	if env.contentEncryption, err = parseEncryptedContentInfo(eci); err != nil {
		return env, err
	}
	if c.more() {
		attrs, err := c.next()
		if err != nil {
			return env, err
		}
		if !attrs.is(classContext, 1) || c.more() {
			return env, berError("unexpected element after encryptedContentInfo")
		}
	}
	return env, nil
}

func parseRecipientInfos(set element) ([]Recipient, error) {
	var out []Recipient
	for c := childrenOf(set); c.more(); {
		ri, err := c.next()
		if err != nil {
			return nil, err
		}
		// [1] kari, [2] kekri, [3] pwri, [4] ori: not to a certificate's
		// RSA key, so they cannot be what Intune decrypts.
		if ri.class == classContext {
			continue
		}
		rec, err := parseKeyTransRecipient(ri)
		if err != nil {
			return nil, err
		}
		if len(out) == maxRecipients {
			return nil, berError("too many recipients")
		}
		out = append(out, rec)
	}
	return out, nil
}

// parseKeyTransRecipient reads
//
//	KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }
//	rid ::= CHOICE { issuerAndSerialNumber SEQUENCE { Name, INTEGER }, [0] SubjectKeyIdentifier }
func parseKeyTransRecipient(ri element) (Recipient, error) {
	var rec Recipient
	if !ri.is(classUniversal, tagSequence) || !ri.constructed {
		return rec, berError("RecipientInfo is not a SEQUENCE")
	}
	c := childrenOf(ri)
	version, err := c.next()
	if err != nil {
		return rec, err
	}
	if _, ok := smallInt(version); !ok {
		return rec, berError("RecipientInfo version")
	}
	rid, err := c.next()
	if err != nil {
		return rec, err
	}
	switch {
	case rid.is(classUniversal, tagSequence) && rid.constructed:
		if err := readIssuerAndSerial(rid, &rec); err != nil {
			return rec, err
		}
	case rid.is(classContext, 0):
		ski, err := octets(rid)
		if err != nil {
			return rec, err
		}
		rec.SubjectKeyID = strings.ToUpper(hex.EncodeToString(ski))
	default:
		return rec, berError("unknown recipient identifier")
	}
	alg, err := c.next()
	if err != nil {
		return rec, err
	}
	if rec.KeyEncryption, err = algorithmOf(alg); err != nil {
		return rec, err
	}
	key, err := c.next()
	if err != nil {
		return rec, err
	}
	if !key.is(classUniversal, tagOctetString) {
		return rec, berError("encryptedKey is not an OCTET STRING")
	}
	if n, err := octetsLen(key, 0); err != nil || n == 0 {
		return rec, berError("empty encryptedKey")
	}
	if c.more() {
		return rec, berError("unexpected element in RecipientInfo")
	}
	return rec, nil
}

func readIssuerAndSerial(ias element, rec *Recipient) error {
	c := childrenOf(ias)
	name, err := c.next()
	if err != nil {
		return err
	}
	if !name.is(classUniversal, tagSequence) || !name.constructed {
		return berError("issuer is not a Name")
	}
	serial, err := c.next()
	if err != nil {
		return err
	}
	if c.more() {
		return berError("unexpected element in IssuerAndSerialNumber")
	}
	raw, err := appendDER(nil, name, 0)
	if err != nil {
		return err
	}
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return berError("issuer Name does not parse")
	}
	n, err := integerOf(serial)
	if err != nil {
		return err
	}
	rec.Issuer = rdns.String()
	rec.Serial = serialText(n.Bytes(), n.Sign() < 0)
	rec.rawIssuer = raw
	return nil
}

// serialText is the one serial format of this package: uppercase hex of the
// magnitude's bytes, two digits per byte, no separators; "-" before a
// (non-conforming) negative serial. It matches openssl x509 -serial.
func serialText(magnitude []byte, negative bool) string {
	if len(magnitude) == 0 {
		return "00"
	}
	s := strings.ToUpper(hex.EncodeToString(magnitude))
	if negative {
		return "-" + s
	}
	return s
}

// parseEncryptedContentInfo reads
//
//	EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
//	  encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
func parseEncryptedContentInfo(eci element) (Algorithm, error) {
	if !eci.is(classUniversal, tagSequence) || !eci.constructed {
		return Algorithm{}, berError("encryptedContentInfo is not a SEQUENCE")
	}
	c := childrenOf(eci)
	ct, err := c.next()
	if err != nil {
		return Algorithm{}, err
	}
	if _, err := oidOf(ct); err != nil {
		return Algorithm{}, err
	}
	algElem, err := c.next()
	if err != nil {
		return Algorithm{}, err
	}
	alg, err := algorithmOf(algElem)
	if err != nil {
		return Algorithm{}, err
	}
	// A token always carries its content; without it there is nothing for
	// Intune to decrypt, which is what a cut BER stream can look like.
	if !c.more() {
		return Algorithm{}, errShort
	}
	content, err := c.next()
	if err != nil {
		return Algorithm{}, err
	}
	if !content.is(classContext, 0) || c.more() {
		return Algorithm{}, berError("encryptedContent is not [0]")
	}
	n, err := octetsLen(content, 0)
	if err != nil {
		return Algorithm{}, err
	}
	if n == 0 || (strings.HasSuffix(alg.Name, "-CBC") && n%blockSize(alg.Name) != 0) {
		return Algorithm{}, berError("encrypted content is not whole cipher blocks")
	}
	return alg, nil
}

func blockSize(name string) int {
	if strings.HasPrefix(name, "AES") {
		return 16
	}
	return 8
}

// algorithmOf reads AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL }.
func algorithmOf(e element) (Algorithm, error) {
	if !e.is(classUniversal, tagSequence) || !e.constructed {
		return Algorithm{}, berError("AlgorithmIdentifier is not a SEQUENCE")
	}
	c := childrenOf(e)
	first, err := c.next()
	if err != nil {
		return Algorithm{}, err
	}
	oid, err := oidOf(first)
	if err != nil {
		return Algorithm{}, err
	}
	return algorithmFor(oid), nil
}

// berFileError maps reader errors to what the person can do about them:
// short data means the download was cut; anything else is damage.
func berFileError(err error) *FileError {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, errShort) {
		return newFileError(KindTruncated, err.Error())
	}
	return newFileError(KindCorrupt, err.Error())
}

// shapeError names DER that is not a ContentInfo by its outline alone, so
// key material is recognised without ever being decoded.
func shapeError(top element) *FileError {
	var kids [3]element
	n := 0
	for c := childrenOf(top); c.more() && n < len(kids); n++ {
		e, err := c.next()
		if err != nil {
			return berFileError(err)
		}
		kids[n] = e
	}
	isSeq := func(i int) bool { return i < n && kids[i].is(classUniversal, tagSequence) && kids[i].constructed }
	isInt := func(i int) bool { return i < n && kids[i].is(classUniversal, tagInteger) }
	isOctets := func(i int) bool { return i < n && kids[i].is(classUniversal, tagOctetString) }
	isBits := func(i int) bool { return i < n && kids[i].is(classUniversal, tagBitString) }

	if isInt(0) {
		v, small := smallInt(kids[0])
		switch {
		case small && v == 3 && isSeq(1) && firstOIDUnder(kids[1], oidPKCS7):
			return withMsg(KindPrivateKey, msgPFX, "PKCS#12 PFX")
		case small && v <= 1 && isSeq(1) && isOctets(2):
			return newFileError(KindPrivateKey, "PKCS#8 PrivateKeyInfo")
		case small && v == 0 && isInt(1) && isInt(2):
			return newFileError(KindPrivateKey, "PKCS#1 or DSA private key")
		case small && v == 1 && isOctets(1):
			return newFileError(KindPrivateKey, "SEC 1 EC private key")
		case isInt(1) && n == 2:
			return withMsg(KindCertificate, msgPublicKey, "PKCS#1 RSA public key")
		}
	}
	if isSeq(0) {
		switch {
		case isSeq(1) && isBits(2):
			if sub := childrenOf(kids[0]); sub.more() {
				// A certificate's TBS has a serial or [0] version next; a
				// request's CertificationRequestInfo starts with version then Name.
				if e, err := sub.next(); err == nil {
					if v, ok := smallInt(e); ok && v == 0 {
						if e2, err := sub.next(); err == nil && e2.is(classUniversal, tagSequence) {
							return withMsg(KindCertificate, msgCertRequest, "PKCS#10 request")
						}
					}
				}
			}
			return newFileError(KindCertificate, "X.509 certificate")
		case isBits(1) && n == 2:
			return withMsg(KindCertificate, msgPublicKey, "SubjectPublicKeyInfo")
		case isOctets(1) && (firstOIDUnder(kids[0], oidPKCS5) || firstOIDUnder(kids[0], oidPKCS12PBE)):
			return newFileError(KindPrivateKey, "encrypted PKCS#8")
		}
	}
	return newFileError(KindUnknown, "DER SEQUENCE of unknown shape")
}

func firstOIDUnder(seq element, prefix asn1.ObjectIdentifier) bool {
	c := childrenOf(seq)
	e, err := c.next()
	if err != nil {
		return false
	}
	oid, err := oidOf(e)
	return err == nil && isPrefix(prefix, oid)
}
