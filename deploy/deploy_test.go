// Package deploy holds no Go code: these tests keep the shipping files in step with the program.
// The Dockerfile and scripts/build-release.sh must build the same binary; the Entra app manifest
// must name the roles, permissions and URLs that config/ uses; deploy/entra/register.sh must run
// the right az commands in the right order; the Kubernetes example must use real variables and
// routes and keep its hardening.
package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/sandbox"
)

// root is the repository root; go test runs in the package folder.
const root = ".."

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func defaults(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatalf("config.Load with no environment: %v", err)
	}
	return cfg
}

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ---- Dockerfile and scripts/build-release.sh ----------------------------------------------------

// goBuild is one `go build` command line, split into its parts.
type goBuild struct {
	Env     map[string]string // KEY=VALUE words before `go build`
	Flags   []string          // flags other than -o and -ldflags, in order
	LDFlags string
	Tags    string // -tags
	Output  string
	Package string
}

// joinContinuations turns backslash-continued lines into single lines.
func joinContinuations(text string) []string {
	var lines []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimRight(line, " \t")
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	return lines
}

// shellWords splits a command line on blanks outside quotes and removes the quotes.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

var envWord = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)

// parseGoBuild finds the single `go build` line of a Dockerfile or shell script.
func parseGoBuild(t *testing.T, name, text string) goBuild {
	t.Helper()
	var found []string
	for _, line := range joinContinuations(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.Contains(line, " go build ") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one `go build` line, found %d: %q", name, len(found), found)
	}
	words := shellWords(t, found[0])
	at := -1
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "go" && words[i+1] == "build" {
			at = i
			break
		}
	}
	if at < 0 {
		t.Fatalf("%s: no `go build` words in %q", name, found[0])
	}
	b := goBuild{Env: map[string]string{}}
	// Environment: the KEY=VALUE words right before `go build` (a RUN line may start with
	// options such as --mount).
	for i := at - 1; i >= 0 && envWord.MatchString(words[i]); i-- {
		k, v, _ := strings.Cut(words[i], "=")
		b.Env[k] = v
	}
	args := words[at+2:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			b.Output = args[i+1]
			i++
		case a == "-ldflags" && i+1 < len(args):
			b.LDFlags = args[i+1]
			i++
		case a == "-tags" && i+1 < len(args):
			b.Tags = args[i+1]
			i++
		case strings.HasPrefix(a, "-"):
			b.Flags = append(b.Flags, a)
		default:
			if b.Package != "" {
				t.Fatalf("%s: two packages in `go build`: %q and %q", name, b.Package, a)
			}
			b.Package = a
		}
	}
	return b
}

func TestDockerfileAndReleaseScriptBuildTheSameBinary(t *testing.T) {
	t.Parallel()
	docker := parseGoBuild(t, "Dockerfile", readFile(t, "Dockerfile"))
	script := parseGoBuild(t, "scripts/build-release.sh", readFile(t, "scripts/build-release.sh"))

	for name, b := range map[string]goBuild{"Dockerfile": docker, "build-release.sh": script} {
		if b.Env["CGO_ENABLED"] != "0" {
			t.Errorf("%s: CGO_ENABLED=%q, want 0 (distroless static has no libc)", name, b.Env["CGO_ENABLED"])
		}
		if !slices.Contains(b.Flags, "-trimpath") {
			t.Errorf("%s: go build lacks -trimpath: %v", name, b.Flags)
		}
		ld := strings.Fields(b.LDFlags)
		for _, want := range []string{"-s", "-w"} {
			if !slices.Contains(ld, want) {
				t.Errorf("%s: -ldflags %q lacks %s", name, b.LDFlags, want)
			}
		}
		if b.Package != "." {
			t.Errorf("%s: builds %q, want the main package \".\"", name, b.Package)
		}
		if !slices.Contains(strings.Split(b.Tags, ","), "nosandbox") {
			t.Errorf("%s: -tags %q lacks nosandbox: the release would carry the sandbox tenant", name, b.Tags)
		}
		if !strings.HasSuffix(b.Output, "/depportal") {
			t.Errorf("%s: -o %q, want …/depportal", name, b.Output)
		}
	}

	if !mapsEqualKeys(docker.Env, script.Env) || docker.Env["CGO_ENABLED"] != script.Env["CGO_ENABLED"] {
		t.Errorf("build environments differ:\n  Dockerfile:       %v\n  build-release.sh: %v", docker.Env, script.Env)
	}
	if docker.Tags != script.Tags {
		t.Errorf("build tags differ: Dockerfile %q, build-release.sh %q", docker.Tags, script.Tags)
	}
	if !slices.Equal(docker.Flags, script.Flags) {
		t.Errorf("go build flags differ:\n  Dockerfile:       %v\n  build-release.sh: %v", docker.Flags, script.Flags)
	}
	if docker.LDFlags != script.LDFlags {
		t.Errorf("-ldflags differ:\n  Dockerfile:       %q\n  build-release.sh: %q", docker.LDFlags, script.LDFlags)
	}
	dockerX, scriptX := ldflagsX(t, docker.LDFlags), ldflagsX(t, script.LDFlags)
	if !slices.Equal(dockerX, scriptX) {
		t.Errorf("-X variables differ: Dockerfile %v, build-release.sh %v", dockerX, scriptX)
	}
	if !slices.Equal(dockerX, []string{"main.commit", "main.version"}) {
		t.Errorf("-X stamps %v, want main.version and main.commit", dockerX)
	}
	// -X silently does nothing for a variable that does not exist.
	mainGo := readFile(t, "main.go")
	for _, v := range []string{"version", "commit"} {
		if !regexp.MustCompile(`(?m)^\s+` + v + `\s+=\s+"`).MatchString(mainGo) {
			t.Errorf("main.go has no string variable %q for -X main.%s", v, v)
		}
	}

	// Both download and verify modules the same way before building.
	for name, text := range map[string]string{"Dockerfile": readFile(t, "Dockerfile"), "build-release.sh": readFile(t, "scripts/build-release.sh")} {
		if !strings.Contains(text, "go mod download && go mod verify") {
			t.Errorf("%s: lacks `go mod download && go mod verify`", name)
		}
	}
}

func mapsEqualKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// ldflagsX lists the variables that -X sets, sorted, and checks each takes a build argument.
func ldflagsX(t *testing.T, ldflags string) []string {
	t.Helper()
	var vars []string
	words := strings.Fields(ldflags)
	for i, w := range words {
		if w != "-X" || i+1 >= len(words) {
			continue
		}
		name, value, ok := strings.Cut(words[i+1], "=")
		if !ok || !regexp.MustCompile(`^\$\{[A-Z]+\}$`).MatchString(value) {
			t.Errorf("-X %s: want name=${VAR}", words[i+1])
		}
		vars = append(vars, name)
	}
	slices.Sort(vars)
	return vars
}

// dockerInstructions returns the Dockerfile's instructions (continuations joined, comments
// dropped) as [keyword, rest] pairs.
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	for _, line := range joinContinuations(readFile(t, "Dockerfile")) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
	}
	return out
}

// TestDockerfileFinalStage checks what the image must guarantee, not how each line is spelled:
// the Go of go.mod builds it, the final stage has no libc or shell to lean on (distroless
// static, so the binary must be static, which the build test checks), it runs as a numeric
// non-root user that owns /data, it starts the portal, and its HEALTHCHECK uses a subcommand the
// binary has.
func TestDockerfileFinalStage(t *testing.T) {
	t.Parallel()
	ins := dockerInstructions(t)
	last := -1
	var froms []string
	for i, in := range ins {
		if in[0] == "FROM" {
			last = i
			froms = append(froms, in[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build (the toolchain stays out of the image), FROM lines: %v", froms)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if goVersion == nil || !strings.Contains(froms[0], "golang:"+goVersion[1]) {
		t.Errorf("build stage FROM %q, want the Go of go.mod (%v)", froms[0], goVersion)
	}
	final := ins[last:]
	if base := final[0][1]; !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %q, want a distroless static base (no libc, no shell)", base)
	}
	last1 := func(instr string) string {
		v := ""
		for _, in := range final {
			if in[0] == instr {
				v = in[1]
			}
		}
		return v
	}
	user := last1("USER")
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root user (runAsNonRoot can only check a number)", user)
	}
	if ep := last1("ENTRYPOINT"); ep != `["/depportal"]` {
		t.Errorf("ENTRYPOINT %q, want the portal binary", ep)
	}
	hc := last1("HEALTHCHECK")
	m := regexp.MustCompile(`CMD \["/depportal", "(\w+)"\]$`).FindStringSubmatch(hc)
	if m == nil || !strings.Contains(readFile(t, "main.go"), `case "`+m[1]+`"`) {
		t.Errorf("HEALTHCHECK %q must run a subcommand main.go has (the image has no curl)", hc)
	}
	// /data belongs to that user: copied in with --chown to the same uid.
	owned := slices.ContainsFunc(ins, func(in [2]string) bool {
		return in[0] == "COPY" && strings.Contains(in[1], "--chown="+uid+":") && strings.Contains(in[1], "/out/rootfs/")
	}) && slices.ContainsFunc(ins, func(in [2]string) bool {
		return in[0] == "RUN" && strings.Contains(in[1], "/out/rootfs/data")
	})
	if !owned {
		t.Errorf("/data must be made in the build stage and copied with --chown=%s: the portal writes its database there", uid)
	}
	env := map[string]string{}
	for _, in := range final {
		if in[0] == "ENV" {
			k, v, _ := strings.Cut(in[1], "=")
			env[k] = v
		}
	}
	names := variableNames()
	for k := range env {
		if !names[k] {
			t.Errorf("Dockerfile sets ENV %s, which config does not read", k)
		}
	}
}

// TestDockerignoreKeepsTheBuildInputs: every Go file and embedded file of the main package and
// the module's packages it imports must reach the build context.
func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	t.Parallel()
	var patterns []*regexp.Regexp
	var raw []string
	for _, line := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%q) are not understood by this test", line)
		}
		raw = append(raw, line)
		patterns = append(patterns, dockerignorePattern(line))
	}
	ignored := func(rel string) string {
		// A pattern that matches a folder excludes everything inside it.
		parts := strings.Split(rel, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			for j, p := range patterns {
				if p.MatchString(prefix) {
					return raw[j]
				}
			}
		}
		return ""
	}
	// Self-check of the matcher on paths the patterns are meant for.
	for rel, want := range map[string]bool{
		".git/config": true, "depportal": true, "docs/security.md": true, "main_test.go": true,
		"deptoken/testdata/certs/a.pem": true, "README.md": true,
		"main.go": false, "static/app.css": false, "store/migrations/sqlite/0001_init.sql": false,
		"go.sum": false, "sandbox/depportal.go": false,
	} {
		if got := ignored(rel) != ""; got != want {
			t.Errorf("matcher: %s ignored = %v, want %v", rel, got, want)
		}
	}

	cmd := exec.Command("go", "list", "-e", "-deps", "-json", ".")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	absRoot, _ := filepath.Abs(root)
	dec := json.NewDecoder(bytes.NewReader(out))
	var files []string
	for {
		var p struct {
			ImportPath string
			Dir        string
			Module     *struct{ Path string }
			GoFiles    []string
			EmbedFiles []string
			OtherFiles []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/depportal/depportal" {
			continue
		}
		rel, err := filepath.Rel(absRoot, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.EmbedFiles, p.OtherFiles) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if !slices.Contains(files, "main.go") || !slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, "store/migrations/") }) {
		t.Fatalf("go list found too little (no main.go or migrations): %v", files)
	}
	for _, f := range append(files, "go.mod", "go.sum") {
		if p := ignored(f); p != "" {
			t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, f)
		}
	}
}

