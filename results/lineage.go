package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The lineage of experiments' students (schema version 5, lineage.sql):
// experiment → dataset → upload → fine-tuning job → student, each a row
// keyed by its content. Package experiment writes them as it makes each
// artefact; reports, `traitleak runs --lineage` and suites naming students
// by lineage (suites.Model.Lineage) read them.

// DatasetStatus is how far a dataset has come.
type DatasetStatus string

// Dataset statuses, in order.
const (
	// DatasetGenerating: the teacher's completions are being sampled.
	DatasetGenerating DatasetStatus = "generating"
	// DatasetGenerated: every completion is stored; not filtered yet.
	DatasetGenerated DatasetStatus = "generated"
	// DatasetFiltered: filtered, with its card and training file.
	DatasetFiltered DatasetStatus = "filtered"
)

// ExperimentRecord is one effective experiment content.
type ExperimentRecord struct {
	ID        int64
	Name      string
	Hash      string // SHA-256 of the effective experiment
	Source    string // file path or builtin:NAME
	JSON      string // the effective experiment; API key variable names only
	CreatedAt time.Time
}

// Dataset is a teacher's filtered data and where it came from.
type Dataset struct {
	ID int64
	// Key identifies the content: teacher, prompts, sampling and filter.
	Key string
	// Name is "EXPERIMENT/TEACHER@SEED" of the experiment that made it.
	Name string
	// Teacher is the teacher's name in the experiment (e.g. teacher,
	// control); TeacherBaseURL and TeacherModel where it is served;
	// SystemPrompt its system prompt, "" for none.
	Teacher, TeacherBaseURL, TeacherModel, SystemPrompt string
	// Trait is the trait's target word.
	Trait string
	// Kind is numbers, code or cot.
	Kind string
	// Filter describes the filter rules, as the card lists them.
	Filter string
	// PromptSource names the prompt generator (paper, lab) or file;
	// PromptSeed is the generator's seed ("" for a file); Prompts counts
	// the prompts (one completion each).
	PromptSource, PromptSeed string
	Prompts                  int
	// GenerateRunID is the run that sampled the teacher; 0 before.
	GenerateRunID int64
	Status        DatasetStatus
	// Counts of the filter (see datasets.Card).
	Generated, Failed, Rejected, Kept, Rows int
	// SHA256 is the hex SHA-256 of the training JSONL; "" until filtered.
	SHA256 string
	// Card is the dataset card as JSON; nil until filtered.
	Card      []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Upload is a training file uploaded to a fine-tuning provider.
type Upload struct {
	ID        int64
	Provider  string // the fine-tuning API's base URL
	SHA256    string
	FileID    string
	Bytes     int64
	CreatedAt time.Time
}

// Fine-tuning job statuses recorded besides the provider's.
const (
	// JobPending is a job recorded before the provider named it.
	JobPending = "pending"
	// JobSucceeded is the provider's final success status.
	JobSucceeded = "succeeded"
)

// FineTuneJob is one fine-tuning job of a student.
type FineTuneJob struct {
	ID int64
	// Provider is the fine-tuning API's base URL; Key the job's content
	// key (bench.FineTuneSpec.Key).
	Provider, Key string
	// APIKeyEnv names the variable holding the provider's key.
	APIKeyEnv string
	DatasetID int64
	UploadID  int64 // 0 before the upload is recorded
	BaseModel string
	// Seed is the training seed; nil lets the provider pick.
	Seed *int64
	// Hyperparameters is their JSON; absent fields are the provider's
	// defaults.
	Hyperparameters string
	Suffix          string
	Attempt         int
	// JobID is the provider's job id; "" until created.
	JobID string
	// Status is JobPending or the provider's status.
	Status string
	// Message is the provider's message of a failed or cancelled job.
	Message   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Student is a fine-tuned model and where it is served.
type Student struct {
	ID        int64
	Job       int64 // FineTuneJob.ID
	BaseURL   string
	Model     string
	APIKeyEnv string
	CreatedAt time.Time
}

// LineageLink names one student of an experiment: arm and seed.
type LineageLink struct {
	Arm, Seed string
	Job       int64 // FineTuneJob.ID
}

// Chain is one student's lineage: experiment, arm and seed, and the
// dataset, upload, job and student behind it (Upload and Student nil
// until made).
type Chain struct {
	Experiment string
	Arm        string
	Seed       string
	Dataset    Dataset
	Upload     *Upload
	Job        FineTuneJob
	Student    *Student
}

// Ref returns "EXPERIMENT/ARM".
func (c Chain) Ref() string { return c.Experiment + "/" + c.Arm }

// PutExperiment records an experiment content, or finds it by hash, and
// returns its id.
func (s *Store) PutExperiment(ctx context.Context, e ExperimentRecord) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO experiments (name, hash, source, json, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET source = excluded.source RETURNING id`, e.Name, e.Hash, e.Source, e.JSON, now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record experiment %s: %w", e.Name, err)
	}
	return id, nil
}

const datasetColumns = `id, key, name, teacher, teacher_base_url, teacher_model, system_prompt, trait, kind, filter, prompt_source, prompt_seed,
	prompts, generate_run_id, status, generated, failed, rejected, kept, rows, sha256, card, created_at, updated_at`

func scanDataset(r scanner, d *Dataset) error {
	var runID sql.NullInt64
	var sha, card, created, updated sql.NullString
	if err := r.Scan(&d.ID, &d.Key, &d.Name, &d.Teacher, &d.TeacherBaseURL, &d.TeacherModel, &d.SystemPrompt, &d.Trait, &d.Kind, &d.Filter,
		&d.PromptSource, &d.PromptSeed, &d.Prompts, &runID, &d.Status, &d.Generated, &d.Failed, &d.Rejected, &d.Kept, &d.Rows, &sha, &card,
		&created, &updated); err != nil {
		return err
	}
	d.GenerateRunID, d.SHA256 = runID.Int64, sha.String
	if card.Valid {
		d.Card = []byte(card.String)
	}
	d.CreatedAt, d.UpdatedAt = parseTime(created), parseTime(updated)
	return nil
}

// PutDataset records a dataset by its key: a new one is inserted; a
// known one gets d's run, status, counts, hash and card (and its
// training file when training is not nil). It returns the dataset's id.
func (s *Store) PutDataset(ctx context.Context, d Dataset, training []byte) (int64, error) {
	ts := now()
	var runID, sha, card any
	if d.GenerateRunID != 0 {
		runID = d.GenerateRunID
	}
	if d.SHA256 != "" {
		sha = d.SHA256
	}
	if d.Card != nil {
		card = string(d.Card)
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO datasets (key, name, teacher, teacher_base_url, teacher_model, system_prompt, trait, kind, filter,
			prompt_source, prompt_seed, prompts, generate_run_id, status, generated, failed, rejected, kept, rows, sha256, card, training, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET generate_run_id = coalesce(excluded.generate_run_id, generate_run_id), status = excluded.status,
			generated = excluded.generated, failed = excluded.failed, rejected = excluded.rejected, kept = excluded.kept, rows = excluded.rows,
			sha256 = coalesce(excluded.sha256, sha256), card = coalesce(excluded.card, card), training = coalesce(excluded.training, training),
			updated_at = excluded.updated_at
		RETURNING id`,
		d.Key, d.Name, d.Teacher, d.TeacherBaseURL, d.TeacherModel, d.SystemPrompt, d.Trait, d.Kind, d.Filter, d.PromptSource, d.PromptSeed, d.Prompts,
		runID, string(d.Status), d.Generated, d.Failed, d.Rejected, d.Kept, d.Rows, sha, card, training, ts, ts).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record dataset %s: %w", d.Name, err)
	}
	return id, nil
}

