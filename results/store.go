// Package results is traitleak's SQLite store: runs, their models and
// prompts, every sample (completion or error) and every score. It sits
// between sampling (package bench writes through Put) and analysis
// (reports read through Rows); it computes no statistics.
//
// The database uses WAL mode and a single writer connection, so one writer
// at a time commits batched transactions; a process killed mid-run loses
// at most the batch being written and never corrupts the file.
package results

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver
)

// SchemaVersion is the database layout this package reads and writes.
// Older databases are migrated on Open (see migrations).
const SchemaVersion = 10

// migration upgrades a database by one schema version: its script, then
// fill, when set, in the same transaction.
type migration struct {
	script string
	fill   func(ctx context.Context, tx *sql.Tx) error
}

// migrations[v] upgrades a database from schema version v to v+1.
var migrations = map[int]migration{
	// v2 adds the LLM-judge calls.
	1: {script: judgmentsSQL},
	// v3 gives samples integer ids, scores a scorers table and run_samples
	// plan positions.
	2: {script: migrateV3SQL},
	// v4 records each run's scorers and the judge calls behind scores;
	// runs recorded before are given theirs from their recorded suites.
	3: {script: recordsSQL, fill: recordOldRuns},
	// v5 stores analyses and tags runs (analyses.sql).
	4: {script: analysesSQL},
	// v6 records rate-control changes and the prices a run used
	// (ratecost.sql).
	5: {script: rateCostSQL},
	// v7 records the lineage of experiments' students (lineage.sql).
	6: {script: lineageSQL},
	// v8 records Batch API submissions and the shard a run samples
	// (batches.sql).
	7: {script: batchesSQL},
	// v9 links each planned draw to its sample's row id (links.sql).
	8: {script: linksSQL},
	// v10 marks samples and judge calls that came through a Batch API
	// and records each batch's estimated tokens (batched.sql).
	9: {script: batchedSQL},
}

// currentSQL creates a new database at SchemaVersion in one script: the
// tables and indexes that schema.sql and every migration script after it
// leave, as SQLite stores them. It is generated from those scripts (go
// test ./results -run TestCurrentSchema -update) and checked against
// them, so they stay the one source of truth. Why not run the scripts:
// each ALTER TABLE re-parses the whole schema and each data fill prepares
// its joins, which made creating a database cost ten times opening one.
//
//go:embed current.sql
var currentSQL string

//go:embed schema.sql
var schemaSQL string

//go:embed judgments.sql
var judgmentsSQL string

//go:embed migrate_v3.sql
var migrateV3SQL string

//go:embed records.sql
var recordsSQL string

//go:embed analyses.sql
var analysesSQL string

//go:embed ratecost.sql
var rateCostSQL string

//go:embed lineage.sql
var lineageSQL string

//go:embed batches.sql
var batchesSQL string

//go:embed links.sql
var linksSQL string

//go:embed batched.sql
var batchedSQL string

// writerCache and readerCache are the page caches of the writing
// connection and of each reading one, in KiB (negative, as SQLite's
// cache_size takes it). A process holds one writer and at most four
// readers, so SQLite's caches stay within 64 MiB whatever the size of
// the database. Why these sizes: sample keys are random hashes, so
// batched inserts touch pages all over the key index, and the writer's
// cache keeps the hot part of it; reads follow row ids and primary keys
// in order (see sampleOf) and need little.
const (
	writerCache = "-32768"
	readerCache = "-8192"
)

// ErrNotFound is returned when a run does not exist.
var ErrNotFound = errors.New("not found")

// Store is an open results database. Its methods are safe for concurrent
// use: writes are serialized on one connection, reads use a small pool of
// read-only connections, so a store call inside a Rows loop is fine.
type Store struct {
	db       *sql.DB // the one writer connection
	rdb      *sql.DB // readers (WAL lets them run beside the writer)
	path     string
	file     string // the database file's absolute path: see own
	readOnly bool   // OpenReadOnly: db and rdb are one read-only pool
	// stmts holds the prepared per-cell reader queries (stmts.go), and
	// scorerIDs the scorer row ids found so far.
	stmts     stmtCache
	scorerIDs scorerIDCache
}

