package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
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
	// HomeTenantID is a B2B guest's own organisation: the tenant that authenticated them. His
	// tokens carry tid = this tenant (where he is a guest), idp = his home and acct = 1.
	HomeTenantID string
	// Unassigned: no assignment on the enterprise application; refused with AADSTS50105 while
	// the registration requires assignment.
	Unassigned bool
}

// Guest reports whether the persona is a B2B guest in the tenant.
func (p Persona) Guest() bool { return p.HomeTenantID != "" && p.HomeTenantID != p.TenantID }

// homeIssuer is the idp claim Entra gives a guest: the issuer of their home tenant.
func (p Persona) homeIssuer() string { return "https://sts.windows.net/" + p.HomeTenantID + "/" }

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
		Key:         "gus",
		Name:        "Gus Guest",
		Username:    "gus@fabrikam-partner.example",
		ObjectID:    "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
		TenantID:    TenantID,
		Roles:       []string{"DepToken.Upload"},
		Description: "A partner's account invited as a guest (B2B), holding DepToken.Upload here: admitted, recorded as a guest",
		// Fabrikam, Eve's organisation: Gus was invited here, Eve was not.
		HomeTenantID: OtherTenantID,
	},
	{
		Key:         "nora",
		Name:        "Nora Norole",
		Username:    "nora@contoso-sandbox.example",
		ObjectID:    "5d2e8f1a-3b4c-4d6e-9f7a-8b1c2d3e4f53",
		TenantID:    TenantID,
		Description: "Signed in without any app role, as in a tenant that does not require assignment: may do nothing",
	},
	{
		Key:         "una",
		Name:        "Una Unassigned",
		Username:    "una@contoso-sandbox.example",
		ObjectID:    "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5f72",
		TenantID:    TenantID,
		Description: "Not assigned to the app, which requires assignment: Entra ID refuses her (AADSTS50105)",
		Unassigned:  true,
	},
	{
		Key:         "eve",
		Name:        "Eve Elsewhere",
		Username:    "eve@fabrikam-elsewhere.example",
		ObjectID:    "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c64",
		TenantID:    OtherTenantID,
		Roles:       []string{"DepToken.Upload"},
		Description: "Another organisation, not a guest here (DepToken.Upload in her own): Entra ID refuses her (AADSTS50020)",
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

// accessUPN is the upn in access tokens: a guest's is his invitation's #EXT# name in this
// tenant, not the address he signs in with.
func (p Persona) accessUPN() string {
	if !p.Guest() {
		return p.Username
	}
	return strings.ReplaceAll(p.Username, "@", "_") + "#EXT#@contososandbox.onmicrosoft.com"
}
