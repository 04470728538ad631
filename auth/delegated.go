package auth

import (
	"context"
	"errors"
	"hash/fnv"
	"time"
)

// refreshMargin refreshes a little before expiry so a token does not die mid-request.
const refreshMargin = 2 * time.Minute

// Delegated is one session's Graph token: what the Graph client calls with. It refreshes when
// the access token is about to expire and saves the rotated refresh token every time.
type Delegated struct {
	sessions *Sessions
	idHash   string
	lastUsed string // the access token last handed out, to tell a stale 401 from a fresh one
}

// Delegated returns the Graph credentials of a session.
func (s *Sessions) Delegated(sess Session) *Delegated {
	return &Delegated{sessions: s, idHash: sess.IDHash}
}

// AccessToken returns a valid access token, refreshing it first if it expires soon.
func (d *Delegated) AccessToken(ctx context.Context) (string, error) {
	return d.token(ctx, false)
}

// Refresh forces a refresh, after Graph answered 401 to the token last handed out.
func (d *Delegated) Refresh(ctx context.Context) (string, error) {
	return d.token(ctx, true)
}

func (d *Delegated) token(ctx context.Context, force bool) (string, error) {
	s := d.sessions
	lock := &s.refreshLocks[stripe(d.idHash)]
	lock.Lock()
	defer lock.Unlock()
	unlock, err := s.store.LockSession(ctx, d.idHash)
	if err != nil {
		return "", err
	}
	defer unlock()

	// Re-read under the lock: another request of this session may have refreshed already.
	rec, err := s.store.Session(ctx, d.idHash)
	if errors.Is(err, ErrNotFound) {
		return "", ErrReauthenticate
	}
	if err != nil {
		return "", err
	}
	st, err := s.openTokens(rec)
	if err != nil {
		return "", err
	}
	stale := force && st.AccessToken == d.lastUsed
	if !stale && st.AccessToken != "" && s.cfg.Now().Add(refreshMargin).Before(st.Expiry) {
		d.lastUsed = st.AccessToken
		return st.AccessToken, nil
	}
	if st.RefreshToken == "" {
		return "", ErrReauthenticate
	}
	tok, err := s.refresh.Refresh(ctx, st.RefreshToken)
	if errors.Is(err, ErrReauthenticate) {
		// The provider revoked the grant: this session can no longer act; end it.
		_ = s.store.DeleteSession(ctx, d.idHash)
		return "", ErrReauthenticate
	}
	if err != nil {
		return "", err
	}
	sealed, err := s.sealTokens(d.idHash, tok)
	if err != nil {
		return "", err
	}
	if err := s.store.SetSessionTokens(ctx, d.idHash, sealed); err != nil {
		return "", err
	}
	d.lastUsed = tok.AccessToken
	return tok.AccessToken, nil
}

func stripe(idHash string) int {
	h := fnv.New32a()
	h.Write([]byte(idHash))
	return int(h.Sum32() % 64)
}
