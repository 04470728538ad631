package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
)

const validKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func tenantEnv() map[string]string {
	return map[string]string{
		"ENTRA_TENANT_ID":             "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"ENTRA_CLIENT_ID":             "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
		"ENTRA_CLIENT_SECRET":         "s3cret",
		"DEPPORTAL_PUBLIC_URL":        "https://depportal.contoso.com",
		"DEPPORTAL_SESSION_KEY":       validKey,
		"DEPPORTAL_AUDIT_SIGNING_KEY": auditKey,
	}
}

// auditKey is a fixed checkpoint signing key for these tests (audit.GenerateKey's format).
var auditKey = func() string {
	k, _, err := audit.GenerateKey("depportal.contoso.com/audit")
	if err != nil {
		panic(err)
	}
	return k
}()

func MustLoad(tb testing.TB, m map[string]string) Config {
	tb.Helper()
	c, err := Load(env(m))
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

func MustFail(tb testing.TB, m map[string]string) []string {
	tb.Helper()
	_, err := Load(env(m))
	var cerr *Error
	if !errors.As(err, &cerr) {
		tb.Fatalf("Load error = %v, want *config.Error", err)
	}
	return cerr.Problems
}

func TestSandboxWhenNothingSet(t *testing.T) {
	t.Parallel()
	c := MustLoad(t, nil)
	if c.Mode != ModeSandbox {
		t.Fatalf("mode = %s, want sandbox", c.Mode)
	}
	if got := c.PublicURL.String(); got != "http://localhost:8080" {
		t.Errorf("public URL = %s", got)
	}
	if c.Listen != ":8080" || c.UploaderRole != "DepToken.Upload" || c.AuditorRole != "DepToken.Audit" {
		t.Errorf("defaults wrong: %+v", c)
	}
	if c.SessionIdleTimeout != 30*time.Minute || c.SessionAbsoluteTimeout != 8*time.Hour {
		t.Errorf("timeouts = %s/%s", c.SessionIdleTimeout, c.SessionAbsoluteTimeout)
	}
	if c.DatabaseURL != "sqlite:data/depportal.db" {
		t.Errorf("database = %s", c.DatabaseURL)
	}
}

func TestSandboxPublicURLFollowsListenPort(t *testing.T) {
	t.Parallel()
	c := MustLoad(t, map[string]string{"DEPPORTAL_LISTEN": "127.0.0.1:9191"})
	if got := c.PublicURL.String(); got != "http://localhost:9191" {
		t.Errorf("public URL = %s", got)
	}
	c = MustLoad(t, map[string]string{"DEPPORTAL_PUBLIC_URL": "http://127.0.0.1:7000"})
	if c.Mode != ModeSandbox || c.PublicURL.String() != "http://127.0.0.1:7000" {
		t.Errorf("override: mode %s url %s", c.Mode, c.PublicURL)
	}
}

func TestTenantComplete(t *testing.T) {
	t.Parallel()
	c := MustLoad(t, tenantEnv())
	if c.Mode != ModeTenant {
		t.Fatalf("mode = %s", c.Mode)
	}
	if got, want := c.Issuer(), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"; got != want {
		t.Errorf("issuer = %s, want %s", got, want)
	}
	if got := c.RedirectURL(); got != "https://depportal.contoso.com/auth/callback" {
		t.Errorf("redirect = %s", got)
	}
	if !c.SecureCookies() {
		t.Error("https public URL must give secure cookies")
	}
	if len(c.SessionKey) != 32 {
		t.Errorf("session key length %d", len(c.SessionKey))
	}
	if got := c.GraphScope(); got != "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All" {
		t.Errorf("scope = %s", got)
	}
}

func TestGraphScopeFollowsNationalCloud(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["GRAPH_BASE_URL"] = "https://graph.microsoft.us/beta"
	m["ENTRA_AUTHORITY_HOST"] = "https://login.microsoftonline.us/"
	c := MustLoad(t, m)
	if got := c.GraphScope(); got != "https://graph.microsoft.us/DeviceManagementServiceConfig.ReadWrite.All" {
		t.Errorf("scope = %s", got)
	}
	if got := c.Issuer(); !strings.HasPrefix(got, "https://login.microsoftonline.us/72f988bf") {
		t.Errorf("issuer = %s", got)
	}
}

