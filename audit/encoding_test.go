package audit

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// exampleRecords are the worked example of docs/audit-format.md.
func exampleRecords() (first, second Record) {
	first = Record{
		Seq:  1,
		Time: time.Date(2026, 3, 2, 9, 15, 30, 123456000, time.UTC),
		Entry: Entry{
			Type:      SignInSucceeded,
			Outcome:   Success,
			Actor:     Actor{TenantID: "8a7b6c5d-0000-4000-8000-000000000001", ObjectID: "0f1e2d3c-0000-4000-8000-000000000002", Name: "Hannah Müller", UPN: "hannah@contoso.example"},
			Client:    Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0"},
			RequestID: "req-1",
		},
	}
	first.Hash = first.ComputeHash()
	second = Record{
		Seq:  2,
		Time: time.Date(2026, 3, 2, 9, 16, 2, 1000, time.UTC),
		Entry: Entry{
			Type:      UploadReviewed,
			Outcome:   Success,
			Actor:     first.Actor,
			Client:    first.Client,
			RequestID: "req-2",
			Setting:   Setting{ID: "d1a7c2e4-0000-4000-8000-000000000003", Name: "Contoso MDM"},
			AppleID:   "abm-admin@contoso.example",
			Token:     TokenFile{SHA256: "50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c", Recipient: "CN=Intune MDM Push, serial 0a1b2c"},
			Verdicts: []Verdict{
				{Check: "recipient", Result: Pass, Message: "encrypted to this token's key"},
				{Check: "apple-id", Result: Warn, Message: "differs from the current Apple ID"},
			},
		},
		PrevHash: first.Hash,
	}
	second.Hash = second.ComputeHash()
	return first, second
}

// The golden bytes were also produced by an independent Python encoder written from the doc.
const (
	goldenFirst = "00000012646570706f7274616c2d61756469742d763100000000000000010006" +
		"4c07073c12c0000000107369676e696e2e737563636565646564000000077375" +
		"63636573730000002438613762366335642d303030302d343030302d38303030" +
		"2d3030303030303030303030310000002430663165326433632d303030302d34" +
		"3030302d383030302d3030303030303030303030320000000e48616e6e616820" +
		"4dc3bc6c6c65720000001668616e6e616840636f6e746f736f2e6578616d706c" +
		"650000000a3139322e302e322e31300000000b4d6f7a696c6c612f352e300000" +
		"00057265712d3100000000000000000000000000000000000000000000000000" +
		"0000000000000000000000000000000000000000000000000000000000000000" +
		"0000000000000000000000000000000000002000000000000000000000000000" +
		"00000000000000000000000000000000000000"
	goldenFirstHash  = "3ba86ff44fb99d9a7136f5d362d175494301e3f9ec9c70bf1daa3cc2a6866d3b"
	goldenSecondHash = "625e9dbf0bf97283d3cd124fc0ac026a8b76ad468a2af974ae58d8f0ea1349d1"

	exampleSignerKey = "PRIVATE+KEY+portal.contoso.example/audit+22840249+AWVmub4+cJLSIkrAqzYIhQY4gKWl4x2lCRhOs5LUU0Co"
	exampleVerifier  = "portal.contoso.example/audit+22840249+AZpfsEe6bGmyYn5RrCUQRJNMCVXQXISR7tKcUysyaZWk"
)

func mustReadDoc(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("../docs/audit-format.md")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestCanonicalEncodingMatchesTheDocument(t *testing.T) {
	first, second := exampleRecords()
	if got := hex.EncodeToString(first.Canonical()); got != goldenFirst {
		t.Errorf("record 1 encodes as\n%s\nwant\n%s", got, goldenFirst)
	}
	if first.Hash.String() != goldenFirstHash || second.Hash.String() != goldenSecondHash {
		t.Errorf("hashes %s %s, want %s %s", first.Hash, second.Hash, goldenFirstHash, goldenSecondHash)
	}
	doc := mustReadDoc(t)
	flat := strings.Join(strings.Fields(doc), "")
	for name, want := range map[string]string{
		"record 1 bytes": goldenFirst, "record 1 hash": goldenFirstHash,
		"record 2 bytes": hex.EncodeToString(second.Canonical()), "record 2 hash": goldenSecondHash,
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("docs/audit-format.md does not show %s %s", name, want)
		}
	}
}

