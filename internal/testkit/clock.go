package testkit

import (
	"sync"
	"time"
)

// Clock is an injected clock that starts at the real time and moves only when a test says so:
// tests move time, they never sleep for it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at the real time, so that what it stamps mixes with what other
// parts (a provider on real time) stamp.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now is the clock's time; pass the method value as a Now func.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
