package sandbox

import (
	"net/http"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
)

// serveDiscovery is Entra's v2.0 discovery document, field for field, with the sandbox's
// endpoints, in place of zitadel's. Entra's says less than zitadel's (no PKCE methods, no
// grant types, no introspection or revocation) and names the tenant and cloud; a relying
// party that depends on a field Entra does not send fails here first.
func (p *IdP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	base := strings.TrimSuffix(p.issuer, "/v2.0")
	abs := func(rel string) string { return p.issuer + rel }
	doc := map[string]any{
		"token_endpoint":                        abs(p.provider.TokenEndpoint().Relative()),
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              abs(p.provider.KeysEndpoint().Relative()),
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                p.issuer,
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     abs(p.provider.UserinfoEndpoint().Relative()),
		"authorization_endpoint":                abs(p.provider.AuthorizationEndpoint().Relative()),
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  abs(p.provider.EndSessionEndpoint().Relative()),
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		"kerberos_endpoint":     base + "/kerberos",
		"tenant_region_scope":   "EU",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          "graph.microsoft.com",
		"rbac_url":              "https://pas.windows.net",
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	httphelper.MarshalJSON(w, doc)
}
