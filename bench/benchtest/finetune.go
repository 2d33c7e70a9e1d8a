package benchtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FineTuneConfig scripts a fake of OpenAI's files and fine-tuning jobs
// endpoints:
//
//	POST /v1/files                         multipart upload (purpose fine-tune)
//	GET  /v1/files, /v1/files/{id}
//	POST /v1/fine_tuning/jobs              create (seed, metadata, suffix, hyperparameters)
//	GET  /v1/fine_tuning/jobs              list, newest first (limit, after, metadata[k]=v)
//	GET  /v1/fine_tuning/jobs/{id}         retrieve: each call moves the job one step
//	GET  /v1/fine_tuning/jobs/{id}/events  newest first (limit, after)
//	POST /v1/fine_tuning/jobs/{id}/cancel
type FineTuneConfig struct {
	// BaseModels are the models that may be fine-tuned; creating a job on
	// another gets OpenAI's 400 "not available for fine-tuning".
	BaseModels []string
	// MinExamples is the fewest training examples a job accepts; 0 means
	// 10, OpenAI's minimum. A job on a smaller file fails at validation
	// with OpenAI's message.
	MinExamples int
	// Steps is the number of retrievals a job takes from creation to its
	// final status (validating_files, queued, running, ..., final); 0
	// means 3.
	Steps int
	// Outcome, when set, decides how a job ends; nil means success.
	Outcome func(FakeJob) FakeOutcome
	// Faults are injected into requests of a route.
	Faults []FineTuneFault
	// APIKey, when set, is required as the bearer token (401 otherwise).
	APIKey string
}

// FakeJob is what Outcome sees of a job.
type FakeJob struct {
	ID, Model, Suffix, TrainingFile string
	Seed                            int64
	Metadata                        map[string]string
}

// FakeOutcome is the scripted end of a job: Status "failed" or
// "cancelled" with the provider's error code and message; "" succeeds.
type FakeOutcome struct {
	Status  string
	Code    string
	Message string
}

// FineTuneFault injects a failure into requests of one route: "upload",
// "files" (list), "file" (get), "create", "list", "retrieve", "events",
// "cancel". It hits the first Count requests to the route after the first
// Skip. Kind is "429", "500" or "503" (an error reply, with RetryAfter as
// the Retry-After header), or "lost" (upload and create only: the file or
// job is stored, then the reply is a 500, as when a reply is lost).
type FineTuneFault struct {
	Route      string
	Skip       int
	Count      int
	Kind       string
	RetryAfter string
}

// FineTuneRequest is one recorded request.
type FineTuneRequest struct {
	Method string
	Path   string // with the query
	Route  string
	Time   time.Time
	Auth   string
	Body   []byte // JSON bodies only
	Fault  string // the fault injected, "" when none
}

// FineTune is the fake fine-tuning provider as an http.Handler. Use
// NewFineTuneServer for a loopback server, or Transport to call it in
// memory (inside testing/synctest bubbles, where loopback I/O would stall
// the fake clock).
type FineTune struct {
	cfg FineTuneConfig
	mux *http.ServeMux

	mu       sync.Mutex
	requests []FineTuneRequest
	routes   map[string]int // requests per route
	files    []*fakeFile
	jobs     []*fakeJob
	uploads  int
	creates  int
	events   int
}

type fakeFile struct {
	ID, Name string
	Bytes    int
	Examples int
	Created  int64
}

type fakeJob struct {
	FakeJob
	created  int64
	finished int64
	hyper    map[string]any
	status   string
	steps    int
	errObj   map[string]any
	model    string
	events   []map[string]any
}

// NewFineTune returns a fake provider for cfg.
func NewFineTune(cfg FineTuneConfig) *FineTune {
	if cfg.MinExamples == 0 {
		cfg.MinExamples = 10
	}
	if cfg.Steps <= 0 {
		cfg.Steps = 3
	}
	f := &FineTune{cfg: cfg, mux: http.NewServeMux(), routes: map[string]int{}}
	f.mux.HandleFunc("POST /v1/files", f.route("upload", f.upload))
	f.mux.HandleFunc("GET /v1/files", f.route("files", f.listFiles))
	f.mux.HandleFunc("GET /v1/files/{id}", f.route("file", f.getFile))
	f.mux.HandleFunc("POST /v1/fine_tuning/jobs", f.route("create", f.create))
	f.mux.HandleFunc("GET /v1/fine_tuning/jobs", f.route("list", f.list))
	f.mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}", f.route("retrieve", f.retrieve))
	f.mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}/events", f.route("events", f.listEvents))
	f.mux.HandleFunc("POST /v1/fine_tuning/jobs/{id}/cancel", f.route("cancel", f.cancel))
	return f
}

