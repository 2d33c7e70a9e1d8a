package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Fine-tuning through an OpenAI-compatible provider's files and
// fine-tuning jobs endpoints (OpenAI itself, or "traitleak lab serve").
//
// The provider's state is the source of truth; the caller stores only the
// ids it was given (dataset hash → file id, job key → job id) and passes
// them back. Every step is idempotent:
//
//   - EnsureFile reuses the recorded file, else an upload of the same bytes
//     found by its content-derived file name, and uploads only when neither
//     exists;
//   - EnsureJob polls the recorded job, else a job carrying the spec's key
//     in its metadata (found with the list endpoint's metadata filter), and
//     creates one only when neither exists. A crash between "created" and
//     "recorded", or a create whose reply was lost, therefore finds the job
//     instead of creating a second one;
//   - Wait polls until the job ends, with growing intervals, Retry-After
//     and a deadline; it cancels the job on interruption only when asked.
//
// go-openai v1.43.0 covers most of the API but not all of it, and this
// file works around the gaps: its FineTuningJobRequest has no seed and no
// metadata (sent by adding them to the request body), its FineTuningJob
// drops error, seed, metadata and user_provided_suffix, and its event list
// drops the event ids needed to page (both read from the reply body, which
// is kept), and it has no function to list jobs (GET /fine_tuning/jobs is
// sent directly through the same HTTP client). Its Hyperparameters are
// `any` with omitempty: only set values are put in them, so "auto" is
// expressed by leaving a field out and an explicit 0 is never sent.

// JobStatus is the status of a fine-tuning job, as the provider names it.
type JobStatus string

// Statuses of a fine-tuning job. The first three are in progress, the
// last three final.
const (
	JobValidatingFiles JobStatus = "validating_files"
	JobQueued          JobStatus = "queued"
	JobRunning         JobStatus = "running"
	JobSucceeded       JobStatus = "succeeded"
	JobFailed          JobStatus = "failed"
	JobCancelled       JobStatus = "cancelled"
)

// Final reports whether s is a final status (succeeded, failed or
// cancelled).
func (s JobStatus) Final() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// Hyperparameters of a fine-tuning job. A zero field means "auto": the
// provider's default, which is then not sent at all.
type Hyperparameters struct {
	// Epochs is the number of passes over the training file (n_epochs).
	Epochs int `json:"n_epochs,omitempty"`
	// BatchSize is the number of examples per step (batch_size).
	BatchSize int `json:"batch_size,omitempty"`
	// LearningRateMultiplier scales the provider's learning rate
	// (learning_rate_multiplier).
	LearningRateMultiplier float64 `json:"learning_rate_multiplier,omitempty"`
}

// openai returns the go-openai form: nil when every field is auto.
func (h Hyperparameters) openai() *openai.Hyperparameters {
	if h == (Hyperparameters{}) {
		return nil
	}
	var o openai.Hyperparameters
	if h.Epochs != 0 {
		o.Epochs = h.Epochs
	}
	if h.BatchSize != 0 {
		o.BatchSize = h.BatchSize
	}
	if h.LearningRateMultiplier != 0 {
		o.LearningRateMultiplier = h.LearningRateMultiplier
	}
	return &o
}

// MaxSuffixLen is the longest model-name suffix OpenAI accepts, in bytes.
const MaxSuffixLen = 64

// Metadata keys a FineTuner puts on the jobs it creates.
const (
	// MetaKey holds FineTuneSpec.Key: the job's identity for EnsureJob.
	MetaKey = "traitleak_key"
	// MetaDataset holds the training file's SHA-256 (hex).
	MetaDataset = "traitleak_dataset"
)

// FineTuneSpec is the content of one fine-tuning job: what determines the
// student. Two specs with the same Key are the same job.
type FineTuneSpec struct {
	// DatasetSHA256 is the hex SHA-256 of the training file's bytes (the
	// dataset hash of datasets.WriteTraining).
	DatasetSHA256 string `json:"dataset_sha256"`
	// BaseModel is the model to fine-tune, e.g. gpt-4.1-nano-2025-04-14 or
	// lab/base@1.
	BaseModel string `json:"base_model"`
	// Seed is the training seed; nil lets the provider pick one, which the
	// job then reports.
	Seed *int64 `json:"seed,omitempty"`
	// Hyperparameters are the training hyper-parameters; zero fields are
	// the provider's defaults.
	Hyperparameters Hyperparameters `json:"hyperparameters"`
	// Suffix is added to the fine-tuned model's name: up to MaxSuffixLen
	// letters, digits, '-', '_' or '.'; empty for none.
	Suffix string `json:"suffix,omitempty"`
	// Attempt is 0 for the first job of this content. A job that failed or
	// was cancelled is never created again on its own; setting Attempt to
	// n > 0 deliberately makes a new job (a new key) for the same content.
	Attempt int `json:"attempt,omitempty"`
}

