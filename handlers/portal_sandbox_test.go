//go:build !nosandbox

package handlers_test

import (
	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/sandbox"
)

func tenantOf(a *app.App) *sandbox.Tenant { return a.Tenant() }
