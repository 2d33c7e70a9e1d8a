package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// OpenReadOnly opens an existing database for reading only, as the
// commands that only read (report, runs, export, gate, compare) do: it
// works on a read-only file or mount, never writes the database file,
// never migrates or checkpoints, and every write through the returned
// Store fails. The schema must be SchemaVersion already: an older database
// is migrated by Open, which needs write access.
//
// It first opens the file with mode=ro. SQLite reads a WAL database
// through its -shm index, which it creates beside the file when it is
// missing (in a writable directory a reader leaves an empty -wal and the
// -shm behind, as every reader of a WAL database may). In a directory it
// cannot write to (a read-only mount, a directory without write
// permission) and without a -shm that open fails, and the file is opened
// again with immutable=1, which reads the main file alone, without locks
// or the -shm. The caveat: an immutable reader does not see transactions
// still in the -wal file (committed but not yet checkpointed: a writer
// that was killed, or is still running), and would not notice a writer
// changing the file under it. Store.Close checkpoints and truncates the
// WAL, so after a clean close it is empty; when it is not, OpenReadOnly
// refuses rather than report stale data.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open results database: empty path")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open results database: %w", err)
	}
	s, err := openReadOnly(ctx, path, false)
	if err == nil {
		return s, nil
	}
	if se := (sqlite3.Error{}); !errors.As(err, &se) || se.Code != sqlite3.ErrCantOpen {
		return nil, fmt.Errorf("open results database %s read-only: %w", path, err)
	}
	if fi, werr := os.Stat(path + "-wal"); werr == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("open results database %s read-only: %w; its write-ahead log %s-wal holds %d bytes not yet in the database file, which a reader that cannot create %s-shm cannot see: copy the three files to a writable directory",
			path, err, path, fi.Size(), path)
	}
	s, ierr := openReadOnly(ctx, path, true)
	if ierr != nil {
		return nil, fmt.Errorf("open results database %s read-only: %w (immutable: %v)", path, err, ierr)
	}
	return s, nil
}

// openReadOnly opens path with mode=ro (and immutable=1 when immutable)
// and checks it is a traitleak database of this schema version; sql.Open
// connects lazily, so the check is also what finds a file SQLite cannot
// open.
func openReadOnly(ctx context.Context, path string, immutable bool) (*Store, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Set("_busy_timeout", "10000")
	q.Set("_cache_size", readerCache)
	q.Set("_query_only", "true")
	db, err := sql.Open("sqlite3", "file:"+escapePath(filepath.Clean(path))+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := checkSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, rdb: db, path: path, readOnly: true}, nil
}

// checkSchema verifies that db is a traitleak database of SchemaVersion.
func checkSchema(ctx context.Context, db *sql.DB) error {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='schema_version'`).Scan(&v)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) || strings.Contains(err.Error(), "no such table") {
			return errors.New("not a traitleak database (it has no schema version)")
		}
		return notADatabase(err)
	}
	ver, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return fmt.Errorf("bad schema version %q", v)
	case ver > SchemaVersion:
		return fmt.Errorf("database schema version %d is newer than this traitleak understands (%d): upgrade traitleak", ver, SchemaVersion)
	case ver < SchemaVersion:
		return fmt.Errorf("database schema version %d is older than %d: open it once with write access (any traitleak run or rescore) to migrate it", ver, SchemaVersion)
	}
	return nil
}