// Validate reports the first invalid field of s.
func (s FineTuneSpec) Validate() error {
	if len(s.DatasetSHA256) != 64 || strings.Trim(s.DatasetSHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("fine-tune spec: dataset_sha256 %q is not a lower-case hex SHA-256", s.DatasetSHA256)
	}
	if s.BaseModel == "" {
		return errors.New("fine-tune spec: base_model is empty")
	}
	if s.Seed != nil && *s.Seed < 0 {
		return fmt.Errorf("fine-tune spec: seed %d is negative", *s.Seed)
	}
	h := s.Hyperparameters
	if h.Epochs < 0 || h.BatchSize < 0 || h.LearningRateMultiplier < 0 {
		return fmt.Errorf("fine-tune spec: hyperparameters must not be negative (n_epochs %d, batch_size %d, learning_rate_multiplier %v)", h.Epochs, h.BatchSize, h.LearningRateMultiplier)
	}
	if len(s.Suffix) > MaxSuffixLen {
		return fmt.Errorf("fine-tune spec: suffix %q is longer than %d characters", s.Suffix, MaxSuffixLen)
	}
	for _, r := range s.Suffix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("fine-tune spec: suffix %q has %q; use letters, digits, '-', '_' or '.'", s.Suffix, r)
		}
	}
	if s.Attempt < 0 {
		return fmt.Errorf("fine-tune spec: attempt %d is negative", s.Attempt)
	}
	return nil
}

// Key is the job's identity: "ft-" and 32 hex digits of the SHA-256 of
// the spec's canonical JSON (with a format version). The provider's file
// id is not part of it: a re-uploaded file with the same bytes is the same
// job.
func (s FineTuneSpec) Key() string {
	b, _ := json.Marshal(struct {
		V int `json:"v"`
		FineTuneSpec
	}{1, s}) // plain fields: Marshal cannot fail
	sum := sha256.Sum256(b)
	return "ft-" + hex.EncodeToString(sum[:16])
}

// FileName is the name EnsureFile uploads a training file under: it
// carries the content hash, so a later run can find the upload.
func FileName(sha256Hex string) string {
	if len(sha256Hex) > 32 {
		sha256Hex = sha256Hex[:32]
	}
	return "traitleak-" + sha256Hex + ".jsonl"
}

// FineTuneFile is an uploaded training file.
type FineTuneFile struct {
	ID       string
	Name     string
	Bytes    int64
	SHA256   string // hex SHA-256 of the bytes (computed locally)
	Status   string // the provider's status (uploaded, processed, error), may be empty
	Created  time.Time
	Uploaded bool // true when this call uploaded it, false when an upload was reused
}

// JobFailure is the provider's error object of a failed job.
type JobFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
}

// FineTuneJob is a fine-tuning job as the provider reports it.
type FineTuneJob struct {
	ID             string
	Status         JobStatus
	Model          string // base model
	FineTunedModel string // set once succeeded
	TrainingFile   string
	// Seed is the training seed the job reports; nil if it reports none.
	Seed *int64
	// Hyperparameters are the values the job reports (resolved once the
	// provider has chosen them; zero for "auto").
	Hyperparameters Hyperparameters
	Suffix          string // user_provided_suffix
	Metadata        map[string]string
	Created         time.Time
	Finished        time.Time // zero until final
	EstimatedFinish time.Time // zero when not reported
	TrainedTokens   int
	// Error is the provider's error of a failed job, nil otherwise.
	Error *JobFailure
	// New is true when this call created the job, false when it found an
	// existing one (recorded or looked up).
	New bool
}

// JobEvent is one event of a fine-tuning job.
type JobEvent struct {
	ID      string
	Created time.Time
	Level   string // info, warn or error
	Message string
	Type    string // message or metrics
}

// Errors of fine-tuning jobs.
var (
	// ErrJobFailed matches a *JobError of a job that failed.
	ErrJobFailed = errors.New("fine-tuning job failed")
	// ErrJobCancelled matches a *JobError of a job that was cancelled.
	ErrJobCancelled = errors.New("fine-tuning job cancelled")
	// ErrJobNotFound is a recorded job the provider does not know (a
	// restarted lab server without its cache, another account).
	ErrJobNotFound = errors.New("fine-tuning job not found")
)

// JobError is a job that ended without a model: failed or cancelled, with
// the provider's message.
type JobError struct {
	JobID   string
	Status  JobStatus
	Code    string
	Message string
}

// Error describes the job's end with the provider's message.
func (e *JobError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message from the provider"
	}
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("fine-tuning job %s %s: %s", e.JobID, e.Status, msg)
}

