package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
)

// Persona is a sandbox user that anyone may sign in as, without a password. Each one exists to
// exercise one authorisation outcome in the portal.
type Persona struct {
	Key         string   // form value on the persona page, e.g. "hannah"
	Name        string   // name claim
	Username    string   // preferred_username (ID token) and upn (access token)
	ObjectID    string   // oid claim: stable, the same in every token
	TenantID    string   // tid claim
	Roles       []string // app roles (roles claim); none at all for Nora
	Description string   // one line on the persona page saying what the persona is for
}

// The object IDs are fixed rather than generated so that audit records written in one sandbox
// run still name the same people after a restart.
var personas = []Persona{
	{
		Key:         "hannah",
		Name:        "Hannah Helpdesk",
		Username:    "hannah@contoso-sandbox.example",
		ObjectID:    "3b7c2d1e-8f4a-4c6b-9d2e-1a5f7c9e3b41",
		TenantID:    TenantID,
		Roles:       []string{"DepToken.Upload"},
		Description: "Helpdesk: may renew tokens (DepToken.Upload)",
	},
	{
		Key:         "avery",
		Name:        "Avery Auditor",
		Username:    "avery@contoso-sandbox.example",
		ObjectID:    "9e4f1a2b-6c3d-4e7f-8a1b-2c3d4e5f6a72",
		TenantID:    TenantID,
		Roles:       []string{"DepToken.Audit"},
		Description: "Auditor: may read the audit trail but not renew (DepToken.Audit)",
	},
	{
		Key:         "nora",
		Name:        "Nora Norole",
		Username:    "nora@contoso-sandbox.example",
		ObjectID:    "5d2e8f1a-3b4c-4d6e-9f7a-8b1c2d3e4f53",
		TenantID:    TenantID,
		Description: "Signed in without any app role: may do nothing",
	},
	{
		Key:         "eve",
		Name:        "Eve Elsewhere",
		Username:    "eve@fabrikam-elsewhere.example",
		ObjectID:    "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c64",
		TenantID:    OtherTenantID,
		Roles:       []string{"DepToken.Upload"},
		Description: "Another tenant, holding DepToken.Upload there: must be refused",
	},
}

// Personas returns the sandbox's people in the order the persona page shows them. The result is
// a copy: callers may change it freely.
func Personas() []Persona {
	out := slices.Clone(personas)
	for i := range out {
		out[i].Roles = slices.Clone(out[i].Roles)
	}
	return out
}

func personaByKey(key string) (Persona, bool) {
	for _, p := range personas {
		if p.Key == key {
			return p, true
		}
	}
	return Persona{}, false
}

// subject is the sub claim: pairwise per tenant, user and client, as Entra's is, so that it
// differs from oid. A relying party that keys people on sub instead of tid+oid gets values that
// match nothing Graph returns, here as against a real tenant.
func (p Persona) subject() string {
	sum := sha256.Sum256([]byte(p.TenantID + "/" + p.ObjectID + "/" + ClientID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
