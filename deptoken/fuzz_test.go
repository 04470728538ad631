package deptoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzInspect holds Inspect to its promises on any input: no panic, either a
// consistent Report or a *FileError with a message, and Match/JSON-safe
// results.
func FuzzInspect(f *testing.F) {
	for _, name := range MustFixtureNames(f) {
		f.Add(MustReadFile(f, name))
	}
	certs, err := filepath.Glob(filepath.Join("testdata", "certs", "*.crt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range certs {
		b, err := os.ReadFile(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	certA := MustCertPEM(f, "intune-a")

	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		rep, err := Inspect(bytes.NewReader(data), WithFileName(appleName))
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FileError: %v", err)
			}
			if fe.Msg == "" || messages[fe.Kind] == "" {
				t.Fatalf("kind %q without a message", fe.Kind)
			}
			if rep.SHA256 != "" || rep.Recipients != nil {
				t.Fatalf("report alongside an error")
			}
			return
		}
		if !bytes.Equal(data, orig) {
			t.Fatalf("Inspect changed the caller's bytes")
		}
		sum := sha256.Sum256(data)
		if rep.SHA256 != hex.EncodeToString(sum[:]) || rep.Size != len(data) {
			t.Fatalf("sha256/size do not describe the input")
		}
		if rep.ContentType != OIDEnvelopedData || len(rep.Recipients) == 0 || rep.ContentEncryption.OID == "" {
			t.Fatalf("incomplete report: %+v", rep)
		}
		for _, r := range rep.Recipients {
			if (r.SubjectKeyID == "") == (r.Serial == "") {
				t.Fatalf("recipient is neither issuer+serial nor key id: %+v", r)
			}
		}
		if _, err := Match(rep, certA); err != nil {
			t.Fatalf("Match: %v", err)
		}
		if _, err := ThreeLinePEM(string(data)); err == nil {
			t.Fatalf("a token parsed as a certificate")
		}
	})
}
