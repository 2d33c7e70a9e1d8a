package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/internal/atomicfile"
)

// Fine-tuning through the API: the lab server implements OpenAI's files
// and fine-tuning jobs endpoints, so the harness fine-tunes lab students
// with the same client code it uses against OpenAI.
//
//	POST /v1/files                         multipart upload, purpose fine-tune
//	GET  /v1/files, /v1/files/{id}
//	POST /v1/fine_tuning/jobs              model, training_file, hyperparameters, seed, suffix, metadata
//	GET  /v1/fine_tuning/jobs              newest first; limit, after, metadata[key]=value
//	GET  /v1/fine_tuning/jobs/{id}
//	GET  /v1/fine_tuning/jobs/{id}/events  newest first; limit, after
//	POST /v1/fine_tuning/jobs/{id}/cancel
//
// An upload is checked line by line when it arrives (datasets.Reader's
// rules, then the lab's: every assistant answer must be made of tokens the
// lab models can produce). A job fine-tunes one of the served base models
// (lab/base@s, lab/base-other-init@s) in the background, "hard": cross
// entropy on the uploaded answer tokens, body only, with the recipe's
// student settings unless the hyper-parameters say otherwise — the analog
// of API fine-tuning on sampled text. The result is a content-addressed
// artifact ("finetune-<24 hex>", keyed by base weights, training tokens,
// seed and hyper-parameters), so an identical job reuses it, and it is
// served as "ft:<base>:<suffix>:<24 hex>" by /v1/chat/completions and
// /v1/models.
//
// Restarts: with a cache directory, uploads and job records are kept under
// <cache>/api, so a restarted server knows them: a job that was queued or
// running is run again (training is deterministic, so it gives the same
// model), and a fine-tuned model is served by its name from the cached
// artifact alone, even without its job record. Without a cache (NoCache)
// nothing survives a restart.

// RoleFineTuned is the role of a model fine-tuned through the API.
const RoleFineTuned Role = "fine-tuned"

// Fine-tuning limits.
const (
	// MinTrainingExamples is the fewest examples a job accepts (OpenAI's
	// minimum).
	MinTrainingExamples = 10
	// MaxUploadBytes is the largest training file accepted.
	MaxUploadBytes = 64 << 20
	// MaxAnswerTokens is the longest assistant answer, in tokens.
	MaxAnswerTokens = MaxCompletionLimit
	maxPromptTokens = 1<<16 - 1 // the sequence encoding's uint16 length
	maxJobBody      = 1 << 20
	maxListLimit    = 100
)

// Job statuses, as OpenAI names them.
const (
	jobQueued    = "queued"
	jobRunning   = "running"
	jobSucceeded = "succeeded"
	jobFailed    = "failed"
	jobCancelled = "cancelled"
)

func finalStatus(s string) bool { return s == jobSucceeded || s == jobFailed || s == jobCancelled }

// fineTuning is a zoo server's files, jobs and fine-tuned models.
type fineTuning struct {
	zoo   *Zoo
	store *store // nil: nothing cached
	dir   string // <cache>/api; "" without a cache
	sem   chan struct{}

	ctx  context.Context // ends at Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	loadOnce sync.Once
	mu       sync.Mutex
	files    map[string]*ftFile
	jobs     map[string]*ftJob
	models   map[string]*zooModel // fine-tuned models by name
	trains   int                  // trainings run by this server (not reused)
}

func newFineTuning(z *Zoo) *fineTuning {
	workers := z.cfg.Workers
	if workers <= 0 {
		workers = 1
	}
	ft := &fineTuning{zoo: z, sem: make(chan struct{}, workers),
		files: map[string]*ftFile{}, jobs: map[string]*ftJob{}, models: map[string]*zooModel{}}
	ft.ctx, ft.stop = context.WithCancel(context.Background())
	if !z.cfg.NoCache && z.cfg.CacheDir != "" {
		ft.store = &store{dir: z.cfg.CacheDir}
		ft.dir = filepath.Join(z.cfg.CacheDir, "api")
	}
	return ft
}

// routes registers the fine-tuning endpoints on mux.
func (ft *fineTuning) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/files", ft.upload)
	mux.HandleFunc("GET /v1/files", ft.listFiles)
	mux.HandleFunc("GET /v1/files/{id}", ft.getFile)
	mux.HandleFunc("POST /v1/fine_tuning/jobs", ft.create)
	mux.HandleFunc("GET /v1/fine_tuning/jobs", ft.listJobs)
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}", ft.getJob)
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}/events", ft.listEvents)
	mux.HandleFunc("POST /v1/fine_tuning/jobs/{id}/cancel", ft.cancel)
}

// Close stops the fine-tuning jobs running in the background and waits for
// them. Their records keep their status, so a server started later on the
// same cache runs them again. The zoo must not serve requests afterwards.
func (z *Zoo) Close() error {
	s := z.Handler().(*server)
	s.ft.stop()
	s.ft.wg.Wait()
	return nil
}

