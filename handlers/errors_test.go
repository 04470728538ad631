package handlers_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/views"
)

// An internal error becomes the 500 page with a request ID; its text reaches the log only.
func TestInternalErrorPageHidesDetail(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	rec := httptest.NewRecorder()
	deps := handlers.Deps{Config: p.app.Config(), Logger: p.app.Logger(), Sessions: p.app.Sessions()}
	handlers.RenderError(deps, errors.New("pq: password authentication failed for user depportal"), rec, httptest.NewRequest(http.MethodGet, "/", nil), "req-123")

	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError || !strings.Contains(body, "Something went wrong") || !strings.Contains(body, "req-123") {
		t.Errorf("500 page: %d %s", rec.Code, body)
	}
	if strings.Contains(body, "password authentication") {
		t.Error("internal error text shown to the person")
	}
	if !strings.Contains(p.logs.String(), "password authentication failed") || !strings.Contains(p.logs.String(), "request_id=req-123") {
		t.Error("internal error not logged with its request ID")
	}
}

// securityCheckReasons are the refusals that deliberately share one page: the provider's answer
// failed a check of the ID token or of the code exchange, which says nothing a helpdesk person
// can act on beyond signing in again and giving the operators the request ID.
var securityCheckReasons = []auth.Reason{
	auth.ReasonExchange, auth.ReasonNoIDToken, auth.ReasonAlgorithm, auth.ReasonUnknownKey,
	auth.ReasonSignature, auth.ReasonIssuer, auth.ReasonAudience, auth.ReasonAuthorizedParty,
	auth.ReasonNonce, auth.ReasonSubject, auth.ReasonClaims,
}

// reasonsDeclaredInAuth reads package auth's source for every constant of type Reason, so that
// a reason added there is checked here without anyone remembering to list it.
func reasonsDeclaredInAuth(t *testing.T) []auth.Reason {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "auth", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("auth's source not found at ../auth: %v", err)
	}
	isReason := func(e ast.Expr) bool { id, ok := e.(*ast.Ident); return ok && id.Name == "Reason" }
	var reasons []auth.Reason
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			previousWasReason := false
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Type == nil && len(vs.Values) == 0 && previousWasReason {
					t.Fatalf("%s: Reason %s repeats the line above it; this test reads only string literals", fset.Position(vs.Pos()), vs.Names[0])
				}
				previousWasReason = false
				for i, n := range vs.Names {
					var value ast.Expr
					switch {
					case isReason(vs.Type) && i < len(vs.Values):
						value = vs.Values[i] // ReasonX Reason = "x"
					case vs.Type == nil && i < len(vs.Values):
						// ReasonX = Reason("x")
						if call, ok := vs.Values[i].(*ast.CallExpr); ok && isReason(call.Fun) && len(call.Args) == 1 {
							value = call.Args[0]
						}
					}
					if value == nil {
						continue // a constant of another type
					}
					previousWasReason = true
					lit, ok := value.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: Reason %s is not a string literal; teach this test to read it", fset.Position(n.Pos()), n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					reasons = append(reasons, auth.Reason(v))
				}
			}
		}
	}
	return reasons
}

// Each sign-in refusal reason gets words a helpdesk person understands, never the raw reason;
// and each gets a page chosen for it: either its own, or the security-check page, on purpose.
func TestEverySignInReasonHasAPage(t *testing.T) {
	t.Parallel()
	cfg := newTestPortal(t, nil).app.Config()
	reasons := reasonsDeclaredInAuth(t)
	if len(reasons) < 20 {
		t.Fatalf("found only %d reasons in auth's source: the parser missed some", len(reasons))
	}
	// What an unmapped reason gets: the default branch.
	fallback := handlers.SignInProblem(cfg, &auth.SignInError{Reason: "reason-no-code-has", Detail: "kid abc"})
	isFallback := func(p views.Problem) bool { return p.Message == fallback.Message && p.Next == fallback.Next }
	for _, r := range securityCheckReasons {
		if !slices.Contains(reasons, r) {
			t.Errorf("%s is listed as a security-check reason but auth no longer declares it", r)
		}
	}
	for _, r := range reasons {
		pr := handlers.SignInProblem(cfg, &auth.SignInError{Reason: r, Detail: "kid abc"})
		if pr.Status < 400 || pr.Message == "" || pr.Next == "" || len(pr.Actions) == 0 {
			t.Errorf("%s: incomplete page %+v", r, pr)
		}
		if strings.Contains(pr.Message+pr.Next, string(r)) || strings.Contains(pr.Message+pr.Next, "kid abc") {
			t.Errorf("%s: page shows internal detail", r)
		}
		switch security := slices.Contains(securityCheckReasons, r); {
		case security && !isFallback(pr):
			t.Errorf("%s: a security-check refusal, but its page is not the security-check page: %q", r, pr.Message)
		case !security && isFallback(pr):
			t.Errorf("%s has no page of its own: it falls through to %q. Give it words in handlers/errors.go "+
				"(signInProblem), or, if it is an ID token or exchange check, list it in securityCheckReasons", r, pr.Message)
		}
	}
}
