package sandbox

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// TenantConfig configures the whole sandbox tenant.
type TenantConfig struct {
	BaseURL          string // the portal's public URL
	DataDir          string
	ClientSecret     string
	DepTokenEncoding string
	Faults           string // DEPPORTAL_SANDBOX_FAULTS
	PageSize         int    // Graph list page size; 0 means one page
	// AccessTokenLifetime of the provider's tokens; 1h when zero (tests shorten it).
	AccessTokenLifetime time.Duration
	// ClientSecretExpires, when set, is when the provider stops taking ClientSecret
	// (ENTRA_CLIENT_SECRET_EXPIRES, played by the sandbox).
	ClientSecretExpires time.Time
	Logger              *slog.Logger
}

// Tenant is the embedded demo tenant: identity provider, Intune simulator, sample files and
// the sandbox home page, all under /_sandbox/ on the portal's own port.
type Tenant struct {
	IdP     *IdP
	Graph   *Graph
	Outbox  *Outbox // where the watch's reminders go (outbox.go)
	handler http.Handler
	base    string
}

// NewTenant starts the sandbox tenant.
func NewTenant(cfg TenantConfig) (*Tenant, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	idp, err := NewIdP(IdPConfig{
		BaseURL:             cfg.BaseURL,
		DataDir:             cfg.DataDir,
		ClientSecret:        cfg.ClientSecret,
		AccessTokenLifetime: cfg.AccessTokenLifetime,
		ClientSecretExpires: cfg.ClientSecretExpires,
		Logger:              cfg.Logger.With("component", "sandbox-idp"),
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox identity provider: %w", err)
	}
	graph, err := NewGraph(GraphConfig{
		DataDir:          cfg.DataDir,
		Issuer:           idp.Issuer(),
		Keys:             idp.PublicKeys,
		DepTokenEncoding: cfg.DepTokenEncoding,
		Faults:           cfg.Faults,
		PageSize:         cfg.PageSize,
		Logger:           cfg.Logger.With("component", "sandbox-graph"),
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox Intune simulator: %w", err)
	}
	outbox := NewOutbox(WatchWebhookSecret)
	mux := http.NewServeMux()
	mux.Handle("/_sandbox/outbox", outbox)
	mux.Handle("/_sandbox/outbox/", outbox)
	mux.Handle("/_sandbox/idp/", idp)
	mux.Handle("/_sandbox/graph/beta/", graph)
	mux.Handle("/_sandbox/tokens/", graph.SamplesHandler())
	mux.Handle("/_sandbox/", NewHome(graph))
	return &Tenant{IdP: idp, Graph: graph, Outbox: outbox, handler: mux, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// ServeHTTP serves everything under /_sandbox/.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.handler.ServeHTTP(w, r) }

// AuthorityHost is what ENTRA_AUTHORITY_HOST would be: the issuer is {AuthorityHost}/{tid}/v2.0.
func (t *Tenant) AuthorityHost() string { return t.base + "/_sandbox/idp" }

// GraphBaseURL is what GRAPH_BASE_URL would be.
func (t *Tenant) GraphBaseURL() string { return t.base + "/_sandbox/graph/beta" }
