package deptoken

import (
	"encoding/asn1"
	"errors"
	"math/big"
)

// Apple and openssl write the token in BER with indefinite lengths, which
// encoding/asn1 rejects, and smallstep/pkcs7's converter recurses without a
// depth cap. So this file reads BER in place: an element is a view into the
// input, nothing is copied until a small subtree (an issuer name, an OID) is
// turned into DER for encoding/asn1.

// maxDepth caps nesting. A token nests 8 deep; 32 leaves room for any
// honest encoder and keeps work and stack bounded on hostile input.
const maxDepth = 32

// maxLength is far above any upload Inspect accepts; a declared length above
// it is garbage rather than a cut-off file.
const maxLength = 1 << 24

var (
	// errShort means the data ends before an element does: a cut file.
	errShort = errors.New("BER: data ends inside an element")
	errDeep  = errors.New("BER: nesting deeper than any token")
)

// berError is malformed BER (as opposed to short BER).
type berError string

func (e berError) Error() string { return "BER: " + string(e) }

const (
	classUniversal = 0
	classContext   = 2

	tagInteger     = 2
	tagBitString   = 3
	tagOctetString = 4
	tagOID         = 6
	tagSequence    = 16
	tagSet         = 17
)

// element is one BER value. content excludes the header and, for the
// indefinite form, the end-of-contents octets.
type element struct {
	class       int
	tag         int
	constructed bool
	id          []byte // identifier octets, reused when writing DER
	content     []byte
}

func (e element) is(class, tag int) bool { return e.class == class && e.tag == tag }

type header struct {
	class, tag  int
	constructed bool
	indefinite  bool
	idLen       int
	size        int // header octets
	length      int // content octets, when definite
}

