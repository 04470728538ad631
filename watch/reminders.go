package watch

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/depportal/depportal/audit"
)

// DefaultReminderDays are the thresholds, in days before expiry, that send a reminder.
var DefaultReminderDays = []int{30, 14, 7, 3, 1}

// Reasons a reminder is sent. A threshold's reason is its number of days ("14d").
const (
	ReasonExpired   = "expired-day-" // then the day since expiry: daily once expired
	ReasonSyncError = "sync-error-"  // then the code and the last successful sync
)

// Reminder states.
const (
	ReminderPending = "pending"
	ReminderSent    = "sent"
	ReminderFailed  = "failed" // given up after MaxAttempts
	// ReminderSuperseded: the connector was renewed before the reminder was delivered.
	ReminderSuperseded = "superseded"
)

// Reminder is one message for one channel. (Kind, connector ID, expiry, reason, channel) is
// unique in the store: a reminder is made once per threshold per expiry date, across
// restarts and instances, and a renewal (a new expiry date) starts the thresholds afresh.
type Reminder struct {
	ID            string
	Connector     Connector
	Reason        string
	Channel       string
	CreatedAt     time.Time
	State         string
	Attempts      int
	NextAttemptAt time.Time
	SentAt        time.Time
	LastError     string
}

// ReminderStore is the part of Store that keeps reminders.
type ReminderStore interface {
	// AddReminders inserts the reminders that do not exist yet (by their unique key) and
	// returns how many it inserted.
	AddReminders(ctx context.Context, rs []Reminder) (int, error)
	// DueReminders returns up to limit pending reminders whose next attempt is due at now,
	// oldest first.
	DueReminders(ctx context.Context, now time.Time, limit int) ([]Reminder, error)
	// SaveReminderAttempt records the outcome of an attempt (State, Attempts, NextAttemptAt,
	// SentAt, LastError of r).
	SaveReminderAttempt(ctx context.Context, r Reminder) error
}

// Auditor records each reminder sent; *audit.Trail implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// MaxAttempts a reminder is tried before it is given up (and recorded as failed).
const MaxAttempts = 8

// attemptTimeout bounds one delivery, so a hanging receiver delays nothing for long.
const attemptTimeout = 20 * time.Second

// recordTimeout bounds the bookkeeping of one attempt (its audit record and its row), which
// goes on through a shutdown.
const recordTimeout = 10 * time.Second

// retryDelay backs off from one minute, doubling, to at most an hour: eight attempts span
// about four hours.
func retryDelay(attempts int) time.Duration {
	return min(time.Minute<<min(attempts-1, 10), time.Hour)
}

// Reasons are the reminders due for c at now, given the thresholds (days, any order).
func Reasons(c Connector, now time.Time, days []int) []string {
	var out []string
	if c.Kind == ADE && c.SyncErrorCode != 0 {
		out = append(out, ReasonSyncError+strconv.Itoa(c.SyncErrorCode)+"-"+strconv.FormatInt(c.LastSyncAt.Unix(), 10))
	}
	if c.ExpiresAt.IsZero() {
		return out
	}
	left := c.ExpiresAt.Sub(now)
	if left <= 0 {
		return append(out, ReasonExpired+strconv.Itoa(int(-left/(24*time.Hour))))
	}
	// Only the nearest threshold crossed: a connector first seen 9 days out gets the 14-day
	// reminder, not the 30-day one as well.
	nearest := -1
	for _, d := range days {
		if left <= time.Duration(d)*24*time.Hour && (nearest < 0 || d < nearest) {
			nearest = d
		}
	}
	if nearest >= 0 {
		out = append(out, strconv.Itoa(nearest)+"d")
	}
	return out
}

// Reminders configures the reminders of a Watch.
type Reminders struct {
	Channels  []Channel
	Days      []int // DefaultReminderDays when empty
	Store     ReminderStore
	Audit     Auditor
	PortalURL string // the portal's public URL, for the links
	TenantID  string // the actor of the audit records
}

// remind makes the reminders due after a read, then they wait for delivery.
func (w *Watch) remind(ctx context.Context, connectors []Connector, now time.Time) {
	r := w.reminders
	if r == nil || len(r.Channels) == 0 {
		return
	}
	var add []Reminder
	for _, c := range connectors {
		for _, reason := range Reasons(c, now, r.Days) {
			for _, ch := range r.Channels {
				add = append(add, Reminder{ID: uuid.NewString(), Connector: c, Reason: reason, Channel: ch.Name(),
					CreatedAt: now, State: ReminderPending, NextAttemptAt: now})
			}
		}
	}
	if len(add) == 0 {
		return
	}
	n, err := r.Store.AddReminders(ctx, add)
	if err != nil {
		w.log.Error("watch: save reminders", "err", err)
		return
	}
	if n > 0 {
		w.log.Info("watch: reminders to send", "count", n)
	}
}

// deliver tries every due reminder, each channel on its own goroutine: a slow or failing
// channel holds up neither the others nor anything outside the watch.
func (w *Watch) deliver(ctx context.Context) {
	r := w.reminders
	if r == nil || len(r.Channels) == 0 {
		return
	}
	now := w.now()
	due, err := r.Store.DueReminders(ctx, now, 100)
	if err != nil {
		w.log.Error("watch: read due reminders", "err", err)
		return
	}
	byChannel := map[string][]Reminder{}
	for _, rem := range due {
		byChannel[rem.Channel] = append(byChannel[rem.Channel], rem)
	}
	var wg sync.WaitGroup
	for _, ch := range r.Channels {
		list := byChannel[ch.Name()]
		if len(list) == 0 {
			continue
		}
		wg.Go(func() {
			for _, rem := range list {
				if ctx.Err() != nil {
					return // shutting down: the rest stay pending, untried, for the next start
				}
				w.attempt(ctx, ch, rem)
			}
		})
	}
	wg.Wait()
	// Reminders for a channel no longer configured stay pending: configuring it again
	// delivers them.
}