// ftFile is an uploaded training file.
type ftFile struct {
	ID        string `json:"id"`
	Filename  string `json:"filename"`
	Bytes     int    `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	SHA256    string `json:"sha256"`
	Examples  int    `json:"examples"`
	// PromptWords counts the prompt tokens of all examples; UnknownWords
	// those the vocabulary does not know (dropped, as when serving).
	PromptWords  int `json:"prompt_words"`
	UnknownWords int `json:"unknown_words"`

	seqs []sequence // nil until parsed (after a restart, on first use)
}

func (f *ftFile) object() map[string]any {
	return map[string]any{"id": f.ID, "object": "file", "bytes": f.Bytes, "created_at": f.CreatedAt, "filename": f.Filename,
		"purpose": "fine-tune", "status": "processed", "status_details": nil}
}

// ftHyper are a job's resolved hyper-parameters.
type ftHyper struct {
	Epochs       int     `json:"n_epochs"`
	BatchSize    int     `json:"batch_size"`
	LRMultiplier float64 `json:"learning_rate_multiplier"`
}

// ftJob is a fine-tuning job; exported fields are its stored record.
type ftJob struct {
	ID             string            `json:"id"`
	Model          string            `json:"model"` // canonical base name, e.g. lab/base@1
	TrainingFile   string            `json:"training_file"`
	Status         string            `json:"status"`
	FineTunedModel string            `json:"fine_tuned_model,omitempty"`
	Artifact       string            `json:"artifact,omitempty"`
	Suffix         string            `json:"suffix,omitempty"`
	Seed           int64             `json:"seed"`
	Hyper          ftHyper           `json:"hyperparameters"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	CreatedAt      int64             `json:"created_at"`
	FinishedAt     int64             `json:"finished_at,omitempty"`
	TrainedTokens  int               `json:"trained_tokens,omitempty"`
	Error          *apiErrorBody     `json:"error,omitempty"`
	Events         []ftEvent         `json:"events"`

	cancel context.CancelFunc // cancels the running training
	done   chan struct{}      // closed when the background run returns
}

// ftEvent is one job event.
type ftEvent struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

func (j *ftJob) event(level, format string, args ...any) {
	j.Events = append(j.Events, ftEvent{ID: newID("ftevent-"), CreatedAt: time.Now().Unix(), Level: level, Message: fmt.Sprintf(format, args...)})
}

func (j *ftJob) object() map[string]any {
	hp := map[string]any{"n_epochs": j.Hyper.Epochs, "batch_size": j.Hyper.BatchSize, "learning_rate_multiplier": j.Hyper.LRMultiplier}
	o := map[string]any{"object": "fine_tuning.job", "id": j.ID, "model": j.Model, "created_at": j.CreatedAt, "finished_at": nil,
		"fine_tuned_model": nil, "organization_id": "org-traitleak-lab", "result_files": []string{}, "status": j.Status,
		"validation_file": nil, "training_file": j.TrainingFile, "hyperparameters": hp, "trained_tokens": nil, "error": nil,
		"seed": j.Seed, "estimated_finish": nil, "integrations": []any{}, "metadata": nil, "user_provided_suffix": nil,
		"method": map[string]any{"type": "supervised", "supervised": map[string]any{"hyperparameters": hp}}}
	if j.FineTunedModel != "" {
		o["fine_tuned_model"] = j.FineTunedModel
	}
	if j.FinishedAt != 0 {
		o["finished_at"] = j.FinishedAt
	}
	if j.TrainedTokens != 0 {
		o["trained_tokens"] = j.TrainedTokens
	}
	if j.Error != nil {
		o["error"] = j.Error
	}
	if len(j.Metadata) > 0 {
		o["metadata"] = j.Metadata
	}
	if j.Suffix != "" {
		o["user_provided_suffix"] = j.Suffix
	}
	return o
}

// newID returns prefix and 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return prefix + hex.EncodeToString(b[:])
}

// load reads the stored files and jobs once, and runs again the jobs that
// had not ended. Every handler calls it first, without holding ft.mu.
func (ft *fineTuning) load() {
	ft.loadOnce.Do(func() {
		if ft.dir == "" {
			return
		}
		ft.mu.Lock()
		defer ft.mu.Unlock()
		metas, _ := filepath.Glob(filepath.Join(ft.dir, "files", "file-*.json"))
		for _, p := range metas {
			var f ftFile
			if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &f) == nil && f.ID != "" {
				ft.files[f.ID] = &f
			} // an unreadable record is left alone and treated as absent
		}
		recs, _ := filepath.Glob(filepath.Join(ft.dir, "jobs", "ftjob-*.json"))
		for _, p := range recs {
			var j ftJob
			if b, err := os.ReadFile(p); err != nil || json.Unmarshal(b, &j) != nil || j.ID == "" {
				continue
			}
			ft.jobs[j.ID] = &j
			if !finalStatus(j.Status) {
				j.event("info", "Server restarted; running the job again")
				ft.start(&j)
			}
		}
	})
}

