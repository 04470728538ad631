//go:build nosandbox

package handlers_test

import (
	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/sandbox"
)

// tenantOf is never reached: without the sandbox the portal tests skip before starting one.
func tenantOf(*app.App) *sandbox.Tenant { return nil }