// Is makes errors.Is match ErrJobFailed or ErrJobCancelled.
func (e *JobError) Is(target error) bool {
	return target == ErrJobFailed && e.Status == JobFailed || target == ErrJobCancelled && e.Status == JobCancelled
}

// PollPolicy paces Wait. Intervals grow by half after each poll that sees
// no change, from Interval to MaxInterval, and start again at Interval
// after a change.
type PollPolicy struct {
	Interval    time.Duration // first wait; 0 means 5 s
	MaxInterval time.Duration // longest wait; 0 means 1 min
	// MaxWait bounds one Wait; 0 means 24 h. The job keeps running; a
	// later Wait resumes.
	MaxWait time.Duration
}

func (p PollPolicy) withDefaults() PollPolicy {
	if p.Interval <= 0 {
		p.Interval = 5 * time.Second
	}
	if p.MaxInterval < p.Interval {
		p.MaxInterval = max(p.Interval, time.Minute)
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 24 * time.Hour
	}
	return p
}

// FineTuneConfig configures a FineTuner.
type FineTuneConfig struct {
	// BaseURL is the API root, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token, only to BaseURL's host. Never
	// logged or stored.
	APIKey string
	// HTTPClient sends the requests; nil means NewFineTuneHTTPClient().
	// Redirects are never followed whatever its CheckRedirect: a 3xx reply
	// is an error.
	HTTPClient *http.Client
	// Timeout bounds one request attempt; 0 means 5 min (uploads).
	Timeout time.Duration
	// Retry bounds the retries of each API call; the zero value means
	// DefaultRetryPolicy(). While polling it bounds consecutive failures.
	Retry RetryPolicy
	// Poll paces Wait.
	Poll PollPolicy
}

// NewFineTuneHTTPClient returns the HTTP client of a FineTuner: pooled
// connections, and redirects not followed (CheckRedirect returns
// http.ErrUseLastResponse), so the API key never reaches another host.
func NewFineTuneHTTPClient() *http.Client {
	return &http.Client{
		Transport:     NewTransport(4),
		CheckRedirect: refuseRedirect,
	}
}

// FineTuner uploads training files and runs fine-tuning jobs on one
// provider. It is safe for concurrent use.
type FineTuner struct {
	api     *openai.Client
	hc      *ftDoer
	base    string // BaseURL without a trailing "/"
	key     string
	timeout time.Duration
	retry   RetryPolicy
	poll    PollPolicy
}

// NewFineTuner returns a FineTuner for cfg. BaseURL must be an absolute
// http or https URL.
func NewFineTuner(cfg FineTuneConfig) (*FineTuner, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fine-tuning: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewFineTuneHTTPClient()
	} else {
		c := *hc // never follow redirects, whatever the caller's client does
		c.CheckRedirect = refuseRedirect
		hc = &c
	}
	d := &ftDoer{hc: hc, host: u.Host}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = base
	oc.HTTPClient = d
	f := &FineTuner{api: openai.NewClientWithConfig(oc), hc: d, base: base, key: cfg.APIKey,
		timeout: cfg.Timeout, retry: cfg.Retry, poll: cfg.Poll.withDefaults()}
	if f.timeout <= 0 {
		f.timeout = 5 * time.Minute
	}
	if f.retry == (RetryPolicy{}) {
		f.retry = DefaultRetryPolicy()
	}
	return f, nil
}

// FineTuneRecord is what a caller stores between runs for one job, so a
// restart resumes instead of uploading or creating again. Empty fields are
// unknown.
type FineTuneRecord struct {
	FileID string `json:"file_id,omitempty"`
	JobID  string `json:"job_id,omitempty"`
}

// WaitOptions tune Wait.
type WaitOptions struct {
	// CancelOnStop cancels the job at the provider when ctx ends before
	// the job does. Without it the job keeps running and a later Wait
	// resumes polling it.
	CancelOnStop bool
	// OnStatus, when set, is called with the job at every status change
	// (and at the first poll).
	OnStatus func(FineTuneJob)
	// OnEvent, when set, receives the job's new events in order; events
	// are then fetched at every poll.
	OnEvent func(JobEvent)
}

