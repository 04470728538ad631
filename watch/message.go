package watch

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Message is one reminder as every channel carries it.
type Message struct {
	ID        string    // the reminder's ID: webhook-id, Message-ID, the same on every retry
	Connector Connector // as read when the reminder was made
	Reason    string    // which threshold (Reason* in reminders.go)
	At        time.Time // when the reminder was made: the days left are counted from it
	// PortalURL is the portal's page for the connector: the token's page for an ADE token,
	// the start page (which links to where VPP tokens and the push certificate are renewed)
	// otherwise.
	PortalURL string
	Test      bool // a sample from `depportal watch test`
}

// DaysLeft counts from when the reminder was made, so a retry says what the first try said.
func (m Message) DaysLeft() int { return m.Connector.DaysLeft(m.At) }

// SyncError reports an ADE token whose last sync with Apple failed.
func (m Message) SyncError() bool { return strings.HasPrefix(m.Reason, ReasonSyncError) }

// Headline says what expires and when, in one line.
func (m Message) Headline() string {
	c := m.Connector
	prefix := ""
	if m.Test {
		prefix = "[Test] "
	}
	if m.SyncError() {
		return fmt.Sprintf("%s%s %q failed to sync with Apple (error %d)", prefix, c.Kind.Title(), c.Name, c.SyncErrorCode)
	}
	switch d := m.DaysLeft(); {
	case !c.ExpiresAt.After(m.At):
		return fmt.Sprintf("%s%s %q expired on %s", prefix, c.Kind.Title(), c.Name, c.ExpiresAt.Format("2 January 2006"))
	case d <= 1:
		return fmt.Sprintf("%s%s %q expires within a day, at %s UTC", prefix, c.Kind.Title(), c.Name, c.ExpiresAt.UTC().Format("15:04 on 2 January 2006"))
	default:
		return fmt.Sprintf("%s%s %q expires in %d days, on %s", prefix, c.Kind.Title(), c.Name, d, c.ExpiresAt.Format("2 January 2006"))
	}
}

// Consequence is what happens if nobody acts, in one line.
func (m Message) Consequence() string {
	if m.SyncError() {
		return "Device assignments from Apple Business Manager are not reaching Intune until the sync works again; an expired or replaced token is the usual cause."
	}
	return m.Connector.Kind.Consequence()
}

// Action says what to do, in one line.
func (m Message) Action() string {
	switch m.Connector.Kind {
	case ADE:
		return "Download a new server token in Apple Business Manager and upload it in the portal."
	case VPP:
		return "Download a new content token in Apple Business Manager and upload it in the Intune admin center (Tenant administration › Connectors and tokens › Apple VPP tokens)."
	case APNs:
		return "Renew the certificate in Apple's Push Certificates Portal with the SAME Apple ID (" + m.Connector.AppleID + "), then upload it in the Intune admin center (Devices › Enrollment › Apple › MDM Push Certificate)."
	}
	return ""
}

// Facts are the details a channel lists under the headline.
func (m Message) Facts() [][2]string {
	c := m.Connector
	facts := [][2]string{{"Connector", c.Kind.Title()}, {"Name", c.Name}}
	if !c.ExpiresAt.IsZero() {
		facts = append(facts, [2]string{"Expires", c.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")})
	}
	if c.AppleID != "" {
		facts = append(facts, [2]string{"Apple ID", c.AppleID})
	}
	if c.SyncErrorCode != 0 {
		facts = append(facts, [2]string{"Last sync error", fmt.Sprint(c.SyncErrorCode)})
	}
	return facts
}

// Text is the plain-text body.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", m.Headline(), m.Consequence())
	for _, f := range m.Facts() {
		fmt.Fprintf(&b, "%-16s %s\n", f[0]+":", f[1])
	}
	fmt.Fprintf(&b, "\nWhat to do: %s\n\n%s\n", m.Action(), m.PortalURL)
	b.WriteString("\n-- \ndepportal watch: one reminder per threshold for each expiry date.\n")
	return b.String()
}

var htmlBody = template.Must(template.New("reminder").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Headline}}</h2>
<p>{{.Consequence}}</p>
<table>{{range .Facts}}<tr><th align="left">{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<p><strong>What to do:</strong> {{.Action}}</p>
<p><a href="{{.PortalURL}}">Open it in depportal</a></p>
<p style="color:#666;font-size:small">depportal watch: one reminder per threshold for each expiry date.</p>
</body></html>
`))

// HTML is the HTML body; every value is escaped.
func (m Message) HTML() (string, error) {
	var b strings.Builder
	err := htmlBody.Execute(&b, m)
	return b.String(), err
}
