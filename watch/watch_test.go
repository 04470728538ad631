package watch_test

import (
	"context"

	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/store"
	"github.com/depportal/depportal/watch"
)

// fakeIntune counts reads and answers with what the test set.
type fakeIntune struct {
	mu       sync.Mutex
	reads    int
	settings []graph.OnboardingSetting
	vpp      []graph.VppToken
	push     *graph.ApplePushNotificationCertificate
	vppErr   error
}

func (f *fakeIntune) ListOnboardingSettings(context.Context, graph.Credentials) ([]graph.OnboardingSetting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.settings, nil
}

func (f *fakeIntune) ListVppTokens(context.Context, graph.Credentials) ([]graph.VppToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vpp, f.vppErr
}

func (f *fakeIntune) GetApplePushNotificationCertificate(context.Context, graph.Credentials) (graph.ApplePushNotificationCertificate, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.push == nil {
		return graph.ApplePushNotificationCertificate{}, false, nil
	}
	return *f.push, true, nil
}

func (f *fakeIntune) Reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeIntune) FailVPP(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vppErr = err
}

type noCredentials struct{}

func (noCredentials) AccessToken(context.Context) (string, error) { return "app-token", nil }
func (noCredentials) Refresh(context.Context) (string, error)     { return "app-token", nil }

const day = 24 * time.Hour

func newIntune(now time.Time) *fakeIntune {
	return &fakeIntune{
		settings: []graph.OnboardingSetting{
			{ID: "ade-soon", TokenName: "Contoso ABM", TokenExpirationDateTime: now.Add(9 * day)},
			{ID: "ade-gone", TokenName: "Contoso Retail ABM", TokenExpirationDateTime: now.Add(-3 * day), LastSyncErrorCode: 5},
		},
		vpp:  []graph.VppToken{{ID: "vpp-1", DisplayName: "Contoso Apps", ExpirationDateTime: now.Add(20 * day), State: "valid"}},
		push: &graph.ApplePushNotificationCertificate{ID: "apns", TopicIdentifier: "com.apple.mgmt.External.1", ExpirationDateTime: now.Add(45 * day)},
	}
}

func MustWatch(tb testing.TB, db watch.Store, intune watch.Intune, clock *testkit.Clock, interval time.Duration) (*watch.Watch, *metrics.Metrics) {
	tb.Helper()
	m := metrics.New()
	w, err := watch.New(watch.Config{Intune: intune, Credentials: noCredentials{}, Store: db, Metrics: m, Interval: interval, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return w, m
}

// MustScrape returns the metric lines starting with prefix.
func MustScrape(tb testing.TB, m *metrics.Metrics, prefix string) []string {
	tb.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var out []string
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

func TestOneInstanceReadsAtStartAndEveryInterval(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	w, m := MustWatch(t, db, intune, clock, 6*time.Hour)
	ctx := context.Background()

	w.Step(ctx)
	if intune.Reads() != 1 {
		t.Fatalf("reads after start: %d, want 1", intune.Reads())
	}
	gauges := strings.Join(MustScrape(t, m, "depportal_apple_connector_expiry_timestamp_seconds{"), "\n")
	for _, want := range []string{`kind="ade",name="Contoso ABM"`, `kind="ade",name="Contoso Retail ABM"`, `kind="vpp",name="Contoso Apps"`, `kind="apns",name="com.apple.mgmt.External.1"`} {
		if !strings.Contains(gauges, want) {
			t.Errorf("no gauge for %s in:\n%s", want, gauges)
		}
	}
	if old := MustScrape(t, m, "depportal_dep_token_expiry_timestamp_seconds{"); len(old) != 2 {
		t.Errorf("the earlier ADE gauge: %v, want both ADE tokens", old)
	}
	if got := MustScrape(t, m, "depportal_watch_last_success_timestamp_seconds "); len(got) != 1 || strings.HasSuffix(got[0], " 0") {
		t.Errorf("last success: %v", got)
	}

	for range 10 { // an hour of ticks
		clock.Advance(6 * time.Minute)
		w.Step(ctx)
	}
	if intune.Reads() != 1 {
		t.Errorf("reads within the interval: %d, want 1", intune.Reads())
	}
	clock.Advance(5 * time.Hour)
	w.Step(ctx)
	if intune.Reads() != 2 {
		t.Errorf("reads after one interval: %d, want 2", intune.Reads())
	}
}

func TestFailedReadIsRetriedAndKeepsTheLastGoodOne(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	w, m := MustWatch(t, db, intune, clock, 6*time.Hour)
	ctx := context.Background()
	w.Step(ctx)
	good := MustScrape(t, m, "depportal_watch_last_success_timestamp_seconds ")

	clock.Advance(6 * time.Hour)
	intune.FailVPP(&graph.Error{Status: 503, Message: "Service Unavailable"})
	w.Step(ctx)
	st, err := db.WatchState(ctx)
	if err != nil || st.Failures != 1 || !strings.Contains(st.LastError, "Apps and Books tokens") {
		t.Fatalf("state %+v, %v", st, err)
	}
	if got := MustScrape(t, m, "depportal_watch_last_success_timestamp_seconds "); strings.Join(got, "") != strings.Join(good, "") {
		t.Errorf("a failed read moved the last success: %v, was %v", got, good)
	}
	if n := len(MustScrape(t, m, `depportal_apple_connector_expiry_timestamp_seconds{kind="vpp"`)); n != 1 {
		t.Errorf("the VPP gauge went away after a failed read (%d series)", n)
	}
	if got := MustScrape(t, m, `depportal_watch_polls_total{result="failed"}`); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
		t.Errorf("failed polls: %v", got)
	}

	reads := intune.Reads()
	clock.Advance(30 * time.Second)
	w.Step(ctx)
	if intune.Reads() != reads {
		t.Error("retried before the backoff's minute")
	}
	intune.FailVPP(nil)
	clock.Advance(31 * time.Second)
	w.Step(ctx)
	if intune.Reads() != reads+1 {
		t.Errorf("not retried after a minute (reads %d)", intune.Reads()-reads)
	}
	if st, _ := db.WatchState(ctx); st.Failures != 0 {
		t.Errorf("failures after the retry succeeded: %d", st.Failures)
	}
}

// Two instances on one database: one reads per interval, both export the gauge, and when the
// reader dies the other takes over within one interval.
func TestTwoInstancesOneReader(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) *store.DB{
		"sqlite":   func(t *testing.T) *store.DB { return testkit.MustSQLite(t) },
		"postgres": func(t *testing.T) *store.DB { db, _ := testkit.MustPostgres(t); return db },
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			clock := testkit.NewClock()
			intune := newIntune(clock.Now())
			interval := 6 * time.Hour
			a, ma := MustWatch(t, db, intune, clock, interval)
			b, mb := MustWatch(t, db, intune, clock, interval)
			ctx := context.Background()
			tick := a.Tick()

			steps := int(3 * interval / tick) // three intervals
			for range steps {
				a.Step(ctx)
				b.Step(ctx)
				clock.Advance(tick)
			}
			if got := intune.Reads(); got != 3 {
				t.Errorf("reads over three intervals with two instances: %d, want 3", got)
			}
			for which, m := range map[string]*metrics.Metrics{"a": ma, "b": mb} {
				if n := len(MustScrape(t, m, "depportal_apple_connector_expiry_timestamp_seconds{")); n != 4 {
					t.Errorf("instance %s exports %d connector gauges, want 4", which, n)
				}
			}
			st, _ := db.WatchState(ctx)
			reader, other := a, b
			if st.Holder == b.ID() {
				reader, other = b, a
			}

			// The reader dies (it stops stepping, and never releases its lease).
			reads := intune.Reads()
			deadline := clock.Now().Add(interval)
			for clock.Now().Before(deadline) && intune.Reads() == reads {
				other.Step(ctx)
				clock.Advance(tick)
			}
			if intune.Reads() != reads+1 {
				t.Fatalf("the other instance did not read within one interval of the reader dying")
			}
			if st, _ := db.WatchState(ctx); st.Holder != other.ID() {
				t.Errorf("holder %q, want the survivor", st.Holder)
			}
			_ = reader
			// Then it reads once per interval on its own.
			reads = intune.Reads()
			for range int(interval / tick) {
				clock.Advance(tick)
				other.Step(ctx)
			}
			if got := intune.Reads() - reads; got != 1 {
				t.Errorf("reads in the interval after the takeover: %d, want 1", got)
			}
		})
	}
}

