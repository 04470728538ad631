// Package e2e drives the built depportal binary, in sandbox mode, with a real Chromium.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

var (
	binaryPath string // built once in TestMain
	outDir     string // screenshots land here (DEPPORTAL_E2E_OUT); none when empty
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "depportal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binaryPath = filepath.Join(tmp, "depportal")
	build := exec.Command("go", "build", "-o", binaryPath, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build depportal:", err)
		return 1
	}
	// Screenshots cost a full-page layout and a PNG each (half a second of a busy machine):
	// taken only when asked for, to refresh the README's pictures or to look at a run.
	if outDir = os.Getenv("DEPPORTAL_E2E_OUT"); outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// portal is a running depportal binary.
type portal struct {
	URL     string
	DataDir string
	out     *testkit.LogBuffer
	cmd     *exec.Cmd
}

var listening = regexp.MustCompile(`msg="depportal listening" mode=sandbox url=(\S+)`)

// startPortal starts the binary on a random port with dataDir and waits for /readyz. The
// caller stops it (MustStartPortal does, gracefully; the crash test kills it). env adds
// NAME=value pairs, e.g. DEPPORTAL_SANDBOX_FAULTS.
func startPortal(tb testing.TB, dataDir string, env ...string) *portal {
	tb.Helper()
	// The sandbox's keys, made once per test binary: a start makes no RSA keys of its own.
	if err := sandbox.SeedDataDir(dataDir); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(binaryPath)
	cmd.Env = append(os.Environ(), "DEPPORTAL_LISTEN=127.0.0.1:0", "DEPPORTAL_DATA_DIR="+dataDir)
	for _, name := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "DEPPORTAL_PUBLIC_URL", "DEPPORTAL_DATABASE_URL", "DEPPORTAL_SANDBOX_FAULTS"} {
		cmd.Env = append(cmd.Env, name+"=")
	}
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out := &testkit.LogBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			out.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	fail := func(why string) {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("%s:\n%s", why, out.String())
	}
	var base string
	select {
	case base = <-urls:
	case <-time.After(30 * time.Second):
		fail("portal did not start")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			fail("portal never ready")
		}
	}
	return &portal{URL: base, DataDir: dataDir, out: out, cmd: cmd}
}

// MustStartPortal starts the binary with a fresh data folder and stops it with SIGINT when the
// test ends, showing its output if the test failed.
func MustStartPortal(tb testing.TB, env ...string) *portal {
	tb.Helper()
	p := startPortal(tb, tb.TempDir(), env...)
	tb.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
		}
		if tb.Failed() {
			tb.Logf("portal output:\n%s", p.out.String())
		}
	})
	return p
}

// One Chromium serves every test, each browser in a browser context of its own (its own
// cookies and storage, as separate browsers would have): starting Chromium costs more than
// most tests' steps, and on two cores a dozen Chromiums side by side starve the portals.
var (
	chromiumOnce sync.Once
	chromium     context.Context
	chromiumErr  error
)

// MustBrowser is a fresh browser context (its own cookies) in the shared headless Chromium.
// Browser tests call testkit.MustChromium first, before they start a portal, so that a machine
// without Chromium skips them at once.
func MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	path := testkit.MustChromium(tb)
	chromiumOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.UserDataDir(filepath.Join(os.TempDir(), fmt.Sprintf("depportal-e2e-chromium-%d", os.Getpid()))),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("no-first-run", true),
			chromedp.WindowSize(1280, 900),
			// Headless Chromium still builds a browser window per browser context, and with it
			// the address bar's WebUI popups, in a renderer process of their own: about 0.5
			// CPU-s a context, over a quarter of the suite's Chromium time, for UI no page
			// reaches. The first two are chromedp's own defaults, which this flag replaces.
			chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebUIOmniboxPopup,WebUIOmniboxAimPopup"),
		)
		// Never cancelled: the browser lives as long as the test binary, and the kernel ends
		// it with the binary (chromedp's Pdeathsig on Linux). The first call starts it and
		// must not carry a timeout (that would end the browser).
		alloc, _ := chromedp.NewExecAllocator(context.Background(), opts...)
		chromium, _ = chromedp.NewContext(alloc)
		chromiumErr = chromedp.Do(chromium)
	})
	if chromiumErr != nil {
		tb.Fatalf("start Chromium at %s: %v", path, chromiumErr)
	}
	ctx, cancel := chromedp.NewContext(chromium, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open a browser context: %v", err)
	}
	return ctx
}

const stepTimeout = 30 * time.Second

// screenshot saves the whole page as outDir/name.png, when DEPPORTAL_E2E_OUT asks for them.
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if outDir == "" {
			return nil
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t) // quality 100 means PNG
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(outDir, name+".png"), png, 0o644)
	})
}