// FineTuneServer is a FineTune on a loopback HTTP server.
type FineTuneServer struct {
	*httptest.Server
	*FineTune
}

// NewFineTuneServer starts a fake provider on loopback and closes it when
// the test ends.
func NewFineTuneServer(t testing.TB, cfg FineTuneConfig) *FineTuneServer {
	t.Helper()
	f := NewFineTune(cfg)
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return &FineTuneServer{Server: s, FineTune: f}
}

// BaseURL returns the API root, ending in /v1.
func (s *FineTuneServer) BaseURL() string { return s.URL + "/v1" }

// MemoryBaseURL is the API root to use with Transport.
const MemoryBaseURL = "http://fake-provider.test/v1"

// ServeHTTP serves the fake API.
func (f *FineTune) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// Transport returns an http.RoundTripper that serves every request with f
// in memory, whatever its host.
func (f *FineTune) Transport() http.RoundTripper { return HandlerTransport(f) }

// HandlerTransport returns an http.RoundTripper that answers requests by
// calling h in the calling goroutine, with no network I/O.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Requests returns a copy of the recorded requests in arrival order.
func (f *FineTune) Requests() []FineTuneRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// RouteRequests returns the recorded requests to one route.
func (f *FineTune) RouteRequests(route string) []FineTuneRequest {
	var out []FineTuneRequest
	for _, r := range f.Requests() {
		if r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// Uploads returns the number of files stored: a second upload of the
// same bytes counts again, as at OpenAI.
func (f *FineTune) Uploads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads
}

// JobsCreated returns the number of jobs created.
func (f *FineTune) JobsCreated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates
}

// SetStatus forces a job's status (e.g. to simulate a cancellation from
// the provider's dashboard); it reports whether the job exists.
func (f *FineTune) SetStatus(id, status, code, message string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.job(id)
	if j == nil {
		return false
	}
	f.finish(j, FakeOutcome{Status: status, Code: code, Message: message})
	return true
}

// route wraps a handler with recording, auth and fault injection.
func (f *FineTune) route(name string, h func(w http.ResponseWriter, r *http.Request, body []byte) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		rec := FineTuneRequest{Method: r.Method, Path: r.URL.RequestURI(), Route: name, Time: time.Now(), Auth: r.Header.Get("Authorization")}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			rec.Body = body
		}
		f.mu.Lock()
		f.routes[name]++
		n := f.routes[name]
		var fault *FineTuneFault
		for i := range f.cfg.Faults {
			ft := &f.cfg.Faults[i]
			if ft.Route == name && n > ft.Skip && n <= ft.Skip+ft.Count {
				fault = ft
				rec.Fault = ft.Kind
				break
			}
		}
		f.requests = append(f.requests, rec)
		f.mu.Unlock()

		if f.cfg.APIKey != "" && rec.Auth != "Bearer "+f.cfg.APIKey {
			ftError(w, http.StatusUnauthorized, "invalid_api_key", "", "Incorrect API key provided.")
			return
		}
		if fault != nil && fault.Kind != "lost" {
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			code, _ := strconv.Atoi(fault.Kind)
			ftError(w, code, "", "", "injected "+fault.Kind)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if fault != nil { // lost: do the work, then lose the reply
			rw := httptest.NewRecorder()
			if h(rw, r, body) {
				ftError(w, http.StatusInternalServerError, "", "", "injected lost reply")
				return
			}
			for k, v := range rw.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rw.Code)
			w.Write(rw.Body.Bytes())
			return
		}
		h(w, r, body)
	}
}

func ftJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ftError(w http.ResponseWriter, status int, code, param, msg string) {
	e := map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	ftJSON(w, status, map[string]any{"error": e})
}

func (f *FineTune) upload(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	mr, err := r.MultipartReader()
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "file", "expected a multipart/form-data body: "+err.Error())
		return false
	}
	var purpose, name string
	var data []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			ftError(w, http.StatusBadRequest, "", "file", "bad multipart body: "+err.Error())
			return false
		}
		b, _ := io.ReadAll(p)
		switch p.FormName() {
		case "purpose":
			purpose = string(b)
		case "file":
			name, data = p.FileName(), b
		}
	}
	if purpose != "fine-tune" {
		ftError(w, http.StatusBadRequest, "", "purpose", fmt.Sprintf("'%s' is not one of the supported purposes", purpose))
		return false
	}
	if name == "" {
		ftError(w, http.StatusBadRequest, "", "file", "missing file")
		return false
	}
	examples := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			examples++
		}
	}
	f.mu.Lock()
	f.uploads++
	ff := &fakeFile{ID: fmt.Sprintf("file-fake%04d", f.uploads), Name: name, Bytes: len(data), Examples: examples, Created: time.Now().Unix()}
	f.files = append(f.files, ff)
	f.mu.Unlock()
	ftJSON(w, http.StatusOK, fileObject(ff))
	return true
}