// attempt sends one reminder once and records what happened.
func (w *Watch) attempt(ctx context.Context, ch Channel, rem Reminder) {
	r := w.reminders
	sendCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
	err := ch.Send(sendCtx, w.message(rem))
	cancel()
	if err != nil && ctx.Err() != nil {
		// The shutdown cut the send short: whether it arrived is unknown, and it was no
		// failure of the receiver's. It stays pending, its attempts uncounted, and the next
		// start sends it again (with the same message ID: at least once).
		w.log.Info("watch: reminder interrupted by shutdown; it stays pending", "channel", ch.Name(), "reminder", rem.ID)
		return
	}
	// What went out is recorded even when a shutdown begins meanwhile: a reminder sent but
	// not saved would go out again at the next start, and be missing from the audit trail.
	ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := w.now()
	rem.Attempts++
	result := "sent"
	switch {
	case err == nil:
		rem.State, rem.SentAt, rem.LastError = ReminderSent, now, ""
	case rem.Attempts >= MaxAttempts:
		rem.State, rem.LastError, result = ReminderFailed, err.Error(), "failed"
	default:
		rem.NextAttemptAt, rem.LastError, result = now.Add(retryDelay(rem.Attempts)), err.Error(), "retry"
	}
	w.metrics.ReminderDelivery(ch.Name(), result)
	log := w.log.With("channel", ch.Name(), "kind", rem.Connector.Kind, "connector", rem.Connector.Name, "reason", rem.Reason,
		"reminder", rem.ID, "attempt", rem.Attempts)
	switch result {
	case "sent":
		log.Info("watch: reminder sent")
	case "retry":
		log.Warn("watch: reminder not delivered; will retry", "err", err, "retry_at", rem.NextAttemptAt)
	default:
		log.Error("watch: reminder not delivered; giving up", "err", err)
	}
	if result != "retry" {
		w.record(ctx, rem, err)
	}
	if serr := r.Store.SaveReminderAttempt(ctx, rem); serr != nil {
		log.Error("watch: save the reminder's attempt", "err", serr)
	}
}

// record appends reminder.sent: success when delivered, failure when given up. A reminder
// is recorded after it went out, not before: the trail says what reached people.
func (w *Watch) record(ctx context.Context, rem Reminder, sendErr error) {
	r := w.reminders
	if r.Audit == nil {
		return
	}
	e := ReminderEntry(rem, r.TenantID)
	if sendErr != nil {
		e.Outcome = audit.Failure
	}
	if _, err := r.Audit.Append(ctx, e); err != nil {
		w.log.Error("watch: record the reminder in the audit trail", "err", err, "reminder", rem.ID)
	}
}

// ReminderEntry is the audit record of a reminder: the connector in setting_id and
// setting_name, the channel in route, and kind, reason, expiry and attempts in reason
// (docs/audit-format.md). The actor is the watch itself.
func ReminderEntry(rem Reminder, tenantID string) audit.Entry {
	c := rem.Connector
	reason := fmt.Sprintf("kind=%s reason=%s expires=%s reminder=%s attempts=%d", c.Kind, rem.Reason,
		c.ExpiresAt.UTC().Format(time.RFC3339), rem.ID, rem.Attempts)
	if rem.LastError != "" {
		reason += " error=" + rem.LastError
	}
	return audit.Entry{
		Type:    audit.ReminderSent,
		Actor:   audit.Actor{TenantID: tenantID, Name: "depportal watch"},
		Setting: audit.Setting{ID: c.ID, Name: c.Name},
		AppleID: c.AppleID,
		Route:   rem.Channel,
		Reason:  reason,
	}
}

// message is what the channel carries for rem.
func (w *Watch) message(rem Reminder) Message {
	return Message{ID: rem.ID, Connector: rem.Connector, Reason: rem.Reason, At: rem.CreatedAt,
		PortalURL: PortalLink(w.reminders.PortalURL, rem.Connector)}
}

// PortalLink is the portal's page for c: the token's page for an ADE token, else the start
// page, which says where the others are renewed.
func PortalLink(base string, c Connector) string {
	base = strings.TrimRight(base, "/")
	if c.Kind == ADE {
		return base + "/settings/" + c.ID
	}
	return base + "/"
}

// SendTest sends one sample reminder to each channel now, outside the store and the trail,
// and returns each channel's error (nil: delivered).
func SendTest(ctx context.Context, channels []Channel, portalURL string, now time.Time) map[string]error {
	sample := Connector{Kind: ADE, ID: "00000000-0000-0000-0000-000000000000", Name: "Sample ADE token",
		ExpiresAt: now.Add(14 * 24 * time.Hour), AppleID: "abm-admin@example.com"}
	out := map[string]error{}
	for _, ch := range channels {
		sendCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		out[ch.Name()] = ch.Send(sendCtx, Message{ID: uuid.NewString(), Connector: sample, Reason: "14d", At: now,
			PortalURL: PortalLink(portalURL, sample), Test: true})
		cancel()
	}
	return out
}

// ChannelNames lists the channels' names, sorted.
func ChannelNames(channels []Channel) []string {
	var out []string
	for _, c := range channels {
		out = append(out, c.Name())
	}
	slices.Sort(out)
	return out
}
