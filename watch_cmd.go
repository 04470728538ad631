package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/watch"
)

const watchUsage = `usage:
  depportal watch once [--json]   read the ADE tokens, Apps and Books tokens and push certificate
                                  once with the watch's credential and print them (no server)
  depportal watch test            send one sample reminder to each configured channel and say
                                  what happened to it

Both read the same environment as serve (DEPPORTAL_WATCH_*, DEPPORTAL_REMINDER_*).
`

func runWatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, watchUsage)
		return exitCode(2)
	}
	sub, args := args[0], args[1:]
	flags := flag.NewFlagSet("depportal watch "+sub, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, watchUsage) }
	asJSON := flags.Bool("json", false, "print JSON (once)")
	if err := flags.Parse(args); err != nil {
		return exitCode(2)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "depportal watch %s: unexpected argument %q\n", sub, flags.Arg(0))
		return exitCode(2)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch sub {
	case "once":
		return watchOnce(ctx, cfg, *asJSON, stdout)
	case "test":
		return watchTest(ctx, cfg, stdout)
	default:
		fmt.Fprint(stderr, watchUsage)
		return usageError{fmt.Sprintf("unknown watch command %q", sub)}
	}
}

func watchOnce(ctx context.Context, cfg config.Config, asJSON bool, stdout io.Writer) error {
	if cfg.Mode == config.ModeSandbox {
		return fmt.Errorf("the sandbox's watch runs inside depportal serve (see /metrics and /_sandbox/outbox); watch once reads a real tenant")
	}
	connectors, err := app.ReadConnectors(ctx, cfg, version)
	if err != nil {
		return err
	}
	return printConnectors(stdout, connectors, time.Now(), asJSON)
}

// printConnectors writes the connectors as a table, or as a JSON array.
func printConnectors(w io.Writer, connectors []watch.Connector, now time.Time, asJSON bool) error {
	if asJSON {
		type row struct {
			watch.Connector
			DaysLeft int `json:"days_left"`
		}
		rows := []row{}
		for _, c := range connectors {
			rows = append(rows, row{c, c.DaysLeft(now)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tEXPIRES (UTC)\tDAYS LEFT\tAPPLE ID")
	for _, c := range connectors {
		expires, left := "none", "-"
		if !c.ExpiresAt.IsZero() {
			expires, left = c.ExpiresAt.UTC().Format("2006-01-02 15:04"), fmt.Sprint(c.DaysLeft(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Kind, c.Name, expires, left, c.AppleID)
	}
	return tw.Flush()
}

func watchTest(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	channels := app.Channels(cfg, nil)
	if len(channels) == 0 {
		return fmt.Errorf("no reminder channel is configured: set DEPPORTAL_REMINDER_TEAMS_URL, DEPPORTAL_REMINDER_WEBHOOK_URL or DEPPORTAL_REMINDER_SMTP_ADDR")
	}
	portal := "http://localhost"
	if cfg.PublicURL != nil {
		portal = cfg.PublicURL.String()
	}
	results := watch.SendTest(ctx, channels, portal, time.Now())
	failed := 0
	for _, name := range watch.ChannelNames(channels) {
		if err := results[name]; err != nil {
			failed++
			fmt.Fprintf(stdout, "%s: FAILED: %v\n", name, err)
		} else {
			fmt.Fprintf(stdout, "%s: sent\n", name)
		}
	}
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}