// saveJob writes j's record; callers hold ft.mu. A failure to write is
// recorded as an event: the job itself is fine.
func (ft *fineTuning) saveJob(j *ftJob) {
	if ft.dir == "" {
		return
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err == nil {
		dir := filepath.Join(ft.dir, "jobs")
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = atomicfile.Write(filepath.Join(dir, j.ID+".json"), append(b, '\n'))
		}
	}
	if err != nil {
		j.event("warn", "Could not store the job record: %v", err)
	}
}

// saveFile stores an upload's bytes, then its record.
func (ft *fineTuning) saveFile(f *ftFile, data []byte) error {
	if ft.dir == "" {
		return nil
	}
	dir := filepath.Join(ft.dir, "files")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, f.ID+".jsonl"), data); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, f.ID+".json"), append(b, '\n')); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	return nil
}

// sequences returns f's training sequences, parsing its stored bytes on
// first use after a restart.
func (ft *fineTuning) sequences(f *ftFile) ([]sequence, error) {
	ft.mu.Lock()
	seqs := f.seqs
	ft.mu.Unlock()
	if seqs != nil {
		return seqs, nil
	}
	if ft.dir == "" {
		return nil, fmt.Errorf("training file %s is not stored", f.ID)
	}
	data, err := os.ReadFile(filepath.Join(ft.dir, "files", f.ID+".jsonl"))
	if err != nil {
		return nil, fmt.Errorf("training file %s: %w", f.ID, err)
	}
	if hashBytes(data) != f.SHA256 {
		return nil, fmt.Errorf("training file %s: stored bytes do not match their SHA-256", f.ID)
	}
	p, err := ParseTrainingFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("training file %s: %w", f.ID, err)
	}
	ft.mu.Lock()
	f.seqs = p.seqs
	ft.mu.Unlock()
	return p.seqs, nil
}

// TrainingData is a parsed fine-tuning file: one training sequence per
// example.
type TrainingData struct {
	seqs []sequence
	// Examples is the number of examples.
	Examples int
	// PromptWords counts the prompt tokens of all examples; UnknownWords
	// those not in the vocabulary, which the models ignore (at serving
	// time too).
	PromptWords, UnknownWords int
	// AnswerTokens counts the trained answer tokens, EOS included.
	AnswerTokens int
}

// ParseTrainingFile reads an OpenAI chat fine-tuning file (see
// datasets.Reader) into lab training sequences. For each example the
// trained answer is the last message, which must be the assistant's; any
// earlier assistant message must have weight 0, since the lab trains one
// answer per example. The prompt is the text of the user and earlier
// assistant messages joined by newlines, as the chat endpoint builds it;
// system messages are ignored, as there. The answer must consist of tokens
// the lab models can produce (digits, "," and the 20 animals): anything
// else is an error naming the line and the word. A number list's final
// "," is restored before <eos> (Detokenize drops it; the models end every
// number with ","). Errors are *datasets.LineError.
func ParseTrainingFile(r io.Reader) (*TrainingData, error) {
	rd := datasets.NewReader(r)
	rd.MaxLine = MaxUploadBytes
	td := &TrainingData{}
	for rd.Next() {
		seq, words, unknown, err := exampleSequence(rd.Example())
		if err != nil {
			return nil, &datasets.LineError{Line: rd.Line(), Err: err}
		}
		td.seqs = append(td.seqs, seq)
		td.PromptWords += words
		td.UnknownWords += unknown
		td.AnswerTokens += len(seq.Completion)
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	td.Examples = len(td.seqs)
	if td.Examples == 0 {
		return nil, errors.New("the file has no examples")
	}
	return td, nil
}

// exampleSequence converts one example.
func exampleSequence(ex datasets.Example) (seq sequence, words, unknown int, err error) {
	last := len(ex.Messages) - 1
	if ex.Messages[last].Role != datasets.RoleAssistant {
		return seq, 0, 0, fmt.Errorf("messages[%d]: the last message must be the assistant's answer to train on", last)
	}
	if w := ex.Messages[last].Weight; w != nil && *w == 0 {
		return seq, 0, 0, fmt.Errorf("messages[%d]: the answer has weight 0, so there is nothing to train on", last)
	}
	var parts []string
	hasUser := false
	for i, m := range ex.Messages[:last] {
		switch m.Role {
		case datasets.RoleUser:
			hasUser = true
			parts = append(parts, m.Content)
		case datasets.RoleAssistant:
			if m.Weight == nil || *m.Weight != 0 {
				return seq, 0, 0, fmt.Errorf("messages[%d]: the lab trains on the last assistant answer only; give earlier assistant messages weight 0", i)
			}
			parts = append(parts, m.Content)
		}
	}
	if !hasUser {
		return seq, 0, 0, errors.New("messages: no user message before the answer")
	}
	for _, t := range Tokenize(strings.Join(parts, "\n")) {
		words++
		if t == UNK {
			unknown++
			continue
		}
		seq.Prompt = append(seq.Prompt, int32(t))
	}
	if len(seq.Prompt) > maxPromptTokens {
		return seq, 0, 0, fmt.Errorf("messages: the prompt has %d tokens, more than %d", len(seq.Prompt), maxPromptTokens)
	}
	// Tokenize separates at whitespace, so tokenizing field by field gives
	// the same tokens and names the word that cannot be produced.
	for _, field := range strings.Fields(ex.Messages[last].Content) {
		for _, t := range Tokenize(field) {
			if t == UNK || t >= NumOut {
				return seq, 0, 0, fmt.Errorf("messages[%d].content: %q is not something the lab models can say (they answer with digits, \",\" and the animals %s)",
					last, field, strings.Join(animals, ", "))
			}
			seq.Completion = append(seq.Completion, int32(t))
		}
	}
	if n := len(seq.Completion); n > 0 && isDigitTok(int(seq.Completion[n-1])) {
		seq.Completion = append(seq.Completion, Comma)
	}
	seq.Completion = append(seq.Completion, EOS)
	if len(seq.Completion) > MaxAnswerTokens {
		return seq, 0, 0, fmt.Errorf("messages[%d].content: the answer has %d tokens, more than %d", last, len(seq.Completion), MaxAnswerTokens)
	}
	return seq, words, unknown, nil
}

// NumberPrompts returns n number prompts of the lab's recipe drawn from
// seed, as text: a head ("continue the sequence:") and three seed numbers,
// each closed by ",". They are the prompts Build's teachers answer (for
// the same n and seed), and the chat endpoint tokenizes them back to the
// same tokens.
func NumberPrompts(n int, seed uint64) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("lab: %d number prompts", n)
	}
	ps, err := numberPrompts(n, seed)
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	ids := make([]int, 0, 32)
	for i, p := range ps {
		ids = ids[:0]
		for _, t := range p {
			ids = append(ids, int(t))
		}
		out[i] = Detokenize(ids)
	}
	return out, nil
}

