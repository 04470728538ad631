package secret_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/depportal/depportal/secret"
)

// sealedFixture holds blobs sealed by the portal as released (by auth.Sealer, before this
// package existed), one per purpose it seals for, under a fixed master key. Rows already in a database were sealed this way: whatever the code
// becomes, they must keep opening. Never regenerate this file.
type sealedFixture struct {
	Master string `json:"master"`
	Sealed []struct {
		Purpose    string `json:"purpose"`
		Additional string `json:"additional"`
		Plaintext  string `json:"plaintext"`
		Sealed     string `json:"sealed"`
	} `json:"sealed"`
	Derived map[string]string `json:"derived"` // purpose → HKDF key, hex
}

func TestSealedBlobsStillOpen(t *testing.T) {
	raw, err := os.ReadFile("testdata/sealed-before-secret.json")
	if err != nil {
		t.Fatal(err)
	}
	var f sealedFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	master, err := hex.DecodeString(f.Master)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Sealed {
		sealed, err := hex.DecodeString(c.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		s, err := secret.NewSealer(master, c.Purpose)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := s.Open(sealed, []byte(c.Additional))
		if err != nil || string(plain) != c.Plaintext {
			t.Errorf("%s: Open = %q, %v; want %q", c.Purpose, plain, err, c.Plaintext)
		}
		if _, err := s.Open(sealed, []byte(c.Additional+"x")); err == nil {
			t.Errorf("%s: opened with other additional data", c.Purpose)
		}
		other, err := secret.NewSealer(master, c.Purpose+"-other")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Open(sealed, []byte(c.Additional)); err == nil {
			t.Errorf("%s: opened with another purpose's key", c.Purpose)
		}
	}
	for purpose, want := range f.Derived {
		key, err := secret.DeriveKey(master, purpose)
		if err != nil || hex.EncodeToString(key) != want {
			t.Errorf("DeriveKey(%q) = %x, %v; want %s", purpose, key, err, want)
		}
	}
}
