package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrMergeInput marks inputs that cannot be merged: databases of
// different suites, runs whose models, prompts or scorers differ, an
// incomplete or repeated set of shards, a path given twice or as the
// output.
var ErrMergeInput = errors.New("cannot merge")

// MergeOptions configure Merge.
type MergeOptions struct {
	// Force replaces an existing output file (never an input).
	Force bool
	// MaxConflicts bounds the conflicts listed in MergeSummary (all are
	// counted); 0 means 20.
	MaxConflicts int
}

// MergeConflict is one sample key (or judgment key) that two inputs hold
// with different content. The first input's is kept.
type MergeConflict struct {
	Kind   string // "sample" or "judgment"
	Key    string
	Kept   string // the input whose row is kept
	Other  string // the input whose row differs
	Detail string
}

// MergedRun is one run of the output: the union of the runs of one suite
// and salt in the inputs.
type MergedRun struct {
	ID      int64
	Salt    string
	Sources []string // "file: run N" or "file: run N (shard i/N)", in input order
	Shards  int      // shards merged; 0 for runs of the whole plan
	Status  RunStatus
	Counts  RunCounts
}

// MergeSummary is what Merge did.
type MergeSummary struct {
	Suite string
	Runs  []MergedRun
	// Conflicts lists the first MaxConflicts conflicts; SampleConflicts
	// and JudgmentConflicts count them all.
	Conflicts         []MergeConflict
	SampleConflicts   int
	JudgmentConflicts int
}

// mergeRun is one run of one input.
type mergeRun struct {
	input     int
	run       Run
	shard     int
	shards    int
	instances []InstanceRow
	prompts   []PromptRow
	scorers   []RunScorer
}

func (m *mergeRun) source(inputs []string) string {
	s := fmt.Sprintf("%s: run %d", inputs[m.input], m.run.ID)
	if m.shards > 0 {
		s += fmt.Sprintf(" (shard %d/%d)", m.shard, m.shards)
	}
	return s
}

// Merge writes to out the union of the input databases, which must hold
// runs of one suite (the same suite hash): their samples on the sample
// key, scores, judge calls and batch records, and one run per salt whose
// plan is the union of the inputs' runs of that salt. Runs of shards
// (run --shard i/N) must come together: every shard of N once. The
// merged run of shards equals the run one process would have made, its
// plan in the same order, so that its report is the same.
//
// A key held by two inputs keeps a successful sample over a failed one,
// else the first input's; two successful samples (or judge calls) of one
// key with different content are conflicts, counted and listed in the
// summary, the first input's kept. Models, prompts, scorers and the plan
// positions of keys must agree between the runs of a salt, else nothing
// is written.
//
// out is written as a temporary file beside it and renamed at the end:
// an error leaves no output. out must not exist unless opt.Force, and is
// never one of the inputs. Inputs are opened read-only.
func Merge(ctx context.Context, out string, inputs []string, opt MergeOptions) (*MergeSummary, error) {
	if opt.MaxConflicts <= 0 {
		opt.MaxConflicts = 20
	}
	if err := checkMergePaths(out, inputs, opt.Force); err != nil {
		return nil, err
	}
	runs, err := readMergeInputs(ctx, inputs)
	if err != nil {
		return nil, err
	}
	groups, err := groupMergeRuns(runs, inputs)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tmp-"+filepath.Base(out)+"-*")
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // Open creates it as a database
	ok := false
	defer func() {
		if !ok {
			for _, p := range []string{tmpPath, tmpPath + "-wal", tmpPath + "-shm"} {
				os.Remove(p)
			}
		}
	}()
	st, err := Open(ctx, tmpPath)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	sum, err := st.merge(ctx, inputs, groups, opt)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("merge: close %s: %w", tmpPath, cerr)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range []string{out + "-wal", out + "-shm"} {
		// A stale log beside the new file would be read as its own.
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("merge: remove %s: %w", p, err)
		}
	}
	if err := os.Rename(tmpPath, out); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	ok = true
	return sum, nil
}