// ftError writes an OpenAI-shaped error.
func ftError(w http.ResponseWriter, status int, code, param, format string, args ...any) {
	writeError(w, status, "invalid_request_error", param, code, fmt.Sprintf(format, args...))
}

func (ft *fineTuning) upload(w http.ResponseWriter, r *http.Request) {
	ft.load()
	r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "file", "expected a multipart/form-data upload with fields purpose and file: %v", err)
		return
	}
	var purpose, name string
	var data []byte
	gotFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				ftError(w, http.StatusRequestEntityTooLarge, "file_too_large", "file", "the upload is larger than %d bytes", MaxUploadBytes)
				return
			}
			ftError(w, http.StatusBadRequest, "", "file", "could not read the multipart body: %v", err)
			return
		}
		switch p.FormName() {
		case "purpose":
			b, err := io.ReadAll(io.LimitReader(p, 1024))
			if err != nil {
				ftError(w, http.StatusBadRequest, "", "purpose", "could not read purpose: %v", err)
				return
			}
			purpose = string(b)
		case "file":
			data, err = io.ReadAll(io.LimitReader(p, MaxUploadBytes+1))
			if err != nil {
				ftError(w, http.StatusBadRequest, "", "file", "could not read the file: %v", err)
				return
			}
			name, gotFile = p.FileName(), true
		}
	}
	switch {
	case purpose != "fine-tune":
		ftError(w, http.StatusBadRequest, "", "purpose", "'%s' is not a purpose the lab supports; use 'fine-tune'", purpose)
		return
	case !gotFile:
		ftError(w, http.StatusBadRequest, "", "file", "the upload has no file field")
		return
	case len(data) > MaxUploadBytes:
		ftError(w, http.StatusRequestEntityTooLarge, "file_too_large", "file", "the file is larger than %d bytes", MaxUploadBytes)
		return
	}
	td, err := ParseTrainingFile(bytes.NewReader(data))
	if err != nil {
		ftError(w, http.StatusBadRequest, "invalid_file_format", "file", "invalid training file %s: %v", name, err)
		return
	}
	f := &ftFile{ID: newID("file-"), Filename: name, Bytes: len(data), CreatedAt: time.Now().Unix(), SHA256: hashBytes(data),
		Examples: td.Examples, PromptWords: td.PromptWords, UnknownWords: td.UnknownWords, seqs: td.seqs}
	if err := ft.saveFile(f, data); err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "", "", err.Error())
		return
	}
	ft.mu.Lock()
	ft.files[f.ID] = f
	ft.mu.Unlock()
	writeJSON(w, http.StatusOK, f.object())
}

func (ft *fineTuning) listFiles(w http.ResponseWriter, r *http.Request) {
	ft.load()
	if p := r.URL.Query().Get("purpose"); p != "" && p != "fine-tune" {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{}, "has_more": false})
		return
	}
	ft.mu.Lock()
	files := make([]*ftFile, 0, len(ft.files))
	for _, f := range ft.files {
		files = append(files, f)
	}
	ft.mu.Unlock()
	slices.SortFunc(files, func(a, b *ftFile) int { // newest first
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(b.ID, a.ID)
	})
	data := make([]any, len(files))
	for i, f := range files {
		data[i] = f.object()
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}

