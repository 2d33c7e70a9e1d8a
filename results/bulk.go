package results

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// bulkRows is how many rows one INSERT statement carries. Multi-row
// statements cut the per-statement cost (a cgo call and a VM run each),
// which dominates writing many small rows; 64 rows × 18 columns stays far
// below SQLite's limit on bound variables.
const bulkRows = 64

// bulkInsert inserts rows (each with the same number of values) with
// multi-row statements "head VALUES (?, …), (?, …) tail" inside tx.
func bulkInsert(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any) error {
	return bulkInsertReturning(ctx, tx, head, tail, rows, nil)
}

// bulkInsertReturning is bulkInsert for statements whose tail ends in a
// RETURNING clause: scan is called for every row they return.
func bulkInsertReturning(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any, scan func(*sql.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0])
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	args := make([]any, 0, bulkRows*cols)
	for start := 0; start < len(rows); start += bulkRows {
		chunk := rows[start:min(start+bulkRows, len(rows))]
		st := stmts[len(chunk)]
		if st == nil {
			q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", len(chunk)), ", ") + " " + tail
			var err error
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("prepare %s: %w", head, err)
			}
			stmts[len(chunk)] = st
		}
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r...)
		}
		if scan == nil {
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return err
			}
			continue
		}
		if err := queryEach(st.QueryContext(ctx, args...))(scan); err != nil {
			return err
		}
	}
	return nil
}

// queryEach returns a function that calls scan for every row of a query's
// result and closes it.
func queryEach(rows *sql.Rows, err error) func(scan func(*sql.Rows) error) error {
	return func(scan func(*sql.Rows) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}
