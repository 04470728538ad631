//go:build nosandbox

package app

import "crypto/tls"

// emailTLS is nil: the SMTP server's certificate is checked against the system's roots.
func (sandboxTenant) emailTLS() *tls.Config { return nil }

func (sandboxTenant) close() {}
