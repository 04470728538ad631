package auth

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// refreshMargin refreshes a little before expiry so a token does not die mid-request.
const refreshMargin = 2 * time.Minute

// refreshTimeout bounds one refresh: the token request to Entra ID and saving its answer.
const refreshTimeout = 30 * time.Second

// Delegated is one session's Graph token: what the Graph client calls with. It refreshes when
// the access token is about to expire and saves the rotated refresh token every time.
type Delegated struct {
	sessions *Sessions
	idHash   string

	mu       sync.Mutex
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

// token reads the session without any lock and hands out a fresh access token as it is: the
// common case costs one read and one pooled connection for the length of it. Only a refresh
// locks: the in-process stripe, then the session itself through Store.RefreshSession, which
// re-reads it on the one connection it holds.
func (d *Delegated) token(ctx context.Context, force bool) (string, error) {
	s := d.sessions
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
	if d.fresh(st, force) {
		d.used(st.AccessToken)
		return st.AccessToken, nil
	}

	lock := &s.refreshLocks[stripe(d.idHash)]
	lock.Lock()
	defer lock.Unlock()
	// Once a refresh starts it finishes, whatever the request does: Entra rotates the refresh
	// token on use, and a rotated token that is not saved ends the session.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	var token string
	revoked := false
	err = s.store.RefreshSession(rctx, d.idHash, func(rec SessionRecord) ([]byte, error) {
		// Re-read under the lock: another request of this session, in this process or another
		// instance, may have refreshed already.
		st, err := s.openTokens(rec)
		if err != nil {
			return nil, err
		}
		if d.fresh(st, force) {
			token = st.AccessToken
			return nil, nil
		}
		if st.RefreshToken == "" {
			return nil, ErrReauthenticate
		}
		tok, err := s.refresh.Refresh(rctx, st.RefreshToken)
		if errors.Is(err, ErrReauthenticate) {
			revoked = true
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		token = tok.AccessToken
		return s.sealTokens(d.idHash, tok)
	})
	if revoked {
		// The provider revoked the grant: this session can no longer act; end it. Only now,
		// with RefreshSession returned: on PostgreSQL the row stays locked until then.
		if err := s.store.DeleteSession(rctx, d.idHash); err != nil {
			return "", fmt.Errorf("%w (and the revoked session could not be deleted: %v)", ErrReauthenticate, err)
		}
		return "", ErrReauthenticate
	}
	if errors.Is(err, ErrNotFound) {
		return "", ErrReauthenticate
	}
	if err != nil {
		return "", err
	}
	d.used(token)
	return token, nil
}

// fresh reports whether st's access token can be handed out: present, not expiring within
// refreshMargin, and not the very token Graph just answered 401 to (force).
func (d *Delegated) fresh(st storedToken, force bool) bool {
	d.mu.Lock()
	stale := force && st.AccessToken == d.lastUsed
	d.mu.Unlock()
	return !stale && st.AccessToken != "" && d.sessions.cfg.Now().Add(refreshMargin).Before(st.Expiry)
}

func (d *Delegated) used(token string) {
	d.mu.Lock()
	d.lastUsed = token
	d.mu.Unlock()
}

func stripe(idHash string) int {
	h := fnv.New32a()
	h.Write([]byte(idHash))
	return int(h.Sum32() % 64)
}
