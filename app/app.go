// Package app builds every component of the portal from one config.Config and runs the HTTP
// server and every background loop under one errgroup, with an ordered shutdown: stop
// accepting, finish the requests in flight (uploads included), stop the loops, sign a last
// audit checkpoint, close the database.
//
// main, the handler tests and the browser tests all start the portal through it; nothing else
// wires components together. It must never read the environment (config does) nor serve a
// route itself (handlers does).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/store"
	"github.com/depportal/depportal/watch"
)

// Options are what is not configuration: where the log goes, the build's version, and the
// seams tests use. The zero value is what main uses, but for Logs.
type Options struct {
	Logs    io.Writer // the log; os.Stdout when nil
	Version string    // sent to Graph in the User-Agent and logged at start

	// SignInHTTPClient makes the token requests to the identity provider (tests capture the
	// tokens it issues).
	SignInHTTPClient *http.Client
	// GraphHTTPClient makes the Graph calls, used as is (redirect policy included); graph's own
	// client when nil. Tests close its idle connections before stopping the portal: in sandbox
	// mode Graph is the portal's own port, and a spare connection on which no request was sent
	// holds the server's shutdown for 5 s.
	GraphHTTPClient *http.Client
	// ReconcileDelays overrides the waits between read-backs of an upload whose outcome is
	// unknown (tests make them short).
	ReconcileDelays []time.Duration
	// Now is the portal's clock: sign-in, sessions and their tokens, pages, renewals, the audit
	// trail and Graph's Retry-After dates; time.Now when nil. Tests move it instead of sleeping.
	// The server's timeouts and the sandbox tenant keep real time.
	Now func() time.Time
	// Sandbox tunes the embedded tenant; ignored in tenant mode.
	Sandbox SandboxOptions
}

// SandboxOptions tune the embedded tenant for tests.
type SandboxOptions struct {
	AccessTokenLifetime time.Duration // of the access tokens its provider issues; default 1 h
	// Wrap wraps the sandbox's handler (tests time the simulator's share).
	Wrap func(http.Handler) http.Handler
	// Watch runs the watch against the sandbox tenant, its reminders going to the outbox
	// (main's serve turns it on; tests that count audit records leave it off).
	Watch bool
}

// ErrNoSandbox is what a release build says when no tenant is configured.
var ErrNoSandbox = errors.New("this build of depportal has no sandbox tenant: set ENTRA_TENANT_ID, ENTRA_CLIENT_ID, " +
	"ENTRA_CLIENT_SECRET (or ENTRA_CLIENT_CERTIFICATE), DEPPORTAL_PUBLIC_URL, DEPPORTAL_SESSION_KEY and " +
	"DEPPORTAL_AUDIT_SIGNING_KEY (docs/entra-setup.md); to try the portal without a tenant, run a build without the nosandbox tag (go run .)")

// AuditKeyFile is the sandbox's checkpoint signing key under the data folder.
const AuditKeyFile = "audit-signing.key"

// App is a built portal, ready to Run.
type App struct {
	cfg      config.Config
	version  string
	logger   *slog.Logger
	db       *store.DB
	signIn   *auth.SignIn
	sessions *auth.Sessions
	trail    *audit.Trail
	renewals *renewal.Service
	metrics  *metrics.Metrics
	handler  http.Handler
	sandbox  sandboxTenant
	watch    *watch.Watch // nil when the watch is off
	// credential is the portal's own credential at Entra ID and when it expires (app/credential.go).
	credential clientCredential
	now        func() time.Time
	// closeIdle closes the idle connections of every HTTP client the app calls out with.
	closeIdle func()
}

