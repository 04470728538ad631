// Command depportal is a self-service portal for renewing the Apple Automated Device Enrollment
// token in Microsoft Intune: helpdesk staff sign in with Entra ID, upload the new server token,
// and every attempt is audited.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/config"
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
	case "watch":
		return runWatch(ctx, args[2:], getenv, stdout, stderr)
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
  depportal watch once [--json] | watch test
                       read the Apple connectors once with the watch's credential, or send a
                       sample reminder to each configured channel
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
	if cfg.Mode == config.ModeSandbox && !app.HasSandbox {
		return app.ErrNoSandbox
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	portal, err := app.New(ctx, cfg.WithListener(ln.Addr()), app.Options{Logs: stdout, Version: version,
		// The sandbox runs the watch with no configuration; a tenant runs it when configured.
		Sandbox: app.SandboxOptions{Watch: true}})
	if err != nil {
		return err
	}
	if c := portal.Config(); c.Mode == config.ModeSandbox {
		fmt.Fprintf(stdout, "\n  Sandbox tenant ready: open %s and sign in as one of its people.\n  Nothing here reaches Microsoft or Apple. Set ENTRA_* to use a real tenant (see README).\n\n", c.PublicURL)
	}
	return portal.Run(ctx, ln)
}