func TestCheckpointExampleMatchesTheDocument(t *testing.T) {
	_, second := exampleRecords()
	signer, err := note.NewSigner(exampleSignerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signCheckpoint(signer, 2, second.Hash, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if doc := mustReadDoc(t); !strings.Contains(doc, c.Note) || !strings.Contains(doc, exampleVerifier) {
		t.Errorf("docs/audit-format.md does not show the example checkpoint:\n%s", c.Note)
	}
	if _, vkey, _ := ParseKey(exampleSignerKey); vkey != exampleVerifier {
		t.Errorf("example verifier key %s, want %s", vkey, exampleVerifier)
	}
	opened, err := OpenCheckpoint(c.Note, exampleVerifier)
	if err != nil || opened.Size != 2 || opened.Hash != second.Hash || opened.Origin != "portal.contoso.example/audit" {
		t.Errorf("OpenCheckpoint = %+v, %v", opened, err)
	}
}

// Every field must be in the hash: otherwise it could be edited undetected.
func TestEveryFieldChangesTheHash(t *testing.T) {
	_, base := exampleRecords()
	edits := map[string]func(r *Record){
		"seq":             func(r *Record) { r.Seq++ },
		"time":            func(r *Record) { r.Time = r.Time.Add(time.Microsecond) },
		"type":            func(r *Record) { r.Type = UploadIntent },
		"outcome":         func(r *Record) { r.Outcome = Failure },
		"actor tid":       func(r *Record) { r.Actor.TenantID += "x" },
		"actor oid":       func(r *Record) { r.Actor.ObjectID += "x" },
		"actor name":      func(r *Record) { r.Actor.Name += "x" },
		"actor upn":       func(r *Record) { r.Actor.UPN += "x" },
		"client ip":       func(r *Record) { r.Client.IP += "x" },
		"user agent":      func(r *Record) { r.Client.UserAgent += "x" },
		"request id":      func(r *Record) { r.RequestID += "x" },
		"setting id":      func(r *Record) { r.Setting.ID += "x" },
		"setting name":    func(r *Record) { r.Setting.Name += "x" },
		"apple id":        func(r *Record) { r.AppleID += "x" },
		"token sha256":    func(r *Record) { r.Token.SHA256 = strings.Repeat("0", 64) },
		"token recipient": func(r *Record) { r.Token.Recipient += "x" },
		"verdict check":   func(r *Record) { r.Verdicts[0].Check += "x" },
		"verdict result":  func(r *Record) { r.Verdicts[0].Result = Fail },
		"verdict message": func(r *Record) { r.Verdicts[1].Message += "x" },
		"verdict dropped": func(r *Record) { r.Verdicts = r.Verdicts[:1] },
		"verdict order":   func(r *Record) { r.Verdicts[0], r.Verdicts[1] = r.Verdicts[1], r.Verdicts[0] },
		"graph status":    func(r *Record) { r.Graph.Status = 204 },
		"graph code":      func(r *Record) { r.Graph.Code = "x" },
		"graph request":   func(r *Record) { r.Graph.RequestID = "x" },
		"graph client":    func(r *Record) { r.Graph.ClientRequestID = "x" },
		"graph activity":  func(r *Record) { r.Graph.ActivityID = "x" },
		"duration":        func(r *Record) { r.DurationMS = 1 },
		"intent seq":      func(r *Record) { r.IntentSeq = 1 },
		"reason":          func(r *Record) { r.Reason = "x" },
		"route":           func(r *Record) { r.Route = "x" },
		"prev hash":       func(r *Record) { r.PrevHash[31] ^= 1 },
	}
	for name, edit := range edits {
		r := base
		r.Verdicts = append([]Verdict(nil), base.Verdicts...)
		edit(&r)
		if r.ComputeHash() == base.Hash {
			t.Errorf("changing the %s leaves the hash unchanged", name)
		}
	}
}

// Length prefixes: moving a byte from one field to the next must change the hash.
func TestEncodingIsUnambiguous(t *testing.T) {
	a, _ := exampleRecords()
	b := a
	a.Actor.Name, a.Actor.UPN = "ab", "c"
	b.Actor.Name, b.Actor.UPN = "a", "bc"
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("fields ab|c and a|bc hash the same")
	}
}

func TestComputeHashDoesNotAllocate(t *testing.T) {
	_, r := exampleRecords()
	if n := testing.AllocsPerRun(100, func() { r.ComputeHash() }); n != 0 {
		t.Errorf("ComputeHash allocates %v times; verify hashes a million records", n)
	}
}
