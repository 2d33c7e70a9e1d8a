package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxStmts bounds the prepared reader statements a Store keeps. The
// per-cell queries come in a few shapes (one per number of targets and
// kind of query), so a handful is enough; past the bound a query is
// prepared for one use, as database/sql does by default.
const maxStmts = 64

// maxScorerIDs bounds the scorer row ids a Store remembers (a suite has
// one scorer per probe).
const maxScorerIDs = 1024

// stmtCache holds a Store's prepared reader statements by a key naming
// their shape, so that a query read once per plan cell is prepared once
// per Store (per reader connection, which database/sql does for a
// *sql.Stmt) instead of once per cell. Safe for concurrent use.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// readQuery is a reader query ready to run: prepared, or, past the
// cache's bound, its text on the reader pool.
type readQuery struct {
	st   *sql.Stmt
	db   *sql.DB
	text string
}

func (q readQuery) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if q.st != nil {
		return q.st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, q.text, args...)
}

func (q readQuery) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	if q.st != nil {
		return q.st.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, q.text, args...)
}

// readStmt returns the reader query of shape key, whose text build
// returns, preparing it on first use. The same key must always build the
// same text.
func (s *Store) readStmt(ctx context.Context, key string, build func() string) (readQuery, error) {
	c := &s.stmts
	c.mu.Lock()
	st, ok := c.stmts[key]
	full := len(c.stmts) >= maxStmts
	closed := c.closed
	c.mu.Unlock()
	if ok {
		return readQuery{st: st}, nil
	}
	text := build()
	if full || closed {
		return readQuery{db: s.rdb, text: text}, nil
	}
	// Prepared outside the lock: preparing waits for a reader connection,
	// which a caller holding the lock must not make others wait for.
	st, err := s.rdb.PrepareContext(ctx, text)
	if err != nil {
		return readQuery{}, fmt.Errorf("prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[key]; ok {
		st.Close() // another goroutine prepared it first
		return readQuery{st: prev}, nil
	}
	if c.closed || len(c.stmts) >= maxStmts {
		st.Close()
		return readQuery{db: s.rdb, text: text}, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[key] = st
	return readQuery{st: st}, nil
}

// close closes the cached statements; later readStmt calls prepare
// nothing.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = nil
	return errors.Join(errs...)
}

// scorerIDCache remembers the row ids of scorers found in the scorers
// table. Only ids found are kept: a row, once committed, keeps its id
// (scorers are never deleted, and an insert of an existing name keeps
// its row), but a scorer not found yet may be added at any time by a
// writer (this Store's or another process's), so "missing" is looked up
// again on every call.
type scorerIDCache struct {
	mu  sync.Mutex
	ids map[string]int64
}