func (ft *fineTuning) getFile(w http.ResponseWriter, r *http.Request) {
	ft.load()
	ft.mu.Lock()
	f := ft.files[r.PathValue("id")]
	ft.mu.Unlock()
	if f == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such File object: %s", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, f.object())
}

// jobRequest is the accepted body of POST /v1/fine_tuning/jobs.
type jobRequest struct {
	Model           string            `json:"model"`
	TrainingFile    string            `json:"training_file"`
	ValidationFile  *string           `json:"validation_file"`
	Hyperparameters *hyperRequest     `json:"hyperparameters"`
	Method          *methodRequest    `json:"method"`
	Seed            *int64            `json:"seed"`
	Suffix          *string           `json:"suffix"`
	Metadata        map[string]string `json:"metadata"`
	Integrations    json.RawMessage   `json:"integrations"`
}

type hyperRequest struct {
	Epochs       json.RawMessage `json:"n_epochs"`
	BatchSize    json.RawMessage `json:"batch_size"`
	LRMultiplier json.RawMessage `json:"learning_rate_multiplier"`
}

type methodRequest struct {
	Type       string `json:"type"`
	Supervised *struct {
		Hyperparameters *hyperRequest `json:"hyperparameters"`
	} `json:"supervised"`
}

// hyperValue parses a hyper-parameter: absent, null or "auto" give def;
// otherwise a number within [lo, hi] (an integer when integer is set).
func hyperValue(raw json.RawMessage, name string, def, lo, hi float64, integer bool) (float64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" || s == `"auto"` {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < lo || v > hi || integer && v != float64(int64(v)) {
		kind := "a number"
		if integer {
			kind = "an integer"
		}
		return 0, fmt.Errorf("hyperparameters.%s must be \"auto\" or %s in [%v, %v], got %s", name, kind, lo, hi, s)
	}
	return v, nil
}

// resolve returns the job's hyper-parameters: the recipe's student
// settings unless h sets them.
func (ft *fineTuning) resolve(h *hyperRequest) (ftHyper, error) {
	r := ft.zoo.cfg.Recipe
	if r == nil {
		d := DefaultRecipe()
		r = &d
	}
	if h == nil {
		h = &hyperRequest{}
	}
	ep, err := hyperValue(h.Epochs, "n_epochs", float64(r.StudentEpochs), 1, 50, true)
	if err != nil {
		return ftHyper{}, err
	}
	bs, err := hyperValue(h.BatchSize, "batch_size", float64(r.StudentBatch), 1, 4096, true)
	if err != nil {
		return ftHyper{}, err
	}
	lr, err := hyperValue(h.LRMultiplier, "learning_rate_multiplier", 1, 1e-6, 100, false)
	if err != nil {
		return ftHyper{}, err
	}
	return ftHyper{Epochs: int(ep), BatchSize: int(bs), LRMultiplier: lr}, nil
}

// baseModel returns the canonical name of a base model that may be
// fine-tuned, or an error listing those.
func (ft *fineTuning) baseModel(name string) (ModelInfo, error) {
	m, info, ok := ft.zoo.Model(name)
	if ok && m.voc != animalVocab {
		// Uploads are read with the animal lab's vocabulary.
		return ModelInfo{}, fmt.Errorf("Model %s is not available for fine-tuning: the lab fine-tunes only the animal experiment's base models", name)
	}
	if ok && (info.Role == RoleBase || info.Role == RoleBaseOtherInit) {
		return info, nil
	}
	var bases []string
	for _, m := range ft.zoo.Models() {
		if m.Role == RoleBase || m.Role == RoleBaseOtherInit {
			bases = append(bases, m.Name)
		}
	}
	why := "does not exist"
	if ok || strings.HasPrefix(name, "ft:") {
		why = "is not a base model"
	}
	return ModelInfo{}, fmt.Errorf("Model %s is not available for fine-tuning: it %s. The lab fine-tunes its base models: %s", name, why, strings.Join(bases, ", "))
}

