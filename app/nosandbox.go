//go:build nosandbox

package app

import (
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/depportal/depportal/config"
)

// HasSandbox reports whether this build carries the embedded demo tenant.
const HasSandbox = false

// sandboxTenant is empty: this build holds no sandbox (docs/decisions/0008).
type sandboxTenant struct{}

func (sandboxTenant) handler() http.Handler { return nil }

func resolveSandbox(cfg config.Config, _ SandboxOptions, _ *slog.Logger) (config.Config, sandboxTenant, error) {
	return cfg, sandboxTenant{}, ErrNoSandbox
}

// emailTLS is nil: the SMTP server's certificate is checked against the system's roots.
func (sandboxTenant) emailTLS() *tls.Config { return nil }

func (sandboxTenant) close() {}
