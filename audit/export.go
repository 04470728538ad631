package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// column is one field of a record as exports and log lines name it. The one list keeps the CSV
// header, the JSON keys and the log attributes the same and in the same order.
type column struct {
	name  string
	value func(r *Record) any // int64, string, Hash or []Verdict
}

// Columns are stable: tools and SIEM rules depend on these names. Add new ones at the end.
var columns = []column{
	{"seq", func(r *Record) any { return r.Seq }},
	{"time", func(r *Record) any { return formatTime(r.Time) }},
	{"type", func(r *Record) any { return string(r.Type) }},
	{"outcome", func(r *Record) any { return string(r.Outcome) }},
	{"actor_tid", func(r *Record) any { return r.Actor.TenantID }},
	{"actor_oid", func(r *Record) any { return r.Actor.ObjectID }},
	{"actor_name", func(r *Record) any { return r.Actor.Name }},
	{"actor_upn", func(r *Record) any { return r.Actor.UPN }},
	{"client_ip", func(r *Record) any { return r.Client.IP }},
	{"user_agent", func(r *Record) any { return r.Client.UserAgent }},
	{"request_id", func(r *Record) any { return r.RequestID }},
	{"setting_id", func(r *Record) any { return r.Setting.ID }},
	{"setting_name", func(r *Record) any { return r.Setting.Name }},
	{"apple_id", func(r *Record) any { return r.AppleID }},
	{"token_sha256", func(r *Record) any { return r.Token.SHA256 }},
	{"token_recipient", func(r *Record) any { return r.Token.Recipient }},
	{"verdicts", func(r *Record) any { return r.Verdicts }},
	{"graph_status", func(r *Record) any { return int64(r.Graph.Status) }},
	{"graph_code", func(r *Record) any { return r.Graph.Code }},
	{"graph_request_id", func(r *Record) any { return r.Graph.RequestID }},
	{"graph_client_request_id", func(r *Record) any { return r.Graph.ClientRequestID }},
	{"graph_activity_id", func(r *Record) any { return r.Graph.ActivityID }},
	{"duration_ms", func(r *Record) any { return r.DurationMS }},
	{"intent_seq", func(r *Record) any { return r.IntentSeq }},
	{"reason", func(r *Record) any { return r.Reason }},
	{"route", func(r *Record) any { return r.Route }},
	{"prev_hash", func(r *Record) any { return r.PrevHash }},
	{"hash", func(r *Record) any { return r.Hash }},
}

// ColumnNames lists the export columns in order.
func ColumnNames() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return names
}

// ExportRecorded is an export as a person asks for it: by is recorded (type audit.exported)
// before anything is written, and only then is start called for the writer (the caller sets
// its headers there) and the records streamed. No record, no export: an error before start
// wraps ErrUnavailable and nothing was written.
func (t *Trail) ExportRecorded(ctx context.Context, by Entry, format string, f Filter, start func() io.Writer) error {
	if !ExportFormats[format] {
		return fmt.Errorf("%w: unknown export format %q", ErrInvalidEntry, format)
	}
	by.Type = AuditExported
	if _, err := t.Append(ctx, by); err != nil {
		return err
	}
	return Export(ctx, t.store, start(), format, f)
}

// ExportFormats are the formats Export writes.
var ExportFormats = map[string]bool{"csv": true, "jsonl": true}

// Export writes the records matching f, oldest first, as "csv" or "jsonl", streaming: memory
// use does not grow with the number of records. It records nothing: a person's export goes
// through ExportRecorded; the command line's is the operator's own.
func Export(ctx context.Context, st Store, w io.Writer, format string, f Filter) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var write func(r *Record) error
	flush := func() error { return nil }
	switch format {
	case "csv":
		cw := csv.NewWriter(bw)
		if err := cw.Write(ColumnNames()); err != nil {
			return err
		}
		row := make([]string, len(columns))
		write = func(r *Record) error {
			for i, c := range columns {
				row[i] = csvCell(c.value(r))
			}
			return cw.Write(row)
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	case "jsonl":
		var line []byte
		write = func(r *Record) error {
			line = appendJSON(line[:0], r)
			_, err := bw.Write(line)
			return err
		}
	default:
		return fmt.Errorf("audit export: format %q, want csv or jsonl", format)
	}
	for r, err := range st.Records(ctx, f, 1) {
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		if err := write(&r); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return bw.Flush()
}

// csvCell renders a value for a spreadsheet. Text starting with = + - @ (or tab, carriage
// return) would run as a formula when opened, so it is prefixed with a quote (OWASP CSV
// injection); user agents, names and Graph messages are all attacker-influenced.
func csvCell(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case Hash:
		return v.String()
	case []Verdict:
		b, _ := json.Marshal(nonNil(v))
		return string(b) // starts with '['
	case string:
		if v != "" {
			switch v[0] {
			case '=', '+', '-', '@', '\t', '\r':
				return "'" + v
			}
		}
		return v
	}
	panic(fmt.Sprintf("audit: column type %T", v))
}

func nonNil(v []Verdict) []Verdict {
	if v == nil {
		return []Verdict{}
	}
	return v
}

// appendJSON writes one record as a JSON object on one line, keys in column order.
func appendJSON(b []byte, r *Record) []byte {
	b = append(b, '{')
	for i, c := range columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c.name)
		b = append(b, ':')
		switch v := c.value(r).(type) {
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case Hash:
			b = appendJSONString(b, v.String())
		case []Verdict:
			vb, _ := json.Marshal(nonNil(v))
			b = append(b, vb...)
		case string:
			b = appendJSONString(b, v)
		}
	}
	return append(b, '}', '\n')
}

// appendJSONString quotes s as JSON. Stored text is valid UTF-8 (Append cleans it), but an
// export must stay valid JSON even from a tampered database, so bad bytes become U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Line and paragraph separators are valid in JSON but end a line for many
			// readers (JavaScript before ES2019, some log shippers): one record, one line.
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// recordAttrs are the log attributes of a record: the same names as the export columns.
func recordAttrs(r *Record) []slog.Attr {
	attrs := make([]slog.Attr, len(columns))
	for i, c := range columns {
		switch v := c.value(r).(type) {
		case int64:
			attrs[i] = slog.Int64(c.name, v)
		case string:
			attrs[i] = slog.String(c.name, v)
		case Hash:
			attrs[i] = slog.String(c.name, v.String())
		case []Verdict:
			attrs[i] = slog.Any(c.name, nonNil(v))
		}
	}
	return attrs
}