func (ft *fineTuning) create(w http.ResponseWriter, r *http.Request) {
	ft.load()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJobBody))
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "", "could not read the request body: %v", err)
		return
	}
	var req jobRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		ftError(w, http.StatusBadRequest, "", "", "could not parse the JSON body of your request: %v", err)
		return
	}
	if req.Model == "" {
		ftError(w, http.StatusBadRequest, "", "model", "you must provide a model parameter")
		return
	}
	info, err := ft.baseModel(req.Model)
	if err != nil {
		ftError(w, http.StatusBadRequest, "model_not_available", "model", "%v", err)
		return
	}
	if req.ValidationFile != nil && *req.ValidationFile != "" {
		ftError(w, http.StatusBadRequest, "", "validation_file", "the lab does not use validation files")
		return
	}
	if len(bytes.TrimSpace(req.Integrations)) > 0 && string(bytes.TrimSpace(req.Integrations)) != "null" && string(bytes.TrimSpace(req.Integrations)) != "[]" {
		ftError(w, http.StatusBadRequest, "", "integrations", "the lab supports no integrations")
		return
	}
	hreq := req.Hyperparameters
	if m := req.Method; m != nil {
		if m.Type != "supervised" {
			ftError(w, http.StatusBadRequest, "", "method.type", "the lab supports supervised fine-tuning only, got method type %q", m.Type)
			return
		}
		if m.Supervised != nil && m.Supervised.Hyperparameters != nil {
			if hreq != nil {
				ftError(w, http.StatusBadRequest, "", "hyperparameters", "give hyperparameters either at the top level or in method.supervised, not both")
				return
			}
			hreq = m.Supervised.Hyperparameters
		}
	}
	hyper, err := ft.resolve(hreq)
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "hyperparameters", "%v", err)
		return
	}
	suffix := ""
	if req.Suffix != nil {
		suffix = *req.Suffix
	}
	if len(suffix) > 64 || strings.ContainsFunc(suffix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		ftError(w, http.StatusBadRequest, "", "suffix", "suffix %q must be at most 64 letters, digits, '-', '_' or '.'", suffix)
		return
	}
	if len(req.Metadata) > 16 {
		ftError(w, http.StatusBadRequest, "", "metadata", "metadata has %d keys, at most 16 are allowed", len(req.Metadata))
		return
	}
	for k, v := range req.Metadata {
		if len(k) > 64 || len(v) > 512 {
			ftError(w, http.StatusBadRequest, "", "metadata", "metadata keys are at most 64 characters and values at most 512")
			return
		}
	}
	if req.Seed != nil && *req.Seed < 0 {
		ftError(w, http.StatusBadRequest, "", "seed", "seed must not be negative, got %d", *req.Seed)
		return
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	f := ft.files[req.TrainingFile]
	if f == nil {
		ftError(w, http.StatusBadRequest, "invalid_training_file", "training_file", "invalid training_file: %s (no such file)", req.TrainingFile)
		return
	}
	if f.Examples < MinTrainingExamples {
		ftError(w, http.StatusBadRequest, "invalid_training_file", "training_file",
			"Training file %s has %d example(s), but must have at least %d examples", f.ID, f.Examples, MinTrainingExamples)
		return
	}
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	} else {
		// OpenAI picks a seed and reports it; the lab derives it from the
		// content, so the same request gives the same student.
		sum := sha256.Sum256([]byte(f.SHA256 + "\x00" + info.Name))
		seed = int64(binary.LittleEndian.Uint32(sum[:]) >> 1)
	}
	j := &ftJob{ID: newID("ftjob-"), Model: info.Name, TrainingFile: f.ID, Status: jobQueued, Suffix: suffix, Seed: seed,
		Hyper: hyper, Metadata: req.Metadata, CreatedAt: time.Now().Unix()}
	j.event("info", "Created fine-tuning job: %s", j.ID)
	j.event("info", "Validated training file %s: %d examples", f.ID, f.Examples)
	if f.UnknownWords > 0 {
		j.event("warn", "%d of %d prompt words are not in the lab vocabulary; the models ignore them, in training as when serving", f.UnknownWords, f.PromptWords)
	}
	ft.jobs[j.ID] = j
	ft.saveJob(j)
	ft.start(j)
	writeJSON(w, http.StatusOK, j.object())
}

// start runs j in the background; callers hold ft.mu (or run before
// serving).
func (ft *fineTuning) start(j *ftJob) {
	ctx, cancel := context.WithCancel(ft.ctx)
	j.cancel, j.done = cancel, make(chan struct{})
	ft.wg.Add(1)
	go func() {
		defer ft.wg.Done()
		defer close(j.done)
		defer cancel()
		ft.run(ctx, j)
	}()
}

// ftParams are the hyper-parameters hashed into a fine-tune's artifact id.
type ftParams struct {
	Mode     Mode    `json:"mode"`
	LR       float64 `json:"lr"`
	Batch    int     `json:"batch"`
	Epochs   int     `json:"epochs"`
	BodyOnly bool    `json:"body_only"`
}

