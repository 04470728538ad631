package handlers

import (
	"fmt"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// limit is a route's request budget: a token bucket per client IP (before sign-in) or per
// session. The budgets are per instance (docs/decisions/0009): they stop floods, they are not
// quotas, and with N instances behind a load balancer the effective budget is at most N times.
type limit struct {
	name  string // for the log and the metric
	every time.Duration
	burst int
	per   limitKey
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type limitKey int

const (
	perClientIP limitKey = iota
	perSession
)

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimit(name string, per limitKey, burst int, every time.Duration, now func() time.Time) *limit {
	return &limit{name: name, per: per, burst: burst, every: every, now: now, buckets: map[string]*bucket{}}
}

// allow takes one token for key, or says how long until one is there.
func (l *limit) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Buckets idle long enough to be full again are dropped: the map holds only recent keys.
	full := l.every * time.Duration(l.burst)
	if now.Sub(l.swept) > full {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > full {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimitedError: a budget is spent; the page says when to come back.
type rateLimitedError struct {
	limit      string
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("rate limit %s: retry after %s", e.limit, e.retryAfter)
}

// retrySeconds rounds up: "retry after 0 seconds" would only bring the next refusal.
func (e *rateLimitedError) retrySeconds() int {
	return int((e.retryAfter + time.Second - 1) / time.Second)
}

// checkLimit spends one token of the route's budget, keyed by client IP or session.
func (s *server) checkLimit(c echo.Context, l *limit) error {
	key := c.RealIP()
	if l.per == perSession {
		sess, ok := sessionOf(c)
		if !ok {
			return nil // the guard refuses it anyway
		}
		key = sess.IDHash
	}
	ok, wait := l.allow(key)
	if ok {
		return nil
	}
	s.Logger.Warn("rate limited", "request_id", requestIDOf(c), "limit", l.name, "retry_after", wait.Round(time.Second))
	s.Metrics.RateLimited(l.name)
	c.Response().Header().Set("Retry-After", fmt.Sprint((&rateLimitedError{retryAfter: wait}).retrySeconds()))
	return &rateLimitedError{limit: l.name, retryAfter: wait}
}

// limits are the budgets, sized so that a person at work never meets them: a renewal takes
// one upload and one confirmation, a sign-in two /auth requests.
type limits struct {
	auth, upload, confirm, export, checkpoint *limit
}

func newLimits(now func() time.Time) limits {
	return limits{
		// 30 sign-in steps at once, then one every 2 s (30 a minute) per address: an office
		// behind one NAT address signing in together still passes.
		auth:       newLimit("auth", perClientIP, 30, 2*time.Second, now),
		upload:     newLimit("upload", perSession, 10, 6*time.Second, now),
		confirm:    newLimit("confirm", perSession, 10, 6*time.Second, now),
		export:     newLimit("export", perSession, 5, 12*time.Second, now),
		checkpoint: newLimit("checkpoint", perSession, 3, 20*time.Second, now),
	}
}