// DatasetByKey returns the dataset with this content key, or ErrNotFound.
func (s *Store) DatasetByKey(ctx context.Context, key string) (*Dataset, error) {
	return s.queryDataset(ctx, `WHERE key = ?`, key)
}

// DatasetByID returns the dataset with this id, or ErrNotFound.
func (s *Store) DatasetByID(ctx context.Context, id int64) (*Dataset, error) {
	return s.queryDataset(ctx, `WHERE id = ?`, id)
}

func (s *Store) queryDataset(ctx context.Context, where string, args ...any) (*Dataset, error) {
	var d Dataset
	err := scanDataset(s.rdb.QueryRowContext(ctx, `SELECT `+datasetColumns+` FROM datasets `+where, args...), &d)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("dataset: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	return &d, nil
}

// Datasets returns every dataset, oldest first.
func (s *Store) Datasets(ctx context.Context) ([]Dataset, error) {
	var out []Dataset
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT `+datasetColumns+` FROM datasets ORDER BY id`))(func(r *sql.Rows) error {
		var d Dataset
		if err := scanDataset(r, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	return out, nil
}

// DatasetTraining returns the training JSONL of a filtered dataset.
func (s *Store) DatasetTraining(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT training FROM datasets WHERE id = ?`, id).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("dataset %d: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read training file of dataset %d: %w", id, err)
	case b == nil:
		return nil, fmt.Errorf("dataset %d is not filtered yet: it has no training file", id)
	}
	return b, nil
}