func readHeader(in []byte) (header, error) {
	var h header
	if len(in) < 2 {
		return h, errShort
	}
	b := in[0]
	h.class = int(b >> 6)
	h.constructed = b&0x20 != 0
	h.tag = int(b & 0x1f)
	i := 1
	if h.tag == 0x1f {
		h.tag = 0
		for {
			if i >= len(in) {
				return h, errShort
			}
			if i > 4 {
				return h, berError("tag number too large")
			}
			c := in[i]
			i++
			h.tag = h.tag<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
	}
	h.idLen = i
	if i >= len(in) {
		return h, errShort
	}
	l := in[i]
	i++
	switch {
	case l < 0x80:
		h.length = int(l)
	case l == 0x80:
		if !h.constructed {
			return h, berError("indefinite length on a primitive")
		}
		h.indefinite = true
	case l == 0xff:
		return h, berError("reserved length octet")
	default:
		n := int(l & 0x7f)
		if n > len(in)-i {
			return h, errShort
		}
		for _, c := range in[i : i+n] {
			h.length = h.length<<8 | int(c)
			if h.length > maxLength {
				return h, berError("length beyond any upload")
			}
		}
		i += n
	}
	h.size = i
	return h, nil
}

// indefiniteLength returns the number of content octets before the
// end-of-contents marker that closes an indefinite element whose content
// starts at in[0]. It walks headers iteratively: definite elements are
// skipped whole, indefinite ones deepen the count.
func indefiniteLength(in []byte) (int, error) {
	depth, off := 1, 0
	for {
		if len(in)-off < 2 {
			return 0, errShort
		}
		if in[off] == 0 && in[off+1] == 0 {
			depth--
			if depth == 0 {
				return off, nil
			}
			off += 2
			continue
		}
		h, err := readHeader(in[off:])
		if err != nil {
			return 0, err
		}
		off += h.size
		if h.indefinite {
			depth++
			if depth > maxDepth {
				return 0, errDeep
			}
			continue
		}
		if h.length > len(in)-off {
			return 0, errShort
		}
		off += h.length
	}
}

// readElement splits the first element off in.
func readElement(in []byte) (element, []byte, error) {
	h, err := readHeader(in)
	if err != nil {
		return element{}, nil, err
	}
	e := element{class: h.class, tag: h.tag, constructed: h.constructed, id: in[:h.idLen]}
	body := in[h.size:]
	if h.indefinite {
		n, err := indefiniteLength(body)
		if err != nil {
			return element{}, nil, err
		}
		e.content = body[:n]
		return e, body[n+2:], nil
	}
	if h.length > len(body) {
		return element{}, nil, errShort
	}
	e.content = body[:h.length]
	return e, body[h.length:], nil
}

// children iterates over the elements inside a constructed element.
type children struct{ rest []byte }

func childrenOf(e element) children { return children{rest: e.content} }

func (c *children) more() bool { return len(c.rest) > 0 }

func (c *children) next() (element, error) {
	if len(c.rest) == 0 {
		return element{}, berError("missing element")
	}
	e, rest, err := readElement(c.rest)
	if err != nil {
		return element{}, err
	}
	c.rest = rest
	return e, nil
}

// isString reports universal types whose BER constructed form is a chain of
// primitive segments, which DER requires to be joined.
func isString(tag int) bool {
	switch tag {
	case tagBitString, tagOctetString, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30:
		return true
	}
	return false
}

// octets returns the content of a string-like element, joining BER segments.
func octets(e element) ([]byte, error) {
	if !e.constructed {
		return e.content, nil
	}
	return appendOctets(nil, e, 0)
}

func appendOctets(dst []byte, e element, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errDeep
	}
	if !e.constructed {
		return append(dst, e.content...), nil
	}
	for c := childrenOf(e); c.more(); {
		seg, err := c.next()
		if err != nil {
			return nil, err
		}
		if dst, err = appendOctets(dst, seg, depth+1); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// octetsLen is octets without the copy, for sizes only.
func octetsLen(e element, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errDeep
	}
	if !e.constructed {
		return len(e.content), nil
	}
	n := 0
	for c := childrenOf(e); c.more(); {
		seg, err := c.next()
		if err != nil {
			return 0, err
		}
		m, err := octetsLen(seg, depth+1)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// appendDER writes e in DER: definite lengths, joined string segments. It
// measures each level before writing it, so the only allocation is the
// output, at the cost of walking a subtree once per ancestor (bounded by
// maxDepth).
func appendDER(dst []byte, e element, depth int) ([]byte, error) {
	n, err := derContentLen(e, depth)
	if err != nil {
		return nil, err
	}
	switch {
	case !e.constructed:
		return append(appendHeader(dst, e.id, n), e.content...), nil
	case e.class == classUniversal && isString(e.tag):
		id0 := e.id[0] &^ 0x20
		dst = appendHeader(append(dst, id0), e.id[1:], n)
		return appendOctets(dst, e, depth)
	}
	dst = appendHeader(dst, e.id, n)
	for c := childrenOf(e); c.more(); {
		child, err := c.next()
		if err != nil {
			return nil, err
		}
		if dst, err = appendDER(dst, child, depth+1); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// derContentLen is the length of e's content once in DER.
func derContentLen(e element, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errDeep
	}
	if !e.constructed {
		return len(e.content), nil
	}
	if e.class == classUniversal && isString(e.tag) {
		return octetsLen(e, depth)
	}
	n := 0
	for c := childrenOf(e); c.more(); {
		child, err := c.next()
		if err != nil {
			return 0, err
		}
		m, err := derContentLen(child, depth+1)
		if err != nil {
			return 0, err
		}
		n += len(child.id) + lengthSize(m) + m
	}
	return n, nil
}

func lengthSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	}
	return 4
}

// appendHeader writes identifier octets and a minimal definite length
// (inputs are capped far below 2^24).
func appendHeader(dst, id []byte, n int) []byte {
	dst = append(dst, id...)
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xff:
		return append(dst, 0x81, byte(n))
	case n <= 0xffff:
		return append(dst, 0x82, byte(n>>8), byte(n))
	}
	return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

func appendTLV(dst, id, content []byte) []byte {
	return append(appendHeader(dst, id, len(content)), content...)
}

func oidOf(e element) (asn1.ObjectIdentifier, error) {
	if !e.is(classUniversal, tagOID) || e.constructed {
		return nil, berError("expected an object identifier")
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(appendTLV(nil, e.id, e.content), &oid); err != nil {
		return nil, berError("bad object identifier")
	}
	return oid, nil
}

func integerOf(e element) (*big.Int, error) {
	if !e.is(classUniversal, tagInteger) || e.constructed {
		return nil, berError("expected an integer")
	}
	n := new(big.Int)
	if _, err := asn1.Unmarshal(appendTLV(nil, e.id, e.content), &n); err != nil {
		return nil, berError("bad integer")
	}
	return n, nil
}

// smallInt reads an INTEGER that should be a version number; ok is false for
// anything else, so shape checks never allocate on big integers.
func smallInt(e element) (int, bool) {
	if !e.is(classUniversal, tagInteger) || e.constructed || len(e.content) != 1 {
		return 0, false
	}
	return int(e.content[0]), true
}