// MustDo runs browser steps, failing the test with where the browser was and what it showed.
func MustDo(tb testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	c, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		loc := MustGet(tb, ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		tb.Fatalf("browser: %v\nat %s\n%s", err, loc, body)
	}
}

// MustGet runs one browser action that returns a value.
func MustGet[T any](tb testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	tb.Helper()
	c, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		tb.Fatalf("browser: %v", err)
	}
	return v
}

func text(tb testing.TB, ctx context.Context, css string) string {
	tb.Helper()
	return strings.TrimSpace(MustGet(tb, ctx, chromedp.Text(chromedp.CSS(css))))
}

// signInAs goes to the portal's start page and picks a persona on the sandbox sign-in page.
func signInAs(tb testing.TB, ctx context.Context, p *portal, persona, shot string) {
	tb.Helper()
	MustDo(tb, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-"+persona)))
	if title := MustGet(tb, ctx, chromedp.Title()); !strings.Contains(title, "Sign in") {
		tb.Errorf("persona page title %q", title)
	}
	if shot != "" {
		MustDo(tb, ctx, screenshot(shot))
	}
	// Wait for the portal's own header: the sign-in page has none.
	MustDo(tb, ctx, chromedp.Click(chromedp.ID("persona-"+persona)), chromedp.WaitVisible(chromedp.CSS("header.topbar")))
}

func TestHannahSignsInAndOut(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "01-sandbox-sign-in")

	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-name"]`)), screenshot("02-home-hannah"))
	name := text(t, ctx, `[data-testid="user-name"]`)
	role := text(t, ctx, `[data-testid="user-role"]`)
	banner := text(t, ctx, `.sandbox-banner`)
	if name != "Hannah Helpdesk" || !strings.Contains(role, "DepToken.Upload") {
		t.Errorf("header shows %q / %q", name, role)
	}
	if h1 := text(t, ctx, "main h1"); h1 != "Hello, Hannah Helpdesk" {
		t.Errorf("home heading %q", h1)
	}
	if !strings.Contains(banner, "Sandbox — not connected to a real tenant") {
		t.Errorf("banner = %q", banner)
	}

	MustDo(t, ctx,
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(`//h1[contains(., "You are signed out")]`),
		screenshot("03-signed-out"),
	)

	// The start page now sends you to sign in again.
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-hannah")))
	if loc := MustGet(t, ctx, chromedp.Location()); !strings.Contains(loc, "/_sandbox/idp/") {
		t.Errorf("after sign-out / went to %s", loc)
	}
}

func TestNoraSeesWhichRoleToAskFor(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "nora", "")
	MustDo(t, ctx, screenshot("04-forbidden-nora"))
	heading, body := text(t, ctx, "main h1"), text(t, ctx, "main")
	if heading != "You need a depportal role" || !strings.Contains(body, "DepToken.Upload") {
		t.Errorf("Nora sees %q: %s", heading, body)
	}
}

func TestEveFromAnotherTenantIsRefused(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "eve", "")
	MustDo(t, ctx, screenshot("05-wrong-tenant-eve"))
	heading, body := text(t, ctx, "main h1"), text(t, ctx, "main")
	if heading != "Wrong organisation" || !strings.Contains(body, "Portal request ID") {
		t.Errorf("Eve sees %q: %s", heading, body)
	}
	// No session was made: the start page asks for sign-in again.
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-eve")))
	if loc := MustGet(t, ctx, chromedp.Location()); !strings.Contains(loc, "/_sandbox/idp/") {
		t.Errorf("Eve reached %s without signing in", loc)
	}
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// metricValue reads one sample of p's /metrics (loopback may read it without the token):
// series is the name with its labels as Prometheus prints them; an absent series is 0.
func metricValue(tb testing.TB, p *portal, series string) float64 {
	tb.Helper()
	resp, err := metricsClient.Get(p.URL + "/metrics")
	if err != nil {
		tb.Fatalf("read /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatalf("/metrics: %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// outboxMessage is one message of the sandbox outbox.
type outboxMessage struct {
	Channel string
	Summary string
}

// mustOutbox is every message p's sandbox outbox received, oldest first
// (/_sandbox/outbox?format=json).
func mustOutbox(tb testing.TB, p *portal) []outboxMessage {
	tb.Helper()
	resp, err := metricsClient.Get(p.URL + "/_sandbox/outbox?format=json")
	if err != nil {
		tb.Fatalf("read the outbox: %v", err)
	}
	defer resp.Body.Close()
	var msgs []outboxMessage
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		tb.Fatalf("the outbox: %s: %v", resp.Status, err)
	}
	return msgs
}

// waitFor polls cond every 200 ms until it holds or within runs out; false when it ran out.
func waitFor(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
