package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

var (
	tokenFixtures = filepath.Join("deptoken", "testdata", "files")
	tokenCerts    = filepath.Join("deptoken", "testdata", "certs")
	appleToken    = filepath.Join(tokenFixtures, "Contoso MDM_Token_2026-11-29T07-12-45Z_smime.p7m")
)

// MustRunTokenInspect runs the command and checks its exit status.
func MustRunTokenInspect(tb testing.TB, want int, args ...string) (stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	if got := runTokenInspect(args, &out, &errOut); got != want {
		tb.Fatalf("token inspect %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, want, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

func MustDecodeJSON(tb testing.TB, s string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return m
}

func TestTokenInspectText(t *testing.T) {
	t.Parallel()
	out, errOut := MustRunTokenInspect(t, 0, appleToken)
	for _, want := range []string{
		"Apple server token",
		"AES-256-CBC (2.16.840.1.101.3.4.1.42)",
		"RSAES-PKCS1-v1_5 (1.2.840.113549.1.1.1)",
		"issuer CN=Microsoft Intune ADE Token Encryption (fixture A),OU=Intune,O=Contoso Ltd",
		"serial 3A6F1C2D9E8B7A65",
		"2026-11-29 07:12:45 UTC (expires about 2027-11-29)",
		"Contoso MDM",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr on success: %s", errOut)
	}
}

func TestTokenInspectJSON(t *testing.T) {
	t.Parallel()
	out, _ := MustRunTokenInspect(t, 0, "--json", appleToken)
	m := MustDecodeJSON(t, out)
	for _, k := range []string{"fileName", "sha256", "size", "format", "contentType", "recipients",
		"keyEncryption", "contentEncryption", "serverName", "downloadedAt"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if _, ok := m["matchesCertificate"]; ok {
		t.Error("matchesCertificate present without --cert")
	}
	if m["contentType"] != "1.2.840.113549.1.7.3" || m["format"] != "smime" || m["downloadedAt"] != "2026-11-29T07:12:45Z" {
		t.Errorf("JSON values: %v", m)
	}
	recs, _ := m["recipients"].([]any)
	if len(recs) != 1 {
		t.Fatalf("recipients = %v", m["recipients"])
	}
	if r := recs[0].(map[string]any); r["serial"] != "3A6F1C2D9E8B7A65" || !strings.HasPrefix(r["issuer"].(string), "CN=Microsoft Intune") {
		t.Errorf("recipient = %v", r)
	}
}

func TestTokenInspectCert(t *testing.T) {
	t.Parallel()
	for _, cert := range []string{
		filepath.Join(tokenCerts, "intune-a.crt"),
		filepath.Join(tokenFixtures, "intune-public-key-oneline.txt"),
	} {
		out, errOut := MustRunTokenInspect(t, 0, "--json", "--cert", cert, appleToken)
		if m := MustDecodeJSON(t, out); m["matchesCertificate"] != true {
			t.Errorf("%s: matchesCertificate = %v", cert, m["matchesCertificate"])
		}
		if errOut != "" {
			t.Errorf("%s: stderr on a match: %s", cert, errOut)
		}
	}
	out, _ := MustRunTokenInspect(t, 0, "--cert", filepath.Join(tokenCerts, "intune-a.crt"), appleToken)
	if !strings.Contains(out, "matches recipient 1") {
		t.Errorf("text output does not report the match:\n%s", out)
	}
}

func TestTokenInspectCertMismatch(t *testing.T) {
	t.Parallel()
	rekeyed := filepath.Join(tokenCerts, "intune-a-rekeyed.crt")
	out, errOut := MustRunTokenInspect(t, 1, "--json", "--cert", rekeyed, appleToken)
	if m := MustDecodeJSON(t, out); m["matchesCertificate"] != false {
		t.Errorf("matchesCertificate = %v, want false", m["matchesCertificate"])
	}
	if !strings.Contains(errOut, "NOT made for") || !strings.Contains(errOut, "3A6F1C2D9E8B7A66") || !strings.Contains(errOut, "regenerated") {
		t.Errorf("stderr does not explain the mismatch: %s", errOut)
	}
	out, _ = MustRunTokenInspect(t, 1, "--cert", filepath.Join(tokenCerts, "intune-b.crt"), appleToken)
	if !strings.Contains(out, "DOES NOT MATCH") {
		t.Errorf("text output hides the mismatch:\n%s", out)
	}
}

func TestTokenInspectWrongFiles(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"Contoso_Apps_and_Books.vpptoken": "Apps and Books",
		"apns-private-key.pem":            "NOT stored or logged",
		"intune-public-key.pem":           "certificate",
		"truncated.p7m":                   "incomplete",
		"empty.p7m":                       "empty",
	} {
		out, errOut := MustRunTokenInspect(t, 1, "--json", filepath.Join(tokenFixtures, file))
		if out != "" {
			t.Errorf("%s: stdout for a wrong file: %s", file, out)
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: stderr lacks %q: %s", file, want, errOut)
		}
	}
}

func TestTokenInspectUsage(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"no file":          {},
		"two files":        {appleToken, appleToken},
		"unknown flag":     {"--verbose", appleToken},
		"missing file":     {filepath.Join(tokenFixtures, "no-such-file.p7m")},
		"missing cert":     {"--cert", "no-such.pem", appleToken},
		"cert not a cert":  {"--cert", filepath.Join(tokenFixtures, "Contoso_Apps_and_Books.vpptoken"), appleToken},
		"cert without arg": {appleToken, "--cert"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, errOut := MustRunTokenInspect(t, 2, args...)
			if errOut == "" {
				t.Error("usage error without a word on stderr")
			}
		})
	}
	MustRunTokenInspect(t, 0, "-h")
}

func TestTokenInspectFlagsAfterFile(t *testing.T) {
	t.Parallel()
	out, _ := MustRunTokenInspect(t, 0, appleToken, "--json")
	MustDecodeJSON(t, out)
	MustRunTokenInspect(t, 0, "--", appleToken)
}
