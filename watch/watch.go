package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/secret"
)

// Intune is what the watch reads; *graph.Client implements it.
type Intune interface {
	ListOnboardingSettings(ctx context.Context, cred graph.Credentials) ([]graph.OnboardingSetting, error)
	ListVppTokens(ctx context.Context, cred graph.Credentials) ([]graph.VppToken, error)
	GetApplePushNotificationCertificate(ctx context.Context, cred graph.Credentials) (graph.ApplePushNotificationCertificate, bool, error)
}

// State is the watch's shared state in the database: who polls, when next, how the last
// read went.
type State struct {
	Holder        string    // the instance holding the lease ("" when none ever did)
	LeaseUntil    time.Time // the lease is the holder's until then
	NextPollAt    time.Time
	LastAttemptAt time.Time
	LastSuccessAt time.Time // zero until a read succeeded
	Failures      int       // reads failed in a row
	LastError     string
}

// Store keeps the watch's state where every instance sees it; package store implements it
// for SQLite and PostgreSQL. Times are the caller's clock.
type Store interface {
	// TakeWatchLease makes holder the poller until `until` if nobody else holds an unexpired
	// lease at now (renewing holder's own), and reports whether holder holds it.
	TakeWatchLease(ctx context.Context, holder string, now, until time.Time) (bool, error)
	// ReleaseWatchLease gives the lease up, if holder holds it, so another instance takes
	// over at once.
	ReleaseWatchLease(ctx context.Context, holder string) error
	// ClaimWatchPoll reports whether holder, holding the lease at now, is to read Intune now:
	// the next read is due (or force), and no other claim got in first. A claim moves the next
	// read to retryAt, so a poller that dies mid-read is replaced by the next one.
	ClaimWatchPoll(ctx context.Context, holder string, now time.Time, force bool, retryAt time.Time) (bool, error)
	// SaveWatchRead replaces the stored connectors with what a read found, and schedules the
	// next read.
	SaveWatchRead(ctx context.Context, connectors []Connector, at, next time.Time) error
	// SaveWatchFailure records a failed read and when to try again.
	SaveWatchFailure(ctx context.Context, message string, at, next time.Time) error
	WatchState(ctx context.Context) (State, error)
	WatchConnectors(ctx context.Context) ([]Connector, error)
	// SaveWatchConnector replaces one stored connector, as a renewal's read-back found it.
	SaveWatchConnector(ctx context.Context, c Connector, at time.Time) error
	// ScheduleWatchPoll brings the next read forward to at.
	ScheduleWatchPoll(ctx context.Context, at time.Time) error
	// SupersedeReminders marks the connector's pending reminders made for another expiry
	// date, and returns how many.
	SupersedeReminders(ctx context.Context, kind Kind, id string, expires time.Time) (int, error)
}

// Config is everything a Watch depends on.
type Config struct {
	Intune      Intune
	Credentials graph.Credentials // the watch's own application token
	Store       Store
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	Interval    time.Duration    // between reads; 6 h when zero
	Now         func() time.Time // time.Now when nil; tests move it instead of sleeping
	// Reminders, when set, go out after each read at the thresholds crossed; nil: none.
	Reminders *Reminders
}

// Watch reads the Apple connectors on its own credential, on one instance at a time.
type Watch struct {
	intune    Intune
	cred      graph.Credentials
	store     Store
	metrics   *metrics.Metrics
	log       *slog.Logger
	interval  time.Duration
	lease     time.Duration
	now       func() time.Time
	id        string // this instance, in the lease
	reminders *Reminders

	mu       sync.Mutex
	everHeld bool
}

// New checks cfg and returns a Watch; nothing is read until Run or Step.
func New(cfg Config) (*Watch, error) {
	if cfg.Intune == nil || cfg.Credentials == nil || cfg.Store == nil {
		return nil, errors.New("watch: Intune, Credentials and Store are required")
	}
	w := &Watch{intune: cfg.Intune, cred: cfg.Credentials, store: cfg.Store, metrics: cfg.Metrics, log: cfg.Logger,
		interval: cfg.Interval, now: cfg.Now, id: secret.RandomToken(), reminders: cfg.Reminders}
	if w.interval <= 0 {
		w.interval = 6 * time.Hour
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.metrics == nil {
		w.metrics = metrics.New()
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.lease = LeaseFor(w.interval)
	if r := w.reminders; r != nil {
		if r.Store == nil {
			return nil, errors.New("watch: reminders need a store")
		}
		if len(r.Days) == 0 {
			r.Days = DefaultReminderDays
		}
		w.metrics.DeclareReminderChannels(ChannelNames(r.Channels)...)
	}
	return w, nil
}

// LeaseFor is how long one lease lasts for a polling interval: long enough to outlast a slow
// read (three Graph calls, 30 s each at worst), short enough that a dead poller's lease runs
// out well within one interval.
func LeaseFor(interval time.Duration) time.Duration { return min(interval/4, 5*time.Minute) }

// Tick is how often Run steps: every instance renews or tries the lease three times per
// lease, so a lease never lapses under a live holder and a dead one's is taken soon after.
func (w *Watch) Tick() time.Duration { return w.lease / 3 }

// ID names this instance in the lease.
func (w *Watch) ID() string { return w.id }

// Run steps every Tick until ctx ends, then gives the lease up.
func (w *Watch) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := w.store.ReleaseWatchLease(release, w.id); err != nil {
				w.log.Warn("watch: release the lease", "err", err)
			}
			return nil
		case <-t.C:
		}
		w.Step(ctx)
		t.Reset(w.Tick())
	}
}

