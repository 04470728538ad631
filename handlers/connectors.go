package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/views"
	"github.com/depportal/depportal/watch"
)

// The three yearly Apple connectors of an Intune tenant, as the pages show them: the ADE
// tokens (renewed here), the Apps and Books tokens and the MDM push certificate (renewed in
// the Intune admin center and Apple's portals, which the pages point to).

// connectorView is one connector as a page shows it. canRenew: the person may renew ADE tokens
// here (the uploader role).
func connectorView(c watch.Connector, now time.Time, canRenew bool) views.Connector {
	v := views.Connector{
		Kind:    c.Kind.Title(),
		KindKey: string(c.Kind),
		ID:      c.ID,
		Name:    c.Name,
		AppleID: c.AppleID,
		Expiry:  dateOrUnknown(c.ExpiresAt),
	}
	v.DaysLeft, v.State = expiryState(c.ExpiresAt, now)
	switch {
	case c.SyncErrorCode != 0:
		v.Problem = fmt.Sprintf("Its last sync with Apple failed (error %d)", c.SyncErrorCode)
	case c.Kind == watch.VPP && c.State != "" && c.State != graph.VppStateValid && v.State != "expired":
		v.Problem = "Intune reports it " + vppStateText(c.State)
	}
	switch {
	case c.Kind == watch.ADE && canRenew:
		v.Renew = "/settings/" + c.ID
	case c.Kind == watch.ADE:
		v.Elsewhere = "Someone with the uploader role renews it in this portal."
	default:
		v.Elsewhere = watch.Message{Connector: c}.Action()
	}
	return v
}

func vppStateText(state string) string {
	switch state {
	case graph.VppStateInvalid:
		return "invalid"
	case graph.VppStateAssignedToExternalMDM:
		return "assigned to another MDM"
	case graph.VppStateExpired:
		return "expired"
	}
	return "in state " + state
}

// connectorBanner is the banner of connectors needing attention, from the watch's last read;
// none when the watch is off or has not read yet.
func (s *server) connectorBanner(c echo.Context, canRenew bool) []views.Connector {
	if s.Watch == nil {
		return nil
	}
	cs, st, err := s.Watch.Latest(c.Request().Context())
	if err != nil {
		s.Logger.Warn("read the watch's connectors for the banner", "request_id", requestIDOf(c), "err", err)
		return nil
	}
	if st.LastSuccessAt.IsZero() {
		return nil
	}
	return s.attention(cs, canRenew)
}

// attention is the banner's list: connectors expired or expiring within 30 days, or whose last
// sync failed, soonest first.
func (s *server) attention(cs []watch.Connector, canRenew bool) []views.Connector {
	now := s.Now()
	var out []views.Connector
	for _, c := range watch.Attention(cs, now, soonDays) {
		out = append(out, connectorView(c, now, canRenew))
	}
	return out
}

// connectorReads is what the person's own token read of the three kinds (their Intune role
// applies), each with its own error.
type connectorReads struct {
	settings    []graph.OnboardingSetting
	settingsErr error
	vpp         []graph.VppToken
	vppErr      error
	push        *graph.ApplePushNotificationCertificate
	pushErr     error
}

// readConnectors reads the three kinds side by side: the person waits for the slowest read,
// not the sum.
func (s *server) readConnectors(ctx context.Context, cred graph.Credentials) connectorReads {
	var (
		r  connectorReads
		wg sync.WaitGroup
	)
	wg.Go(func() { r.settings, r.settingsErr = s.Intune.ListOnboardingSettings(ctx, cred) })
	wg.Go(func() { r.vpp, r.vppErr = s.Intune.ListVppTokens(ctx, cred) })
	wg.Go(func() {
		cert, ok, err := s.Intune.GetApplePushNotificationCertificate(ctx, cred)
		if ok {
			r.push = &cert
		}
		r.pushErr = err
	})
	wg.Wait()
	return r
}

// readProblem is a failed read as its section of the start page shows it (nil when the read
// worked), logged as "list <what>"; a failure that is not Graph's own (a bug, a cancelled
// request) is returned instead. heading, when set, names the section's kind: those are the
// kinds renewed elsewhere, and a refusal by the person's Intune role says it spares the
// enrollment program tokens.
func (s *server) readProblem(c echo.Context, what, heading string, err error) (*views.Problem, error) {
	var ge *graph.Error
	if err == nil || !errors.As(err, &ge) {
		return nil, err
	}
	p := graphProblem(ge, &inSetting{})
	if heading != "" {
		p.Heading = heading
		if ge.Class() == graph.ClassMissingIntuneRole {
			p.Message = "Intune refused because your Intune role does not let you read the " + what + ", or their scope tags are not in your role's scope. The enrollment program tokens above are not affected."
			p.Next = "Ask an Intune administrator for a role that can read them, or look them up in the Intune admin center."
		}
	}
	s.Logger.Log(c.Request().Context(), graphLogLevel(ge), "list "+what, "request_id", requestIDOf(c), "err", err)
	return &p, nil
}
