package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// A Witness keeps a copy of every signed checkpoint outside the database, as it is made.
// That copy is what catches the strongest tampering: the last records deleted together with
// the checkpoints stored beside them (docs/audit-format.md, "By hand", step 4).
type Witness interface {
	Witness(ctx context.Context, c Checkpoint) error
	String() string // where the copies go, for the log
}

// witnessTimeout bounds one delivery: a witness never holds up the portal.
const witnessTimeout = 10 * time.Second

// ParseWitnesses reads DEPPORTAL_AUDIT_WITNESS: a comma-separated list of file paths (each
// checkpoint appended as one JSON line) and https URLs (each checkpoint POSTed as text/plain).
// client makes the POSTs; nil: a client with the timeout above.
func ParseWitnesses(spec string, client *http.Client) ([]Witness, error) {
	if client == nil {
		client = &http.Client{Timeout: witnessTimeout}
	}
	var out []Witness
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case strings.HasPrefix(part, "https://"), strings.HasPrefix(part, "http://"):
			u, err := url.Parse(part)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("witness %q is not a URL", part)
			}
			if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
				return nil, fmt.Errorf("witness %q: use https (plain http only for localhost)", u.Redacted())
			}
			out = append(out, &URLWitness{URL: u.String(), Client: client})
		case strings.Contains(part, "://"):
			return nil, fmt.Errorf("witness %q: a file path or an https URL", part)
		default:
			out = append(out, &FileWitness{Path: part})
		}
	}
	return out, nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// witnessLine is one checkpoint in a witness file.
type witnessLine struct {
	Size int64  `json:"size"`
	Time string `json:"time"`
	Note string `json:"note"` // the signed checkpoint: the only part a verifier trusts
}

// FileWitness appends each checkpoint to a file, one JSON object a line, synced to disk.
type FileWitness struct {
	Path string
	mu   sync.Mutex
}

func (w *FileWitness) String() string { return "file " + w.Path }

// Witness appends c to the file.
func (w *FileWitness) Witness(_ context.Context, c Checkpoint) error {
	line, err := json.Marshal(witnessLine{Size: c.Size, Time: formatTime(c.Time), Note: c.Note})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// URLWitness POSTs each checkpoint's signed note as text/plain.
type URLWitness struct {
	URL    string
	Client *http.Client
}

func (w *URLWitness) String() string {
	u, err := url.Parse(w.URL)
	if err != nil {
		return "url (unparsable)"
	}
	return "url " + u.Redacted()
}

// Witness posts c; any answer but 2xx is a failure.
func (w *URLWitness) Witness(ctx context.Context, c Checkpoint) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, strings.NewReader(c.Note))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("witness answered %s", resp.Status)
	}
	return nil
}

// WitnessedNotes reads a witness file and returns every signed note in it, oldest first.
// The sizes beside the notes are not trusted: a verifier opens each note with the key.
func WitnessedNotes(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var notes []string
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l witnessLine
		if err := json.Unmarshal(line, &l); err != nil || l.Note == "" {
			return nil, fmt.Errorf("witness line %d is not a checkpoint", n)
		}
		notes = append(notes, l.Note)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(notes) == 0 {
		return nil, errors.New("the witness file holds no checkpoint")
	}
	return notes, nil
}
