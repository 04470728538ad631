package watch

import (
	"context"
	"time"

	"github.com/depportal/depportal/graph"
)

// Renewed tells the watch that the portal renewed an ADE token: after is the token as the
// renewal read it back with the person's token (nil when that read failed). The stored
// connector and the expiry gauge change at once, so that no page or alert goes on calling the
// token about to expire; reminders still pending for the old expiry date are superseded; and
// the next read with the watch's own credential is brought forward to confirm it. Nothing here
// can fail the renewal: problems are logged.
func (w *Watch) Renewed(ctx context.Context, settingID string, after *graph.OnboardingSetting) {
	now := w.now()
	if after != nil {
		c := FromGraph([]graph.OnboardingSetting{*after}, nil, nil)[0]
		if err := w.store.SaveWatchConnector(ctx, c, now); err != nil {
			w.log.Error("watch: save the renewed token", "setting_id", settingID, "err", err)
		}
		n, err := w.store.SupersedeReminders(ctx, ADE, c.ID, c.ExpiresAt)
		if err != nil {
			w.log.Error("watch: supersede the renewed token's reminders", "setting_id", settingID, "err", err)
		} else if n > 0 {
			w.log.Info("watch: reminders answered by a renewal", "setting_id", settingID, "superseded", n)
		}
		w.refreshMetrics(ctx)
	}
	if err := w.store.ScheduleWatchPoll(ctx, now); err != nil {
		w.log.Error("watch: bring the next read forward", "err", err)
	}
}

// Latest is what the watch last read, and when: the connectors of the last good read (none
// before the first) and the shared state.
func (w *Watch) Latest(ctx context.Context) ([]Connector, State, error) {
	st, err := w.store.WatchState(ctx)
	if err != nil {
		return nil, st, err
	}
	cs, err := w.store.WatchConnectors(ctx)
	return cs, st, err
}

// Attention is what needs someone soon: connectors expired or expiring within days of now,
// soonest first, and ADE tokens whose last sync with Apple failed.
func Attention(cs []Connector, now time.Time, days int) []Connector {
	var out []Connector
	for _, c := range cs {
		if (!c.ExpiresAt.IsZero() && c.DaysLeft(now) <= days) || c.SyncErrorCode != 0 {
			out = append(out, c)
		}
	}
	sortByExpiry(out)
	return out
}