// New builds every component from cfg. In sandbox mode the embedded tenant is made first and
// resolves into the configuration the rest is built from. The caller must Run the app, or
// Close it.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Logs == nil {
		opts.Logs = os.Stdout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := newLogger(cfg, opts.Logs)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	var sb sandboxTenant
	if cfg.Mode == config.ModeSandbox {
		var err error
		if cfg, sb, err = resolveSandbox(cfg, opts.Sandbox, logger); err != nil {
			return nil, err
		}
	}

	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, version: opts.Version, logger: logger, db: db, sandbox: sb, metrics: metrics.New()}
	if err := a.build(opts); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(opts Options) error {
	cfg := a.cfg
	var clientCert *auth.ClientCertificate
	if len(cfg.ClientCertificatePEM) > 0 {
		var err error
		if clientCert, err = auth.ParseClientCertificate(cfg.ClientCertificatePEM); err != nil {
			return fmt.Errorf("ENTRA_CLIENT_CERTIFICATE: %w", err)
		}
	}
	a.credential, a.now = credentialOf(cfg, clientCert), opts.Now
	if !a.credential.At.IsZero() {
		a.metrics.ClientCredentialExpires(a.credential.Kind, a.credential.At)
	}
	// The trail first: the packages that record before acting are built around it.
	witnesses, err := audit.ParseWitnesses(cfg.AuditWitness, nil)
	if err != nil {
		return fmt.Errorf("DEPPORTAL_AUDIT_WITNESS: %w", err)
	}
	trail, err := audit.New(audit.Config{Store: a.db, SignerKey: cfg.AuditSigningKey, Logger: a.logger, Observe: a.metrics.AuditAppend, Now: opts.Now,
		Witnesses: witnesses, OnWitness: func(_ audit.Witness, err error) { a.metrics.AuditWitnessed(err) }})
	if err != nil {
		return fmt.Errorf("DEPPORTAL_AUDIT_SIGNING_KEY: %w", err)
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
		HTTPClient:            opts.SignInHTTPClient,
		Now:                   opts.Now,
	}, a.db, cfg.SessionKey)
	if err != nil {
		return err
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{
		IdleTimeout:     cfg.SessionIdleTimeout,
		AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
		SecureCookies:   cfg.SecureCookies(),
		Now:             opts.Now,
		Audit:           trail,
	}, a.db, cfg.SessionKey, signIn)
	if err != nil {
		return err
	}
	intune, err := graph.New(graph.Config{
		BaseURL:          cfg.GraphBaseURL,
		HTTPClient:       opts.GraphHTTPClient,
		Timeout:          cfg.GraphTimeout,
		DepTokenEncoding: cfg.DepTokenEncoding,
		Version:          a.version,
		Observe:          a.metrics.GraphCall,
		Now:              opts.Now,
	})
	if err != nil {
		return fmt.Errorf("GRAPH_BASE_URL: %w", err)
	}
	renewals, err := renewal.New(renewal.Config{Intune: intune, Store: a.db, Audit: trail, SessionKey: cfg.SessionKey,
		ReconcileDelays: opts.ReconcileDelays, Now: opts.Now, Logger: a.logger.With("component", "renewal"),
		// The watch, built below when configured, stops calling a renewed token about to expire.
		Renewed: func(ctx context.Context, settingID string, after *graph.OnboardingSetting) {
			if a.watch != nil {
				a.watch.Renewed(ctx, settingID, after)
			}
		}})
	if err != nil {
		return err
	}
	a.signIn, a.sessions, a.trail, a.renewals = signIn, sessions, trail, renewals
	a.closeIdle = func() {
		intune.CloseIdleConnections()
		// Sign-in, the watch's credential and its channels use these unless a test gave its own.
		http.DefaultClient.CloseIdleConnections()
		if opts.SignInHTTPClient != nil {
			opts.SignInHTTPClient.CloseIdleConnections()
		}
	}
	if err := a.buildWatch(opts, intune); err != nil {
		return err
	}
	deps := handlers.Deps{
		Config:     cfg,
		Logger:     a.logger,
		SignIn:     signIn,
		Sessions:   sessions,
		Database:   a.db,
		Intune:     intune,
		Renewals:   renewals,
		Metrics:    a.metrics,
		Audit:      trail,
		AuditStore: a.db,
		Sandbox:    a.sandbox.handler(),
		Now:        opts.Now,
		// Signed-in people see a banner from 30 days before the credential expires.
		CredentialExpires: a.credential.At,
	}
	if a.watch != nil { // never a nil *watch.Watch in the interface
		deps.Watch = a.watch
	}
	a.handler = handlers.New(deps)
	return nil
}

