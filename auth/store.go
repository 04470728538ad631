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
	// RefreshSession re-reads a session and replaces its sealed tokens with what refresh
	// returns, holding the session against every other process sharing the database from the
	// read to the write, so two instances do not both redeem the same rotating refresh token.
	// refresh gets the record as re-read; returning nil sealed bytes means nothing to write
	// (another request refreshed already). An error from refresh writes nothing and is
	// returned as is. A missing session is ErrNotFound, without calling refresh.
	//
	// It takes one connection and no more: on PostgreSQL it is one transaction (SELECT … FOR
	// UPDATE, refresh, UPDATE, COMMIT), so the row lock ends with the transaction whatever
	// happens. refresh must not use the Store for the same session (the row is locked until it
	// returns). SQLite serves one instance by design and takes no database lock: callers
	// serialise within the process.
	RefreshSession(ctx context.Context, idHash string, refresh func(rec SessionRecord) (sealed []byte, err error)) error
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteSessionsBySID ends every session signed in through the provider's session sid (the
	// ID token's sid claim) and says how many there were.
	DeleteSessionsBySID(ctx context.Context, sid string) (int64, error)
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
