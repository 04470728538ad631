package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that makes and drops schemas

	"github.com/depportal/depportal/store"
)

// PostgresURL is the server the PostgreSQL tests use: DEPPORTAL_TEST_POSTGRES_URL, or the local
// one. It carries a query (sslmode) so that more parameters can be appended with "&".
func PostgresURL() string {
	if u := os.Getenv("DEPPORTAL_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// MustPostgres opens PostgreSQL in a fresh schema of its own, migrated, and drops the schema
// when the test ends. It returns the database and its URL (search_path included), for a test
// that opens a second pool on the same schema. Without a reachable server it is Missing.
func MustPostgres(tb testing.TB) (*store.DB, string) {
	tb.Helper()
	base := PostgresURL()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		Missing(tb, "PostgreSQL", fmt.Sprintf("no PostgreSQL reachable at %s (set DEPPORTAL_TEST_POSTGRES_URL): %v", base, err))
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	url := base + "&search_path=" + schema
	db, err := store.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, url
}

// MustSQLite opens a fresh SQLite database, migrated, in the test's temporary folder.
func MustSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "test.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
