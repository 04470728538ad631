package deptoken

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestBERToDER(t *testing.T) {
	cases := []struct {
		name    string
		ber     []byte
		der     []byte
		wantErr error
	}{
		{"definite stays", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}, nil},
		{"indefinite becomes definite",
			[]byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00},
			[]byte{0x30, 0x03, 0x02, 0x01, 0x05}, nil},
		{"nested indefinite",
			[]byte{0x30, 0x80, 0x31, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00},
			[]byte{0x30, 0x04, 0x31, 0x02, 0x05, 0x00}, nil},
		{"segmented OCTET STRING is joined",
			[]byte{0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c', 0x00, 0x00},
			[]byte{0x04, 0x03, 'a', 'b', 'c'}, nil},
		{"non-minimal long length", []byte{0x04, 0x82, 0x00, 0x01, 'x'}, []byte{0x04, 0x01, 'x'}, nil},
		{"high tag number", []byte{0x9f, 0x81, 0x00, 0x00}, []byte{0x9f, 0x81, 0x00, 0x00}, nil},
		{"cut inside content", []byte{0x04, 0x05, 'a'}, nil, errShort},
		{"cut before end-of-contents", []byte{0x30, 0x80, 0x05, 0x00}, nil, errShort},
		{"cut inside length", []byte{0x04, 0x82, 0x01}, nil, errShort},
		{"indefinite primitive", []byte{0x04, 0x80, 0x00, 0x00}, nil, berError("")},
		{"reserved length", []byte{0x04, 0xff}, nil, berError("")},
		{"absurd length", []byte{0x04, 0x84, 0x7f, 0xff, 0xff, 0xff}, nil, berError("")},
		{"nesting beyond the cap",
			append(bytes.Repeat([]byte{0x30, 0x80}, maxDepth+1), bytes.Repeat([]byte{0x00, 0x00}, maxDepth+1)...), nil, errDeep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, rest, err := readElement(c.ber)
			var der []byte
			if err == nil {
				if len(rest) != 0 {
					t.Fatalf("%d bytes left over", len(rest))
				}
				der, err = appendDER(nil, e, 0)
			}
			switch want := c.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !bytes.Equal(der, c.der) {
					t.Errorf("DER = % x, want % x", der, c.der)
				}
			case berError:
				var be berError
				if !errors.As(err, &be) {
					t.Errorf("err = %v, want malformed-BER", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestDeepDefiniteNestingIsCapped(t *testing.T) {
	// Definite lengths all the way down: appendDER must stop at maxDepth.
	inner := []byte{0x05, 0x00}
	for range maxDepth + 5 {
		inner = appendTLV(nil, []byte{0x30}, inner)
	}
	e, _, err := readElement(inner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendDER(nil, e, 0); !errors.Is(err, errDeep) {
		t.Errorf("err = %v, want errDeep", err)
	}
	if _, err := octetsLen(e, 0); !errors.Is(err, errDeep) {
		t.Errorf("octetsLen err = %v, want errDeep", err)
	}
}

// Inspect wipes the buffers it owns when the upload holds secrets, so a key
// does not linger in memory for the garbage collector to keep.
func TestSecretsAreWiped(t *testing.T) {
	for _, name := range []string{"apns-private-key.pem", "rsa-private-key.der", "apns.p12",
		"decrypted-token.txt", "Contoso_Apps_and_Books.vpptoken"} {
		data := MustReadFile(t, name)
		_, err := inspect(data, options{maxSize: DefaultMaxSize})
		var fe *FileError
		if !errors.As(err, &fe) || !fe.Sensitive() {
			t.Fatalf("%s: err = %v, want a sensitive FileError", name, err)
		}
		if i := bytes.IndexFunc(data, func(r rune) bool { return r != 0 }); i >= 0 {
			t.Errorf("%s: buffer not wiped (non-zero at %d)", name, i)
		}
	}
	// And only then: a token's buffer is left alone for the caller.
	data := MustReadFile(t, appleName)
	if _, err := inspect(data, options{maxSize: DefaultMaxSize}); err != nil || !bytes.HasPrefix(data, []byte("Content-Type")) {
		t.Errorf("a token was wiped or rejected: %v", err)
	}
}

func TestInspectionWipesDecodedCopies(t *testing.T) {
	var in inspection
	text := []byte(strings.Repeat("eyJ0b2tlbiI6", 4))
	out, err := in.decodeBase64(text)
	if err != nil || len(out) == 0 {
		t.Fatalf("decodeBase64: %v", err)
	}
	in.wipe()
	for _, b := range in.scratch {
		if bytes.ContainsFunc(b[:cap(b)], func(r rune) bool { return r != 0 }) {
			t.Errorf("scratch buffer not wiped")
		}
	}
	if len(in.scratch) < 2 {
		t.Errorf("decodeBase64 kept %d buffers, want the cleaned text and the output", len(in.scratch))
	}
}

// Hostile inputs at the size limit: the work stays bounded (no more than a
// MiB allocated, however the bytes are arranged).
func TestInspectAllocationIsBounded(t *testing.T) {
	n := DefaultMaxSize
	deep := append(bytes.Repeat([]byte{0x30, 0x80}, n/4), bytes.Repeat([]byte{0x00, 0x00}, n/4)...)
	many := appendTLV(nil, []byte{0x30}, bytes.Repeat([]byte{0x05, 0x00}, n/2-4))
	set := appendTLV(nil, []byte{0x31}, bytes.Repeat([]byte{0xa1, 0x00}, n/2-32))
	envelopeOfMany := appendTLV(nil, []byte{0x30}, append([]byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03},
		appendTLV(nil, []byte{0xa0}, appendTLV(nil, []byte{0x30}, append([]byte{0x02, 0x01, 0x00}, set...)))...))
	deepName := bytes.Repeat([]byte{0x30, 0x80}, maxDepth-10)
	deepName = append(deepName, bytes.Repeat([]byte{0x04, 0x01, 'x'}, (n-len(deepName)*2)/3-16)...)
	deepName = append(deepName, bytes.Repeat([]byte{0x00, 0x00}, maxDepth-10)...)
	// The one place that copies: an issuer Name turned into DER, here as
	// deep and as large as the limit allows.
	deepIssuer := bytes.Repeat([]byte{0x30, 0x80}, maxDepth-8)
	deepIssuer = append(deepIssuer, bytes.Repeat([]byte{0x04, 0x01, 'x'}, (n-256)/3-maxDepth)...)
	deepIssuer = append(deepIssuer, bytes.Repeat([]byte{0x00, 0x00}, maxDepth-8)...)
	ias := appendTLV(nil, []byte{0x30}, append(deepIssuer, 0x02, 0x01, 0x01))
	ktri := appendTLV(nil, []byte{0x30}, append(append([]byte{0x02, 0x01, 0x00}, ias...),
		0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x04, 0x01, 0xff))
	envelopeOfDeepIssuer := appendTLV(nil, []byte{0x30}, append([]byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03},
		appendTLV(nil, []byte{0xa0}, appendTLV(nil, []byte{0x30}, append([]byte{0x02, 0x01, 0x00}, appendTLV(nil, []byte{0x31}, ktri)...)))...))
	for name, data := range map[string][]byte{
		"deep issuer":     envelopeOfDeepIssuer,
		"deep indefinite": deep,
		"many children":   many,
		"many recipients": envelopeOfMany,
		"base64 at limit": bytes.Repeat([]byte("QUFB"), n/4),
		"PEM labels":      bytes.Repeat([]byte("-----BEGIN X-----"), n/17),
		"header lines":    bytes.Repeat([]byte("X-A: b\n"), n/7),
		"deep segmented":  deepName,
		"long JSON":       append([]byte(`{"token":"`), append(bytes.Repeat([]byte("a"), n-32), `"}`...)...),
	} {
		if len(data) > n {
			t.Fatalf("%s: %d bytes, over the limit", name, len(data))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Inspect(bytes.NewReader(data))
		runtime.ReadMemStats(&after)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a FileError", name, err)
		}
		got := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes in, %d allocated (%v)", name, len(data), got, err)
		if got > 1<<20 {
			t.Errorf("%s: allocated %d bytes, want under 1 MiB", name, got)
		}
	}
}
