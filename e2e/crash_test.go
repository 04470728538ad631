package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

// httpPerson is a person's browser without the browser: cookies, no automatic redirects.
type httpPerson struct {
	client *http.Client
	base   string
	csrf   string
}

var (
	confirmForm = regexp.MustCompile(`action="/uploads/([^"/]+)/confirm"`)
	ackField    = regexp.MustCompile(`name="ack" value="([^"]+)"`)
)

func (h *httpPerson) do(req *http.Request) (*http.Response, string, error) {
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// follow GETs and follows redirects.
func (h *httpPerson) follow(target string) (string, string, error) {
	for range 10 {
		if strings.HasPrefix(target, "/") {
			target = h.base + target
		}
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		resp, body, err := h.do(req)
		if err != nil {
			return "", "", err
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return body, target, nil
		}
		target = loc
	}
	return "", "", fmt.Errorf("too many redirects")
}

// signInOverHTTP walks the sandbox sign-in as persona without a browser. It returns an error
// instead of failing the test: the caller kills the portal first.
func signInOverHTTP(tb testing.TB, base, persona string) (*httpPerson, error) {
	b := testkit.NewBrowser(tb, base)
	b.Client.Timeout = 10 * time.Second
	home, _, err := testkit.SignIn(b, persona, "/")
	if err != nil {
		return nil, err
	}
	csrf, ok := testkit.CSRFToken(home.Body)
	if !ok {
		return nil, fmt.Errorf("signed in, but the start page has no form token")
	}
	return &httpPerson{client: b.Client, base: base, csrf: csrf}, nil
}

// renew uploads and confirms one token file; errors are expected when the process dies.
func (h *httpPerson) renew(settingID, fileName string, file []byte) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("csrf_token", h.csrf)
	w.WriteField("apple_id", "abm-admin@contoso.com")
	fw, _ := w.CreateFormFile("token_file", fileName)
	fw.Write(file)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/settings/"+settingID+"/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, review, err := h.do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusSeeOther { // the review lives at the upload's address
		if review, _, err = h.follow(resp.Header.Get("Location")); err != nil {
			return err
		}
	}
	m := confirmForm.FindStringSubmatch(review)
	if m == nil {
		return fmt.Errorf("no confirmation offered")
	}
	form := url.Values{"csrf_token": {h.csrf}}
	for _, a := range ackField.FindAllStringSubmatch(review, -1) {
		form.Add("ack", a[1])
	}
	req, _ = http.NewRequest(http.MethodPost, h.base+"/uploads/"+m[1]+"/confirm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err = h.do(req)
	return err
}

// TestCrashesLoseNoAuditRecord kills the portal with SIGKILL at random moments while uploads
// stream in, 20 times. Afterwards the chain must verify, and every upload the Intune simulator
// received must have its intent record: none reached "Intune" unrecorded.
func TestCrashesLoseNoAuditRecord(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	const rounds = 20
	var sent atomic.Int64
	for round := range rounds {
		p := startPortal(t, dataDir)
		person, err := signInOverHTTP(t, p.URL, "hannah")
		if err != nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			t.Fatalf("round %d: sign in: %v", round, err)
		}
		file, name := MustDownloadSampleBytes(t, p.URL, abmSoon+"/valid")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if person.renew(abmSoon, name, file) == nil {
					sent.Add(1)
				}
			}
		}()
		// A renewal (upload, review, confirm) takes 15–30 ms here: the kill comes after a
		// handful of them (eight on average), at any point of the one in flight.
		time.Sleep(time.Duration(20+rand.IntN(230)) * time.Millisecond)
		p.cmd.Process.Kill() // SIGKILL: no shutdown, no final checkpoint
		p.cmd.Wait()
		close(stop)
		<-done
	}
	t.Logf("%d renewals completed across %d crashes", sent.Load(), rounds)

	// One clean start and stop, as an operator would after the incident.
	p := startPortal(t, dataDir)
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()

	verify := exec.Command(binaryPath, "audit", "verify")
	verify.Env = append(os.Environ(), "DEPPORTAL_DATA_DIR="+dataDir, "DEPPORTAL_DATABASE_URL=", "DEPPORTAL_AUDIT_SIGNING_KEY=")
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Fatalf("audit verify after crashes: %v\n%s", err, out)
	}
	t.Logf("audit verify: %s", strings.TrimSpace(string(out)))

	// Every upload the simulator received has an intent for that token and file.
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dataDir, "depportal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	intents := map[string]int{}
	for r, err := range db.Records(context.Background(), audit.Filter{Type: audit.UploadIntent}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		intents[r.Setting.ID+" "+r.Token.SHA256]++
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "sandbox-graph-received.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	received := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var got struct {
			SettingID  string `json:"settingId"`
			FileSHA256 string `json:"fileSha256"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("received log line %q: %v", line, err)
		}
		received++
		key := got.SettingID + " " + got.FileSHA256
		if intents[key] == 0 {
			t.Errorf("the simulator received an upload with no intent record: %s", key)
		}
		intents[key]--
	}
	if received == 0 {
		t.Fatal("no upload reached the simulator: the test proved nothing")
	}
	t.Logf("%d uploads received by the simulator, each with its intent record", received)
}

// MustDownloadSampleBytes fetches a sandbox sample and its file name.
func MustDownloadSampleBytes(tb testing.TB, base, path string) ([]byte, string) {
	tb.Helper()
	resp, err := http.Get(base + "/_sandbox/tokens/" + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	return b, params["filename"]
}
