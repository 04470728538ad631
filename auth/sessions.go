package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/depportal/depportal/secret"
)

// SessionConfig sets session lifetimes and cookie attributes.
type SessionConfig struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	SecureCookies   bool // https: Secure and the __Host- prefix
	Now             func() time.Time
	// Audit records sign-ins and refusals (record.go); Start refuses to begin a session
	// without it.
	Audit Auditor
}

// touchEvery limits last-seen writes: the idle timeout is minutes, one write a minute suffices.
const touchEvery = time.Minute

// Sessions keeps signed-in sessions server-side. The browser holds only a random 256-bit ID;
// the database holds its SHA-256, the identity and the sealed Graph tokens.
type Sessions struct {
	cfg     SessionConfig
	store   Store
	tokens  *secret.Sealer
	csrfKey []byte
	refresh Refresher

	// refreshLocks serialise token refreshes per session (striped), so two requests of one
	// person do not both redeem the same rotating refresh token.
	refreshLocks [64]sync.Mutex
}

// Refresher redeems a refresh token (SignIn implements it).
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error)
}

// NewSessions builds the session manager; sessionKey is the 32-byte DEPPORTAL_SESSION_KEY.
func NewSessions(cfg SessionConfig, store Store, sessionKey []byte, refresh Refresher) (*Sessions, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tokens, err := secret.NewSealer(sessionKey, "graph-tokens")
	if err != nil {
		return nil, err
	}
	csrfKey, err := secret.DeriveKey(sessionKey, "csrf")
	if err != nil {
		return nil, err
	}
	return &Sessions{cfg: cfg, store: store, tokens: tokens, csrfKey: csrfKey, refresh: refresh}, nil
}

// Session is a loaded, live session.
type Session struct {
	IDHash     string
	Identity   Identity
	CreatedAt  time.Time
	LastSeenAt time.Time
	CSRFToken  string
}

// storedToken is the sealed form of the delegated tokens.
type storedToken struct {
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt"`
	Expiry       time.Time `json:"exp"`
}

// Create starts a new session with a fresh ID (never one the browser brought: no fixation) and
// returns the cookie value.
func (s *Sessions) Create(ctx context.Context, id Identity, tok *oauth2.Token) (string, Session, error) {
	raw := secret.RandomToken()
	idHash := hashHex(raw)
	now := s.cfg.Now()
	sealed, err := s.sealTokens(idHash, tok)
	if err != nil {
		return "", Session{}, err
	}
	rec := SessionRecord{IDHash: idHash, Identity: id, CreatedAt: now, LastSeenAt: now, Tokens: sealed}
	if err := s.store.CreateSession(ctx, rec); err != nil {
		return "", Session{}, fmt.Errorf("save session: %w", err)
	}
	return raw, s.live(rec), nil
}

// Load finds the session for a cookie value and enforces the idle and absolute limits; an
// expired session is deleted.
func (s *Sessions) Load(ctx context.Context, raw string) (Session, error) {
	if raw == "" || len(raw) > 128 {
		return Session{}, ErrNoSession
	}
	idHash := hashHex(raw)
	rec, err := s.store.Session(ctx, idHash)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	now := s.cfg.Now()
	if now.Sub(rec.LastSeenAt) > s.cfg.IdleTimeout || now.Sub(rec.CreatedAt) > s.cfg.AbsoluteTimeout {
		if err := s.store.DeleteSession(ctx, idHash); err != nil {
			return Session{}, err
		}
		return Session{}, ErrSessionExpired
	}
	if now.Sub(rec.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, idHash, now); err != nil {
			return Session{}, err
		}
		rec.LastSeenAt = now
	}
	return s.live(rec), nil
}

// Delete ends a session server-side; the old cookie stops working at once.
func (s *Sessions) Delete(ctx context.Context, idHash string) error {
	return s.store.DeleteSession(ctx, idHash)
}

// Sweep deletes expired logins and sessions.
func (s *Sessions) Sweep(ctx context.Context) (int64, error) {
	now := s.cfg.Now()
	return s.store.DeleteExpired(ctx, now, now.Add(-s.cfg.IdleTimeout), now.Add(-s.cfg.AbsoluteTimeout))
}

func (s *Sessions) live(rec SessionRecord) Session {
	return Session{IDHash: rec.IDHash, Identity: rec.Identity, CreatedAt: rec.CreatedAt, LastSeenAt: rec.LastSeenAt, CSRFToken: s.csrfToken(rec.IDHash)}
}

// csrfToken is derived from the session, so it needs no storage and dies with the session.
func (s *Sessions) csrfToken(idHash string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(idHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF compares a submitted token with the session's in constant time.
func (s *Sessions) CheckCSRF(sess Session, submitted string) bool {
	return submitted != "" && hmac.Equal([]byte(submitted), []byte(s.csrfToken(sess.IDHash)))
}

func (s *Sessions) sealTokens(idHash string, tok *oauth2.Token) ([]byte, error) {
	plain, err := json.Marshal(storedToken{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
	if err != nil {
		return nil, err
	}
	return s.tokens.Seal(plain, []byte(idHash)), nil
}

func (s *Sessions) openTokens(rec SessionRecord) (storedToken, error) {
	var st storedToken
	plain, err := s.tokens.Open(rec.Tokens, []byte(rec.IDHash))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(plain, &st)
}

// SessionCookieName is the cookie holding the session ID. The __Host- prefix (https only) pins
// it to this host and path /, so a sibling subdomain cannot plant or read it.
func (s *Sessions) SessionCookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-depportal_session"
	}
	return "depportal_session"
}

// LoginCookieName is the cookie binding a sign-in transaction to the browser that began it.
func (s *Sessions) LoginCookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-depportal_login"
	}
	return "depportal_login"
}

// SessionCookie returns the cookie that carries value; an empty value clears it. Lax, not
// Strict: Strict cookies are not sent on the redirect back from the provider.
func (s *Sessions) SessionCookie(value string) *http.Cookie {
	return s.cookie(s.SessionCookieName(), value, 0)
}

// LoginCookie returns the short-lived sign-in binding cookie; an empty value clears it.
func (s *Sessions) LoginCookie(value string) *http.Cookie {
	return s.cookie(s.LoginCookieName(), value, int(LoginTTL/time.Second))
}

func (s *Sessions) cookie(name, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
		MaxAge:   maxAge,
	}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}
