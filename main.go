// Command depportal is a self-service portal for renewing the Apple Automated Device Enrollment
// token in Microsoft Intune: helpdesk staff sign in with Entra ID, upload the new server token,
// and every attempt is audited.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/sandbox"
	"github.com/depportal/depportal/store"
)

// version and commit are stamped by the release build (-ldflags "-X main.version=…").
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code)) // the command has said why already
		}
		fmt.Fprintln(os.Stderr, "depportal:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode ends the program with a status a subcommand chose, after it printed its reason.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func codeToError(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

// run is the whole program; tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "token":
		if len(args) < 3 || args[2] != "inspect" {
			fmt.Fprintln(stderr, "usage: depportal token inspect [--json] [--cert CERT.pem] FILE")
			return exitCode(2)
		}
		return codeToError(runTokenInspect(args[3:], stdout, stderr))
	case "audit":
		return runAudit(ctx, args[2:], getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, getenv, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "--help", "-help", "-h":
		printHelp(stdout)
		return nil
	default:
		printHelp(stderr)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

func versionString() string {
	c := commit
	if c == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	goVersion := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
	}
	return fmt.Sprintf("depportal %s (commit %s, %s)", version, c, goVersion)
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `depportal: renew Apple enrollment program tokens in Intune, self-service and audited.

Usage:
  depportal [serve]    start the portal (the default). With no ENTRA_* variables set it starts
                       the sandbox tenant at http://localhost:8080.
  depportal token inspect [--json] [--cert CERT.pem] FILE
                       say what a server token file is, and whether it was made for CERT
  depportal audit verify|export|public-key|keygen
                       check the audit trail's chain and signed checkpoints, export it,
                       print the checkpoint verifier key, or make a new signing key
  depportal healthcheck
                       exit 0 if the portal on DEPPORTAL_LISTEN answers /healthz (for
                       container HEALTHCHECKs: the image has no shell or curl)
  depportal version    print version, commit and Go version
  depportal help       this text

Environment:
`)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range config.Variables {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, v.Default, v.Meaning)
	}
	tw.Flush()
}