// checkMergePaths checks the output and input paths before anything is
// read or written.
func checkMergePaths(out string, inputs []string, force bool) error {
	if len(inputs) == 0 {
		return fmt.Errorf("%w: no input databases", ErrMergeInput)
	}
	outPath := canonicalPath(out)
	outInfo, outErr := os.Stat(out)
	switch {
	case outErr == nil && outInfo.IsDir():
		return fmt.Errorf("%w: output %s is a directory", ErrMergeInput, out)
	case outErr == nil && !force:
		return fmt.Errorf("%w: output %s exists: give a new file, or --force to replace it", ErrMergeInput, out)
	case outErr != nil && !errors.Is(outErr, os.ErrNotExist):
		return fmt.Errorf("%w: output %s: %v", ErrMergeInput, out, outErr)
	}
	seen := map[string]string{}
	for _, in := range inputs {
		fi, err := os.Stat(in)
		if err != nil {
			return fmt.Errorf("%w: input %s: %v", ErrMergeInput, in, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("%w: input %s is a directory", ErrMergeInput, in)
		}
		p := canonicalPath(in)
		if p == outPath || outErr == nil && os.SameFile(fi, outInfo) {
			return fmt.Errorf("%w: input %s is the output: merging never writes into an input", ErrMergeInput, in)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if outPath == p+suffix {
				return fmt.Errorf("%w: output %s is a file of input %s", ErrMergeInput, out, in)
			}
		}
		if prev, ok := seen[p]; ok {
			return fmt.Errorf("%w: %s and %s are the same database", ErrMergeInput, prev, in)
		}
		seen[p] = in
	}
	if dir := filepath.Dir(out); dir != "" {
		if di, err := os.Stat(dir); err != nil || !di.IsDir() {
			return fmt.Errorf("%w: output %s: no such directory %s", ErrMergeInput, out, dir)
		}
	}
	return nil
}

// readMergeInputs reads the runs of every input, with their models,
// prompts, scorers and shards, and checks that they are of one suite.
func readMergeInputs(ctx context.Context, inputs []string) ([]*mergeRun, error) {
	var out []*mergeRun
	suites := map[string]string{} // suite hash → first "file (name)"
	for i, in := range inputs {
		st, err := OpenReadOnly(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMergeInput, err)
		}
		err = func() error {
			runs, err := st.Runs(ctx)
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				return fmt.Errorf("%w: %s holds no runs", ErrMergeInput, in)
			}
			slices.Reverse(runs) // oldest first
			for _, r := range runs {
				m := &mergeRun{input: i, run: r}
				if m.shard, m.shards, err = st.Shard(ctx, r.ID); err != nil {
					return err
				}
				if m.instances, err = st.Instances(ctx, r.ID); err != nil {
					return err
				}
				if m.prompts, err = st.Prompts(ctx, r.ID); err != nil {
					return err
				}
				if m.scorers, err = st.Scorers(ctx, r.ID); err != nil {
					return err
				}
				if _, ok := suites[r.SuiteHash]; !ok {
					suites[r.SuiteHash] = fmt.Sprintf("%s (suite %s, hash %.12s)", in, r.SuiteName, r.SuiteHash)
				}
				out = append(out, m)
			}
			return nil
		}()
		st.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(suites) > 1 {
		var list []string
		for _, s := range suites {
			list = append(list, s)
		}
		slices.Sort(list)
		return nil, fmt.Errorf("%w: the inputs hold runs of %d different suites (%s): merge databases of one suite (the shards of one run)",
			ErrMergeInput, len(suites), strings.Join(list, "; "))
	}
	return out, nil
}

