package audit

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalisedRefusesWhatCannotBeAudited(t *testing.T) {
	bad := map[string]Entry{
		"unknown type":           {Type: "upload.maybe"},
		"unknown outcome":        {Type: SignInSucceeded, Outcome: "great"},
		"outcome without intent": {Type: UploadSucceeded},
		"verdict result":         {Type: UploadReviewed, Verdicts: []Verdict{{Check: "c", Result: "ok"}}},
		"token hash not hex":     {Type: UploadIntent, Token: TokenFile{SHA256: "not a hash"}},
		"token hash too short":   {Type: UploadIntent, Token: TokenFile{SHA256: "abcd"}},
		"negative duration":      {Type: UploadFailed, IntentSeq: 1, DurationMS: -1},
	}
	for name, e := range bad {
		if _, err := e.normalised(); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: err = %v, want ErrInvalidEntry", name, err)
		}
	}
}

func TestNormalisedDefaultsAndCleans(t *testing.T) {
	for typ, want := range map[EventType]Outcome{
		SignInSucceeded: Success, SignInRefused: Failure, AccessDenied: Failure, UploadIntent: Pending,
		UploadUnknown: Unknown, UploadReconciled: Unknown, PublicKeyDownloaded: Success, AuditExported: Success,
	} {
		e, err := Entry{Type: typ, IntentSeq: 1}.normalised()
		if err != nil || e.Outcome != want {
			t.Errorf("%s: outcome %q (%v), want %q", typ, e.Outcome, err, want)
		}
	}
	verdicts := []Verdict{{Check: "recipient", Result: Fail, Message: "bad\x00"}}
	e, err := Entry{
		Type:     UploadReviewed,
		Verdicts: verdicts,
		Token:    TokenFile{SHA256: strings.Repeat("AB", 32)},
		Client:   Client{UserAgent: "evil\xff\x00" + strings.Repeat("é", MaxFieldBytes)},
	}.normalised()
	if err != nil {
		t.Fatal(err)
	}
	if e.Outcome != Failure {
		t.Errorf("a review with a failed check has outcome %q", e.Outcome)
	}
	if e.Token.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("token hash not lowercased: %s", e.Token.SHA256)
	}
	ua := e.Client.UserAgent
	if !utf8.ValidString(ua) || strings.ContainsRune(ua, 0) || len(ua) > MaxUserAgentBytes || len(ua) < MaxUserAgentBytes-1 || !strings.HasPrefix(ua, "evil\uFFFD\uFFFD") {
		t.Errorf("user agent not cleaned: %q… (%d bytes)", ua[:min(len(ua), 20)], len(ua))
	}
	if e.Verdicts[0].Message != "bad\uFFFD" || verdicts[0].Message != "bad\x00" {
		t.Errorf("verdict cleaned wrongly or in the caller's slice: %q, %q", e.Verdicts[0].Message, verdicts[0].Message)
	}
}