// healthcheck asks the local portal's /healthz; the container image has no curl.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	listen := getenv("DEPPORTAL_LISTEN")
	if listen == "" {
		listen = ":8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return usageError{fmt.Sprintf("DEPPORTAL_LISTEN %q is not host:port", listen)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// serve runs the portal until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)
	// Libraries that log through slog's default (the sandbox's OpenID provider) land here too.
	slog.SetDefault(logger)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	if cfg.Mode == config.ModeSandbox && getenv("DEPPORTAL_PUBLIC_URL") == "" {
		// With port 0 (tests) the public URL is only known once listening.
		port := ln.Addr().(*net.TCPAddr).Port
		cfg.PublicURL = &url.URL{Scheme: "http", Host: fmt.Sprintf("localhost:%d", port)}
	}

	var sandboxHandler http.Handler
	if cfg.Mode == config.ModeSandbox {
		tenant, err := setUpSandbox(&cfg, getenv, logger)
		if err != nil {
			return err
		}
		sandboxHandler = tenant
	}

	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	var clientCert *auth.ClientCertificate
	if len(cfg.ClientCertificatePEM) > 0 {
		if clientCert, err = auth.ParseClientCertificate(cfg.ClientCertificatePEM); err != nil {
			return fmt.Errorf("ENTRA_CLIENT_CERTIFICATE: %w", err)
		}
		if left := time.Until(clientCert.NotAfter()); left < 30*24*time.Hour {
			logger.Warn("the client certificate expires soon; upload a new one to the app registration", "not_after", clientCert.NotAfter())
		}
	}
	signIn, err := auth.NewSignIn(auth.SignInConfig{
		Issuer:                cfg.Issuer(),
		TenantID:              cfg.TenantID,
		ClientID:              cfg.ClientID,
		ClientSecret:          cfg.ClientSecret,
		RedirectURL:           cfg.RedirectURL(),
		PostLogoutRedirectURL: cfg.PostLogoutRedirectURL(),
		GraphScope:            cfg.GraphScope(),
		ClientCertificate:     clientCert,
	}, db, cfg.SessionKey)
	if err != nil {
		return err
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{
		IdleTimeout:     cfg.SessionIdleTimeout,
		AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
		SecureCookies:   cfg.SecureCookies(),
	}, db, cfg.SessionKey, signIn)
	if err != nil {
		return err
	}

	graph.Version = version
	m := metrics.New()
	intune, err := graph.New(graph.Config{
		BaseURL:          cfg.GraphBaseURL,
		Timeout:          cfg.GraphTimeout,
		DepTokenEncoding: cfg.DepTokenEncoding,
		Observe:          m.GraphCall,
	})
	if err != nil {
		return fmt.Errorf("GRAPH_BASE_URL: %w", err)
	}
	if cfg.AuditSigningKey == "" {
		// Sandbox: a key of its own under the data folder, so checkpoints verify across restarts.
		if cfg.AuditSigningKey, _, err = audit.LoadOrCreateKey(filepath.Join(cfg.DataDir, auditKeyFile), "depportal-sandbox/audit"); err != nil {
			return fmt.Errorf("sandbox audit key: %w", err)
		}
	}
	trail, err := audit.New(audit.Config{Store: db, SignerKey: cfg.AuditSigningKey, Logger: logger, Observe: m.AuditAppend})
	if err != nil {
		return err
	}
	renewals, err := renewal.New(renewal.Config{Intune: intune, Store: db, Audit: trail, SessionKey: cfg.SessionKey})
	if err != nil {
		return err
	}

	handler := handlers.New(handlers.Deps{
		Config:     cfg,
		Logger:     logger,
		SignIn:     signIn,
		Sessions:   sessions,
		Database:   db,
		Intune:     intune,
		Renewals:   renewals,
		Metrics:    m,
		Audit:      trail,
		AuditStore: db,
		Sandbox:    sandboxHandler,
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	logger.Info("depportal listening", "mode", cfg.Mode, "url", cfg.PublicURL.String(), "addr", ln.Addr().String(), "version", version)
	if cfg.Mode == config.ModeSandbox {
		fmt.Fprintf(stdout, "\n  Sandbox tenant ready: open %s and sign in as one of its people.\n  Nothing here reaches Microsoft or Apple. Set ENTRA_* to use a real tenant (see README).\n\n", cfg.PublicURL)
	}

	go discoverUntilReady(ctx, signIn, logger)
	trailDone := make(chan struct{})
	go func() {
		defer close(trailDone)
		if err := trail.Run(ctx); err != nil {
			logger.Error("audit trail background work stopped", "err", err)
		}
	}()
	go sweep(ctx, logger, sessions.Sweep, renewals.Sweep)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	<-trailDone
	// A last checkpoint makes the shutdown time provable: nothing was appended after it.
	if err := trail.Close(shutdownCtx); err != nil {
		logger.Error("final audit checkpoint", "err", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.Mode == config.ModeTenant {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setUpSandbox points the configuration at the embedded tenant and returns it.
func setUpSandbox(cfg *config.Config, getenv func(string) string, logger *slog.Logger) (*sandbox.Tenant, error) {
	if cfg.SessionKey == nil {
		key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "session.key"))
		if err != nil {
			return nil, err
		}
		cfg.SessionKey = key
	}
	cfg.TenantID = sandbox.TenantID
	cfg.ClientID = sandbox.ClientID
	cfg.ClientSecret = auth.RandomToken() // both ends live in this process
	tenant, err := sandbox.NewTenant(sandbox.TenantConfig{
		BaseURL:          cfg.PublicURL.String(),
		DataDir:          cfg.DataDir,
		ClientSecret:     cfg.ClientSecret,
		DepTokenEncoding: cfg.DepTokenEncoding,
		Faults:           getenv("DEPPORTAL_SANDBOX_FAULTS"),
		// Two settings a page, so the portal's paging runs in the sandbox too.
		PageSize: 2,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	cfg.AuthorityHost = tenant.AuthorityHost()
	cfg.GraphBaseURL = tenant.GraphBaseURL()
	if tenant.IdP.Issuer() != cfg.Issuer() {
		return nil, fmt.Errorf("sandbox issuer %s does not match the configured %s", tenant.IdP.Issuer(), cfg.Issuer())
	}
	return tenant, nil
}

// loadOrCreateKey keeps the sandbox's session key across restarts, so sessions survive them.
func loadOrCreateKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return config.DecodeKey(string(raw))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("save sandbox session key: %w", err)
	}
	return key, nil
}

// discoverUntilReady loads the provider's discovery document, retrying with backoff: the
// portal starts even while the provider is unreachable, and /readyz tells.
func discoverUntilReady(ctx context.Context, signIn *auth.SignIn, logger *slog.Logger) {
	wait := 250 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := signIn.Discover(attemptCtx)
		cancel()
		if err == nil {
			logger.Info("OpenID provider discovered")
			return
		}
		logger.Warn("OpenID discovery failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// sweep deletes expired sessions, sign-in transactions and old pending uploads every 5 minutes.
func sweep(ctx context.Context, logger *slog.Logger, sweepers ...func(context.Context) (int64, error)) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, f := range sweepers {
				if n, err := f(ctx); err != nil {
					logger.Warn("sweep", "err", err)
				} else if n > 0 {
					logger.Debug("swept expired rows", "count", n)
				}
			}
		}
	}
}