// dockerignorePattern turns a .dockerignore line into a regexp over slash paths relative to the
// context: * and ? stay within a folder, **/ spans any number of folders.
func dockerignorePattern(p string) *regexp.Regexp {
	p = strings.Trim(path.Clean(strings.TrimPrefix(p, "/")), "/")
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			re.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			re.WriteString(".*")
			i++
		case p[i] == '*':
			re.WriteString("[^/]*")
		case p[i] == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

// ---- deploy/entra/manifest.json -----------------------------------------------------------------

type manifest struct {
	DisplayName    string `json:"displayName"`
	SignInAudience string `json:"signInAudience"`
	AppRoles       []struct {
		AllowedMemberTypes []string `json:"allowedMemberTypes"`
		Description        string   `json:"description"`
		DisplayName        string   `json:"displayName"`
		ID                 string   `json:"id"`
		IsEnabled          bool     `json:"isEnabled"`
		Value              string   `json:"value"`
	} `json:"appRoles"`
	RequiredResourceAccess []struct {
		ResourceAppID  string `json:"resourceAppId"`
		ResourceAccess []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"resourceAccess"`
	} `json:"requiredResourceAccess"`
	OptionalClaims struct {
		IDToken []struct {
			Name      string `json:"name"`
			Essential bool   `json:"essential"`
		} `json:"idToken"`
		AccessToken []json.RawMessage `json:"accessToken"`
	} `json:"optionalClaims"`
	Web struct {
		RedirectURIs          []string `json:"redirectUris"`
		LogoutURL             string   `json:"logoutUrl"`
		ImplicitGrantSettings *struct {
			EnableAccessTokenIssuance *bool `json:"enableAccessTokenIssuance"`
			EnableIDTokenIssuance     *bool `json:"enableIdTokenIssuance"`
		} `json:"implicitGrantSettings"`
	} `json:"web"`
}

const microsoftGraph = "00000003-0000-0000-c000-000000000000"

// graphDelegated are Microsoft Graph's delegated permission IDs (the same in every tenant),
// as the Graph permissions reference lists them.
var graphDelegated = map[string]string{
	"openid":         "37f7f235-527c-4136-accd-4a02d197296e",
	"profile":        "14dad69e-099b-42c9-810b-d002981feec1",
	"offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
	"DeviceManagementServiceConfig.ReadWrite.All": "662ed50a-ac44-4eef-ad86-62eed9be2a29",
}

// The app role IDs are fixed once: assignments refer to them, and Entra refuses to drop an
// enabled role. Never regenerate them.
var stableRoleIDs = map[string]string{
	"DepToken.Upload": "38d63fd5-8c79-4713-ba84-8bdccc256c2c",
	"DepToken.Audit":  "0ffe368d-770b-4ebe-bda0-c1cfa3435557",
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(readFile(t, "deploy/entra/manifest.json")))
	var m manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m
}

func TestManifestMatchesConfig(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	cfg := defaults(t)

	if m.DisplayName != "depportal" || m.SignInAudience != "AzureADMyOrg" {
		t.Errorf("displayName %q, signInAudience %q; want depportal, AzureADMyOrg (single tenant)", m.DisplayName, m.SignInAudience)
	}

	// App roles: the values config expects by default, with stable, distinct GUIDs.
	var values []string
	seen := map[string]bool{}
	for _, r := range m.AppRoles {
		values = append(values, r.Value)
		if !guidPattern.MatchString(r.ID) {
			t.Errorf("app role %s: id %q is not a lower-case GUID", r.Value, r.ID)
		}
		if seen[r.ID] {
			t.Errorf("app role %s: id %s used twice", r.Value, r.ID)
		}
		seen[r.ID] = true
		if want := stableRoleIDs[r.Value]; r.ID != want {
			t.Errorf("app role %s: id %s, want the fixed %s", r.Value, r.ID, want)
		}
		if !slices.Equal(r.AllowedMemberTypes, []string{"User"}) || !r.IsEnabled || r.DisplayName == "" || r.Description == "" {
			t.Errorf("app role %s: want allowedMemberTypes [User] (users and groups), enabled, with a display name and description: %+v", r.Value, r)
		}
	}
	slices.Sort(values)
	want := []string{cfg.AuditorRole, cfg.UploaderRole}
	slices.Sort(want)
	if !slices.Equal(values, want) {
		t.Errorf("app role values %v, want config's defaults %v", values, want)
	}
	for _, r := range m.AppRoles {
		switch r.Value {
		case cfg.UploaderRole:
			if r.DisplayName != "DEP token uploader" {
				t.Errorf("%s display name %q", r.Value, r.DisplayName)
			}
		case cfg.AuditorRole:
			if r.DisplayName != "DEP token auditor" {
				t.Errorf("%s display name %q", r.Value, r.DisplayName)
			}
		}
	}

	// Delegated Graph permissions: sign-in scopes plus the one config asks Graph for.
	if len(m.RequiredResourceAccess) != 1 || m.RequiredResourceAccess[0].ResourceAppID != microsoftGraph {
		t.Fatalf("requiredResourceAccess: want Microsoft Graph (%s) alone, got %+v", microsoftGraph, m.RequiredResourceAccess)
	}
	graphPermission := path.Base(cfg.GraphScope())
	if _, ok := graphDelegated[graphPermission]; !ok {
		t.Fatalf("config.GraphScope() asks for %q, whose permission ID this test does not know", graphPermission)
	}
	var gotNames []string
	byID := map[string]string{}
	for name, id := range graphDelegated {
		byID[id] = name
	}
	for _, a := range m.RequiredResourceAccess[0].ResourceAccess {
		if a.Type != "Scope" {
			t.Errorf("permission %s has type %q, want Scope (delegated): the portal acts as the person", a.ID, a.Type)
		}
		name, ok := byID[a.ID]
		if !ok {
			t.Errorf("permission id %s is not one of the delegated permissions depportal needs", a.ID)
			continue
		}
		gotNames = append(gotNames, name)
	}
	wantNames := []string{"openid", "profile", "offline_access", graphPermission}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("delegated permissions %v, want %v", gotNames, wantNames)
	}

	// URLs: Entra returns the browser after sign-out only to a registered redirect URI, so
	// /signed-out is one, beside the callback; the front-channel logout URL is another setting.
	var paths []string
	for _, raw := range m.Web.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" {
			t.Errorf("web.redirectUris: %q is not an https URL", raw)
			continue
		}
		paths = append(paths, u.Path)
	}
	redirect, _ := url.Parse(cfg.RedirectURL())
	signedOut, _ := url.Parse(cfg.PostLogoutRedirectURL())
	if want := []string{redirect.Path, signedOut.Path}; !slices.Equal(paths, want) {
		t.Errorf("web.redirectUris paths %v, want %v (the sign-in callback and where sign-out returns)", paths, want)
	}
	if u, err := url.Parse(m.Web.LogoutURL); err != nil || u.Scheme != "https" || u.Path != sandbox.FrontChannelLogoutPath {
		t.Errorf("web.logoutUrl = %q, want https://<host>%s (front-channel logout)", m.Web.LogoutURL, sandbox.FrontChannelLogoutPath)
	}
	ig := m.Web.ImplicitGrantSettings
	if ig == nil || ig.EnableAccessTokenIssuance == nil || ig.EnableIDTokenIssuance == nil || *ig.EnableAccessTokenIssuance || *ig.EnableIDTokenIssuance {
		t.Error("web.implicitGrantSettings: both must be present and false (authorization code flow with PKCE)")
	}
}

// The sandbox's registration is the manifest's: the same redirect paths, front-channel logout
// path and ID token optional claims, so that what the sandbox provider accepts is what Entra
// ID accepts with this manifest.
func TestManifestMatchesTheSandboxRegistration(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	reg := mustSandboxRegistration(t)
	pathsOf := func(urls ...string) []string {
		var out []string
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, u.Path)
		}
		return out
	}
	if got, want := pathsOf(m.Web.RedirectURIs...), pathsOf(reg.RedirectURIs...); !slices.Equal(got, want) {
		t.Errorf("manifest redirect paths %v, sandbox registration %v", got, want)
	}
	if got, want := pathsOf(m.Web.LogoutURL), pathsOf(reg.FrontChannelLogoutURL); !slices.Equal(got, want) {
		t.Errorf("manifest front-channel logout path %v, sandbox registration %v", got, want)
	}
	var claims []string
	for _, c := range m.OptionalClaims.IDToken {
		claims = append(claims, c.Name)
		if c.Essential {
			t.Errorf("optional claim %s is marked essential", c.Name)
		}
	}
	if !slices.Equal(claims, reg.IDTokenOptionalClaims) {
		t.Errorf("manifest ID token optional claims %v, sandbox registration %v", claims, reg.IDTokenOptionalClaims)
	}
	for _, want := range []string{"sid", "login_hint"} {
		if !slices.Contains(claims, want) {
			t.Errorf("optionalClaims.idToken lacks %s (front-channel logout and logout_hint need it)", want)
		}
	}
}

func mustSandboxRegistration(t *testing.T) sandbox.Registration {
	t.Helper()
	idp, err := sandbox.NewIdP(sandbox.IdPConfig{BaseURL: "https://depportal.example.com", DataDir: t.TempDir(), ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return idp.Registration()
}

// ---- deploy/entra/register.sh -------------------------------------------------------------------

func TestScriptsParse(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"deploy/entra/register.sh", "scripts/build-release.sh"} {
		out, err := exec.Command("bash", "-n", filepath.Join(root, s)).CombinedOutput()
		if err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		info, err := os.Stat(filepath.Join(root, s))
		if err != nil || info.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
}

// jsonTools are the manifest readers register.sh can use; each present one is tested.
func jsonTools(t *testing.T) []string {
	var tools []string
	for _, tool := range []string{"jq", "python3"} {
		if _, err := exec.LookPath(tool); err == nil {
			tools = append(tools, tool)
		} else {
			t.Logf("%s not found: register.sh's %s path is not tested here", tool, tool)
		}
	}
	if len(tools) == 0 {
		t.Fatal("register.sh needs jq or python3, and neither is installed")
	}
	return tools
}

func register(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "deploy/entra/register.sh")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// assertOrder checks that each string occurs in out, each after the one before.
func assertOrder(t *testing.T, out string, steps ...string) {
	t.Helper()
	at := 0
	for _, s := range steps {
		i := strings.Index(out[at:], s)
		if i < 0 {
			t.Errorf("%q missing after position %d of the output:\n%s", s, at, out)
			return
		}
		at += i + len(s)
	}
}

const (
	uploadGroup = "5b2a4f0e-1c1c-4c1c-9d1e-0123456789ab"
	auditGroup  = "7c3b5e1f-2d2d-4d2d-8e2f-0123456789cd"
)

func TestRegisterDryRun(t *testing.T) {
	t.Parallel()
	m := loadManifest(t)
	for _, tool := range jsonTools(t) {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			secretFile := filepath.Join(t.TempDir(), "secret")
			env := []string{"DEPPORTAL_JSON_TOOL=" + tool, "PATH=" + pathWithout(t, "az")}
			out, code := register(t, env, "--dry-run", "--name", "depportal", "--public-url", "https://portal.contoso.com", "--secret-file", secretFile)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			assertOrder(t, out,
				"+ az account show",
				"+ az ad app list --display-name depportal",
				"+ az ad app create --display-name depportal --sign-in-audience AzureADMyOrg --web-redirect-uris https://portal.contoso.com/auth/callback https://portal.contoso.com/signed-out --enable-id-token-issuance false",
				"+ az rest --method PATCH",
				"+ az ad sp create --id",
				"+ az ad sp update --id 44444444-4444-4444-4444-444444444444 --set appRoleAssignmentRequired=true",
				"+ az ad app permission list",
				"+ az ad app credential reset --id 22222222-2222-2222-2222-222222222222 --append --years 1 --display-name depportal",
				"az ad app permission admin-consent --id 22222222-2222-2222-2222-222222222222",
				"ENTRA_TENANT_ID=11111111-1111-1111-1111-111111111111",
				"ENTRA_CLIENT_ID=22222222-2222-2222-2222-222222222222",
				"ENTRA_CLIENT_SECRET=$(cat "+secretFile+")",
				"DEPPORTAL_PUBLIC_URL=https://portal.contoso.com",
			)
			for _, want := range []string{`"https://portal.contoso.com/auth/callback"`, `"https://portal.contoso.com/signed-out"`,
				`"logoutUrl": "https://portal.contoso.com/auth/front-channel-logout"`} {
				if !strings.Contains(out, want) {
					t.Errorf("web.json shown in the dry run lacks %s", want)
				}
			}
			// The optional claims go with the app's create and update, from the manifest.
			assertOrder(t, out, "# optional-claims.json", `"name": "sid"`, `"name": "login_hint"`, `"name": "acct"`,
				"+ az ad app create", "--optional-claims @")
			for _, role := range m.AppRoles {
				if !strings.Contains(out, role.ID) {
					t.Errorf("the dry run does not show app role %s (%s) from the manifest", role.Value, role.ID)
				}
			}
			if strings.Contains(out, "appRoleAssignedTo") {
				t.Error("role assignments without --upload-group/--audit-group")
			}
			if _, err := os.Stat(secretFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a dry run wrote the secret file (%v)", err)
			}

			// With groups: each assigned its role, between the service principal and the secret.
			out, code = register(t, env, "--dry-run", "--name", "depportal", "--public-url", "https://portal.contoso.com",
				"--secret-file", secretFile, "--upload-group", uploadGroup, "--audit-group", auditGroup, "--secret-years", "2")
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			assertOrder(t, out,
				"+ az ad sp create --id",
				`"principalId": "`+uploadGroup+`", "resourceId": "44444444-4444-4444-4444-444444444444", "appRoleId": "`+stableRoleIDs["DepToken.Upload"]+`"`,
				"+ az rest --method POST --uri https://graph.microsoft.com/v1.0/servicePrincipals/44444444-4444-4444-4444-444444444444/appRoleAssignedTo",
				`"principalId": "`+auditGroup+`", "resourceId": "44444444-4444-4444-4444-444444444444", "appRoleId": "`+stableRoleIDs["DepToken.Audit"]+`"`,
				"+ az rest --method POST --uri https://graph.microsoft.com/v1.0/servicePrincipals/44444444-4444-4444-4444-444444444444/appRoleAssignedTo",
				"+ az ad app credential reset --id 22222222-2222-2222-2222-222222222222 --append --years 2",
				"az ad app permission admin-consent",
			)

			// A certificate instead of a secret.
			cert := filepath.Join(t.TempDir(), "depportal.pem")
			os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
			out, code = register(t, env, "--dry-run", "--name", "depportal", "--public-url", "https://portal.contoso.com", "--certificate", cert)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			assertOrder(t, out, "+ az ad app credential reset --id 22222222-2222-2222-2222-222222222222 --cert @"+cert+" --append", "admin-consent")
			if strings.Contains(out, "--years") {
				t.Error("a secret was created although --certificate was given")
			}
		})
	}
}

func TestRegisterRefusesBadArguments(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret")
	for _, c := range []struct {
		why  string
		args []string
	}{
		{"no --secret-file nor --certificate", []string{"--name", "depportal", "--public-url", "https://p.contoso.com"}},
		{"no --public-url", []string{"--name", "depportal", "--secret-file", secret}},
		{"a path in the URL", []string{"--name", "depportal", "--public-url", "https://p.contoso.com/portal", "--secret-file", secret}},
		{"http for a real host", []string{"--name", "depportal", "--public-url", "http://p.contoso.com", "--secret-file", secret}},
		{"a group name, not an ID", []string{"--name", "depportal", "--public-url", "https://p.contoso.com", "--secret-file", secret, "--upload-group", "Helpdesk"}},
		{"zero years", []string{"--name", "depportal", "--public-url", "https://p.contoso.com", "--secret-file", secret, "--secret-years", "0"}},
		{"a quote in the name", []string{"--name", "dep'portal", "--public-url", "https://p.contoso.com", "--secret-file", secret}},
		{"an unknown flag", []string{"--name", "depportal", "--public-url", "https://p.contoso.com", "--secret-file", secret, "--tenant", "x"}},
	} {
		out, code := register(t, nil, append(c.args, "--dry-run")...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (usage)\n%s", c.why, code, out)
		}
		if strings.Contains(out, "+ az ") {
			t.Errorf("%s: ran az commands before refusing:\n%s", c.why, out)
		}
	}
}

// fakeAz is an `az` that logs its arguments and answers like a tenant where the app, its
// service principal and the upload group's assignment already exist.
const fakeAz = `#!/usr/bin/env bash
printf '%s\n' "$*" >>"$AZ_LOG"
case "$*" in
  "account show"*) echo 99999999-0000-4000-8000-000000000001 ;;
  "ad app list"*) echo 99999999-0000-4000-8000-00000000a001 ;;
  "ad app show"*"--query id"*) echo 99999999-0000-4000-8000-00000000b001 ;;
  "ad app show"*DepToken.Upload*) echo "$UPLOAD_ROLE_ID" ;;
  "ad app show"*DepToken.Audit*) echo "$AUDIT_ROLE_ID" ;;
  "ad sp list"*) echo 99999999-0000-4000-8000-00000000c001 ;;
  "ad app permission list"*) printf '%s\n' $SCOPE_IDS ;;
  "rest --method GET"*"$UPLOAD_GROUP"*) echo 1 ;;
  "rest --method GET"*) echo 0 ;;
  "ad app credential reset"*) echo "s3cret-from-fake-az" ;;