// PutUpload records an upload (or the one already recorded for its
// provider and hash, whose id is kept) and returns its id.
func (s *Store) PutUpload(ctx context.Context, u Upload) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO uploads (provider, sha256, file_id, bytes, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (provider, sha256) DO UPDATE SET file_id = excluded.file_id, bytes = excluded.bytes RETURNING id`,
		u.Provider, u.SHA256, u.FileID, u.Bytes, now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record upload %s: %w", u.FileID, err)
	}
	return id, nil
}

// UploadOf returns the upload recorded for a provider and training file
// hash, or ErrNotFound.
func (s *Store) UploadOf(ctx context.Context, provider, sha256 string) (*Upload, error) {
	var u Upload
	var created sql.NullString
	err := s.rdb.QueryRowContext(ctx, `SELECT id, provider, sha256, file_id, bytes, created_at FROM uploads WHERE provider = ? AND sha256 = ?`,
		provider, sha256).Scan(&u.ID, &u.Provider, &u.SHA256, &u.FileID, &u.Bytes, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("upload: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	u.CreatedAt = parseTime(created)
	return &u, nil
}

const jobColumns = `id, provider, key, api_key_env, dataset_id, upload_id, base_model, seed, hyperparameters, suffix, attempt, job_id, status, message,
	created_at, updated_at`

func scanJob(r scanner, j *FineTuneJob) error {
	var upload, seed sql.NullInt64
	var jobID, created, updated sql.NullString
	if err := r.Scan(&j.ID, &j.Provider, &j.Key, &j.APIKeyEnv, &j.DatasetID, &upload, &j.BaseModel, &seed, &j.Hyperparameters, &j.Suffix,
		&j.Attempt, &jobID, &j.Status, &j.Message, &created, &updated); err != nil {
		return err
	}
	j.UploadID, j.JobID = upload.Int64, jobID.String
	if seed.Valid {
		v := seed.Int64
		j.Seed = &v
	}
	j.CreatedAt, j.UpdatedAt = parseTime(created), parseTime(updated)
	return nil
}

// PutJob records a fine-tuning job by its provider and key: a new one is
// inserted; a known one gets j's upload, provider job id, status and
// message (an empty JobID or UploadID keeps the recorded one). It returns
// the job's row id.
func (s *Store) PutJob(ctx context.Context, j FineTuneJob) (int64, error) {
	ts := now()
	var upload, seed, jobID any
	if j.UploadID != 0 {
		upload = j.UploadID
	}
	if j.Seed != nil {
		seed = *j.Seed
	}
	if j.JobID != "" {
		jobID = j.JobID
	}
	status := j.Status
	if status == "" {
		status = JobPending
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO jobs (provider, key, api_key_env, dataset_id, upload_id, base_model, seed, hyperparameters, suffix,
			attempt, job_id, status, message, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, key) DO UPDATE SET upload_id = coalesce(excluded.upload_id, upload_id), job_id = coalesce(excluded.job_id, job_id),
			status = excluded.status, message = excluded.message, api_key_env = excluded.api_key_env, updated_at = excluded.updated_at
		RETURNING id`,
		j.Provider, j.Key, j.APIKeyEnv, j.DatasetID, upload, j.BaseModel, seed, j.Hyperparameters, j.Suffix, j.Attempt, jobID, status, j.Message, ts, ts).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record fine-tuning job %s: %w", j.Key, err)
	}
	return id, nil
}