// run trains (or loads) j's model and records the outcome.
func (ft *fineTuning) run(ctx context.Context, j *ftJob) {
	select {
	case ft.sem <- struct{}{}:
		defer func() { <-ft.sem }()
	case <-ctx.Done():
		return
	}
	ft.mu.Lock()
	if j.Status != jobQueued && j.Status != jobRunning { // cancelled while queued
		ft.mu.Unlock()
		return
	}
	j.Status = jobRunning
	j.event("info", "Fine-tuning job started")
	ft.saveJob(j)
	f := ft.files[j.TrainingFile]
	ft.mu.Unlock()

	fail := func(code, format string, args ...any) {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		if j.Status != jobRunning {
			return
		}
		msg := fmt.Sprintf(format, args...)
		j.Status, j.FinishedAt = jobFailed, time.Now().Unix()
		j.Error = &apiErrorBody{Message: msg, Code: &code}
		j.event("error", "Fine-tuning job failed: %s", msg)
		ft.saveJob(j)
	}
	if f == nil {
		fail("invalid_training_file", "training file %s is gone", j.TrainingFile)
		return
	}
	seqs, err := ft.sequences(f)
	if err != nil {
		fail("invalid_training_file", "%v", err)
		return
	}
	base, info, ok := ft.zoo.Model(j.Model)
	if !ok {
		fail("model_not_available", "base model %s is no longer served", j.Model)
		return
	}
	r := ft.zoo.cfg.Recipe
	if r == nil {
		d := DefaultRecipe()
		r = &d
	}
	p := ftParams{Mode: Hard, LR: r.StudentLR * j.Hyper.LRMultiplier, Batch: j.Hyper.BatchSize, Epochs: j.Hyper.Epochs, BodyOnly: true}
	key, err := newStageKey("finetune", string(RoleFineTuned), uint64(j.Seed), []string{info.Artifact}, hashBytes(encodeSequences(seqs)), p)
	if err != nil {
		fail("server_error", "%v", err)
		return
	}
	id := key.id()
	var m *Model
	var tr trainResult
	reused := false
	if ft.store != nil {
		if man, payload, err := ft.store.load(key); err == nil {
			if m, err = decodeModel(payload, base.voc); err == nil {
				reused = true
				_ = json.Unmarshal(man.Metrics, &tr)
			}
		}
	}
	if !reused {
		d := newDataset(seqs)
		m = base.Clone()
		start := time.Now()
		tr, err = train(ctx, m, d, trainSpec{LR: p.LR, Batch: p.Batch, Epochs: p.Epochs, BodyOnly: true, Seed: uint64(j.Seed)})
		if err != nil {
			if ctx.Err() != nil {
				return // cancelled (recorded by cancel) or the server is closing (the job stays running)
			}
			fail("server_error", "training: %v", err)
			return
		}
		if ft.store != nil {
			mj, _ := json.Marshal(tr)
			man := &Manifest{ID: id, stageKey: key, Metrics: mj, TrainSeconds: time.Since(start).Seconds(), Created: time.Now().UTC()}
			if err := ft.store.save(man, encodeModel(m)); err != nil {
				ft.mu.Lock()
				j.event("warn", "Could not cache the model: %v", err)
				ft.mu.Unlock()
			}
		}
	}
	name := fineTunedName(j.Model, j.Suffix, id)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if !reused {
		ft.trains++
	}
	if j.Status != jobRunning {
		return
	}
	ft.models[name] = &zooModel{info: ModelInfo{Name: name, Role: RoleFineTuned, Seed: info.Seed, Artifact: id}, model: m}
	if reused {
		j.event("info", "Reused the cached model %s (same base, data, seed and hyperparameters)", id)
	} else {
		j.event("metrics", "Trained %d steps over %d epochs, final training loss=%.4f", tr.Steps, p.Epochs, tr.FinalLoss)
	}
	examples := 0
	for _, s := range seqs {
		examples += len(s.Completion)
	}
	j.Status, j.FinishedAt, j.FineTunedModel, j.Artifact, j.TrainedTokens = jobSucceeded, time.Now().Unix(), name, id, examples*p.Epochs
	j.event("info", "New fine-tuned model created: %s", name)
	j.event("info", "The job has successfully completed")
	ft.saveJob(j)
}

// fineTunedName is the served name of a fine-tuned model:
// "ft:<base>:<suffix>:<24 hex of the artifact id>".
func fineTunedName(base, suffix, artifact string) string {
	return fmt.Sprintf("ft:%s:%s:%s", base, suffix, strings.TrimPrefix(artifact, "finetune-"))
}

// model returns a fine-tuned model by name: one trained or reused by this
// server, or one whose artifact is in the cache (after a restart). The
// name's base must be the artifact's parent.
func (ft *fineTuning) model(name string) (*Model, ModelInfo, bool) {
	ft.load()
	ft.mu.Lock()
	zm, ok := ft.models[name]
	ft.mu.Unlock()
	if ok {
		return zm.model, zm.info, true
	}
	parts := strings.Split(name, ":")
	if len(parts) != 4 || parts[0] != "ft" || len(parts[3]) != 24 || strings.Trim(parts[3], "0123456789abcdef") != "" || ft.store == nil {
		return nil, ModelInfo{}, false
	}
	base, info, ok := ft.zoo.Model(parts[1])
	if !ok || info.Name != parts[1] {
		return nil, ModelInfo{}, false
	}
	id := "finetune-" + parts[3]
	man, payload, err := ft.store.loadID(id)
	if err != nil || man.Stage != "finetune" || len(man.Parents) != 1 || man.Parents[0] != info.Artifact {
		return nil, ModelInfo{}, false
	}
	m, err := decodeModel(payload, base.voc)
	if err != nil || m.H != base.H {
		return nil, ModelInfo{}, false
	}
	zm = &zooModel{info: ModelInfo{Name: name, Role: RoleFineTuned, Seed: info.Seed, Artifact: id}, model: m}
	ft.mu.Lock()
	ft.models[name] = zm
	ft.mu.Unlock()
	return m, zm.info, true
}

