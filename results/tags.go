package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tag names a run of a suite: "blessed", say, the release that new runs
// are compared against. A tag is per suite, and tagging another run with
// it moves it; the tags table keeps every assignment.
type Tag struct {
	Suite     string // the suite's name
	Name      string
	RunID     int64
	CreatedAt time.Time
}

// CheckTagName reports why name cannot be a tag, nil when it can: a tag
// is not empty, not a run id or "latest", and has no ':' (which separates
// a database from a run in DB:RUN) and no white space.
func CheckTagName(name string) error {
	switch {
	case name == "":
		return errors.New("empty tag name")
	case name == "latest":
		return errors.New(`"latest" names the newest run; pick another tag name`)
	case strings.ContainsAny(name, ": \t\n\r"):
		return fmt.Errorf("tag %q: a tag has no ':' and no white space", name)
	}
	if _, err := strconv.ParseInt(name, 10, 64); err == nil {
		return fmt.Errorf("tag %q: a number names a run id; pick a name with a letter", name)
	}
	return nil
}

// TagRun tags a run with name for its suite, moving the tag when another
// run of the suite holds it.
func (s *Store) TagRun(ctx context.Context, runID int64, name string) error {
	if err := CheckTagName(name); err != nil {
		return err
	}
	run, err := s.GetRun(ctx, runID)
	if err != nil {
		return fmt.Errorf("tag run: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO run_tags (suite_name, tag, run_id, created_at) VALUES (?, ?, ?, ?)`,
		run.SuiteName, name, runID, now()); err != nil {
		return fmt.Errorf("tag run %d %s: %w", runID, name, err)
	}
	return nil
}

// Tags returns the current tags: for every suite and tag name, the run
// of its newest assignment, ordered by suite and name.
func (s *Store) Tags(ctx context.Context) ([]Tag, error) {
	var out []Tag
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT suite_name, tag, run_id, created_at FROM run_tags
		WHERE id IN (SELECT max(id) FROM run_tags GROUP BY suite_name, tag) ORDER BY suite_name, tag`))(func(r *sql.Rows) error {
		var t Tag
		var created sql.NullString
		if err := r.Scan(&t.Suite, &t.Name, &t.RunID, &created); err != nil {
			return err
		}
		t.CreatedAt = parseTime(created)
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return out, nil
}

// TaggedRuns returns the current tags with the given name, one per suite
// that has it; suite, when not empty, keeps only that suite's.
func (s *Store) TaggedRuns(ctx context.Context, name, suite string) ([]Tag, error) {
	all, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []Tag
	for _, t := range all {
		if t.Name == name && (suite == "" || t.Suite == suite) {
			out = append(out, t)
		}
	}
	return out, nil
}