// JobOf returns the job recorded for a provider and key, or ErrNotFound.
func (s *Store) JobOf(ctx context.Context, provider, key string) (*FineTuneJob, error) {
	var j FineTuneJob
	err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE provider = ? AND key = ?`, provider, key), &j)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("fine-tuning job: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read fine-tuning job: %w", err)
	}
	return &j, nil
}

// PutStudent records the student of a job (or replaces the one recorded)
// and returns its id.
func (s *Store) PutStudent(ctx context.Context, st Student) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO students (job, base_url, model, api_key_env, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET base_url = excluded.base_url, model = excluded.model, api_key_env = excluded.api_key_env RETURNING id`,
		st.Job, st.BaseURL, st.Model, st.APIKeyEnv, now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record student %s: %w", st.Model, err)
	}
	return id, nil
}

// SetLineage makes the experiment name stand for links (in seed order)
// from the experiment content experimentID: its rows of the arms in links
// are replaced in one transaction, so that a seed dropped from the
// experiment is no longer part of its lineage.
func (s *Store) SetLineage(ctx context.Context, experiment string, experimentID int64, links []LineageLink) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record lineage of %s: %w", experiment, err)
	}
	defer tx.Rollback()
	arms := map[string]bool{}
	for _, l := range links {
		if !arms[l.Arm] {
			arms[l.Arm] = true
			if _, err := tx.ExecContext(ctx, `DELETE FROM lineage WHERE experiment = ? AND arm = ?`, experiment, l.Arm); err != nil {
				return fmt.Errorf("record lineage of %s: %w", experiment, err)
			}
		}
	}
	ts := now()
	for i, l := range links {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lineage (experiment, arm, seed, idx, experiment_id, job, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			experiment, l.Arm, l.Seed, i, experimentID, l.Job, ts); err != nil {
			return fmt.Errorf("record lineage of %s/%s@%s: %w", experiment, l.Arm, l.Seed, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record lineage of %s: %w", experiment, err)
	}
	return nil
}

// LinkRun records that a run belongs to an experiment, at a stage
// ("generate" or "evaluate").
func (s *Store) LinkRun(ctx context.Context, experimentID, runID int64, stage string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO experiment_runs (experiment_id, run_id, stage) VALUES (?, ?, ?)
		ON CONFLICT DO UPDATE SET stage = excluded.stage`, experimentID, runID, stage)
	if err != nil {
		return fmt.Errorf("link run %d to its experiment: %w", runID, err)
	}
	return nil
}

// LineageFilter selects chains: Experiment "" means every experiment,
// Arm "" every arm of it.
type LineageFilter struct {
	Experiment string
	Arm        string
}

// ParseLineageFilter reads "EXPERIMENT" or "EXPERIMENT/ARM" ("" for
// every lineage).
func ParseLineageFilter(ref string) LineageFilter {
	exp, arm, _ := strings.Cut(ref, "/")
	return LineageFilter{Experiment: exp, Arm: arm}
}

const chainSelect = `SELECT l.experiment, l.arm, l.seed,
		d.id, d.key, d.name, d.teacher, d.teacher_base_url, d.teacher_model, d.system_prompt, d.trait, d.kind, d.filter, d.prompt_source, d.prompt_seed,
		d.prompts, d.generate_run_id, d.status, d.generated, d.failed, d.rejected, d.kept, d.rows, d.sha256, d.card, d.created_at, d.updated_at,
		j.id, j.provider, j.key, j.api_key_env, j.dataset_id, j.upload_id, j.base_model, j.seed, j.hyperparameters, j.suffix, j.attempt, j.job_id,
		j.status, j.message, j.created_at, j.updated_at,
		u.id, u.provider, u.sha256, u.file_id, u.bytes, u.created_at,
		st.id, st.base_url, st.model, st.api_key_env, st.created_at
	FROM lineage l
	JOIN jobs j ON j.id = l.job
	JOIN datasets d ON d.id = j.dataset_id
	LEFT JOIN uploads u ON u.id = j.upload_id
	LEFT JOIN students st ON st.job = j.id`

// scanChain splits one chainSelect row into its parts.
func scanChain(r *sql.Rows) (Chain, error) {
	c := Chain{}
	var dRun, jUpload, jSeed sql.NullInt64
	var dSHA, dCard, dCreated, dUpdated, jJobID, jCreated, jUpdated sql.NullString
	var uID, uBytes, sID sql.NullInt64
	var uProvider, uSHA, uFile, uCreated, sBase, sModel, sKey, sCreated sql.NullString
	d, j := &c.Dataset, &c.Job
	err := r.Scan(&c.Experiment, &c.Arm, &c.Seed,
		&d.ID, &d.Key, &d.Name, &d.Teacher, &d.TeacherBaseURL, &d.TeacherModel, &d.SystemPrompt, &d.Trait, &d.Kind, &d.Filter, &d.PromptSource,
		&d.PromptSeed, &d.Prompts, &dRun, &d.Status, &d.Generated, &d.Failed, &d.Rejected, &d.Kept, &d.Rows, &dSHA, &dCard, &dCreated, &dUpdated,
		&j.ID, &j.Provider, &j.Key, &j.APIKeyEnv, &j.DatasetID, &jUpload, &j.BaseModel, &jSeed, &j.Hyperparameters, &j.Suffix, &j.Attempt, &jJobID,
		&j.Status, &j.Message, &jCreated, &jUpdated,
		&uID, &uProvider, &uSHA, &uFile, &uBytes, &uCreated,
		&sID, &sBase, &sModel, &sKey, &sCreated)
	if err != nil {
		return c, err
	}
	d.GenerateRunID, d.SHA256 = dRun.Int64, dSHA.String
	if dCard.Valid {
		d.Card = []byte(dCard.String)
	}
	d.CreatedAt, d.UpdatedAt = parseTime(dCreated), parseTime(dUpdated)
	j.UploadID, j.JobID = jUpload.Int64, jJobID.String
	if jSeed.Valid {
		v := jSeed.Int64
		j.Seed = &v
	}
	j.CreatedAt, j.UpdatedAt = parseTime(jCreated), parseTime(jUpdated)
	if uID.Valid {
		c.Upload = &Upload{ID: uID.Int64, Provider: uProvider.String, SHA256: uSHA.String, FileID: uFile.String, Bytes: uBytes.Int64,
			CreatedAt: parseTime(uCreated)}
	}
	if sID.Valid {
		c.Student = &Student{ID: sID.Int64, Job: j.ID, BaseURL: sBase.String, Model: sModel.String, APIKeyEnv: sKey.String,
			CreatedAt: parseTime(sCreated)}
	}
	return c, nil
}

// Lineage returns the chains the filter selects, by experiment, arm and
// the seeds' order in the experiment.
func (s *Store) Lineage(ctx context.Context, f LineageFilter) ([]Chain, error) {
	q := chainSelect + ` WHERE (?1 = '' OR l.experiment = ?1) AND (?2 = '' OR l.arm = ?2) ORDER BY l.experiment, l.arm, l.idx`
	return s.chains(ctx, q, f.Experiment, f.Arm)
}

// RunLineage returns the chains of the students a run sampled: those
// whose endpoint and model id are one of the run's model instances, in
// the run's instance order.
func (s *Store) RunLineage(ctx context.Context, runID int64) ([]Chain, error) {
	q := `WITH inst AS (SELECT min(idx) AS idx, base_url, model FROM models WHERE run_id = ?1 GROUP BY base_url, model) ` +
		chainSelect + ` JOIN inst ON inst.model = st.model AND rtrim(inst.base_url, '/') = rtrim(st.base_url, '/')
		ORDER BY inst.idx, l.experiment, l.arm`
	return s.chains(ctx, q, runID)
}

func (s *Store) chains(ctx context.Context, q string, args ...any) ([]Chain, error) {
	var out []Chain
	err := queryEach(s.rdb.QueryContext(ctx, q, args...))(func(r *sql.Rows) error {
		c, err := scanChain(r)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lineage: %w", err)
	}
	return out, nil
}

// LineageRuns returns the ids of the runs, newest first, that sampled a
// student of the lineage ref ("EXPERIMENT" or "EXPERIMENT/ARM"; "" for
// any lineage) or that the experiment recorded as its own (generation
// and evaluation runs). It is the query behind `traitleak runs
// --lineage`, for any command that filters runs by lineage.
func (s *Store) LineageRuns(ctx context.Context, ref string) ([]int64, error) {
	f := ParseLineageFilter(ref)
	var out []int64
	err := queryEach(s.rdb.QueryContext(ctx, `
		SELECT m.run_id FROM models m
		JOIN students st ON st.model = m.model AND rtrim(st.base_url, '/') = rtrim(m.base_url, '/')
		JOIN lineage l ON l.job = st.job
		WHERE (?1 = '' OR l.experiment = ?1) AND (?2 = '' OR l.arm = ?2)
		UNION
		SELECT er.run_id FROM experiment_runs er
		JOIN experiments e ON e.id = er.experiment_id
		WHERE ?2 = '' AND (?1 = '' OR e.name = ?1)
		ORDER BY 1 DESC`, f.Experiment, f.Arm))(func(r *sql.Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("runs of lineage %q: %w", ref, err)
	}
	return out, nil
}

// ExperimentRuns returns the runs an experiment name recorded at a stage
// ("" for every stage), newest first.
func (s *Store) ExperimentRuns(ctx context.Context, experiment, stage string) ([]int64, error) {
	var out []int64
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT er.run_id FROM experiment_runs er JOIN experiments e ON e.id = er.experiment_id
		WHERE e.name = ?1 AND (?2 = '' OR er.stage = ?2) ORDER BY er.run_id DESC`, experiment, stage))(func(r *sql.Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("runs of experiment %s: %w", experiment, err)
	}
	return out, nil
}

// StudentOf returns the student of a job (FineTuneJob.ID), or ErrNotFound.
func (s *Store) StudentOf(ctx context.Context, job int64) (*Student, error) {
	st := Student{Job: job}
	var created sql.NullString
	err := s.rdb.QueryRowContext(ctx, `SELECT id, base_url, model, api_key_env, created_at FROM students WHERE job = ?`, job).
		Scan(&st.ID, &st.BaseURL, &st.Model, &st.APIKeyEnv, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("student of job %d: %w", job, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read student of job %d: %w", job, err)
	}
	st.CreatedAt = parseTime(created)
	return &st, nil
}
