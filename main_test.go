package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningURL = regexp.MustCompile(`msg="depportal listening" mode=\w+ url=(\S+)`)

// MustServe starts the real program through run, in sandbox mode on a random port, and waits
// until /healthz answers. It returns the base URL and a stop function that returns run's error.
func MustServe(tb testing.TB, env map[string]string) (string, func() error, *syncBuffer) {
	tb.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if env["DEPPORTAL_LISTEN"] == "" {
		env["DEPPORTAL_LISTEN"] = "127.0.0.1:0"
	}
	if env["DEPPORTAL_DATA_DIR"] == "" {
		env["DEPPORTAL_DATA_DIR"] = tb.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"depportal"}, func(k string) string { return env[k] }, strings.NewReader(""), out, io.Discard)
	}()
	var (
		stopOnce sync.Once
		stopErr  error
	)
	stop := func() error {
		stopOnce.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(20 * time.Second):
				stopErr = errors.New("run did not return after cancel")
			}
		})
		return stopErr
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningURL.FindStringSubmatch(out.String()); m != nil {
			resp, err := http.Get(m[1] + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					tb.Cleanup(func() { stop() })
					return m[1], stop, out
				}
			}
		}
		select {
		case err := <-done:
			tb.Fatalf("run returned early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	tb.Fatalf("portal did not become healthy:\n%s", out.String())
	return "", nil, nil
}

func TestServeSandboxStartsAndStops(t *testing.T) {
	t.Parallel()
	base, stop, out := MustServe(t, nil)
	if !strings.HasPrefix(base, "http://localhost:") {
		t.Errorf("sandbox URL = %s", base)
	}
	if !strings.Contains(out.String(), "Sandbox tenant ready") {
		t.Error("no sandbox greeting printed")
	}
	// Ready once discovery against the embedded provider has loaded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestSandboxKeepsItsKeysAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, stop, _ := MustServe(t, map[string]string{"DEPPORTAL_DATA_DIR": dir})
	stop()
	key1 := mustRead(t, dir+"/session.key")
	_, stop, _ = MustServe(t, map[string]string{"DEPPORTAL_DATA_DIR": dir})
	stop()
	if key2 := mustRead(t, dir+"/session.key"); key1 != key2 {
		t.Error("session key regenerated on restart")
	}
}

func TestPartialTenantRefusesToStart(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ENTRA_CLIENT_ID": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "DEPPORTAL_LISTEN": "127.0.0.1:0"}
	err := run(context.Background(), []string{"depportal", "serve"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
	for _, want := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_SECRET", "DEPPORTAL_PUBLIC_URL", "DEPPORTAL_SESSION_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"depportal", "--help"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Variables {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("--help does not list %s", v.Name)
		}
	}
	if !strings.Contains(out.String(), "serve") {
		t.Error("--help does not list the serve command")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"depportal", "--version"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^depportal \S+ \(commit \S+, go1\.\d+`).MatchString(out.String()) {
		t.Errorf("version = %q", out.String())
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"depportal", "frobnicate"}, nil, nil, io.Discard, &errOut)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(errOut.String(), "Usage:") {
		t.Errorf("err = %v, stderr %q", err, errOut.String())
	}
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	readme := mustRead(t, "README.md")
	if !strings.HasPrefix(readme, "# depportal\n\n```sh\ngo run .") {
		t.Error("README must open with the two commands, go run . first")
	}
	for _, v := range config.Variables {
		if !strings.Contains(readme, "| `"+v.Name+"` |") {
			t.Errorf("README configuration table lacks %s", v.Name)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	base, stop, _ := MustServe(t, nil)
	port := base[strings.LastIndex(base, ":")+1:]
	env := map[string]string{"DEPPORTAL_LISTEN": "127.0.0.1:" + port}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"depportal", "healthcheck"}, func(k string) string { return env[k] }, nil, &out, io.Discard); err != nil {
		t.Fatalf("healthcheck against a running portal: %v", err)
	}
	stop()
	if err := run(context.Background(), []string{"depportal", "healthcheck"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck passed with the portal stopped")
	}
}

func TestAuditCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DEPPORTAL_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	skey, vkey, err := audit.LoadOrCreateKey(filepath.Join(dir, app.AuditKeyFile), "depportal-sandbox/audit")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "depportal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	trail, err := audit.New(audit.Config{Store: db, SignerKey: skey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e := audit.Entry{Type: audit.SignInSucceeded, Actor: audit.Actor{Name: "Hannah Helpdesk", ObjectID: fmt.Sprintf("oid-%d", i)}}
		if _, err := trail.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := trail.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"depportal", "audit", "verify"}, getenv, nil, &out, &errOut); err != nil {
		t.Fatalf("verify: %v %s", err, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "5 records, 1 checkpoints, intact" {
		t.Errorf("verify printed %q", got)
	}
	out.Reset()
	run(context.Background(), []string{"depportal", "audit", "public-key"}, getenv, nil, &out, io.Discard)
	if strings.TrimSpace(out.String()) != vkey {
		t.Errorf("public-key printed %q, want %q", out.String(), vkey)
	}
	out.Reset()
	if err := run(context.Background(), []string{"depportal", "audit", "export", "--format", "csv"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 6 || !strings.HasPrefix(out.String(), "seq,time,type") {
		t.Errorf("export: %d lines\n%s", lines, out.String())
	}
	out.Reset()
	run(context.Background(), []string{"depportal", "audit", "keygen", "--name", "portal.contoso.com/audit"}, getenv, nil, &out, io.Discard)
	if !strings.HasPrefix(out.String(), "DEPPORTAL_AUDIT_SIGNING_KEY=PRIVATE+KEY+portal.contoso.com/audit+") {
		t.Errorf("keygen printed %q", out.String())
	}

	// A checkpoint kept outside the database catches a tail cut together with its checkpoints.
	kept, err := trail.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	notePath := filepath.Join(t.TempDir(), "checkpoint.txt")
	os.WriteFile(notePath, []byte(kept.Note), 0o600)
	out.Reset()
	if err := run(context.Background(), []string{"depportal", "audit", "verify", "--checkpoint", notePath}, getenv, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "consistent with 1 checkpoint") {
		t.Fatalf("verify against a kept checkpoint: %v %q", err, out.String())
	}
	for _, stmt := range []string{`DROP TRIGGER IF EXISTS audit_records_no_delete`, `DROP TRIGGER IF EXISTS audit_checkpoints_no_delete`,
		`DELETE FROM audit_records WHERE seq = 5`, `DELETE FROM audit_checkpoints`} {
		if _, err := db.SQL().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	errOut.Reset()
	if err := run(context.Background(), []string{"depportal", "audit", "verify"}, getenv, nil, io.Discard, &errOut); err != nil {
		t.Fatalf("without the kept checkpoint the cut is invisible, so verify passes: %v %s", err, errOut.String())
	}
	err = run(context.Background(), []string{"depportal", "audit", "verify", "--checkpoint", notePath}, getenv, nil, io.Discard, &errOut)
	var cut exitCode
	if !errors.As(err, &cut) || cut != 1 || !strings.Contains(errOut.String(), "tail truncated") {
		t.Errorf("verify against the kept checkpoint after the cut: %v %q", err, errOut.String())
	}

	// Someone edits record 3 behind the portal's back.
	for _, stmt := range []string{`DROP TRIGGER IF EXISTS audit_records_no_update`, `UPDATE audit_records SET actor_name = 'Mallory' WHERE seq = 3`} {
		if _, err := db.SQL().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	errOut.Reset()
	err = run(context.Background(), []string{"depportal", "audit", "verify"}, getenv, nil, io.Discard, &errOut)
	var code exitCode
	if !errors.As(err, &code) || code != 1 || !strings.Contains(errOut.String(), "record 3: content changed") {
		t.Errorf("verify after tampering: %v, stderr %q", err, errOut.String())
	}
	// Usage errors exit 2.
	if err := run(context.Background(), []string{"depportal", "audit", "export", "--format", "xml"}, getenv, nil, io.Discard, io.Discard); !errors.As(err, &code) || code != 2 {
		t.Errorf("bad format: %v", err)
	}
}

// TestWitnessCatchesACutTail: the portal copies every signed checkpoint to the witness file;
// after the last records are deleted together with every checkpoint in the database, verify
// alone passes, and verify --witness catches it.
func TestWitnessCatchesACutTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	witness := filepath.Join(t.TempDir(), "witness.jsonl")
	env := map[string]string{"DEPPORTAL_DATA_DIR": dir, "DEPPORTAL_AUDIT_WITNESS": witness}
	base, stop, out := MustServe(t, env)
	for _, persona := range []string{"hannah", "avery", "hannah"} {
		testkit.MustSignIn(t, testkit.NewBrowser(t, base), persona, "/")
	}
	if err := stop(); err != nil { // the shutdown's checkpoint covers the three sign-ins
		t.Fatalf("stop: %v\n%s", err, out.String())
	}
	raw, err := os.ReadFile(witness)
	if err != nil {
		t.Fatalf("no witness file: %v\n%s", err, out.String())
	}
	if n := strings.Count(string(raw), "\n"); n < 2 {
		t.Fatalf("witness holds %d checkpoints, want the start's and the shutdown's:\n%s", n, raw)
	}
	if fi, _ := os.Stat(witness); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("witness file mode %v", fi.Mode().Perm())
	}
	getenv := func(k string) string { return map[string]string{"DEPPORTAL_DATA_DIR": dir}[k] }
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"depportal", "audit", "verify", "--witness", witness}, getenv, nil, &stdout, &stderr); err != nil {
		t.Fatalf("verify --witness before tampering: %v %s", err, stderr.String())
	}

	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "depportal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{`DROP TRIGGER IF EXISTS audit_records_no_delete`, `DROP TRIGGER IF EXISTS audit_checkpoints_no_delete`,
		`DELETE FROM audit_records WHERE seq = (SELECT MAX(seq) FROM audit_records)`, `DELETE FROM audit_checkpoints`} {
		if _, err := db.SQL().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	stderr.Reset()
	if err := run(context.Background(), []string{"depportal", "audit", "verify"}, getenv, nil, io.Discard, &stderr); err != nil {
		t.Fatalf("without the witness the cut is invisible: %v %s", err, stderr.String())
	}
	err = run(context.Background(), []string{"depportal", "audit", "verify", "--witness", witness}, getenv, nil, io.Discard, &stderr)
	var cut exitCode
	if !errors.As(err, &cut) || cut != 1 || !strings.Contains(stderr.String(), "tail truncated") {
		t.Errorf("verify --witness after the cut: %v %q", err, stderr.String())
	}
}