// Open opens or creates the database at path and checks its schema
// version.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open results database: empty path")
	}
	// filepath.Clean also turns "//tmp/x" into "/tmp/x", which a file:
	// URI would read as host "tmp".
	file := "file:" + escapePath(filepath.Clean(path))
	q := url.Values{}
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_cache_size", writerCache)
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open results database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // the one writer
	s := &Store{db: db, path: path}
	// WAL is switched on only once the file is known to be ours: the
	// journal mode is stored in the file, and a refused file must stay
	// untouched.
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open results database %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open results database %s: enable WAL: %w", path, err)
	}
	s.file = canonicalPath(path) // now that the file exists
	q.Set("_query_only", "true")
	q.Set("_cache_size", readerCache)
	rdb, err := sql.Open("sqlite3", file+"?"+q.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open results database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	// Idle readers stay open (database/sql keeps 2 by default), so the
	// statements prepared on them (stmts.go) stay prepared.
	rdb.SetMaxIdleConns(4)
	s.rdb = rdb
	return s, nil
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func (s *Store) init(ctx context.Context) error {
	var name string
	err := s.db.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE type='table' AND name='meta'`).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
			return notADatabase(err)
		}
		if n > 0 {
			return errors.New("not a traitleak database (it has tables but no meta table)")
		}
		return s.create(ctx)
	case err != nil:
		return notADatabase(err)
	}
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='schema_version'`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	ver, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("bad schema version %q", v)
	}
	if ver > SchemaVersion {
		return fmt.Errorf("database schema version %d is newer than this traitleak understands (%d): upgrade traitleak", ver, SchemaVersion)
	}
	for ; ver < SchemaVersion; ver++ {
		if err := s.migrate(ctx, ver); err != nil {
			return err
		}
	}
	return nil
}

