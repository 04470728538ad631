package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/store"
)

const auditUsage = `usage:
  depportal audit verify [--db URL] [--key VERIFIER_KEY ...] [--checkpoint FILE ...] [--witness FILE ...]
  depportal audit export [--db URL] --format csv|jsonl [--since YYYY-MM-DD] [--until YYYY-MM-DD]
  depportal audit public-key        print the verifier key of the signing key serve uses
  depportal audit keygen [--name N] print a new signing key (for DEPPORTAL_AUDIT_SIGNING_KEY)

With no --db, the database serve would open (DEPPORTAL_DATABASE_URL, or ./data/depportal.db).
With no --key, the verifier of the key serve would sign with. Give --key more than once after a
key rotation: old checkpoints stay verifiable with the old key. --checkpoint checks the trail
against a signed checkpoint kept outside the database (the "note" of an "audit checkpoint" log
line): it catches records deleted together with the checkpoints that covered them. --witness
checks every checkpoint of a DEPPORTAL_AUDIT_WITNESS file the same way.
`

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitCode(2)
	}
	sub, args := args[0], args[1:]
	flags := flag.NewFlagSet("depportal audit "+sub, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, auditUsage) }
	db := flags.String("db", "", "database URL (sqlite:PATH or postgres://…)")
	var keys, checkpoints, witnesses multiFlag
	flags.Var(&keys, "key", "verifier key (repeatable)")
	flags.Var(&checkpoints, "checkpoint", "file holding a signed checkpoint kept elsewhere (repeatable)")
	flags.Var(&witnesses, "witness", "a DEPPORTAL_AUDIT_WITNESS file: every checkpoint in it must match the trail (repeatable)")
	format := flags.String("format", "", "csv or jsonl")
	since := flags.String("since", "", "first day, YYYY-MM-DD (UTC)")
	until := flags.String("until", "", "last day, YYYY-MM-DD (UTC), included")
	name := flags.String("name", "depportal/audit", "key name for keygen, e.g. depportal.contoso.com/audit")
	if err := flags.Parse(args); err != nil {
		return exitCode(2)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "depportal audit %s: unexpected argument %q\n", sub, flags.Arg(0))
		return exitCode(2)
	}

	switch sub {
	case "keygen":
		skey, vkey, err := audit.GenerateKey(*name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "DEPPORTAL_AUDIT_SIGNING_KEY=%s\n# verifier key, for auditors: %s\n", skey, vkey)
		return nil
	case "public-key":
		vkey, err := servingVerifierKey(getenv)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, vkey)
		return nil
	case "verify":
		if len(keys) == 0 {
			vkey, err := servingVerifierKey(getenv)
			if err != nil {
				return fmt.Errorf("%w (or give --key)", err)
			}
			keys = append(keys, vkey)
		}
		st, err := openAuditDB(ctx, *db, getenv)
		if err != nil {
			return err
		}
		defer st.Close()
		report, err := audit.Verify(ctx, st, keys...)
		if err != nil {
			return err
		}
		if !report.Intact() {
			fmt.Fprintln(stderr, "depportal audit verify:", report.String())
			return exitCode(1)
		}
		type outside struct{ from, note string }
		var notes []outside
		for _, path := range checkpoints {
			note, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintln(stderr, "depportal audit verify:", err)
				return exitCode(2)
			}
			notes = append(notes, outside{path, string(note)})
		}
		for _, path := range witnesses {
			f, err := os.Open(path)
			if err != nil {
				fmt.Fprintln(stderr, "depportal audit verify:", err)
				return exitCode(2)
			}
			ws, err := audit.WitnessedNotes(f)
			f.Close()
			if err != nil {
				fmt.Fprintf(stderr, "depportal audit verify: %s: %v\n", path, err)
				return exitCode(2)
			}
			for i, n := range ws {
				notes = append(notes, outside{fmt.Sprintf("%s (checkpoint %d of %d)", path, i+1, len(ws)), n})
			}
		}
		for _, o := range notes {
			problem, err := audit.VerifyCheckpoint(ctx, st, o.note, keys...)
			if err != nil {
				return err
			}
			if problem != nil {
				fmt.Fprintf(stderr, "depportal audit verify: against %s: broken at %s\n", o.from, problem.String())
				return exitCode(1)
			}
		}
		fmt.Fprintln(stdout, report.String())
		if len(notes) > 0 {
			fmt.Fprintf(stdout, "and consistent with %d checkpoint(s) kept outside the database\n", len(notes))
		}
		return nil
	case "export":
		if *format != "csv" && *format != "jsonl" {
			fmt.Fprintln(stderr, "depportal audit export: --format must be csv or jsonl")
			return exitCode(2)
		}
		var f audit.Filter
		if err := f.SetDays(*since, *until); err != nil {
			fmt.Fprintln(stderr, "depportal audit export: --"+err.Error())
			return exitCode(2)
		}
		st, err := openAuditDB(ctx, *db, getenv)
		if err != nil {
			return err
		}
		defer st.Close()
		return audit.Export(ctx, st, stdout, *format, f)
	default:
		fmt.Fprint(stderr, auditUsage)
		return exitCode(2)
	}
}

// openAuditDB opens the database serve would use, unless --db says otherwise.
func openAuditDB(ctx context.Context, url string, getenv func(string) string) (*store.DB, error) {
	if url == "" {
		url = getenv("DEPPORTAL_DATABASE_URL")
	}
	if url == "" {
		url = "sqlite:" + filepath.Join(dataDir(getenv), "depportal.db")
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no audit database at %s: %w", path, err)
		}
	}
	return store.Open(ctx, url)
}

func dataDir(getenv func(string) string) string {
	if d := getenv("DEPPORTAL_DATA_DIR"); d != "" {
		return d
	}
	return "data"
}

// servingVerifierKey derives the verifier of the key serve signs with: the environment's, or
// the sandbox's file.
func servingVerifierKey(getenv func(string) string) (string, error) {
	raw := getenv("DEPPORTAL_AUDIT_SIGNING_KEY")
	if raw == "" {
		b, err := os.ReadFile(filepath.Join(dataDir(getenv), app.AuditKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			return "", errors.New("no audit signing key: set DEPPORTAL_AUDIT_SIGNING_KEY, or run serve once in the sandbox")
		}
		if err != nil {
			return "", err
		}
		raw = string(b)
	}
	_, vkey, err := audit.ParseKey(raw)
	return vkey, err
}
