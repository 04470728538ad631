//go:build !nosandbox

package app

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// The sandbox's OpenID provider library logs only through slog's default logger. Setting the
// default to one app's logger would send every other app's provider logs there too (a test
// binary runs many apps side by side). Instead the default becomes, once, a handler that
// takes the logger from the request's context, which the sandbox's handler puts there; what is
// logged outside a sandbox request goes to the newest sandbox app's logger.

type sandboxLogKey struct{}

var (
	sandboxLogFallback atomic.Pointer[slog.Handler]
	installLogRouter   sync.Once
)

// routeSandboxLogs makes logger the one for default-logger records outside any request, and
// installs the router as slog's default once.
func routeSandboxLogs(logger *slog.Logger) {
	h := logger.Handler()
	sandboxLogFallback.Store(&h)
	installLogRouter.Do(func() { slog.SetDefault(slog.New(logRouter{})) })
}

// withSandboxLogs serves next with logger in each request's context, where the router finds it.
func withSandboxLogs(next http.Handler, logger *slog.Logger) http.Handler {
	h := logger.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sandboxLogKey{}, h)))
	})
}

// logRouter is a slog.Handler that forwards to the handler in the record's context, else to the
// fallback, after the attributes and groups added to it.
type logRouter struct {
	ops []func(slog.Handler) slog.Handler
}

func (l logRouter) target(ctx context.Context) slog.Handler {
	var h slog.Handler
	if ctx != nil {
		h, _ = ctx.Value(sandboxLogKey{}).(slog.Handler)
	}
	if h == nil {
		if p := sandboxLogFallback.Load(); p != nil {
			h = *p
		} else {
			h = slog.DiscardHandler
		}
	}
	for _, op := range l.ops {
		h = op(h)
	}
	return h
}

func (l logRouter) Enabled(ctx context.Context, level slog.Level) bool {
	return l.target(ctx).Enabled(ctx, level)
}

func (l logRouter) Handle(ctx context.Context, r slog.Record) error {
	return l.target(ctx).Handle(ctx, r)
}

func (l logRouter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logRouter{ops: append(slices.Clip(l.ops), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })}
}

func (l logRouter) WithGroup(name string) slog.Handler {
	return logRouter{ops: append(slices.Clip(l.ops), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}
