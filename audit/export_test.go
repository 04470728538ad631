package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCSVCellNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+1":                "'+1",
		"-2+3":              "'-2+3",
		"@SUM(A1)":          "'@SUM(A1)",
		"\t=1":              "'\t=1",
		"\r=1":              "'\r=1",
		"Hannah":            "Hannah",
		"":                  "",
		"a=b":               "a=b",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
	if got := csvCell(int64(-1)); got != "-1" {
		t.Errorf("numbers are ours, not text: %q", got)
	}
}

func TestJSONStringsAreValid(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"quote\" back\\":       "quote\" back\\",
		"ctl\x00\x1f\n":        "ctl\x00\x1f\n",
		"bad \xff utf8":        "bad \uFFFD utf8",
		"Müller <b>&</b>":      "Müller <b>&</b>",
		"line\u2028para\u2029": "line\u2028para\u2029",
	} {
		var got string
		raw := appendJSONString(nil, in)
		if err := json.Unmarshal(raw, &got); err != nil || got != want {
			t.Errorf("%q: decoded %q, %v; want %q", in, got, err, want)
		}
		// One record, one line, for every reader: no raw line or paragraph separator.
		if strings.ContainsAny(string(raw), "\n\r\u2028\u2029") {
			t.Errorf("%q: the JSON text holds a line break: %q", in, raw)
		}
	}
}

func TestColumnsAreStable(t *testing.T) {
	// Tools and SIEM rules depend on these names and this order; append, never reorder.
	want := []string{"seq", "time", "type", "outcome", "actor_tid", "actor_oid", "actor_name", "actor_upn",
		"client_ip", "user_agent", "request_id", "setting_id", "setting_name", "apple_id", "token_sha256",
		"token_recipient", "verdicts", "graph_status", "graph_code", "graph_request_id",
		"graph_client_request_id", "graph_activity_id", "duration_ms", "intent_seq", "reason", "route",
		"prev_hash", "hash"}
	got := ColumnNames()
	if len(got) != len(want) {
		t.Fatalf("columns %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d is %q, want %q", i, got[i], want[i])
		}
	}
}
