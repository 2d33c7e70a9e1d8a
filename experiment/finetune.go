package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// studentJob is one student's job as the stage sees it.
type studentJob struct {
	plan    *StudentPlan
	dataset *results.Dataset
	spec    bench.FineTuneSpec
	job     *results.FineTuneJob // its row, as last recorded
}

// provider returns the fine-tuning API root (no trailing "/").
func (e *Experiment) provider() string {
	p := strings.TrimRight(e.FineTune.BaseURL, "/")
	if p == "" {
		p = suites.DefaultBaseURL
	}
	return p
}

// finetune fine-tunes every student without one: one upload per training
// file (recorded before any job is created), then the jobs, each recorded
// as soon as the provider names it, before it is polled. A job that
// succeeded is never touched again; one that failed or was cancelled is
// reported with the provider's message (RetryFailed makes a new attempt).
func (r *stageRun) finetune(ctx context.Context) error {
	db := context.WithoutCancel(ctx)
	e := r.exp
	provider := e.provider()
	var todo []*studentJob
	var links []results.LineageLink
	for _, sp := range r.plan.Students {
		rec, err := r.Store.DatasetByKey(db, sp.Dataset.Key)
		if err != nil || rec.Status != results.DatasetFiltered {
			return fmt.Errorf("fine-tune %s@%s: dataset %s is not filtered yet (run the filter stage first)", sp.Arm.Name, sp.Seed, sp.Dataset.Name)
		}
		sj := &studentJob{plan: sp, dataset: rec, spec: sp.Spec(rec.SHA256)}
		for {
			job, err := r.Store.JobOf(db, provider, sj.spec.Key())
			if errors.Is(err, results.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			sj.job = job
			if !r.RetryFailed || (job.Status != string(bench.JobFailed) && job.Status != string(bench.JobCancelled)) {
				break
			}
			sj.spec.Attempt++ // a new job for the same content
			sj.job = nil
		}
		if sj.job == nil {
			hyper, _ := json.Marshal(e.FineTune.Hyperparameters) // plain data: cannot fail
			row := results.FineTuneJob{Provider: provider, Key: sj.spec.Key(), APIKeyEnv: e.FineTune.APIKeyEnv, DatasetID: rec.ID,
				BaseModel: sj.spec.BaseModel, Seed: sj.spec.Seed, Hyperparameters: string(hyper), Suffix: sj.spec.Suffix, Attempt: sj.spec.Attempt,
				Status: results.JobPending}
			id, err := r.Store.PutJob(db, row)
			if err != nil {
				return err
			}
			row.ID = id
			sj.job = &row
		}
		links = append(links, results.LineageLink{Arm: sp.Arm.Name, Seed: sp.Seed, Job: sj.job.ID})
		switch sj.job.Status {
		case results.JobSucceeded:
			r.logf("fine-tune %s@%s: done (job %s)", sp.Arm.Name, sp.Seed, sj.job.JobID)
		default:
			todo = append(todo, sj)
		}
	}
	// The lineage names every student, made or not, so that status and
	// runs --lineage show pending and failed jobs too.
	if err := r.Store.SetLineage(db, e.Name, r.expID, links); err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}
	var failed []error
	var pending []*studentJob
	for _, sj := range todo {
		if s := sj.job.Status; s == string(bench.JobFailed) || s == string(bench.JobCancelled) {
			failed = append(failed, fmt.Errorf("fine-tune %s@%s: job %s %s: %s (give --retry-failed to make a new job)",
				sj.plan.Arm.Name, sj.plan.Seed, sj.job.JobID, s, messageOr(sj.job.Message)))
			continue
		}
		pending = append(pending, sj)
	}
	if len(pending) == 0 {
		return errors.Join(failed...)
	}
	key := ""
	if env := e.FineTune.APIKeyEnv; env != "" {
		if key = r.getenv(env); key == "" {
			return configf("%s: finetune.api_key_env: environment variable %s is not set", e.Position("finetune.api_key_env"), env)
		}
	}
	tuner, err := bench.NewFineTuner(bench.FineTuneConfig{BaseURL: provider, APIKey: key, HTTPClient: r.HTTPClient, Retry: r.FineTuneRetry,
		Poll: bench.PollPolicy{Interval: e.FineTune.PollInterval, MaxWait: e.FineTune.MaxWait}})
	if err != nil {
		return configf("%s: finetune.base_url: %v", e.Position("finetune.base_url"), err)
	}
	files, err := r.uploads(ctx, tuner, provider, pending)
	if err != nil {
		return errors.Join(append(failed, err)...)
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(e.FineTune.Concurrency)
	for _, sj := range pending {
		g.Go(func() error {
			if err := r.runJob(ctx, db, tuner, provider, sj, files[sj.dataset.SHA256]); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // jobs report through failed
	if ctx.Err() != nil {
		return errInterrupted("fine-tune")
	}
	return errors.Join(failed...)
}

// uploadFile is an upload's training bytes and file id.
type uploadFile struct {
	data []byte
	id   string
}

// uploads makes sure every training file the pending jobs need is
// uploaded once, and recorded, before any job is created: two arms
// learning from one dataset share its upload.
func (r *stageRun) uploads(ctx context.Context, tuner *bench.FineTuner, provider string, pending []*studentJob) (map[string]uploadFile, error) {
	db := context.WithoutCancel(ctx)
	files := map[string]uploadFile{}
	for _, sj := range pending {
		sha := sj.dataset.SHA256
		if _, ok := files[sha]; ok {
			continue
		}
		data, err := r.Store.DatasetTraining(db, sj.dataset.ID)
		if err != nil {
			return nil, err
		}
		if sj.job.JobID != "" && sj.job.UploadID != 0 {
			// The job exists: polling it needs no file.
			files[sha] = uploadFile{data: data}
			continue
		}
		recorded := ""
		if u, err := r.Store.UploadOf(db, provider, sha); err == nil {
			recorded = u.FileID
		} else if !errors.Is(err, results.ErrNotFound) {
			return nil, err
		}
		f, err := tuner.EnsureFile(ctx, data, recorded)
		if err != nil {
			if ctx.Err() != nil {
				return nil, errInterrupted("upload " + sj.dataset.Name)
			}
			return nil, asConfig(fmt.Errorf("upload %s: %w", sj.dataset.Name, err))
		}
		id, err := r.Store.PutUpload(db, results.Upload{Provider: provider, SHA256: sha, FileID: f.ID, Bytes: int64(len(data))})
		if err != nil {
			return nil, err
		}
		verb := "reused upload"
		if f.Uploaded {
			verb = "uploaded"
		}
		r.logf("upload %s: %s %s (%d rows, %d bytes)", sj.dataset.Name, verb, f.ID, sj.dataset.Rows, len(data))
		files[sha] = uploadFile{data: data, id: f.ID}
		for _, other := range pending {
			if other.dataset.SHA256 == sha && other.job.UploadID == 0 {
				other.job.UploadID = id
			}
		}
	}
	return files, nil
}

// runJob creates (or finds) sj's job, records its id before polling, waits
// for it and records the student. ctx stops the waiting; rec is the
// context of the bookkeeping, which goes on after an interruption.
func (r *stageRun) runJob(ctx, rec context.Context, tuner *bench.FineTuner, provider string, sj *studentJob, file uploadFile) error {
	name := sj.plan.Arm.Name + "@" + sj.plan.Seed
	var mu sync.Mutex // FineTune calls save and OnStatus from this goroutine; the lock documents that
	row := *sj.job
	save := func(fr bench.FineTuneRecord) error {
		mu.Lock()
		defer mu.Unlock()
		if fr.JobID != "" && fr.JobID != row.JobID {
			row.JobID = fr.JobID
			r.logf("fine-tune %s: job %s on %s", name, fr.JobID, sj.spec.BaseModel)
		}
		_, err := r.Store.PutJob(rec, row)
		return err
	}
	if _, err := r.Store.PutJob(rec, row); err != nil { // the upload id
		return err
	}
	opts := bench.WaitOptions{CancelOnStop: r.CancelOnStop, OnStatus: func(j bench.FineTuneJob) {
		mu.Lock()
		defer mu.Unlock()
		if string(j.Status) == row.Status || j.Status == bench.JobSucceeded {
			return // success is recorded with the student
		}
		row.Status = string(j.Status)
		if j.Error != nil {
			row.Message = j.Error.Message
		}
		if _, err := r.Store.PutJob(rec, row); err != nil {
			r.logf("fine-tune %s: record status %s: %v", name, j.Status, err)
		}
		r.logf("fine-tune %s: job %s %s", name, j.ID, j.Status)
	}}
	start := time.Now()
	job, err := tuner.FineTune(ctx, sj.spec, file.data, bench.FineTuneRecord{FileID: file.id, JobID: row.JobID}, save, opts)
	var je *bench.JobError
	switch {
	case errors.As(err, &je):
		mu.Lock()
		row.Status, row.Message = string(je.Status), je.Message
		if je.Code != "" {
			row.Message = je.Code + ": " + je.Message
		}
		_, perr := r.Store.PutJob(rec, row)
		mu.Unlock()
		return errors.Join(fmt.Errorf("fine-tune %s: %w", name, err), perr)
	case err != nil && ctx.Err() != nil:
		return nil // interrupted: the job goes on (or was cancelled); the caller reports it
	case err != nil:
		return asConfig(fmt.Errorf("fine-tune %s: %w", name, err))
	}
	if _, err := r.Store.PutStudent(rec, results.Student{Job: row.ID, BaseURL: provider, Model: job.FineTunedModel, APIKeyEnv: row.APIKeyEnv}); err != nil {
		return err
	}
	mu.Lock()
	row.Status, row.Message = results.JobSucceeded, ""
	_, err = r.Store.PutJob(rec, row)
	mu.Unlock()
	if err != nil {
		return err
	}
	r.logf("fine-tune %s: %s (job %s, %s)", name, job.FineTunedModel, job.ID, time.Since(start).Round(time.Millisecond))
	return nil
}

func messageOr(m string) string {
	if m == "" {
		return "no message from the provider"
	}
	return m
}