// groupMergeRuns groups runs by salt (in order of first appearance) and
// checks that each group can be merged.
func groupMergeRuns(runs []*mergeRun, inputs []string) ([][]*mergeRun, error) {
	var groups [][]*mergeRun
	at := map[string]int{}
	for _, r := range runs {
		g, ok := at[r.run.Salt]
		if !ok {
			g = len(groups)
			at[r.run.Salt] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], r)
	}
	for _, g := range groups {
		first := g[0]
		for _, r := range g[1:] {
			if err := sameRunRecord(first, r, inputs); err != nil {
				return nil, err
			}
		}
		if err := checkShards(g, inputs); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// sameRunRecord checks that two runs of one salt describe the same run:
// the same models, prompts and scorers.
func sameRunRecord(a, b *mergeRun, inputs []string) error {
	fail := func(what string) error {
		return fmt.Errorf("%w: %s and %s differ in their %s", ErrMergeInput, a.source(inputs), b.source(inputs), what)
	}
	strip := func(ins []InstanceRow) []InstanceRow {
		out := slices.Clone(ins)
		for i := range out {
			out[i].ID = 0
		}
		return out
	}
	if !slices.Equal(strip(a.instances), strip(b.instances)) {
		return fail("models")
	}
	stripP := func(ps []PromptRow) []PromptRow {
		out := slices.Clone(ps)
		for i := range out {
			out[i].ID = 0
		}
		return out
	}
	if !slices.Equal(stripP(a.prompts), stripP(b.prompts)) {
		return fail("prompts")
	}
	if len(a.scorers) != len(b.scorers) {
		return fail("scorers")
	}
	for i := range a.scorers {
		x, y := a.scorers[i], b.scorers[i]
		if x.Probe != y.Probe || x.Scorer != y.Scorer || x.Kind != y.Kind || x.Hit != y.Hit || x.Miss != y.Miss || !slices.Equal(x.Targets, y.Targets) {
			return fail("scorers")
		}
	}
	return nil
}

// checkShards checks that the runs of one salt are either runs of the
// whole plan or every shard of one count exactly once.
func checkShards(g []*mergeRun, inputs []string) error {
	count := g[0].shards
	byIndex := map[int]*mergeRun{}
	for _, r := range g {
		switch {
		case (r.shards == 0) != (count == 0):
			return fmt.Errorf("%w: %s samples a shard and %s the whole plan", ErrMergeInput, shardOne(g, inputs), wholeOne(g, inputs))
		case r.shards != count:
			return fmt.Errorf("%w: %s and %s cut the plan into different numbers of shards", ErrMergeInput, g[0].source(inputs), r.source(inputs))
		case count == 0:
			continue
		}
		if prev, ok := byIndex[r.shard]; ok {
			return fmt.Errorf("%w: %s and %s are the same shard", ErrMergeInput, prev.source(inputs), r.source(inputs))
		}
		byIndex[r.shard] = r
	}
	var missing []string
	for i := range count {
		if byIndex[i] == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", i, count))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: shards %s of suite %s (salt %q) are missing: give the database of every shard", ErrMergeInput,
			strings.Join(missing, ", "), g[0].run.SuiteName, g[0].run.Salt)
	}
	return nil
}

func shardOne(g []*mergeRun, inputs []string) string {
	for _, r := range g {
		if r.shards > 0 {
			return r.source(inputs)
		}
	}
	return ""
}

func wholeOne(g []*mergeRun, inputs []string) string {
	for _, r := range g {
		if r.shards == 0 {
			return r.source(inputs)
		}
	}
	return ""
}

// mergedRunRow is the runs row of a group: the first run's suite, the
// earliest start and latest end, and a status that is complete only when
// every run is.
func mergedRunRow(g []*mergeRun, inputs []string) Run {
	r := g[0].run
	r.Status, r.Message = StatusComplete, ""
	for _, m := range g {
		if m.run.CreatedAt.Before(r.CreatedAt) {
			r.CreatedAt = m.run.CreatedAt
		}
		if m.run.UpdatedAt.After(r.UpdatedAt) {
			r.UpdatedAt = m.run.UpdatedAt
		}
		if m.run.FinishedAt.After(r.FinishedAt) {
			r.FinishedAt = m.run.FinishedAt
		}
	}
	// The worst status wins, the first run of it naming why: failed, then
	// interrupted (a run still marked running counts as interrupted).
	rank := map[RunStatus]int{StatusComplete: 0, StatusInterrupted: 1, StatusRunning: 1, StatusFailed: 2}
	worst := 0
	for _, m := range g {
		if k := rank[m.run.Status]; k > worst {
			worst = k
			st, msg := m.run.Status, m.run.Message
			if st == StatusRunning {
				st, msg = StatusInterrupted, "was still running when merged"
			}
			r.Status, r.Message = st, fmt.Sprintf("%s: %s", m.source(inputs), msg)
		}
	}
	for _, m := range g {
		if m.run.FinishedAt.IsZero() {
			r.FinishedAt = time.Time{}
		}
	}
	return r
}