// migrate upgrades the schema from version v to v+1 in one transaction.
func (s *Store) migrate(ctx context.Context, v int) error {
	m, ok := migrations[v]
	if !ok {
		return fmt.Errorf("database schema version %d is older than %d and no migration exists", v, SchemaVersion)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.script); err != nil {
		return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
	}
	if m.fill != nil {
		if err := m.fill(ctx, tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'schema_version'`, strconv.Itoa(v+1)); err != nil {
		return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
	}
	return tx.Commit()
}

func notADatabase(err error) error {
	if strings.Contains(err.Error(), "file is not a database") || strings.Contains(err.Error(), "malformed") {
		return fmt.Errorf("not a SQLite database or damaged: %w", err)
	}
	return err
}

func (s *Store) create(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, currentSQL); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', ?)`, strconv.Itoa(SchemaVersion)); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return tx.Commit()
}

// Close checkpoints the WAL and closes the database (a read-only store
// only closes it).
func (s *Store) Close() error {
	serr := s.stmts.close()
	if s.readOnly {
		return errors.Join(s.db.Close(), serr)
	}
	rerr := errors.Join(s.rdb.Close(), serr)
	_, _ = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	if err := s.db.Close(); err != nil {
		return err
	}
	return rerr
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// RunStatus is the state of a run, as the runs table stores it.
type RunStatus string

// Run statuses.
const (
	StatusRunning     RunStatus = "running"
	StatusComplete    RunStatus = "complete"
	StatusInterrupted RunStatus = "interrupted"
	StatusFailed      RunStatus = "failed"
)

// Run is one row of the runs table.
type Run struct {
	ID          int64
	SuiteName   string
	SuiteHash   string
	SuiteSource string
	SuiteJSON   string
	Salt        string
	Status      RunStatus
	Planned     int
	Message     string
	Version     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time // zero while unfinished
	PID         int
	Host        string
}

// Orphaned reports whether the run is left running by a process that no
// longer exists (kill -9, power loss): its status says running, it was
// started or resumed on this host, and no process has its pid. A run
// owned by another host is never orphaned, as its process cannot be
// checked from here.
func (r *Run) Orphaned() bool {
	if r.Status != StatusRunning || r.PID <= 0 {
		return false
	}
	host, _ := os.Hostname()
	return r.Host == host && !processAlive(r.PID)
}

// processAlive reports whether a process with the given pid exists, by
// sending it signal 0 (kill(pid, 0) on Linux). A zombie counts as alive
// until it is reaped.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	// EPERM: the process exists but belongs to another user.
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// InstanceRow is one model instance of a run: a role at one seed, served
// as ModelID at BaseURL.
type InstanceRow struct {
	ID        int64
	Index     int    // position in the run's plan, from 0
	Role      string // the suite's model role
	Seed      string // "" for a role with one model
	Condition string
	BaseURL   string
	ModelID   string // the model id sent to the endpoint
	Settings  string // JSON generation settings
}

// PromptRow is one prompt of a run.
type PromptRow struct {
	ID    int64
	Probe string
	Index int
	Text  string
}

// PlannedSample is one draw of a run's plan.
type PlannedSample struct {
	Key      string
	Instance int // InstanceRow.Index
	Probe    string
	Prompt   int // PromptRow.Index
	Draw     int
}

// NewRun describes a run to start or resume.
type NewRun struct {
	SuiteName, SuiteHash, SuiteSource, SuiteJSON, Salt, Version string
	Instances                                                   []InstanceRow
	Prompts                                                     []PromptRow
	Plan                                                        []PlannedSample
	// Draws, when set, yields the plan in order instead of Plan, so that a
	// large plan is written in chunks without being held in memory (see
	// WritePlan); Planned is then its length. Its keys must be distinct,
	// as bench's are: unlike Plan, a stream is not checked for repeats.
	Draws   iter.Seq[PlannedSample]
	Planned int
	// Scorers describe each probe's scorer, in probe order (see
	// RecordScorers).
	Scorers []RunScorer
}

// now returns the current time as stored: see formatTime.
func now() string { return formatTime(time.Now()) }

// formatTime encodes a time as the store keeps it: RFC 3339 in UTC with
// nanoseconds.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseTime decodes a time written by formatTime; NULL or an unparseable
// value gives the zero time.
func parseTime(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s.String)
	return t
}

// toMS encodes a latency as the store keeps it: fractional milliseconds.
func toMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fromMS decodes a latency written by toMS, rounded to the nanosecond.
func fromMS(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// FindRun returns the most recent run with the given suite hash and salt.
func (s *Store) FindRun(ctx context.Context, suiteHash, salt string) (*Run, error) {
	return s.queryRun(ctx, `WHERE suite_hash = ? AND salt = ? ORDER BY id DESC LIMIT 1`, suiteHash, salt)
}

// LatestSalt returns the salt of the most recent run of the named suite,
// and false when the suite has never run here.
func (s *Store) LatestSalt(ctx context.Context, suiteName string) (string, bool, error) {
	var salt string
	err := s.rdb.QueryRowContext(ctx, `SELECT salt FROM runs WHERE suite_name = ? ORDER BY id DESC LIMIT 1`, suiteName).Scan(&salt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find latest run of %s: %w", suiteName, err)
	}
	return salt, true, nil
}

// StartRun records a new run with its model instances, prompts, scorers
// and plan, in one transaction, and marks it running, owned by this
// process. Unlike ClaimRun it does not check for a live run of the same
// suite.
func (s *Store) StartRun(ctx context.Context, nr NewRun) (*Run, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	defer tx.Rollback()
	runID, err := insertRun(ctx, tx, nr)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	if err := insertPlan(ctx, tx, runID, nr); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	s.own(runID)
	return s.GetRun(ctx, runID)
}

// insertRun inserts the runs row of nr, running and owned by this
// process, and returns its id.
func insertRun(ctx context.Context, tx *sql.Tx, nr NewRun) (int64, error) {
	host, _ := os.Hostname()
	ts := now()
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (suite_name, suite_hash, suite_source, suite_json, salt, status, planned, version, created_at, updated_at, pid, host)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nr.SuiteName, nr.SuiteHash, nr.SuiteSource, nr.SuiteJSON, nr.Salt, StatusRunning, nr.planSize(), nr.Version, ts, ts, os.Getpid(), host)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// insertPlan inserts the models, prompts, scorers and plan of run runID
// inside tx.
func insertPlan(ctx context.Context, tx *sql.Tx, runID int64, nr NewRun) error {
	ids, err := insertRecords(ctx, tx, runID, nr)
	if err != nil {
		return err
	}
	if nr.Draws == nil {
		// A slice is checked for repeated keys; a stream is too large to.
		seen := make(map[string]int, len(nr.Plan))
		for i, ps := range nr.Plan {
			if j, ok := seen[ps.Key]; ok {
				return fmt.Errorf("plan entry %d repeats the key %s of entry %d", i, ps.Key, j)
			}
			seen[ps.Key] = i
		}
	}
	w := planWriter{runID: runID, ids: ids}
	for ps := range nr.planDraws() {
		if err := w.add(ctx, tx, ps); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
	}
	if err := w.flush(ctx, tx); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	return nil
}

// insertRecords inserts the models, prompts and scorers of run runID and
// returns the row ids of its models and prompts.
func insertRecords(ctx context.Context, tx *sql.Tx, runID int64, nr NewRun) (*planIDs, error) {
	// Multi-row inserts assign ids in row order, as one insert per row
	// did. RETURNING gives rows in no set order, so each id comes back
	// with the columns that identify its row.
	modelRows := make([][]any, len(nr.Instances))
	for i, m := range nr.Instances {
		modelRows[i] = []any{runID, m.Index, m.Role, m.Seed, m.Condition, m.BaseURL, m.ModelID, m.Settings}
	}
	ids := &planIDs{models: make(map[int]int64, len(nr.Instances)), prompts: make(map[promptKey]int64, len(nr.Prompts))}
	err := bulkInsertReturning(ctx, tx, `INSERT INTO models (run_id, idx, role, seed, condition, base_url, model, settings)`, `RETURNING idx, id`, modelRows,
		func(r *sql.Rows) error {
			var idx int
			var id int64
			if err := r.Scan(&idx, &id); err != nil {
				return err
			}
			ids.models[idx] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	promptRows := make([][]any, len(nr.Prompts))
	for i, p := range nr.Prompts {
		promptRows[i] = []any{runID, p.Probe, p.Index, p.Text}
	}
	err = bulkInsertReturning(ctx, tx, `INSERT INTO prompts (run_id, probe, idx, text)`, `RETURNING probe, idx, id`, promptRows,
		func(r *sql.Rows) error {
			var k promptKey
			var id int64
			if err := r.Scan(&k.probe, &k.idx, &id); err != nil {
				return err
			}
			ids.prompts[k] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	if err := insertRunScorers(ctx, tx, runID, nr.Scorers); err != nil {
		return nil, fmt.Errorf("scorers: %w", err)
	}
	return ids, nil
}

// promptKey identifies a prompt within a run: its probe and index.
type promptKey struct {
	probe string
	idx   int
}

// ResumeRun marks an existing run running again, owned by this process.
// Unlike ClaimRun it does not check for a live owner.
func (s *Store) ResumeRun(ctx context.Context, id int64) error {
	if err := checkUpdated(resumeRun(ctx, s.db, id)); err != nil {
		return fmt.Errorf("resume run %d: %w", id, err)
	}
	s.own(id)
	return nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func resumeRun(ctx context.Context, db execer, id int64) (sql.Result, error) {
	host, _ := os.Hostname()
	return db.ExecContext(ctx, `UPDATE runs SET status = ?, message = '', updated_at = ?, finished_at = NULL, pid = ?, host = ? WHERE id = ?`,
		StatusRunning, now(), os.Getpid(), host, id)
}

// FinishRun sets a run's final status and message, and ends this
// process's ownership of it.
func (s *Store) FinishRun(ctx context.Context, id int64, status RunStatus, message string) error {
	ts := now()
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, message = ?, updated_at = ?, finished_at = ? WHERE id = ?`, status, message, ts, ts, id)
	if err := checkUpdated(res, err); err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	s.disown(id)
	return nil
}

// checkUpdated turns an UPDATE of a missing run into ErrNotFound.
func checkUpdated(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

const runColumns = `id, suite_name, suite_hash, suite_source, suite_json, salt, status, planned, message, version, created_at, updated_at, finished_at, pid, host`

func (s *Store) queryRun(ctx context.Context, where string, args ...any) (*Run, error) {
	row := s.rdb.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs `+where, args...)
	r, err := scanRun(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(row scanner) (*Run, error) {
	var r Run
	var created, updated, finished, host sql.NullString
	var pid sql.NullInt64
	if err := row.Scan(&r.ID, &r.SuiteName, &r.SuiteHash, &r.SuiteSource, &r.SuiteJSON, &r.Salt, &r.Status, &r.Planned, &r.Message,
		&r.Version, &created, &updated, &finished, &pid, &host); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = parseTime(created), parseTime(updated), parseTime(finished)
	r.PID, r.Host = int(pid.Int64), host.String
	return &r, nil
}

// GetRun returns the run with the given id.
func (s *Store) GetRun(ctx context.Context, id int64) (*Run, error) {
	r, err := s.queryRun(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

// LatestRun returns the most recent run.
func (s *Store) LatestRun(ctx context.Context) (*Run, error) {
	r, err := s.queryRun(ctx, `ORDER BY id DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("latest run: %w", err)
	}
	return r, nil
}

// RunCounts summarizes a run's samples.
type RunCounts struct {
	Planned int // draws in the plan
	Stored  int // draws with a stored sample, failed or not
	Failed  int // stored draws whose sample failed
}

// Counts returns the sample counts of a run. It reads through the writer
// connection, whose page cache holds what this process just wrote (a run's
// final count right after sampling is twice as fast as on a cold reader);
// it waits for a Put of this store in progress.
func (s *Store) Counts(ctx context.Context, runID int64) (RunCounts, error) {
	var c RunCounts
	err := s.db.QueryRowContext(ctx, `SELECT count(*), count(s.key), count(s.error) FROM run_samples rs LEFT JOIN samples s ON `+sampleOf+` WHERE rs.run_id = ?`, runID).
		Scan(&c.Planned, &c.Stored, &c.Failed)
	if err != nil {
		return c, fmt.Errorf("count samples of run %d: %w", runID, err)
	}
	return c, nil
}

// Runs lists all runs, newest first.
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// Instances returns a run's model instances in plan order.
func (s *Store) Instances(ctx context.Context, runID int64) ([]InstanceRow, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, idx, role, seed, condition, base_url, model, settings FROM models WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return nil, fmt.Errorf("models of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []InstanceRow
	for rows.Next() {
		var m InstanceRow
		if err := rows.Scan(&m.ID, &m.Index, &m.Role, &m.Seed, &m.Condition, &m.BaseURL, &m.ModelID, &m.Settings); err != nil {
			return nil, fmt.Errorf("models of run %d: %w", runID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Prompts returns a run's prompts ordered by probe and index.
func (s *Store) Prompts(ctx context.Context, runID int64) ([]PromptRow, error) {
	// Probes come in the order of their first prompt, as in Rows.
	rows, err := s.rdb.QueryContext(ctx, `WITH probe_order AS (SELECT probe, min(id) AS first FROM prompts WHERE run_id = ?1 GROUP BY probe)
		SELECT p.id, p.probe, p.idx, p.text FROM prompts p JOIN probe_order po ON po.probe = p.probe
		WHERE p.run_id = ?1
		ORDER BY po.first, p.idx`, runID)
	if err != nil {
		return nil, fmt.Errorf("prompts of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []PromptRow
	for rows.Next() {
		var p PromptRow
		if err := rows.Scan(&p.ID, &p.Probe, &p.Index, &p.Text); err != nil {
			return nil, fmt.Errorf("prompts of run %d: %w", runID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Stored returns which of keys hold a successful sample, drawn by any run.
// Failed samples are not included: a resumed run retries them.
func (s *Store) Stored(ctx context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	// One JSON array parameter instead of thousands of bound keys.
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("stored samples: %w", err)
	}
	err = queryEach(s.rdb.QueryContext(ctx, `SELECT s.key FROM json_each(?) j JOIN samples s ON s.key = j.value WHERE s.error IS NULL`, string(list)))(
		func(r *sql.Rows) error {
			var k string
			if err := r.Scan(&k); err != nil {
				return err
			}
			out[k] = true
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("stored samples: %w", err)
	}
	return out, nil
}
