package renewal

import (
	"context"
	"fmt"
	"regexp"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/deptoken"
)

// PublicKeyFile is a token's public key as Apple Business Manager accepts it for an MDM server.
type PublicKeyFile struct {
	SettingID   string
	SettingName string
	FileName    string // "<token name>_public_key.pem", safe as a download name
	PEM         string // the three-line PEM
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// PublicKey reads the certificate Intune holds for a token and records the download before
// handing it out (no record, no download). It only reads the key; it never asks Intune for a
// new one, which would break the token in use.
func (s *Service) PublicKey(ctx context.Context, sess Session, settingID string) (PublicKeyFile, error) {
	keyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type keyResult struct {
		pem string
		err error
	}
	keyc := make(chan keyResult, 1)
	go func() {
		pem, err := s.intune.GetEncryptionPublicKey(keyCtx, sess.Credentials, settingID)
		keyc <- keyResult{pem, err}
	}()
	st, err := s.intune.GetOnboardingSetting(ctx, sess.Credentials, settingID)
	if err != nil {
		return PublicKeyFile{}, err
	}
	key := <-keyc
	if key.err != nil {
		return PublicKeyFile{}, key.err
	}
	pem, err := deptoken.ThreeLinePEM(key.pem)
	if err != nil {
		return PublicKeyFile{}, fmt.Errorf("Intune's public key for %s is not a certificate: %w", settingID, err)
	}
	e := sess.entry(audit.PublicKeyDownloaded)
	e.Setting = audit.Setting{ID: st.ID, Name: st.TokenName}
	if _, err := s.audit.Append(ctx, e); err != nil {
		return PublicKeyFile{}, audit.Unrecorded(err)
	}
	name := unsafeFileChars.ReplaceAllString(st.TokenName, "_")
	if name == "" {
		name = "intune"
	}
	return PublicKeyFile{SettingID: st.ID, SettingName: st.TokenName, FileName: name + "_public_key.pem", PEM: pem}, nil
}
