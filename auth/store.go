package auth

import (
	"context"
	"errors"
	"time"
)

// Store keeps sign-in transactions and sessions. store/ implements it for SQLite and
// PostgreSQL; every value that would be a secret arrives sealed or hashed.
type Store interface {
	PutLogin(ctx context.Context, l LoginRecord) error
	// TakeLogin returns and deletes the transaction in one step, so a state is usable once.
	TakeLogin(ctx context.Context, stateHash string) (LoginRecord, error)

	CreateSession(ctx context.Context, s SessionRecord) error
	Session(ctx context.Context, idHash string) (SessionRecord, error)
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	SetSessionTokens(ctx context.Context, idHash string, sealed []byte) error
	// LockSession holds a lock on one session across every process sharing the database, so
	// two instances do not both redeem the same rotating refresh token. unlock must be called.
	LockSession(ctx context.Context, idHash string) (unlock func(), err error)
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteExpired removes logins that expired before loginsBefore and sessions idle since
	// idleBefore or created before createdBefore.
	DeleteExpired(ctx context.Context, loginsBefore, idleBefore, createdBefore time.Time) (int64, error)
}

// ErrNotFound is what a Store returns for a missing login or session.
var ErrNotFound = errors.New("not found")

// LoginRecord is a sign-in between the redirect to the provider and the callback.
type LoginRecord struct {
	StateHash   string // SHA-256 of the state parameter
	BindingHash string // SHA-256 of the browser's login cookie: the state works only there
	Sealed      []byte // nonce, PKCE verifier and return path, sealed
	ExpiresAt   time.Time
}

// SessionRecord is a signed-in session as stored.
type SessionRecord struct {
	IDHash     string // SHA-256 of the cookie value
	Identity   Identity
	CreatedAt  time.Time
	LastSeenAt time.Time
	Tokens     []byte // the delegated Graph tokens, sealed with IDHash as additional data
}