// Run gives the lease up when it stops, so another instance takes over at once rather than
// after the lease runs out.
func TestRunReleasesTheLease(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := &signallingIntune{fakeIntune: newIntune(clock.Now()), read: make(chan struct{}, 1)}
	w, _ := MustWatch(t, db, intune, clock, 6*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-intune.read
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	other, _ := MustWatch(t, db, intune, clock, 6*time.Hour)
	ok, err := db.TakeWatchLease(context.Background(), other.ID(), clock.Now(), clock.Now().Add(time.Minute))
	if err != nil || !ok {
		t.Errorf("the lease was not released: %v, %v", ok, err)
	}
}

type signallingIntune struct {
	*fakeIntune
	read chan struct{}
}

func (s *signallingIntune) GetApplePushNotificationCertificate(ctx context.Context, c graph.Credentials) (graph.ApplePushNotificationCertificate, bool, error) {
	defer func() {
		select {
		case s.read <- struct{}{}:
		default:
		}
	}()
	return s.fakeIntune.GetApplePushNotificationCertificate(ctx, c)
}

func TestDaysLeft(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left time.Duration
		want int
	}{
		{9 * day, 9}, {9*day - time.Second, 9}, {8*day + time.Second, 9}, {time.Hour, 1}, {0, 0}, {-time.Second, -1}, {-day, -1}, {-day - time.Second, -2},
	} {
		c := watch.Connector{ExpiresAt: now.Add(tc.left)}
		if got := c.DaysLeft(now); got != tc.want {
			t.Errorf("DaysLeft with %s left = %d, want %d", tc.left, got, tc.want)
		}
	}
}

func TestDuplicateNamesKeepTheirGauges(t *testing.T) {
	t.Parallel()
	got := watch.Expiries([]watch.Connector{{Kind: watch.VPP, ID: "1", Name: "Apps"}, {Kind: watch.VPP, ID: "2", Name: "Apps"}, {Kind: watch.ADE, ID: "3", Name: "Apps"}})
	if got[0].Name != "Apps (1)" || got[1].Name != "Apps (2)" || got[2].Name != "Apps" {
		t.Errorf("names %+v", got)
	}
}
