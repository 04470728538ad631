package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/config"
)

// The log warns of the client credential's end from 30 days before, says when it has ended,
// and is quiet before and when the end is not known.
func TestWatchCredentialLogs(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, c := range []struct {
		name string
		at   time.Time
		want string // "" for no log line
	}{
		{"far", now.AddDate(0, 3, 0), ""},
		{"unknown", time.Time{}, ""},
		{"soon", now.Add(12 * 24 * time.Hour), `level=WARN msg="the client secret expires soon`},
		{"expired", now.Add(-time.Hour), `level=ERROR msg="the client secret has expired`},
	} {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // one check, then return
		watchCredential(ctx, slog.New(slog.NewTextHandler(&logs, nil)), clientCredential{Kind: "secret", At: c.at}, clock, time.Hour)
		if got := logs.String(); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: log %q, want %q", c.name, got, c.want)
		}
		if c.name == "soon" && !strings.Contains(logs.String(), "days_left=12") {
			t.Errorf("soon: %q lacks days_left=12", logs.String())
		}
	}
}

func TestCredentialOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if got := credentialOf(config.Config{ClientSecretExpires: at}, nil); got.Kind != "secret" || !got.At.Equal(at) {
		t.Errorf("secret: %+v", got)
	}
}