func TestEachProblemNamed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"missing secret", map[string]string{"ENTRA_CLIENT_SECRET": ""}, "ENTRA_CLIENT_SECRET is missing (or set ENTRA_CLIENT_CERTIFICATE"},
		{"secret and certificate", map[string]string{"ENTRA_CLIENT_CERTIFICATE": "/etc/depportal/cert.pem"}, "not both"},
		{"certificate unreadable", map[string]string{"ENTRA_CLIENT_SECRET": "", "ENTRA_CLIENT_CERTIFICATE": "/nonexistent/cert.pem"}, "ENTRA_CLIENT_CERTIFICATE: neither PEM text nor a readable file"},
		{"certificate without key", map[string]string{"ENTRA_CLIENT_SECRET": "", "ENTRA_CLIENT_CERTIFICATE": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}, "want a PEM certificate and its private key"},
		{"missing client", map[string]string{"ENTRA_CLIENT_ID": ""}, "ENTRA_CLIENT_ID is missing"},
		{"missing tenant", map[string]string{"ENTRA_TENANT_ID": ""}, "ENTRA_TENANT_ID is missing"},
		{"tenant not GUID", map[string]string{"ENTRA_TENANT_ID": "contoso.onmicrosoft.com"}, "ENTRA_TENANT_ID must be the directory (tenant) ID, a GUID"},
		{"client not GUID", map[string]string{"ENTRA_CLIENT_ID": "depportal"}, "ENTRA_CLIENT_ID must be the application (client) ID"},
		{"missing public URL", map[string]string{"DEPPORTAL_PUBLIC_URL": ""}, "DEPPORTAL_PUBLIC_URL is missing"},
		{"http public URL", map[string]string{"DEPPORTAL_PUBLIC_URL": "http://depportal.contoso.com"}, "must use https"},
		{"public URL with path", map[string]string{"DEPPORTAL_PUBLIC_URL": "https://contoso.com/depportal"}, "must not have a path"},
		{"missing session key", map[string]string{"DEPPORTAL_SESSION_KEY": ""}, "DEPPORTAL_SESSION_KEY is missing"},
		{"missing audit key", map[string]string{"DEPPORTAL_AUDIT_SIGNING_KEY": ""}, "DEPPORTAL_AUDIT_SIGNING_KEY is missing"},
		{"short session key", map[string]string{"DEPPORTAL_SESSION_KEY": "c2hvcnQ="}, "must decode to 32 bytes, got 5"},
		{"session key not base64", map[string]string{"DEPPORTAL_SESSION_KEY": "not base64!!"}, "DEPPORTAL_SESSION_KEY: is not base64"},
		{"authority http", map[string]string{"ENTRA_AUTHORITY_HOST": "http://login.example.com"}, "ENTRA_AUTHORITY_HOST"},
		{"graph not URL", map[string]string{"GRAPH_BASE_URL": "graph"}, "GRAPH_BASE_URL"},
		{"bad database", map[string]string{"DEPPORTAL_DATABASE_URL": "mysql://x"}, "DEPPORTAL_DATABASE_URL must start with sqlite: or postgres://"},
		{"bad idle", map[string]string{"DEPPORTAL_SESSION_IDLE_TIMEOUT": "soon"}, "DEPPORTAL_SESSION_IDLE_TIMEOUT must be a positive duration"},
		{"idle over absolute", map[string]string{"DEPPORTAL_SESSION_IDLE_TIMEOUT": "9h"}, "must not exceed DEPPORTAL_SESSION_ABSOLUTE_TIMEOUT"},
		{"bad proxies", map[string]string{"DEPPORTAL_TRUSTED_PROXIES": "10.0.0.0/8, nope"}, `"nope" is not a CIDR`},
		{"bad listen", map[string]string{"DEPPORTAL_LISTEN": "8080"}, "DEPPORTAL_LISTEN"},
		{"bad log level", map[string]string{"DEPPORTAL_LOG_LEVEL": "loud"}, "DEPPORTAL_LOG_LEVEL"},
		{"bad encoding", map[string]string{"DEPPORTAL_DEP_TOKEN_ENCODING": "hex"}, "DEPPORTAL_DEP_TOKEN_ENCODING must be raw or base64"},
		{"bad graph timeout", map[string]string{"DEPPORTAL_GRAPH_TIMEOUT": "-1s"}, "DEPPORTAL_GRAPH_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tenantEnv()
			for k, v := range tt.change {
				m[k] = v
			}
			problems := MustFail(t, m)
			if len(problems) != 1 {
				t.Fatalf("want exactly one problem, got %q", problems)
			}
			if !strings.Contains(problems[0], tt.want) {
				t.Errorf("problem %q does not contain %q", problems[0], tt.want)
			}
		})
	}
}

// The audit signing key's format is audit's to check (audit.New, where the key is used): config
// passes the text on, trimmed, without judging it.
func TestAuditSigningKeyPassedOnAsText(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["DEPPORTAL_AUDIT_SIGNING_KEY"] = "  PRIVATE+KEY+nope\n"
	if c := MustLoad(t, m); c.AuditSigningKey != "PRIVATE+KEY+nope" {
		t.Errorf("AuditSigningKey = %q, want the variable's text, trimmed", c.AuditSigningKey)
	}
}

func TestPartialTenantNamesEveryMissingVariable(t *testing.T) {
	t.Parallel()
	problems := MustFail(t, map[string]string{"ENTRA_CLIENT_ID": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"})
	joined := strings.Join(problems, "\n")
	for _, want := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_SECRET", "DEPPORTAL_PUBLIC_URL", "DEPPORTAL_SESSION_KEY", "DEPPORTAL_AUDIT_SIGNING_KEY"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems do not name %s:\n%s", want, joined)
		}
	}
	if len(problems) != 5 {
		t.Errorf("want 5 problems, got %d:\n%s", len(problems), joined)
	}
}