// Config is the configuration the app was built from, the sandbox's resolved in.
func (a *App) Config() config.Config { return a.cfg }

// Handler serves the portal; Run serves it too.
func (a *App) Handler() http.Handler { return a.handler }

// DB, Trail, Sessions and Logger are for tests that look behind the pages.
func (a *App) DB() *store.DB            { return a.db }
func (a *App) Trail() *audit.Trail      { return a.trail }
func (a *App) Sessions() *auth.Sessions { return a.sessions }
func (a *App) Logger() *slog.Logger     { return a.logger }

// Close releases what New opened, for an app that is never Run.
func (a *App) Close() error { a.sandbox.close(); return a.db.Close() }

// shutdownTimeout bounds finishing the requests in flight: long enough for an upload already
// at Intune (its Graph deadline) to end and be recorded.
const shutdownTimeout = 45 * time.Second

// Run serves on ln until ctx ends or the server fails, then shuts down in order. The
// background loops (audit verification and checkpoints, OpenID discovery, sweeping, the watch) run
// beside the server and stop after the last request has finished; the final checkpoint is
// signed and the database closed only then. Run closes the app: call it once.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	a.logger.Info("depportal listening", "mode", a.cfg.Mode, "url", a.cfg.PublicURL.String(), "addr", ln.Addr().String(), "version", a.version)

	// The loops outlive ctx until the requests have finished: an upload in flight still
	// appends audit records, and its session may still refresh.
	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		a.logger.Info("shutting down")
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		// Connections this app dialled (in the sandbox, to its own server) and never used
		// would hold Shutdown for five seconds before the server counts them idle: close
		// them, again while requests in flight finish.
		closing := make(chan struct{})
		go func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				a.closeIdle()
				select {
				case <-closing:
					return
				case <-tick.C:
				}
			}
		}()
		err := srv.Shutdown(shut)
		close(closing)
		stopLoops()
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	g.Go(func() error { return a.trail.Run(loops) })
	g.Go(func() error { a.discoverUntilReady(loops); return nil })
	g.Go(func() error { a.sweep(loops, a.sessions.Sweep, a.renewals.Sweep); return nil })
	g.Go(func() error { watchCredential(loops, a.logger, a.credential, a.now, 24*time.Hour); return nil })
	if a.watch != nil {
		// Stopped with the other loops, after the last request; it gives its lease up.
		g.Go(func() error { return a.watch.Run(loops) })
	}
	err := g.Wait()

	// A last checkpoint makes the shutdown time provable: nothing was appended after it.
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if cerr := a.trail.Close(final); cerr != nil {
		a.logger.Error("final audit checkpoint", "err", cerr)
		err = errors.Join(err, fmt.Errorf("final audit checkpoint: %w", cerr))
	}
	if cerr := a.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
	}
	a.sandbox.close()
	return err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.Mode == config.ModeTenant {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// discoverUntilReady loads the provider's discovery document, retrying with backoff: the
// portal starts even while the provider is unreachable, and /readyz tells.
func (a *App) discoverUntilReady(ctx context.Context) {
	wait := 250 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.signIn.Discover(attemptCtx)
		cancel()
		if err == nil {
			a.logger.Info("OpenID provider discovered")
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.logger.Warn("OpenID discovery failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// sweep deletes expired sessions, sign-in transactions and old pending uploads every 5 minutes.
func (a *App) sweep(ctx context.Context, sweepers ...func(context.Context) (int64, error)) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, f := range sweepers {
				if n, err := f(ctx); err != nil {
					a.logger.Warn("sweep", "err", err)
				} else if n > 0 {
					a.logger.Debug("swept expired rows", "count", n)
				}
			}
		}
	}
}