// FineTune runs one job to its end: EnsureFile(data, rec.FileID), then
// EnsureJob(spec, file, rec.JobID), then Wait. save is called with the
// record as soon as each id is known, before anything else happens, so a
// crash at any point resumes (the lookups of EnsureFile and EnsureJob
// cover the gap between an id's creation and its saving); an error from
// save stops FineTune. spec.DatasetSHA256 must be the SHA-256 of data.
func (f *FineTuner) FineTune(ctx context.Context, spec FineTuneSpec, data []byte, rec FineTuneRecord,
	save func(FineTuneRecord) error, opts WaitOptions) (FineTuneJob, error) {
	if err := spec.Validate(); err != nil {
		return FineTuneJob{}, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != spec.DatasetSHA256 {
		return FineTuneJob{}, fmt.Errorf("fine-tune: the training data's SHA-256 %x is not the spec's dataset_sha256 %s", sum, spec.DatasetSHA256)
	}
	if rec.JobID == "" {
		file, err := f.EnsureFile(ctx, data, rec.FileID)
		if err != nil {
			return FineTuneJob{}, err
		}
		if file.ID != rec.FileID {
			rec.FileID = file.ID
			if err := save(rec); err != nil {
				return FineTuneJob{}, fmt.Errorf("fine-tune: save file id %s: %w", file.ID, err)
			}
		}
	}
	job, err := f.EnsureJob(ctx, spec, rec.FileID, rec.JobID)
	if err != nil {
		return FineTuneJob{}, err
	}
	if job.ID != rec.JobID {
		rec.JobID = job.ID
		if err := save(rec); err != nil {
			return job, fmt.Errorf("fine-tune: save job id %s: %w", job.ID, err)
		}
	}
	return f.Wait(ctx, job.ID, opts)
}

// EnsureFile returns an uploaded training file holding data: the recorded
// file recordedID if the provider still has it with the same size, else
// an earlier upload named FileName(sha256(data)) with the same size, else
// a new upload (purpose fine-tune). A recorded file the provider does not
// know (404) is uploaded again.
func (f *FineTuner) EnsureFile(ctx context.Context, data []byte, recordedID string) (FineTuneFile, error) {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	name := FileName(sha)
	usable := func(of openai.File) bool {
		return of.ID != "" && int64(of.Bytes) == int64(len(data)) && of.Status != "error" && of.Status != "deleted"
	}
	if recordedID != "" {
		var of openai.File
		err := f.call(ctx, "get file "+recordedID, func(ctx context.Context) (err error) {
			of, err = f.api.GetFile(ctx, recordedID)
			return err
		})
		switch {
		case err == nil && usable(of):
			return fileOf(of, sha, false), nil
		case err != nil && Status(err) != http.StatusNotFound:
			return FineTuneFile{}, err
		}
	}
	if of, ok, err := f.findFile(ctx, name, len(data), usable); err != nil {
		return FineTuneFile{}, err
	} else if ok {
		return fileOf(of, sha, false), nil
	}
	// Upload. Before a retry, look again: a reply lost after the upload
	// was stored must not make a second copy.
	var of openai.File
	err := f.retryLoop(ctx, "upload "+name, func(ctx context.Context, attempt int) (bool, error) {
		if attempt > 1 {
			found, ok, err := f.findFile(ctx, name, len(data), usable)
			if err != nil {
				return false, err
			}
			if ok {
				of = found
				return true, nil
			}
		}
		var err error
		of, err = f.api.CreateFileBytes(ctx, openai.FileBytesRequest{Name: name, Bytes: data, Purpose: openai.PurposeFineTune})
		return err == nil, err
	})
	if err != nil {
		return FineTuneFile{}, err
	}
	if of.ID == "" {
		return FineTuneFile{}, fmt.Errorf("upload %s: %w: no file id in the reply", name, ErrMalformed)
	}
	return fileOf(of, sha, true), nil
}

func fileOf(of openai.File, sha string, uploaded bool) FineTuneFile {
	return FineTuneFile{ID: of.ID, Name: of.FileName, Bytes: int64(of.Bytes), SHA256: sha, Status: of.Status,
		Created: unixTime(of.CreatedAt), Uploaded: uploaded}
}

// findFile looks for an uploaded file with this name and size.
func (f *FineTuner) findFile(ctx context.Context, name string, size int, usable func(openai.File) bool) (openai.File, bool, error) {
	var list openai.FilesList
	err := f.call(ctx, "list files", func(ctx context.Context) (err error) {
		list, err = f.api.ListFiles(ctx)
		return err
	})
	if err != nil {
		return openai.File{}, false, err
	}
	for _, of := range list.Files {
		if of.FileName == name && of.Bytes == size && of.Purpose == string(openai.PurposeFineTune) && usable(of) {
			return of, true, nil
		}
	}
	return openai.File{}, false, nil
}

// EnsureJob returns the job of spec on training file fileID: the recorded
// job recordedID (whatever its status; ErrJobNotFound if the provider does
// not know it), else the newest job whose metadata carries spec.Key(),
// else a new job. A failed or cancelled job found this way is returned as
// it is, never created again: set spec.Attempt to make a new one.
func (f *FineTuner) EnsureJob(ctx context.Context, spec FineTuneSpec, fileID, recordedID string) (FineTuneJob, error) {
	if err := spec.Validate(); err != nil {
		return FineTuneJob{}, err
	}
	if recordedID != "" {
		return f.Job(ctx, recordedID)
	}
	key := spec.Key()
	if job, ok, err := f.FindJob(ctx, key); err != nil || ok {
		return job, err
	}
	if fileID == "" {
		return FineTuneJob{}, errors.New("create fine-tuning job: no training file id")
	}
	req := openai.FineTuningJobRequest{TrainingFile: fileID, Model: spec.BaseModel, Hyperparameters: spec.Hyperparameters.openai(), Suffix: spec.Suffix}
	extra := map[string]any{"metadata": map[string]string{MetaKey: key, MetaDataset: spec.DatasetSHA256}}
	if spec.Seed != nil {
		extra["seed"] = *spec.Seed
	}
	var job FineTuneJob
	err := f.retryLoop(ctx, "create fine-tuning job for "+spec.BaseModel, func(ctx context.Context, attempt int) (bool, error) {
		if attempt > 1 {
			// The previous attempt may have created the job before failing.
			found, ok, err := f.FindJob(ctx, key)
			if err != nil {
				return false, err
			}
			if ok {
				job = found
				return true, nil
			}
		}
		var raw []byte
		cctx := context.WithValue(context.WithValue(ctx, ftExtraKey{}, extra), ftCaptureKey{}, &raw)
		if _, err := f.api.CreateFineTuningJob(cctx, req); err != nil {
			return false, err
		}
		j, err := decodeJob(raw)
		if err != nil {
			return false, err
		}
		j.New = true
		job = j
		return true, nil
	})
	return job, err
}

// Job retrieves a job by id; ErrJobNotFound if the provider does not know
// it.
func (f *FineTuner) Job(ctx context.Context, id string) (FineTuneJob, error) {
	var job FineTuneJob
	err := f.call(ctx, "get fine-tuning job "+id, func(ctx context.Context) (err error) {
		job, err = f.retrieve(ctx, id)
		return err
	})
	return job, err
}

// retrieve makes one attempt to read a job.
func (f *FineTuner) retrieve(ctx context.Context, id string) (FineTuneJob, error) {
	var raw []byte
	if _, err := f.api.RetrieveFineTuningJob(context.WithValue(ctx, ftCaptureKey{}, &raw), id); err != nil {
		err = classify(ctx, err)
		if Status(err) == http.StatusNotFound {
			return FineTuneJob{}, fmt.Errorf("%w: %s (%v)", ErrJobNotFound, id, err)
		}
		return FineTuneJob{}, err
	}
	return decodeJob(raw)
}

// FindJob returns the newest job whose metadata has MetaKey = key.
func (f *FineTuner) FindJob(ctx context.Context, key string) (FineTuneJob, bool, error) {
	// Servers that ignore the metadata filter are checked by the match.
	return findListed(ctx, f, "fine-tuning jobs", "/fine_tuning/jobs", url.Values{"metadata[" + MetaKey + "]": {key}},
		func(raw json.RawMessage) (FineTuneJob, string, bool, error) {
			job, err := decodeJob(raw)
			return job, job.ID, err == nil && job.Metadata[MetaKey] == key, err
		})
}

// findListed pages through the provider's list at path (newest first, 100
// items a page, query q added) and returns the first item decode reports
// as a match. It stops at the end of the list, at a page that does not
// move on, or after 100 pages: a bound, not a limit met in practice. An
// item that cannot be decoded is an error naming what.
func findListed[T any](ctx context.Context, f *FineTuner, what, path string, q url.Values,
	decode func(json.RawMessage) (item T, id string, match bool, err error)) (T, bool, error) {
	var zero T
	after := ""
	for page := 0; page < 100; page++ {
		pq := url.Values{"limit": {"100"}}
		for k, v := range q {
			pq[k] = v
		}
		if after != "" {
			pq.Set("after", after)
		}
		var list struct {
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
		}
		err := f.call(ctx, "list "+what, func(ctx context.Context) error {
			return f.getJSON(ctx, path+"?"+pq.Encode(), &list)
		})
		if err != nil {
			return zero, false, err
		}
		last := ""
		for _, raw := range list.Data {
			item, id, match, err := decode(raw)
			if err != nil {
				return zero, false, fmt.Errorf("list %s: %w", what, err)
			}
			if match {
				return item, true, nil
			}
			last = id
		}
		if !list.HasMore || last == "" || last == after {
			return zero, false, nil
		}
		after = last
	}
	return zero, false, nil
}

// Cancel asks the provider to cancel a job and returns it as then
// reported.
func (f *FineTuner) Cancel(ctx context.Context, id string) (FineTuneJob, error) {
	var job FineTuneJob
	err := f.call(ctx, "cancel fine-tuning job "+id, func(ctx context.Context) error {
		var raw []byte
		if _, err := f.api.CancelFineTuningJob(context.WithValue(ctx, ftCaptureKey{}, &raw), id); err != nil {
			return err
		}
		var err error
		job, err = decodeJob(raw)
		return err
	})
	return job, err
}

// Events returns the job's events newer than the event afterID (all of
// them when afterID is empty, up to 1,000), oldest first.
func (f *FineTuner) Events(ctx context.Context, id, afterID string) ([]JobEvent, error) {
	var newestFirst []JobEvent
	cursor := ""
	for page := 0; page < 10; page++ {
		var raw []byte
		err := f.call(ctx, "list events of fine-tuning job "+id, func(ctx context.Context) error {
			opts := []openai.ListFineTuningJobEventsParameter{openai.ListFineTuningJobEventsWithLimit(100)}
			if cursor != "" {
				opts = append(opts, openai.ListFineTuningJobEventsWithAfter(cursor))
			}
			_, err := f.api.ListFineTuningJobEvents(context.WithValue(ctx, ftCaptureKey{}, &raw), id, opts...)
			return err
		})
		if err != nil {
			return nil, err
		}
		var list struct {
			Data []struct {
				ID        string `json:"id"`
				CreatedAt int64  `json:"created_at"`
				Level     string `json:"level"`
				Message   string `json:"message"`
				Type      string `json:"type"`
			} `json:"data"`
			HasMore bool `json:"has_more"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("list events of fine-tuning job %s: %w: %v", id, ErrMalformed, err)
		}
		for _, e := range list.Data {
			if afterID != "" && e.ID == afterID {
				return reverse(newestFirst), nil
			}
			newestFirst = append(newestFirst, JobEvent{ID: e.ID, Created: unixTime(e.CreatedAt), Level: e.Level, Message: e.Message, Type: e.Type})
		}
		if !list.HasMore || len(list.Data) == 0 || list.Data[len(list.Data)-1].ID == "" {
			break
		}
		cursor = list.Data[len(list.Data)-1].ID
	}
	return reverse(newestFirst), nil
}

func reverse(ev []JobEvent) []JobEvent {
	for i, j := 0, len(ev)-1; i < j; i, j = i+1, j-1 {
		ev[i], ev[j] = ev[j], ev[i]
	}
	return ev
}

// Wait polls job id until it ends and returns it. A succeeded job returns
// with its FineTunedModel; a failed or cancelled one with a *JobError
// carrying the provider's message. Polling errors that are worth retrying
// (rate limits, server errors, timeouts) are retried, honouring
// Retry-After, up to the retry policy's MaxRetries in a row; others end
// the wait. After PollPolicy.MaxWait, or when ctx ends, Wait returns with
// the job still running (cancelled first if opts.CancelOnStop).
func (f *FineTuner) Wait(ctx context.Context, id string, opts WaitOptions) (FineTuneJob, error) {
	p := f.poll
	deadline := time.Now().Add(p.MaxWait)
	interval := p.Interval
	var job FineTuneJob
	var last JobStatus
	lastEvent := ""
	failures := 0
	for {
		actx, cancel := context.WithTimeout(ctx, f.timeout)
		j, err := f.retrieve(actx, id)
		cancel()
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return f.stopped(ctx, id, job, opts)
		case err != nil:
			if errors.Is(err, ErrJobNotFound) || !Retryable(err) {
				return job, fmt.Errorf("poll fine-tuning job %s: %w", id, err)
			}
			failures++
			if failures > f.retry.MaxRetries {
				return job, fmt.Errorf("poll fine-tuning job %s: %w", id, &RetryError{Attempts: failures, Err: err})
			}
			wait = max(interval, f.retry.Delay(failures, err, rand.Float64()))
		default:
			failures = 0
			job = j
			if opts.OnEvent != nil {
				if evs, err := f.Events(ctx, id, lastEvent); err == nil {
					for _, e := range evs {
						opts.OnEvent(e)
						lastEvent = e.ID
					}
				} else if ctx.Err() != nil {
					return f.stopped(ctx, id, job, opts)
				} // events are informative: a failure to read them is not the job's
			}
			if job.Status != last {
				last = job.Status
				interval = p.Interval
				if opts.OnStatus != nil {
					opts.OnStatus(job)
				}
			}
			switch job.Status {
			case JobSucceeded:
				if job.FineTunedModel == "" {
					return job, fmt.Errorf("fine-tuning job %s: %w: succeeded without a fine_tuned_model", id, ErrMalformed)
				}
				return job, nil
			case JobFailed, JobCancelled:
				je := &JobError{JobID: id, Status: job.Status}
				if job.Error != nil {
					je.Code, je.Message = job.Error.Code, job.Error.Message
				}
				return job, je
			}
			wait = interval
			interval = min(interval*3/2, p.MaxInterval)
		}
		if time.Now().Add(wait).After(deadline) {
			return job, fmt.Errorf("fine-tuning job %s is still %s after waiting %v; waiting again resumes", id, job.Status, p.MaxWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return f.stopped(ctx, id, job, opts)
		case <-t.C:
		}
	}
}

// stopped ends a Wait whose ctx ended: the job is cancelled only when
// asked.
func (f *FineTuner) stopped(ctx context.Context, id string, job FineTuneJob, opts WaitOptions) (FineTuneJob, error) {
	if !opts.CancelOnStop {
		return job, fmt.Errorf("stopped waiting for fine-tuning job %s (left %s at the provider; waiting again resumes): %w", id, job.Status, ctx.Err())
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cj, err := f.Cancel(cctx, id)
	if err != nil {
		return job, fmt.Errorf("stopped waiting for fine-tuning job %s: %w; cancelling it failed: %v", id, ctx.Err(), err)
	}
	return cj, fmt.Errorf("stopped waiting for fine-tuning job %s and cancelled it (now %s): %w", id, cj.Status, ctx.Err())
}

// call runs fn with a per-attempt timeout, retrying retryable errors under
// the retry policy (Retry-After honoured).
func (f *FineTuner) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return f.retryLoop(ctx, op, func(ctx context.Context, _ int) (bool, error) {
		err := fn(ctx)
		return err == nil, err
	})
}

// retryLoop runs attempt (numbered from 1) until it reports done, returns
// an error not worth retrying, or the retry policy is exhausted.
func (f *FineTuner) retryLoop(ctx context.Context, op string, attempt func(ctx context.Context, n int) (bool, error)) error {
	start := time.Now()
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, f.timeout)
		done, err := attempt(actx, n)
		if err != nil {
			err = classify(actx, err)
		}
		cancel()
		if done && err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if errors.Is(err, ErrJobNotFound) {
			return err
		}
		if !Retryable(err) || n > f.retry.MaxRetries {
			if n > 1 {
				err = &RetryError{Attempts: n, Err: err}
			}
			return fmt.Errorf("%s: %w", op, err)
		}
		d := f.retry.Delay(n, err, rand.Float64())
		if f.retry.MaxElapsed > 0 && time.Since(start)+d > f.retry.MaxElapsed {
			return fmt.Errorf("%s: %w", op, &RetryError{Attempts: n, Err: err})
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// getJSON sends GET base+path through the FineTuner's HTTP doer and
// decodes the JSON reply into v.
func (f *FineTuner) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+path, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if f.key != "" {
		req.Header.Set("Authorization", "Bearer "+f.key)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// jobJSON is a fine-tuning job object with the fields go-openai drops.
type jobJSON struct {
	ID                 string                     `json:"id"`
	Status             string                     `json:"status"`
	Model              string                     `json:"model"`
	FineTunedModel     *string                    `json:"fine_tuned_model"`
	TrainingFile       string                     `json:"training_file"`
	Seed               *int64                     `json:"seed"`
	Hyperparameters    map[string]json.RawMessage `json:"hyperparameters"`
	Method             *jobMethodJSON             `json:"method"`
	Metadata           map[string]string          `json:"metadata"`
	UserProvidedSuffix *string                    `json:"user_provided_suffix"`
	CreatedAt          int64                      `json:"created_at"`
	FinishedAt         *int64                     `json:"finished_at"`
	EstimatedFinish    *int64                     `json:"estimated_finish"`
	TrainedTokens      *int                       `json:"trained_tokens"`
	Error              *struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

type jobMethodJSON struct {
	Type       string `json:"type"`
	Supervised *struct {
		Hyperparameters map[string]json.RawMessage `json:"hyperparameters"`
	} `json:"supervised"`
}

// decodeJob decodes a fine-tuning job object.
func decodeJob(raw []byte) (FineTuneJob, error) {
	var j jobJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return FineTuneJob{}, fmt.Errorf("%w: fine-tuning job: %v", ErrMalformed, err)
	}
	if j.ID == "" || j.Status == "" {
		return FineTuneJob{}, fmt.Errorf("%w: fine-tuning job without id or status", ErrMalformed)
	}
	job := FineTuneJob{ID: j.ID, Status: JobStatus(j.Status), Model: j.Model, TrainingFile: j.TrainingFile, Seed: j.Seed,
		Metadata: j.Metadata, Created: unixTime(j.CreatedAt)}
	if j.FineTunedModel != nil {
		job.FineTunedModel = *j.FineTunedModel
	}
	if j.UserProvidedSuffix != nil {
		job.Suffix = *j.UserProvidedSuffix
	}
	if j.FinishedAt != nil {
		job.Finished = unixTime(*j.FinishedAt)
	}
	if j.EstimatedFinish != nil {
		job.EstimatedFinish = unixTime(*j.EstimatedFinish)
	}
	if j.TrainedTokens != nil {
		job.TrainedTokens = *j.TrainedTokens
	}
	hp := j.Hyperparameters
	if j.Method != nil && j.Method.Supervised != nil && len(j.Method.Supervised.Hyperparameters) > 0 {
		hp = j.Method.Supervised.Hyperparameters
	}
	job.Hyperparameters = Hyperparameters{
		Epochs:                 int(jsonNumber(hp["n_epochs"])),
		BatchSize:              int(jsonNumber(hp["batch_size"])),
		LearningRateMultiplier: jsonNumber(hp["learning_rate_multiplier"]),
	}
	if e := j.Error; e != nil {
		var f JobFailure
		if e.Code != nil {
			f.Code = *e.Code
		}
		if e.Message != nil {
			f.Message = *e.Message
		}
		if e.Param != nil {
			f.Param = *e.Param
		}
		if f != (JobFailure{}) {
			job.Error = &f
		}
	}
	return job, nil
}

// jsonNumber returns a JSON number's value, or 0 for "auto", null or
// anything else.
func jsonNumber(raw json.RawMessage) float64 {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil {
		return 0
	}
	return v
}

// unixTime converts Unix seconds, 0 meaning unknown.
func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// Context keys of the fine-tuning doer.
type (
	ftExtraKey   struct{} // map[string]any: members added to a JSON request body
	ftCaptureKey struct{} // *[]byte: receives the body of a successful reply
	ftLimitKey   struct{} // int64: the reply's size bound, instead of maxBody
)

// ftDoer is the HTTP layer under go-openai for fine-tuning: it sends
// requests only to the configured host, adds members go-openai cannot
// express to JSON bodies, refuses redirects, classifies HTTP errors
// (keeping Retry-After), and keeps reply bodies for the fields go-openai
// does not decode.
type ftDoer struct {
	hc   *http.Client
	host string
}

// Do sends one request.
func (d *ftDoer) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Host != d.host {
		return nil, fmt.Errorf("refusing to send a request to host %q: the API key belongs to %q", req.URL.Host, d.host)
	}
	if extra, ok := req.Context().Value(ftExtraKey{}).(map[string]any); ok && req.Body != nil {
		if err := addMembers(req, extra); err != nil {
			return nil, err
		}
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrConnection, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil && req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		if resp.StatusCode < 400 {
			return nil, &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("redirect to %q not followed", resp.Header.Get("Location"))}
		}
		return nil, &APIError{Status: resp.StatusCode, Message: errorMessage(body), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if dst, ok := req.Context().Value(ftCaptureKey{}).(*[]byte); ok {
		b, err := io.ReadAll(&ftReplyBody{body: resp.Body, ctx: req.Context(), limit: maxBody})
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		*dst = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
	limit := int64(maxBody)
	if l, ok := req.Context().Value(ftLimitKey{}).(int64); ok {
		limit = l
	}
	resp.Body = &ftReplyBody{body: resp.Body, ctx: req.Context(), limit: limit}
	return resp, nil
}

// addMembers adds members to the JSON object in req's body.
func addMembers(req *http.Request, members map[string]any) error {
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("add %d members to the request body: not a JSON object: %w", len(members), err)
	}
	for k, v := range members {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("add member %s to the request body: %w", k, err)
		}
		obj[k] = raw
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode request body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(out))
	req.ContentLength = int64(len(out))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	return nil
}

// ftReplyBody bounds a fine-tuning reply's size and classifies read
// failures: a cancelled request reads as its context's error, anything
// else as ErrConnection.
type ftReplyBody struct {
	body  io.ReadCloser
	ctx   context.Context
	n     int64
	limit int64 // bytes; more is ErrMalformed
}

func (b *ftReplyBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		return n, fmt.Errorf("%w: reply larger than %d bytes", ErrMalformed, b.limit)
	case err == nil, err == io.EOF:
		return n, err
	case b.ctx.Err() != nil:
		return n, b.ctx.Err()
	}
	return n, fmt.Errorf("%w: reading reply: %v", ErrConnection, err)
}

func (b *ftReplyBody) Close() error { return b.body.Close() }

// classify maps an error of a go-openai call onto the engine's error
// classes (APIError, ErrTimeout, ErrMalformed, ErrConnection), so that
// the retry policy reads it with errors.Is and errors.As.
func classify(ctx context.Context, err error) error {
	var api *APIError
	switch {
	case errors.As(err, &api), errors.Is(err, ErrMalformed), errors.Is(err, ErrConnection):
		return err
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	var oe *openai.APIError
	if errors.As(err, &oe) {
		return &APIError{Status: oe.HTTPStatusCode, Message: oe.Message}
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return &APIError{Status: re.HTTPStatusCode, Message: fmt.Sprint(re.Err)}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return err
}
