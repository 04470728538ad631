package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/depportal/depportal/deptoken"
)

const tokenInspectUsage = `usage: depportal token inspect [--json] [--cert CERT.pem] FILE

Says what FILE is: an Apple ADE server token (its recipient certificate,
algorithms, download time) or, if not, what it is instead. Nothing leaves
this machine. With --cert, also checks the token was encrypted to CERT (the
certificate Intune's getEncryptionPublicKey returns, in any PEM form or DER).

Exit status: 0 a token (encrypted to CERT, when given); 1 not a token, or
made for another key; 2 usage error or unreadable file.

`

// inspectOutput is the --json document: the Report's stable names, plus the
// certificate check when --cert was given.
type inspectOutput struct {
	deptoken.Report
	MatchesCertificate *bool `json:"matchesCertificate,omitempty"`
}

// runTokenInspect implements `depportal token inspect`; args are the
// arguments after "token inspect". Flags may come before or after FILE.
func runTokenInspect(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("depportal token inspect", flag.ContinueOnError)
	flags.SetOutput(stderr)
	asJSON := flags.Bool("json", false, "print the report as JSON")
	certPath := flags.String("cert", "", "check that the token is encrypted to this certificate")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), tokenInspectUsage)
		flags.PrintDefaults()
	}
	files, err := parseInterspersed(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "depportal token inspect: want exactly one FILE, got %d\n", len(files))
		flags.Usage()
		return 2
	}
	path := files[0]

	var certText string
	if *certPath != "" {
		b, err := readSmallFile(*certPath, deptoken.DefaultMaxSize)
		if err != nil {
			fmt.Fprintf(stderr, "depportal token inspect: --cert: %v\n", err)
			return 2
		}
		certText = string(b)
		if _, err := deptoken.ParseCertificate(certText); err != nil {
			fmt.Fprintf(stderr, "depportal token inspect: --cert %s: %v\n", *certPath, err)
			return 2
		}
	}

	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "depportal token inspect: %v\n", err)
		return 2
	}
	defer f.Close()
	rep, err := deptoken.Inspect(f, deptoken.WithFileName(filepath.Base(path)))
	var fe *deptoken.FileError
	if errors.As(err, &fe) {
		fmt.Fprintf(stderr, "%s is not a server token (%s).\n%s\n", path, fe.Kind, fe.Msg)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "depportal token inspect: %v\n", err)
		return 2
	}

	var match *deptoken.MatchResult
	if certText != "" {
		m, err := deptoken.Match(rep, certText)
		if err != nil { // already parsed once above; kept for safety
			fmt.Fprintf(stderr, "depportal token inspect: --cert %s: %v\n", *certPath, err)
			return 2
		}
		match = &m
	}

	if *asJSON {
		out := inspectOutput{Report: rep}
		if match != nil {
			out.MatchesCertificate = &match.Matched
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "depportal token inspect: %v\n", err)
			return 2
		}
	} else {
		printReport(stdout, rep, match)
	}

	if match != nil && !match.Matched {
		fmt.Fprintf(stderr, "%s was NOT made for %s (issuer %s, serial %s): Intune cannot decrypt it.\n",
			path, *certPath, match.CertificateIssuer, match.CertificateSerial)
		if match.SameIssuer {
			fmt.Fprintln(stderr, "Same issuer, other serial: this MDM server's key pair was regenerated since the public key was uploaded to Apple Business Manager.")
		}
		fmt.Fprintln(stderr, "Download the public key from Intune for this token, upload it to the MDM server in Apple "+
			"Business Manager, then download a new token.")
		return 1
	}
	return 0
}

// parseInterspersed lets flags follow FILE, as people type them; everything
// after "--" is a file name.
func parseInterspersed(flags *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := flags.Parse(args); err != nil {
			return nil, err
		}
		rest := flags.Args()
		if len(rest) == 0 {
			return files, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(files, rest...), nil
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

func readSmallFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func printReport(w io.Writer, rep deptoken.Report, match *deptoken.MatchResult) {
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-20s %s\n", label+":", fmt.Sprintf(format, a...))
	}
	line("File", "%s", rep.FileName)
	line("Verdict", "Apple server token (CMS enveloped-data)")
	line("Format", "%s", rep.Format)
	line("Size", "%d bytes", rep.Size)
	line("SHA-256", "%s", rep.SHA256)
	line("Content type", "%s", rep.ContentType)
	line("Content encryption", "%s (%s)", rep.ContentEncryption.Name, rep.ContentEncryption.OID)
	line("Key encryption", "%s (%s)", rep.KeyEncryption.Name, rep.KeyEncryption.OID)
	if rep.DownloadedAt != nil {
		line("MDM server", "%s", rep.ServerName)
		// Apple's tokens expire one year after download.
		line("Downloaded", "%s (expires about %s)", rep.DownloadedAt.Format("2006-01-02 15:04:05 MST"),
			rep.DownloadedAt.AddDate(1, 0, 0).Format("2006-01-02"))
	} else {
		line("Downloaded", "unknown (the file was renamed)")
	}
	for i, r := range rep.Recipients {
		label := fmt.Sprintf("Recipient %d", i+1)
		if r.SubjectKeyID != "" {
			line(label, "subject key identifier %s", r.SubjectKeyID)
			continue
		}
		line(label, "issuer %s", r.Issuer)
		fmt.Fprintf(w, "%-20s serial %s\n", "", r.Serial)
	}
	if match != nil {
		if match.Matched {
			line("Certificate", "matches recipient %d", match.Recipient+1)
		} else {
			line("Certificate", "DOES NOT MATCH: it is issuer %s, serial %s", match.CertificateIssuer, match.CertificateSerial)
		}
	}
}