// merge fills the empty store s from the inputs.
func (s *Store) merge(ctx context.Context, inputs []string, groups [][]*mergeRun, opt MergeOptions) (*MergeSummary, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer conn.Close()
	sum := &MergeSummary{Suite: groups[0][0].run.SuiteName}
	exec := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	if err := exec(`CREATE TEMP TABLE merge_runs (input INTEGER NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, PRIMARY KEY (input, src))`); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := exec(`CREATE TEMP TABLE merge_plan (run INTEGER NOT NULL, key TEXT NOT NULL, model_idx INTEGER NOT NULL, probe TEXT NOT NULL,
		prompt_idx INTEGER NOT NULL, draw INTEGER NOT NULL, input INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}

	// The runs, their models, prompts and scorers, from each group's
	// first run.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	for _, g := range groups {
		r := mergedRunRow(g, inputs)
		var finished sql.NullString
		if !r.FinishedAt.IsZero() {
			finished = sql.NullString{String: formatTime(r.FinishedAt), Valid: true}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO runs (suite_name, suite_hash, suite_source, suite_json, salt, status, planned, message, version,
			created_at, updated_at, finished_at, pid, host) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, NULL)`,
			r.SuiteName, r.SuiteHash, r.SuiteSource, r.SuiteJSON, r.Salt, r.Status, r.Message, r.Version,
			formatTime(r.CreatedAt), formatTime(r.UpdatedAt), finished)
		if err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("merge: %w", err)
		}
		id, _ := res.LastInsertId()
		nr := NewRun{Instances: g[0].instances, Prompts: g[0].prompts, Scorers: g[0].scorers}
		if err := insertPlan(ctx, tx, id, nr); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("merge: %w", err)
		}
		mr := MergedRun{ID: id, Salt: r.Salt, Shards: g[0].shards, Status: r.Status}
		for _, m := range g {
			mr.Sources = append(mr.Sources, m.source(inputs))
			if _, err := tx.ExecContext(ctx, `INSERT INTO temp.merge_runs (input, src, dst) VALUES (?, ?, ?)`, m.input, m.run.ID, id); err != nil {
				tx.Rollback()
				return nil, fmt.Errorf("merge: %w", err)
			}
		}
		sum.Runs = append(sum.Runs, mr)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}

	for i, in := range inputs {
		if err := s.mergeInput(ctx, conn, i, in, sum, opt); err != nil {
			return nil, err
		}
	}

	// The plans: the union of the inputs' plans, in the order one process
	// plans (probe, model, prompt, draw), each key once.
	tx, err = conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer tx.Rollback()
	var key string
	var n int
	err = tx.QueryRowContext(ctx, `SELECT key, count(*) FROM (SELECT DISTINCT run, key, model_idx, probe, prompt_idx, draw FROM temp.merge_plan)
		GROUP BY run, key HAVING count(*) > 1 LIMIT 1`).Scan(&key, &n)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: the inputs plan the draw %s at %d different places: they are not runs of one plan", ErrMergeInput, key, n)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("merge: check plans: %w", err)
	}
	for i := range sum.Runs {
		mr := &sum.Runs[i]
		// Each draw is linked to its merged sample (see LinkSamples).
		_, err := tx.ExecContext(ctx, `INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw, sample_id)
			SELECT ?1, row_number() OVER (ORDER BY po.first, mp.model_idx, mp.prompt_idx, mp.draw, mp.key) - 1, mp.key, m.id, p.id, mp.draw,
				(SELECT s.id FROM samples s WHERE s.key = mp.key)
			FROM (SELECT DISTINCT key, model_idx, probe, prompt_idx, draw FROM temp.merge_plan WHERE run = ?1) mp
			JOIN models m ON m.run_id = ?1 AND m.idx = mp.model_idx
			JOIN prompts p ON p.run_id = ?1 AND p.probe = mp.probe AND p.idx = mp.prompt_idx
			JOIN (SELECT probe, min(id) AS first FROM prompts WHERE run_id = ?1 GROUP BY probe) po ON po.probe = mp.probe`, mr.ID)
		if err != nil {
			return nil, fmt.Errorf("merge: plan of run %d: %w", mr.ID, err)
		}
		var planned, inPlan int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM run_samples WHERE run_id = ?1),
			(SELECT count(DISTINCT key) FROM temp.merge_plan WHERE run = ?1)`, mr.ID).Scan(&planned, &inPlan); err != nil {
			return nil, fmt.Errorf("merge: plan of run %d: %w", mr.ID, err)
		}
		if planned != inPlan {
			return nil, fmt.Errorf("%w: %d of the %d planned draws of run %d name a model or prompt the run does not have", ErrMergeInput, inPlan-planned, inPlan, mr.ID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET planned = ? WHERE id = ?`, planned, mr.ID); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*), count(s.key), count(s.error) FROM run_samples rs LEFT JOIN samples s ON `+sampleOf+` WHERE rs.run_id = ?`, mr.ID).
			Scan(&mr.Counts.Planned, &mr.Counts.Stored, &mr.Counts.Failed); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return sum, nil
}

// mergeInput adds one input's rows, attached as src, in one transaction.
func (s *Store) mergeInput(ctx context.Context, conn *sql.Conn, input int, path string, sum *MergeSummary, opt MergeOptions) (err error) {
	uri := "file:" + escapePath(filepath.Clean(path)) + "?mode=ro"
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS src`, uri); err != nil {
		return fmt.Errorf("merge: attach %s: %w", path, err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE src`); derr != nil && err == nil {
			err = fmt.Errorf("merge: detach %s: %w", path, derr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("merge %s: %w", path, err)
	}
	defer tx.Rollback()
	fail := func(what string, err error) error { return fmt.Errorf("merge %s: %s: %w", path, what, err) }

	steps := []struct{ what, q string }{
		{"scorers", `INSERT OR IGNORE INTO main.scorers (name) SELECT name FROM src.scorers ORDER BY id`},
		{"plan", `INSERT INTO temp.merge_plan (run, key, model_idx, probe, prompt_idx, draw, input)
			SELECT mr.dst, rs.key, m.idx, p.probe, p.idx, rs.draw, ?1 FROM src.run_samples rs
			JOIN temp.merge_runs mr ON mr.input = ?1 AND mr.src = rs.run_id
			JOIN src.models m ON m.id = rs.model_id JOIN src.prompts p ON p.id = rs.prompt_id`},
	}
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, st.q, input); err != nil {
			return fail(st.what, err)
		}
	}

	// Conflicts: two successful samples of one key that differ.
	err = s.conflicts(ctx, tx, "sample", path, sum, opt, &sum.SampleConflicts, `SELECT s.key, m.run_id FROM src.samples s JOIN main.samples m ON m.key = s.key
		WHERE s.error IS NULL AND m.error IS NULL AND (s.completion IS NOT m.completion OR s.finish_reason IS NOT m.finish_reason
		OR s.prompt_tokens IS NOT m.prompt_tokens OR s.completion_tokens IS NOT m.completion_tokens OR s.request_seed IS NOT m.request_seed)
		ORDER BY s.id`)
	if err != nil {
		return fail("compare samples", err)
	}
	// A success replaces a failure; otherwise the row already merged is
	// kept. The run that drew a sample is its merged run.
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.samples (key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason,
			prompt_tokens, completion_tokens, latency_ms, attempts, batch, request_seed, error, http_status, created_at, batched)
		SELECT s.key, coalesce(mr.dst, 0), s.probe, s.prompt_idx, s.draw, s.base_url, s.model, s.completion, s.finish_reason,
			s.prompt_tokens, s.completion_tokens, s.latency_ms, s.attempts, s.batch, s.request_seed, s.error, s.http_status, s.created_at, s.batched
		FROM src.samples s LEFT JOIN temp.merge_runs mr ON mr.input = ? AND mr.src = s.run_id
		WHERE true ORDER BY s.id
		ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, completion = excluded.completion, finish_reason = excluded.finish_reason,
			prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, latency_ms = excluded.latency_ms,
			attempts = excluded.attempts, batch = excluded.batch, request_seed = excluded.request_seed, error = excluded.error,
			http_status = excluded.http_status, created_at = excluded.created_at, batched = excluded.batched
		WHERE samples.error IS NOT NULL AND excluded.error IS NULL`, input); err != nil {
		return fail("samples", err)
	}
	// Scores and judge links of the samples kept from this input, or equal
	// to those kept.
	same := `JOIN src.samples s ON s.id = x.sample_id
		JOIN main.samples m ON m.key = s.key AND m.error IS NULL AND s.error IS NULL AND m.completion IS s.completion
		JOIN src.scorers ss ON ss.id = x.scorer_id JOIN main.scorers ms ON ms.name = ss.name`
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.scores (sample_id, scorer_id, target, valid, hit, value, label)
		SELECT m.id, ms.id, x.target, x.valid, x.hit, x.value, x.label FROM src.scores x `+same); err != nil {
		return fail("scores", err)
	}
	err = s.conflicts(ctx, tx, "judgment", path, sum, opt, &sum.JudgmentConflicts, `SELECT s.key, 0 FROM src.judgments s JOIN main.judgments m ON m.key = s.key
		WHERE s.error IS NULL AND m.error IS NULL AND (s.output IS NOT m.output OR s.score IS NOT m.score OR s.category IS NOT m.category)
		ORDER BY s.key`)
	if err != nil {
		return fail("compare judgments", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.judgments (key, judge, base_url, model, mode, template, output, score, category, error,
			http_status, prompt_tokens, completion_tokens, latency_ms, attempts, created_at, batched)
		SELECT key, judge, base_url, model, mode, template, output, score, category, error,
			http_status, prompt_tokens, completion_tokens, latency_ms, attempts, created_at, batched FROM src.judgments WHERE true ORDER BY key
		ON CONFLICT (key) DO UPDATE SET output = excluded.output, score = excluded.score, category = excluded.category, error = excluded.error,
			http_status = excluded.http_status, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
			latency_ms = excluded.latency_ms, attempts = excluded.attempts, created_at = excluded.created_at, batched = excluded.batched
		WHERE judgments.error IS NOT NULL AND excluded.error IS NULL`); err != nil {
		return fail("judgments", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.score_judgments (sample_id, scorer_id, judgment)
		SELECT m.id, ms.id, x.judgment FROM src.score_judgments x `+same); err != nil {
		return fail("judge links", err)
	}
	// Batch records, so that a run resumed from the output knows what was
	// submitted.
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.batches (run_id, instance, content_key, attempt, base_url, lines, bytes, file_id,
			batch_id, status, output_file_id, error_file_id, message, collected, created_at, updated_at, est_prompt_tokens, est_completion_tokens)
		SELECT mr.dst, b.instance, b.content_key, b.attempt, b.base_url, b.lines, b.bytes, b.file_id, b.batch_id, b.status,
			b.output_file_id, b.error_file_id, b.message, b.collected, b.created_at, b.updated_at, b.est_prompt_tokens, b.est_completion_tokens
		FROM src.batches b JOIN temp.merge_runs mr ON mr.input = ? AND mr.src = b.run_id ORDER BY b.id`, input); err != nil {
		return fail("batches", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.batch_lines (batch_id, idx, custom_id, draws)
		SELECT nb.id, l.idx, l.custom_id, l.draws FROM src.batch_lines l
		JOIN src.batches b ON b.id = l.batch_id
		JOIN temp.merge_runs mr ON mr.input = ? AND mr.src = b.run_id
		JOIN main.batches nb ON nb.run_id = mr.dst AND nb.content_key = b.content_key AND nb.attempt = b.attempt`, input); err != nil {
		return fail("batch lines", err)
	}
	// Prices, the same in every shard of a run (its suite's or the
	// built-in table's), so that the merged run's report shows its cost,
	// and each shard's rate-control changes, numbered after those of the
	// shards merged before: each shard's process had its own limiter, and
	// the merged run shows them one after another.
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.run_prices (run_id, kind, name, model, input, output, batch_discount, source)
		SELECT mr.dst, p.kind, p.name, p.model, p.input, p.output, p.batch_discount, p.source
		FROM src.run_prices p JOIN temp.merge_runs mr ON mr.input = ? AND mr.src = p.run_id`, input); err != nil {
		return fail("prices", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.rate_changes (run_id, seq, endpoint, key_env, at, cap, reason)
		SELECT mr.dst, c.seq + coalesce((SELECT max(seq) + 1 FROM main.rate_changes WHERE run_id = mr.dst), 0), c.endpoint, c.key_env, c.at, c.cap, c.reason
		FROM src.rate_changes c JOIN temp.merge_runs mr ON mr.input = ? AND mr.src = c.run_id ORDER BY c.run_id, c.seq`, input); err != nil {
		return fail("rate changes", err)
	}
	return tx.Commit()
}

// conflicts counts (into n) and lists the rows query finds: keys of
// input path whose content differs from the row already merged.
func (s *Store) conflicts(ctx context.Context, tx *sql.Tx, kind, path string, sum *MergeSummary, opt MergeOptions, n *int, query string) error {
	return queryEach(tx.QueryContext(ctx, query))(func(r *sql.Rows) error {
		var key string
		var run int64
		if err := r.Scan(&key, &run); err != nil {
			return err
		}
		*n++
		if len(sum.Conflicts) < opt.MaxConflicts {
			sum.Conflicts = append(sum.Conflicts, MergeConflict{Kind: kind, Key: key, Kept: "the first input holding it", Other: path,
				Detail: "both hold a successful " + kind + " with different content"})
		}
		return nil
	})
}