func fileObject(ff *fakeFile) map[string]any {
	return map[string]any{"id": ff.ID, "object": "file", "bytes": ff.Bytes, "created_at": ff.Created, "filename": ff.Name,
		"purpose": "fine-tune", "status": "processed", "status_details": nil}
}

func (f *FineTune) listFiles(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
	f.mu.Lock()
	data := []any{}
	for i := len(f.files) - 1; i >= 0; i-- {
		data = append(data, fileObject(f.files[i]))
	}
	f.mu.Unlock()
	ftJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
	return true
}

func (f *FineTune) file(id string) *fakeFile {
	for _, ff := range f.files {
		if ff.ID == id {
			return ff
		}
	}
	return nil
}

func (f *FineTune) getFile(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	f.mu.Lock()
	ff := f.file(r.PathValue("id"))
	f.mu.Unlock()
	if ff == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such File object: "+r.PathValue("id"))
		return false
	}
	ftJSON(w, http.StatusOK, fileObject(ff))
	return true
}

func (f *FineTune) create(w http.ResponseWriter, _ *http.Request, body []byte) bool {
	var req struct {
		TrainingFile    string            `json:"training_file"`
		Model           string            `json:"model"`
		Suffix          string            `json:"suffix"`
		Seed            *int64            `json:"seed"`
		Metadata        map[string]string `json:"metadata"`
		Hyperparameters map[string]any    `json:"hyperparameters"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		ftError(w, http.StatusBadRequest, "", "", "We could not parse the JSON body of your request.")
		return false
	}
	if !slices.Contains(f.cfg.BaseModels, req.Model) {
		ftError(w, http.StatusBadRequest, "model_not_available", "model", fmt.Sprintf("Model %s is not available for fine-tuning or does not exist.", req.Model))
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ff := f.file(req.TrainingFile)
	if ff == nil {
		ftError(w, http.StatusBadRequest, "invalid_training_file", "training_file", fmt.Sprintf("invalid training_file: %s", req.TrainingFile))
		return false
	}
	f.creates++
	j := &fakeJob{FakeJob: FakeJob{ID: fmt.Sprintf("ftjob-fake%04d", f.creates), Model: req.Model, Suffix: req.Suffix, TrainingFile: req.TrainingFile, Metadata: req.Metadata},
		created: time.Now().Unix(), status: "validating_files", hyper: map[string]any{"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}}
	for k, v := range req.Hyperparameters {
		j.hyper[k] = v
	}
	if req.Seed != nil {
		j.Seed = *req.Seed
	} else {
		j.Seed = 1000 + int64(f.creates)
	}
	f.jobs = append(f.jobs, j)
	f.event(j, "info", "Created fine-tuning job: "+j.ID)
	f.event(j, "info", "Validating training file: "+ff.ID)
	ftJSON(w, http.StatusOK, f.jobObject(j))
	return true
}

func (f *FineTune) event(j *fakeJob, level, msg string) {
	f.events++
	j.events = append(j.events, map[string]any{"object": "fine_tuning.job.event", "id": fmt.Sprintf("ftevent-fake%05d", f.events),
		"created_at": time.Now().Unix(), "level": level, "message": msg, "data": map[string]any{}, "type": "message"})
}

func (f *FineTune) job(id string) *fakeJob {
	for _, j := range f.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

func (f *FineTune) jobObject(j *fakeJob) map[string]any {
	o := map[string]any{"object": "fine_tuning.job", "id": j.ID, "model": j.Model, "created_at": j.created, "finished_at": nil,
		"fine_tuned_model": nil, "organization_id": "org-fake", "result_files": []string{}, "status": j.status,
		"validation_file": nil, "training_file": j.TrainingFile, "hyperparameters": j.hyper, "trained_tokens": nil,
		"seed": j.Seed, "metadata": j.Metadata, "user_provided_suffix": nil, "error": map[string]any{}}
	if j.Suffix != "" {
		o["user_provided_suffix"] = j.Suffix
	}
	if j.model != "" {
		o["fine_tuned_model"] = j.model
	}
	if j.finished != 0 {
		o["finished_at"] = j.finished
	}
	if j.errObj != nil {
		o["error"] = j.errObj
	}
	return o
}

// finish moves j to its final status.
func (f *FineTune) finish(j *fakeJob, out FakeOutcome) {
	j.finished = time.Now().Unix()
	switch out.Status {
	case "failed", "cancelled":
		j.status = out.Status
		j.errObj = map[string]any{"code": out.Code, "message": out.Message, "param": nil}
		f.event(j, "error", fmt.Sprintf("Fine-tuning job %s: %s", out.Status, out.Message))
	default:
		j.status = "succeeded"
		j.model = fmt.Sprintf("ft:%s:fake-org:%s:%s", j.Model, j.Suffix, strings.TrimPrefix(j.ID, "ftjob-"))
		for k, v := range j.hyper {
			if v == "auto" {
				j.hyper[k] = map[string]any{"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2}[k]
			}
		}
		f.event(j, "info", "New fine-tuned model created: "+j.model)
		f.event(j, "info", "The job has successfully completed")
	}
}

// step advances j by one retrieval.
func (f *FineTune) step(j *fakeJob) {
	if j.status == "succeeded" || j.status == "failed" || j.status == "cancelled" {
		return
	}
	j.steps++
	if j.steps == 1 {
		if ff := f.file(j.TrainingFile); ff != nil && ff.Examples < f.cfg.MinExamples {
			f.finish(j, FakeOutcome{Status: "failed", Code: "invalid_training_file",
				Message: fmt.Sprintf("Training file %s has %d example(s), but must have at least %d examples", ff.ID, ff.Examples, f.cfg.MinExamples)})
			return
		}
	}
	switch {
	case j.steps >= f.cfg.Steps:
		out := FakeOutcome{}
		if f.cfg.Outcome != nil {
			out = f.cfg.Outcome(j.FakeJob)
		}
		f.finish(j, out)
	case j.steps == 1:
		j.status = "queued"
		f.event(j, "info", "Files validated, moving job to queued state")
	default:
		if j.status != "running" {
			f.event(j, "info", "Fine-tuning job started")
		}
		j.status = "running"
		f.event(j, "info", fmt.Sprintf("Step %d/%d: training loss=0.5", j.steps, f.cfg.Steps))
	}
}

func (f *FineTune) retrieve(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.job(r.PathValue("id"))
	if j == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such fine-tuning job: "+r.PathValue("id"))
		return false
	}
	f.step(j)
	ftJSON(w, http.StatusOK, f.jobObject(j))
	return true
}

func (f *FineTune) list(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	q := r.URL.Query()
	limit := 20
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = l
	}
	meta := map[string]string{}
	for k, v := range q {
		if strings.HasPrefix(k, "metadata[") && strings.HasSuffix(k, "]") {
			meta[k[len("metadata["):len(k)-1]] = v[0]
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var data []any
	started := q.Get("after") == ""
	more := false
	for i := len(f.jobs) - 1; i >= 0; i-- {
		j := f.jobs[i]
		if !started {
			started = j.ID == q.Get("after")
			continue
		}
		match := true
		for k, v := range meta {
			if j.Metadata[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		data = append(data, f.jobObject(j))
	}
	if data == nil {
		data = []any{}
	}
	ftJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
	return true
}

func (f *FineTune) listEvents(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	q := r.URL.Query()
	limit := 20
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = l
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.job(r.PathValue("id"))
	if j == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such fine-tuning job: "+r.PathValue("id"))
		return false
	}
	data := []any{}
	started := q.Get("after") == ""
	more := false
	for i := len(j.events) - 1; i >= 0; i-- {
		e := j.events[i]
		if !started {
			started = e["id"] == q.Get("after")
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		data = append(data, e)
	}
	ftJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
	return true
}

func (f *FineTune) cancel(w http.ResponseWriter, r *http.Request, _ []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.job(r.PathValue("id"))
	if j == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such fine-tuning job: "+r.PathValue("id"))
		return false
	}
	if j.status == "succeeded" || j.status == "failed" || j.status == "cancelled" {
		ftError(w, http.StatusBadRequest, "", "", fmt.Sprintf("Job %s has already completed (%s) and cannot be cancelled", j.ID, j.status))
		return false
	}
	f.finish(j, FakeOutcome{Status: "cancelled", Code: "", Message: "cancelled by the user"})
	ftJSON(w, http.StatusOK, f.jobObject(j))
	return true
}