func TestTrustedProxiesParsed(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["DEPPORTAL_TRUSTED_PROXIES"] = "10.1.2.3/8, 192.168.0.0/16"
	c := MustLoad(t, m)
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("proxies = %v", c.TrustedProxies)
	}
}

func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	// Load reads each documented variable; a variable read but not documented would be a
	// setting nobody can discover.
	read := map[string]bool{}
	_, _ = Load(func(k string) string { read[k] = true; return "" })
	documented := map[string]bool{}
	for _, v := range Variables {
		documented[v.Name] = true
	}
	for k := range read {
		if !documented[k] {
			t.Errorf("%s is read but not in Variables", k)
		}
	}
	for k := range documented {
		if !read[k] {
			t.Errorf("%s is documented but never read", k)
		}
	}
}

func TestClientCertificateInsteadOfSecret(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	path := filepath.Join(t.TempDir(), "depportal.pem")
	os.WriteFile(path, bundle, 0o600)
	for name, value := range map[string]string{"file path": path, "PEM text": string(bundle)} {
		m := tenantEnv()
		m["ENTRA_CLIENT_SECRET"] = ""
		m["ENTRA_CLIENT_CERTIFICATE"] = value
		c := MustLoad(t, m)
		if len(c.ClientCertificatePEM) == 0 || c.ClientSecret != "" {
			t.Errorf("%s: certificate not taken", name)
		}
	}
}

// go-oidc compares the issuer exactly, and Entra writes the tenant ID in lower case.
func TestIssuerLowerCasesTheTenantID(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["ENTRA_TENANT_ID"] = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
	c := MustLoad(t, m)
	if got, want := c.Issuer(), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"; got != want {
		t.Errorf("issuer = %s, want %s", got, want)
	}
	if c.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("tenant ID kept as %s", c.TenantID)
	}
	byHand := Config{AuthorityHost: "https://login.microsoftonline.com", TenantID: "72F988BF-86F1-41AF-91AB-2D7CD011DB47"}
	if got := byHand.Issuer(); got != "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" {
		t.Errorf("issuer of a Config built by hand = %s", got)
	}
}

// China's authority is login.partner.microsoftonline.cn: its discovery document names that host
// as the issuer even when fetched from the old login.chinacloudapi.cn, which is taken as an
// alias for it.
func TestChinaAuthorityAlias(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"https://login.chinacloudapi.cn", "https://login.chinacloudapi.cn/", "https://LOGIN.ChinaCloudAPI.cn", "https://login.partner.microsoftonline.cn"} {
		m := tenantEnv()
		m["ENTRA_AUTHORITY_HOST"] = host
		m["GRAPH_BASE_URL"] = "https://microsoftgraph.chinacloudapi.cn/beta"
		c := MustLoad(t, m)
		if c.AuthorityHost != "https://login.partner.microsoftonline.cn" {
			t.Errorf("%s: authority host %s", host, c.AuthorityHost)
		}
		if got, want := c.Issuer(), "https://login.partner.microsoftonline.cn/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"; got != want {
			t.Errorf("%s: issuer %s, want %s", host, got, want)
		}
		if got := c.GraphScope(); got != "https://microsoftgraph.chinacloudapi.cn/DeviceManagementServiceConfig.ReadWrite.All" {
			t.Errorf("%s: scope %s", host, got)
		}
	}
}

func TestClientSecretExpires(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]time.Time{
		"2027-03-01":                time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
		"2027-03-01T12:30:00Z":      time.Date(2027, 3, 1, 12, 30, 0, 0, time.UTC),
		"2027-03-01T12:30:00+01:00": time.Date(2027, 3, 1, 11, 30, 0, 0, time.UTC),
	} {
		m := tenantEnv()
		m["ENTRA_CLIENT_SECRET_EXPIRES"] = raw
		if got := MustLoad(t, m).ClientSecretExpires; !got.Equal(want) {
			t.Errorf("%s: %s, want %s", raw, got, want)
		}
	}
	if got := MustLoad(t, tenantEnv()).ClientSecretExpires; !got.IsZero() {
		t.Errorf("unset: %s", got)
	}
	m := tenantEnv()
	m["ENTRA_CLIENT_SECRET_EXPIRES"] = "1 March 2027"
	if p := MustFail(t, m); len(p) != 1 || !strings.Contains(p[0], "ENTRA_CLIENT_SECRET_EXPIRES") || !strings.Contains(p[0], "2027-03-01") {
		t.Errorf("problems %q", p)
	}
	// Setting it alone is no tenant: it is not a credential.
	if c := MustLoad(t, map[string]string{"ENTRA_CLIENT_SECRET_EXPIRES": "2027-03-01"}); c.Mode != ModeSandbox {
		t.Errorf("mode %s", c.Mode)
	}
}
