package secret_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/depportal/depportal/secret"
)

func TestSealOpensOnlyWithItsRowAndPurpose(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	s, err := secret.NewSealer(master, "graph-tokens")
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Seal([]byte("refresh token"), []byte("row 1")), s.Seal([]byte("refresh token"), []byte("row 1"))
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal: the nonce is not random")
	}
	if plain, err := s.Open(a, []byte("row 1")); err != nil || string(plain) != "refresh token" {
		t.Errorf("Open = %q, %v", plain, err)
	}
	for name, sealed := range map[string][]byte{"truncated": a[:10], "flipped": append([]byte{a[0] ^ 1}, a[1:]...), "empty": nil} {
		if _, err := s.Open(sealed, []byte("row 1")); err == nil {
			t.Errorf("%s blob opened", name)
		}
	}
	if _, err := s.Open(a, []byte("row 2")); err == nil {
		t.Error("opened with another row's additional data")
	}
}

func TestSealerWantsA32ByteKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := secret.NewSealer(make([]byte, n), "login"); err == nil || !strings.Contains(err.Error(), "32 bytes") {
			t.Errorf("%d-byte key: err %v, want one saying 32 bytes", n, err)
		}
	}
}

func TestRandomToken(t *testing.T) {
	a, b := secret.RandomToken(), secret.RandomToken()
	if len(a) != 43 || a == b || strings.ContainsAny(a, "+/=") {
		t.Errorf("RandomToken = %q, %q; want two different 43-character base64url strings", a, b)
	}
}