esac
`

func TestRegisterUpdatesAnExistingApp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "az.log")
	secretFile := filepath.Join(dir, "client-secret")
	var scopes []string
	for _, id := range graphDelegated {
		scopes = append(scopes, id)
	}
	env := []string{
		"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"AZ_LOG=" + log,
		"UPLOAD_ROLE_ID=" + stableRoleIDs["DepToken.Upload"],
		"AUDIT_ROLE_ID=" + stableRoleIDs["DepToken.Audit"],
		"UPLOAD_GROUP=" + uploadGroup,
		"SCOPE_IDS=" + strings.Join(scopes, " "),
	}
	args := []string{"--name", "depportal", "--public-url", "https://portal.contoso.com", "--secret-file", secretFile,
		"--upload-group", uploadGroup, "--audit-group", auditGroup}

	out, code := register(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	calls := readLines(t, log)
	has := func(prefix string) bool {
		return slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
	}
	if !has("ad app update --id 99999999-0000-4000-8000-00000000a001 --sign-in-audience AzureADMyOrg") || has("ad app create") {
		t.Errorf("want the existing app updated, not a new one created; az calls:\n%s", strings.Join(calls, "\n"))
	}
	if has("ad sp create") {
		t.Error("created a service principal although one exists")
	}
	var posts []string
	for _, c := range calls {
		if strings.HasPrefix(c, "rest --method POST") {
			posts = append(posts, c)
		}
	}
	// The upload group has its role already: only the audit group is assigned.
	if len(posts) != 1 {
		t.Errorf("want one role assignment, got %d:\n%s", len(posts), strings.Join(posts, "\n"))
	}
	if strings.Contains(out, "s3cret-from-fake-az") {
		t.Error("the client secret was printed")
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil || string(secret) != "s3cret-from-fake-az\n" {
		t.Fatalf("secret file: %q, %v", secret, err)
	}
	if info, _ := os.Stat(secretFile); info.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", info.Mode().Perm())
	}

	// Again: nothing new, the secret is kept.
	os.Remove(log)
	out, code = register(t, env, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	calls = readLines(t, log)
	if has("ad app credential reset") {
		t.Error("the second run added another secret although --secret-file holds one")
	}
	if !strings.Contains(out, "already holds a secret: keeping it") {
		t.Errorf("the second run does not say it keeps the secret:\n%s", out)
	}
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// pathWithout is $PATH less the folders holding program (so a dry run cannot reach a real az).
func pathWithout(t *testing.T, program string) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, program)); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// ---- deploy/kubernetes ----------------------------------------------------------------------------

func variableNames() map[string]bool {
	names := map[string]bool{
		// Being added to config alongside the audit trail and the metrics endpoint.
		"DEPPORTAL_AUDIT_SIGNING_KEY": true,
		"DEPPORTAL_METRICS_TOKEN":     true,
	}
	for _, v := range config.Variables {
		names[v.Name] = true
	}
	return names
}

// yamlDocuments reads every deploy/kubernetes/*.yaml and returns its documents by kind/name.
func yamlDocuments(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy/kubernetes/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/kubernetes/*.yaml (%v)", err)
	}
	kindRe := regexp.MustCompile(`(?m)^kind: (\w+)$`)
	nameRe := regexp.MustCompile(`(?m)^  name: ([\w.-]+)$`)
	docs := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(b, '\t') {
			t.Errorf("%s contains a tab: YAML indents with spaces", f)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			kind := kindRe.FindStringSubmatch(doc)
			name := nameRe.FindStringSubmatch(doc)
			if kind == nil {
				if strings.TrimSpace(stripComments(doc)) != "" {
					t.Errorf("%s: a document without kind:\n%s", f, doc)
				}
				continue
			}
			if name == nil {
				t.Errorf("%s: %s without metadata.name", f, kind[1])
				continue
			}
			key := kind[1] + "/" + name[1]
			if _, dup := docs[key]; dup {
				t.Errorf("%s twice", key)
			}
			docs[key] = doc
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// mapKeys returns the keys directly under `section:` (data, stringData) of a document.
func mapKeys(t *testing.T, doc, section string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	in := false
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case line == section+":":
			in = true
		case in && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && !strings.HasPrefix(k, "#") {
				keys[k] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		case in && strings.HasPrefix(strings.TrimSpace(line), "#"):
		case in && line != "":
			in = false
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no %s: keys in\n%s", section, doc)
	}
	return keys
}

func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	docs := yamlDocuments(t)
	for _, k := range []string{"Namespace/depportal", "ConfigMap/depportal", "Secret/depportal", "Deployment/depportal",
		"Service/depportal", "Ingress/depportal", "NetworkPolicy/depportal"} {
		if docs[k] == "" {
			t.Errorf("no %s", k)
		}
	}
	names := variableNames()

	configMap := mapKeys(t, docs["ConfigMap/depportal"], "data")
	secret := mapKeys(t, docs["Secret/depportal"], "stringData")
	for _, want := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "DEPPORTAL_PUBLIC_URL", "DEPPORTAL_TRUSTED_PROXIES"} {
		if _, ok := configMap[want]; !ok {
			t.Errorf("ConfigMap lacks %s", want)
		}
	}
	for _, want := range []string{"ENTRA_CLIENT_SECRET", "DEPPORTAL_SESSION_KEY", "DEPPORTAL_AUDIT_SIGNING_KEY", "DEPPORTAL_DATABASE_URL"} {
		if _, ok := secret[want]; !ok {
			t.Errorf("Secret lacks %s", want)
		}
		if _, ok := configMap[want]; ok {
			t.Errorf("%s is a secret but sits in the ConfigMap", want)
		}
	}
	deployment := docs["Deployment/depportal"]
	envNames := regexp.MustCompile(`(?m)^\s+- name: ([A-Z][A-Z0-9_]*)$`).FindAllStringSubmatch(deployment, -1)
	all := map[string]string{}
	for k := range configMap {
		all[k] = "ConfigMap"
	}
	for k := range secret {
		all[k] = "Secret"
	}
	for _, m := range envNames {
		all[m[1]] = "Deployment env"
	}
	for k, where := range all {
		if !names[k] {
			t.Errorf("%s sets %s, which depportal does not read", where, k)
		}
	}

	// Two replicas share sessions and the audit trail only through PostgreSQL.
	if regexp.MustCompile(`(?m)^  replicas: (\d+)`).FindStringSubmatch(deployment)[1] != "1" &&
		!strings.HasPrefix(secret["DEPPORTAL_DATABASE_URL"], "postgres://") {
		t.Error("more than one replica needs DEPPORTAL_DATABASE_URL=postgres://…")
	}

	for _, want := range []string{
		"replicas: 2",
		"image: ghcr.io/depportal/depportal:",
		"containerPort: 8080",
		"runAsNonRoot: true",
		"runAsUser: 65532",
		"readOnlyRootFilesystem: true",
		"allowPrivilegeEscalation: false",
		`drop: ["ALL"]`,
		"type: RuntimeDefault",
		"mountPath: /data",
		"configMapRef:",
		"secretRef:",
		"cpu: 50m",
		"memory: 64Mi",
		"cpu: 500m",
		"memory: 256Mi",
	} {
		if !strings.Contains(deployment, want) {
			t.Errorf("Deployment lacks %q", want)
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		re := regexp.MustCompile(`(?s)` + probe + `:\s*\n\s+httpGet:\s*\n\s+path: (\S+)`)
		m := re.FindStringSubmatch(deployment)
		if m == nil || m[1] != path {
			t.Errorf("%s: want httpGet %s, got %v", probe, path, m)
		}
	}
	// The probes' paths are public routes of the portal, and the port is the default listen port.
	routes := readFile(t, "handlers/routes.go")
	for _, p := range []string{"/healthz", "/readyz"} {
		if !strings.Contains(routes, `(http.MethodGet, "`+p+`", public,`) {
			t.Errorf("handlers/routes.go has no public GET %s for the probes", p)
		}
	}
	if cfg := defaults(t); cfg.Listen != ":8080" {
		t.Errorf("config's default listen address is %q; the image and manifests use 8080", cfg.Listen)
	}

	ingress := docs["Ingress/depportal"]
	for _, want := range []string{"tls:", "secretName:", "DEPPORTAL_TRUSTED_PROXIES"} {
		if !strings.Contains(ingress, want) {
			t.Errorf("Ingress lacks %q (TLS placeholder and the trusted-proxies note)", want)
		}
	}
	policy := docs["NetworkPolicy/depportal"]
	for _, want := range []string{"Egress", "port: 443", "port: 5432", "port: 53"} {
		if !strings.Contains(policy, want) {
			t.Errorf("NetworkPolicy lacks %q", want)
		}
	}
}
