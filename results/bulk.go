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
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}
