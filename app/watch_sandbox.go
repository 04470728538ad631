//go:build !nosandbox

package app

import "crypto/tls"

// emailTLS is nil for now: the SMTP server's certificate is checked against the system's roots.
func (s sandboxTenant) emailTLS() *tls.Config { return nil }
