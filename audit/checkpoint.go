package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement "the trail had Size records, the last one hashing to Hash,
// at Time". Once a checkpoint exists, removing or rewriting any record it covers is detectable
// even by someone who can recompute every hash in the database: they cannot re-sign.
type Checkpoint struct {
	ID     int64     // assigned by the store
	Origin string    // the signing key's name: which trail this is
	Size   int64     // Seq of the last record covered; 0 for an empty trail
	Hash   Hash      // that record's Hash; zero when Size is 0
	Time   time.Time // when it was signed
	Note   string    // the signed note; only its text is trusted, never the other fields of a stored row
}

// timeLayout is fixed-width so that times sort as text and have one spelling.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// signCheckpoint builds and signs the note text (docs/audit-format.md, "Checkpoints").
func signCheckpoint(s note.Signer, size int64, h Hash, at time.Time) (Checkpoint, error) {
	at = at.UTC().Truncate(time.Microsecond)
	text := fmt.Sprintf("%s\n%d\n%s\ntime %s\n", s.Name(), size, base64.StdEncoding.EncodeToString(h[:]), formatTime(at))
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	return Checkpoint{Origin: s.Name(), Size: size, Hash: h, Time: at, Note: string(msg)}, nil
}

// OpenCheckpoint verifies a signed checkpoint note with any of verifierKeys (more than one
// after a key rotation) and returns what it says.
func OpenCheckpoint(signed string, verifierKeys ...string) (Checkpoint, error) {
	vs, err := parseVerifiers(verifierKeys)
	if err != nil {
		return Checkpoint{}, err
	}
	return openCheckpoint(signed, vs)
}

func parseVerifiers(keys []string) (note.Verifiers, error) {
	if len(keys) == 0 {
		return nil, errors.New("audit: no verifier key")
	}
	list := make([]note.Verifier, len(keys))
	for i, k := range keys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			// Not quoted: a signer key pasted here by mistake must not end up in a log.
			return nil, fmt.Errorf("audit verifier key %d of %d: %w", i+1, len(keys), err)
		}
		list[i] = v
	}
	return note.VerifierList(list...), nil
}

func openCheckpoint(signed string, vs note.Verifiers) (Checkpoint, error) {
	n, err := note.Open([]byte(signed), vs)
	if err != nil {
		return Checkpoint{}, err
	}
	// The origin line must name the key that signed it: a key signs checkpoints of one trail.
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 4 || lines[0] != n.Sigs[0].Name || !strings.HasPrefix(lines[3], "time ") {
		return Checkpoint{}, errors.New("signed text is not a checkpoint of this trail")
	}
	c := Checkpoint{Origin: lines[0], Note: signed}
	c.Size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || c.Size < 0 || strconv.FormatInt(c.Size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q is not a number", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != len(c.Hash) {
		return Checkpoint{}, fmt.Errorf("checkpoint hash %q is not base64 of 32 bytes", lines[2])
	}
	copy(c.Hash[:], h)
	c.Time, err = time.Parse(timeLayout, strings.TrimPrefix(lines[3], "time "))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint time: %w", err)
	}
	return c, nil
}

// GenerateKey makes a new checkpoint signing key named name (for example the portal's host
// name followed by "/audit"). The signer key is a secret; the verifier key is what auditors
// are given.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// ParseKey checks a signer key as read from an environment variable or a file and derives its
// verifier key. Errors never quote the key: it is a secret.
func ParseKey(s string) (signerKey, verifierKey string, err error) {
	s = strings.TrimSpace(s)
	if _, err := note.NewSigner(s); err != nil {
		return "", "", errors.New("audit signing key is malformed: want the PRIVATE+KEY+name+hash+key form that GenerateKey makes")
	}
	// PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 and the Ed25519 seed>
	f := strings.SplitN(s, "+", 5) // the base64 key may itself contain a plus sign
	raw, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", "", errors.New("audit signing key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	verifierKey, err = note.NewEd25519VerifierKey(f[2], pub)
	if err != nil {
		return "", "", err
	}
	return s, verifierKey, nil
}

// LoadOrCreateKey reads the signer key at path, or creates one named name there (mode 0600) the
// first time. It is meant for the sandbox, whose checkpoints must stay verifiable across
// restarts; a tenant deployment passes its key through the environment and ParseKey.
func LoadOrCreateKey(path, name string) (signerKey, verifierKey string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, _, err := GenerateKey(name)
		if err != nil {
			return "", "", err
		}
		if err := writeNewFile(path, []byte(skey+"\n")); errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(path, name) // another process created it first: use theirs
		} else if err != nil {
			return "", "", fmt.Errorf("save audit signing key: %w", err)
		}
		return ParseKey(skey)
	}
	if err != nil {
		return "", "", fmt.Errorf("read audit signing key: %w", err)
	}
	return ParseKey(string(b))
}

// writeNewFile creates path with mode 0600 and syncs it, so a key never exists half written.
func writeNewFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, unlike Rename, fails when path exists: two processes starting together keep one key.
	return os.Link(tmp.Name(), path)
}