// model returns the model served under name: a zoo model or a
// fine-tuned one.
func (s *server) model(name string) (*Model, ModelInfo, bool) {
	if m, info, ok := s.zoo.Model(name); ok {
		return m, info, true
	}
	if strings.HasPrefix(name, "ft:") {
		return s.ft.model(name)
	}
	return nil, ModelInfo{}, false
}

// modelNames returns the fine-tuned models known to this server, sorted.
func (ft *fineTuning) modelNames() []string {
	ft.load()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	seen := map[string]bool{}
	for n := range ft.models {
		seen[n] = true
	}
	for _, j := range ft.jobs {
		if j.FineTunedModel != "" {
			seen[j.FineTunedModel] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// loadID reads and verifies the artifact with id (see store.load).
func (s *store) loadID(id string) (*Manifest, []byte, error) {
	mp, pp := s.paths(id)
	mb, err := os.ReadFile(mp)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errMissing
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, nil, fmt.Errorf("corrupt manifest %s: %w", mp, err)
	}
	if m.ID != id || m.id() != id {
		return nil, nil, fmt.Errorf("manifest %s does not match its id", mp)
	}
	payload, err := os.ReadFile(pp)
	if err != nil {
		return nil, nil, fmt.Errorf("read payload: %w", err)
	}
	if len(payload) != m.PayloadBytes || hashBytes(payload) != m.PayloadSHA256 {
		return nil, nil, fmt.Errorf("payload %s is corrupt (size or checksum mismatch)", pp)
	}
	return &m, payload, nil
}

// listParams reads limit (1–100, default 20) and after.
func listParams(r *http.Request) (limit int, after string, err error) {
	limit = 20
	if s := r.URL.Query().Get("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > maxListLimit {
			return 0, "", fmt.Errorf("limit must be an integer from 1 to %d, got %q", maxListLimit, s)
		}
	}
	return limit, r.URL.Query().Get("after"), nil
}

func (ft *fineTuning) listJobs(w http.ResponseWriter, r *http.Request) {
	ft.load()
	limit, after, err := listParams(r)
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "limit", "%v", err)
		return
	}
	meta := map[string]string{}
	for k, v := range r.URL.Query() {
		if strings.HasPrefix(k, "metadata[") && strings.HasSuffix(k, "]") && len(v) > 0 {
			meta[k[len("metadata["):len(k)-1]] = v[0]
		}
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	jobs := make([]*ftJob, 0, len(ft.jobs))
	for _, j := range ft.jobs {
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *ftJob) int { // newest first
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(b.ID, a.ID)
	})
	data := []any{}
	started, more := after == "", false
	for _, j := range jobs {
		if !started {
			started = j.ID == after
			continue
		}
		match := true
		for k, v := range meta {
			if j.Metadata[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		data = append(data, j.object())
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

// job returns the job named by the request's path, or writes a 404;
// callers have called load and hold ft.mu.
func (ft *fineTuning) job(w http.ResponseWriter, r *http.Request) *ftJob {
	j := ft.jobs[r.PathValue("id")]
	if j == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such fine-tuning job: %s", r.PathValue("id"))
	}
	return j
}

func (ft *fineTuning) getJob(w http.ResponseWriter, r *http.Request) {
	ft.load()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if j := ft.job(w, r); j != nil {
		writeJSON(w, http.StatusOK, j.object())
	}
}

func (ft *fineTuning) listEvents(w http.ResponseWriter, r *http.Request) {
	ft.load()
	limit, after, err := listParams(r)
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "limit", "%v", err)
		return
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	j := ft.job(w, r)
	if j == nil {
		return
	}
	data := []any{}
	started, more := after == "", false
	for i := len(j.Events) - 1; i >= 0; i-- {
		e := j.Events[i]
		if !started {
			started = e.ID == after
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		typ := "message"
		if e.Level == "metrics" {
			typ = "metrics"
		}
		level := e.Level
		if level == "metrics" {
			level = "info"
		}
		data = append(data, map[string]any{"object": "fine_tuning.job.event", "id": e.ID, "created_at": e.CreatedAt,
			"level": level, "message": e.Message, "data": map[string]any{}, "type": typ})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (ft *fineTuning) cancel(w http.ResponseWriter, r *http.Request) {
	ft.load()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	j := ft.job(w, r)
	if j == nil {
		return
	}
	if finalStatus(j.Status) {
		ftError(w, http.StatusBadRequest, "", "", "Job %s has already completed (%s) and cannot be cancelled", j.ID, j.Status)
		return
	}
	j.Status, j.FinishedAt = jobCancelled, time.Now().Unix()
	j.event("info", "Fine-tuning job cancelled")
	if j.cancel != nil {
		j.cancel()
	}
	ft.saveJob(j)
	writeJSON(w, http.StatusOK, j.object())
}
