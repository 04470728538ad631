package static

import (
	"regexp"
	"strings"
	"testing"
)

// colour is a CSS colour value as app.css writes them.
var colour = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla|oklch)\([^)]*\))$`)

// The browser tests check the dark scheme with axe-core's colour rules only (e2e/a11y_test.go),
// which holds only while dark changes colours and nothing else: custom properties set to
// colours, inside the prefers-color-scheme blocks.
func TestDarkSchemeChangesOnlyColours(t *testing.T) {
	t.Parallel()
	css, err := FS.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
	blocks := schemeBlocks(t, string(css))
	if len(blocks) == 0 {
		t.Fatal("app.css has no prefers-color-scheme block: the browser tests' dark looks check nothing a light look does not")
	}
	for _, b := range blocks {
		for _, decl := range declarations(b) {
			name, value, _ := strings.Cut(decl, ":")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !strings.HasPrefix(name, "--") || !colour.MatchString(value) {
				t.Errorf("the dark scheme sets %q: only custom properties set to a colour belong there (or run every axe rule in dark, e2e/a11y_test.go)", decl)
			}
		}
	}
}

// schemeBlocks are the bodies of css's @media blocks that name prefers-color-scheme.
func schemeBlocks(tb testing.TB, css string) []string {
	tb.Helper()
	var out []string
	for rest := css; ; {
		i := strings.Index(rest, "prefers-color-scheme")
		if i < 0 {
			return out
		}
		open := strings.IndexByte(rest[i:], '{')
		if open < 0 {
			tb.Fatalf("app.css: no block after %q", rest[i:])
		}
		start := i + open + 1
		depth, end := 1, start
		for ; end < len(rest) && depth > 0; end++ {
			switch rest[end] {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		if depth != 0 {
			tb.Fatal("app.css: a prefers-color-scheme block is never closed")
		}
		out = append(out, rest[start:end-1])
		rest = rest[end:]
	}
}

// declarations are the declarations inside the rules of an @media body.
func declarations(body string) []string {
	var out []string
	for _, rule := range strings.Split(body, "}") {
		_, decls, ok := strings.Cut(rule, "{")
		if !ok {
			continue
		}
		for _, d := range strings.Split(decls, ";") {
			if d = strings.TrimSpace(d); d != "" {
				out = append(out, d)
			}
		}
	}
	return out
}
