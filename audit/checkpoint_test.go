package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func TestParseKeyDerivesTheVerifier(t *testing.T) {
	skey, vkey, err := GenerateKey("portal.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	gotS, gotV, err := ParseKey("  " + skey + "\n") // as read from a file or an env var
	if err != nil || gotS != skey || gotV != vkey {
		t.Fatalf("ParseKey = %q, %q, %v; want the generated pair", gotS, gotV, err)
	}
	for _, bad := range []string{"", vkey, skey[:len(skey)-4], strings.Replace(skey, "PRIVATE", "PUBLIC", 1)} {
		_, _, err := ParseKey(bad)
		if err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

func TestLoadOrCreateKeyKeepsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "audit.key")
	s1, v1, err := LoadOrCreateKey(path, "sandbox.depportal/audit")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	s2, v2, err := LoadOrCreateKey(path, "sandbox.depportal/audit")
	if err != nil || s1 != s2 || v1 != v2 {
		t.Errorf("second load gave another key (%v)", err)
	}
	if !strings.HasPrefix(v1, "sandbox.depportal/audit+") {
		t.Errorf("verifier key %q does not carry the name", v1)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreateKey(path, "x"); err == nil {
		t.Error("a damaged key file was accepted (or silently replaced)")
	}
}

func TestOpenCheckpointRefusesForgeries(t *testing.T) {
	skey, vkey, _ := GenerateKey("portal.test/audit")
	_, otherV, _ := GenerateKey("portal.test/audit")
	signer, _ := note.NewSigner(skey)
	h := Hash{1, 2, 3}
	c, err := signCheckpoint(signer, 42, h, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(c.Note, vkey)
	if err != nil || got.Size != 42 || got.Hash != h || !got.Time.Equal(c.Time) {
		t.Fatalf("OpenCheckpoint = %+v, %v", got, err)
	}
	forgeries := map[string]string{
		"size edited":      strings.Replace(c.Note, "\n42\n", "\n43\n", 1),
		"signature edited": c.Note[:len(c.Note)-6] + "AAAA=\n",
		"time edited":      strings.Replace(c.Note, "2026-01-01", "2026-01-02", 1),
	}
	for name, forged := range forgeries {
		if _, err := OpenCheckpoint(forged, vkey); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := OpenCheckpoint(c.Note, otherV); err == nil {
		t.Error("another key's verifier accepted the checkpoint")
	}
	// Correctly signed, but not a checkpoint: the signature alone is not enough.
	other, _ := note.Sign(&note.Note{Text: "portal.test/audit\nhello\n"}, signer)
	if _, err := OpenCheckpoint(string(other), vkey); err == nil {
		t.Error("a signed note that is not a checkpoint was accepted")
	}
}