// Step is one round: take or renew the lease; as the holder, read Intune when a read is due
// (and on first taking the lease: at start, or on taking over), make the reminders that read
// calls for, and deliver those due; whoever holds it, refresh the metrics from the database,
// so every instance exports the same fresh values.
func (w *Watch) Step(ctx context.Context) {
	now := w.now()
	holder, err := w.store.TakeWatchLease(ctx, w.id, now, now.Add(w.lease))
	if err != nil {
		w.log.Warn("watch: lease", "err", err)
	}
	if holder {
		w.mu.Lock()
		first := !w.everHeld
		w.everHeld = true
		w.mu.Unlock()
		if first {
			w.log.Info("watch: this instance polls Intune", "instance", w.id, "interval", w.interval)
		}
		claimed, err := w.store.ClaimWatchPoll(ctx, w.id, now, first, now.Add(w.lease))
		if err != nil {
			w.log.Warn("watch: claim the read", "err", err)
		}
		if claimed {
			w.poll(ctx, now)
		}
		// The gauges first: a delivery may take a while, a fresh read should show at once.
		w.refreshMetrics(ctx)
		w.deliver(ctx)
		return
	}
	w.refreshMetrics(ctx)
}

// poll reads Intune and saves what it found, or when to try again.
func (w *Watch) poll(ctx context.Context, now time.Time) {
	connectors, err := w.Read(ctx)
	w.metrics.WatchPolled(err)
	if err != nil {
		st, serr := w.store.WatchState(ctx)
		failures := 1
		if serr == nil {
			failures = st.Failures + 1
		}
		next := now.Add(w.retryAfter(failures))
		w.log.Warn("watch: reading Intune failed", "err", err, "failures", failures, "retry_at", next)
		if err := w.store.SaveWatchFailure(ctx, err.Error(), now, next); err != nil {
			w.log.Error("watch: save the failure", "err", err)
		}
		return
	}
	if err := w.store.SaveWatchRead(ctx, connectors, now, now.Add(w.interval)); err != nil {
		w.log.Error("watch: save what was read", "err", err)
		return
	}
	w.log.Info("watch: read the Apple connectors", "count", len(connectors))
	w.remind(ctx, connectors, now)
}

// retryAfter backs off from one minute, doubling, never beyond the interval.
func (w *Watch) retryAfter(failures int) time.Duration {
	d := time.Minute << min(failures-1, 10)
	return min(d, w.interval)
}

// Read reads the three kinds of connector from Intune, side by side; any failure fails the
// whole read (a partial one would drop connectors from the gauge and the reminders).
func (w *Watch) Read(ctx context.Context) ([]Connector, error) { return Read(ctx, w.intune, w.cred) }

// Read reads the connectors once with cred, outside any lease (depportal watch once).
func Read(ctx context.Context, intune Intune, cred graph.Credentials) ([]Connector, error) {
	var (
		settings []graph.OnboardingSetting
		vpp      []graph.VppToken
		push     graph.ApplePushNotificationCertificate
		hasPush  bool
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		settings, err = intune.ListOnboardingSettings(gctx, cred)
		return wrap("ADE tokens", err)
	})
	g.Go(func() (err error) {
		vpp, err = intune.ListVppTokens(gctx, cred)
		return wrap("Apps and Books tokens", err)
	})
	g.Go(func() (err error) {
		push, hasPush, err = intune.GetApplePushNotificationCertificate(gctx, cred)
		return wrap("push certificate", err)
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var p *graph.ApplePushNotificationCertificate
	if hasPush {
		p = &push
	}
	return FromGraph(settings, vpp, p), nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("read the %s: %w", what, err)
}

// refreshMetrics sets the gauges from the database, on every instance.
func (w *Watch) refreshMetrics(ctx context.Context) {
	st, err := w.store.WatchState(ctx)
	if err != nil {
		w.log.Warn("watch: read the state", "err", err)
		return
	}
	if st.LastSuccessAt.IsZero() {
		return
	}
	connectors, err := w.store.WatchConnectors(ctx)
	if err != nil {
		w.log.Warn("watch: read the connectors", "err", err)
		return
	}
	w.metrics.WatchSucceeded(st.LastSuccessAt)
	w.metrics.ConnectorExpiries(Expiries(connectors))
}

// Expiries are the connectors as the gauge takes them. Two connectors of one kind with the
// same name get their IDs added, so neither hides the other.
func Expiries(cs []Connector) []metrics.ConnectorExpiry {
	count := map[[2]string]int{}
	for _, c := range cs {
		count[[2]string{string(c.Kind), c.Name}]++
	}
	out := make([]metrics.ConnectorExpiry, 0, len(cs))
	for _, c := range cs {
		name := c.Name
		if count[[2]string{string(c.Kind), c.Name}] > 1 {
			name += " (" + c.ID + ")"
		}
		out = append(out, metrics.ConnectorExpiry{Kind: string(c.Kind), Name: name, Expires: c.ExpiresAt})
	}
	return out
}
