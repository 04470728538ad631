package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// EncodingVersion opens every canonical encoding. A future layout gets a new string, so a
// hash can never be read under the wrong layout.
const EncodingVersion = "depportal-audit-v1"

// Canonical returns the bytes the record's Hash is computed over (docs/audit-format.md):
// every field in a fixed order, text as a 4-byte big-endian length then the UTF-8 bytes,
// numbers as 8-byte big-endian two's complement. Length prefixes make it unambiguous with no
// escaping rules, so it is easy to re-implement byte for byte in any language.
func (r *Record) Canonical() []byte { return r.appendCanonical(nil) }

// ComputeHash returns SHA-256(Canonical()).
func (r *Record) ComputeHash() Hash {
	var buf [1024]byte // most records fit: no allocation on the verify path
	return sha256.Sum256(r.appendCanonical(buf[:0]))
}

func (r *Record) appendCanonical(b []byte) []byte {
	b = appendText(b, EncodingVersion)
	b = appendInt(b, r.Seq)
	b = appendInt(b, r.Time.UnixMicro())
	b = appendText(b, string(r.Type))
	b = appendText(b, string(r.Outcome))
	b = appendText(b, r.Actor.TenantID)
	b = appendText(b, r.Actor.ObjectID)
	b = appendText(b, r.Actor.Name)
	b = appendText(b, r.Actor.UPN)
	b = appendText(b, r.Client.IP)
	b = appendText(b, r.Client.UserAgent)
	b = appendText(b, r.RequestID)
	b = appendText(b, r.Setting.ID)
	b = appendText(b, r.Setting.Name)
	b = appendText(b, r.AppleID)
	b = appendText(b, r.Token.SHA256)
	b = appendText(b, r.Token.Recipient)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Verdicts)))
	for _, v := range r.Verdicts {
		b = appendText(b, v.Check)
		b = appendText(b, string(v.Result))
		b = appendText(b, v.Message)
	}
	b = appendInt(b, int64(r.Graph.Status))
	b = appendText(b, r.Graph.Code)
	b = appendText(b, r.Graph.RequestID)
	b = appendText(b, r.Graph.ClientRequestID)
	b = appendText(b, r.Graph.ActivityID)
	b = appendInt(b, r.DurationMS)
	b = appendInt(b, r.IntentSeq)
	b = appendText(b, r.Reason)
	b = appendText(b, r.Route)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.PrevHash)))
	return append(b, r.PrevHash[:]...)
}

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendInt(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
