package benchtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
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

// BatchConfig scripts a fake of OpenAI's Batch API over the chat models of
// Chat:
//
//	POST /v1/chat/completions        online requests, answered by Chat's models
//	POST /v1/files                   multipart upload (purpose batch)
//	GET  /v1/files, /v1/files/{id}
//	GET  /v1/files/{id}/content      an input, output or error file
//	POST /v1/batches                 create (input_file_id, endpoint, metadata)
//	GET  /v1/batches                 list, newest first (limit, after)
//	GET  /v1/batches/{id}            retrieve: each call moves the batch one step
//	POST /v1/batches/{id}/cancel
//
// A batch is validating at creation, in_progress after one retrieval,
// finalizing after Steps-1, and final after Steps. At the final step each
// line's body is answered by the chat handler, exactly as an online
// request with that body is, and the answers are written to the output
// file in an order that is not the input's (sorted by a hash of
// custom_id), as OpenAI does not keep it either; failed lines go to an
// error file.
type BatchConfig struct {
	// Chat configures the models that answer. Each batch line is one call
	// of the chat handler, so Record, Faults and OnRequest see batch lines
	// as they see online requests.
	Chat Config
	// Steps is the number of retrievals from creation to the final
	// status; 0 means 3.
	Steps int
	// InOrder writes output lines in input order instead of shuffled.
	InOrder bool
	// Expire, when set, leaves the lines it picks unanswered: the batch
	// ends expired, the other lines answered in the output file and these
	// in the error file with code batch_expired, as OpenAI does when the
	// completion window passes.
	Expire func(customID string) bool
	// ErrorLine, when set, answers the lines it picks (status non-zero)
	// with that HTTP status and message, written to the error file.
	ErrorLine func(customID string) (status int, message string)
	// Fail, when set, fails every batch at validation with this message.
	Fail string
	// NoBatchAPI answers 404 on /v1/batches, as a server without the
	// Batch API (vLLM's, llama.cpp's, Ollama's) does.
	NoBatchAPI bool
	// MaxLines fails a batch of more lines at validation; 0 means 50,000.
	MaxLines int
	// LoseCreate stores the first LoseCreate batches created but answers
	// their creation with a 500, as when the reply is lost.
	LoseCreate int
	// OnCreate, when set, is called after a batch is created and before
	// the reply is sent, with the number of batches created so far.
	OnCreate func(created int)
	// APIKey, when set, is required as the bearer token (401 otherwise).
	APIKey string
	// Hold, when set and true, keeps batches in progress: retrievals do
	// not move them on.
	Hold func() bool
}

// BatchServer is a running fake of the Batch API.
type BatchServer struct {
	*httptest.Server
	cfg  BatchConfig
	chat *Server

	mu        sync.Mutex
	files     []*batchFile
	batches   []*fakeBatch
	counts    map[string]int
	lostSoFar int
}

type batchFile struct {
	ID, Name, Purpose string
	Data              []byte
	Created           int64
}

type fakeBatch struct {
	ID, InputFile, Status  string
	OutputFile, ErrorFile  string
	Metadata               map[string]any
	Created                int64
	steps                  int
	errors                 []map[string]any
	total, completed, fail int
}

// NewBatchServer starts a fake Batch API on loopback and closes it when
// the test ends.
func NewBatchServer(t testing.TB, cfg BatchConfig) *BatchServer {
	t.Helper()
	if cfg.Steps <= 0 {
		cfg.Steps = 3
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = 50000
	}
	s := &BatchServer{cfg: cfg, chat: newServer(cfg.Chat), counts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.route("chat", s.chat.chat))
	mux.HandleFunc("POST /v1/files", s.route("upload", s.upload))
	mux.HandleFunc("GET /v1/files", s.route("files", s.listFiles))
	mux.HandleFunc("GET /v1/files/{id}", s.route("file", s.getFile))
	mux.HandleFunc("GET /v1/files/{id}/content", s.route("content", s.content))
	mux.HandleFunc("POST /v1/batches", s.route("create", s.create))
	mux.HandleFunc("GET /v1/batches", s.route("list", s.list))
	mux.HandleFunc("GET /v1/batches/{id}", s.route("retrieve", s.retrieve))
	mux.HandleFunc("POST /v1/batches/{id}/cancel", s.route("cancel", s.cancel))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// BaseURL returns the API root, ending in /v1.
func (s *BatchServer) BaseURL() string { return s.URL + "/v1" }

// Count returns how many requests reached a route: "chat", "upload",
// "files", "file", "content", "create", "list", "retrieve" or "cancel".
func (s *BatchServer) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[route]
}

// Batches returns how many batches exist.
func (s *BatchServer) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// Lines returns the input lines of every batch, in creation order.
func (s *BatchServer) Lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, b := range s.batches {
		if f := s.file(b.InputFile); f != nil {
			out = append(out, splitJSONL(f.Data)...)
		}
	}
	return out
}

func (s *BatchServer) route(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[name]++
		s.mu.Unlock()
		if s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
			ftError(w, http.StatusUnauthorized, "invalid_api_key", "", "Incorrect API key provided")
			return
		}
		if s.cfg.NoBatchAPI && strings.HasPrefix(r.URL.Path, "/v1/batches") {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}
}

func splitJSONL(data []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func (s *BatchServer) file(id string) *batchFile {
	for _, f := range s.files {
		if f.ID == id {
			return f
		}
	}
	return nil
}

func (s *BatchServer) addFile(name, purpose string, data []byte) *batchFile {
	f := &batchFile{ID: fmt.Sprintf("file-batch%04d", len(s.files)+1), Name: name, Purpose: purpose, Data: data, Created: time.Now().Unix()}
	s.files = append(s.files, f)
	return f
}

func batchFileObject(f *batchFile) map[string]any {
	return map[string]any{"id": f.ID, "object": "file", "bytes": len(f.Data), "created_at": f.Created, "filename": f.Name,
		"purpose": f.Purpose, "status": "processed", "status_details": nil}
}

func (s *BatchServer) upload(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		ftError(w, http.StatusBadRequest, "", "file", "expected a multipart/form-data body: "+err.Error())
		return
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
			return
		}
		b, _ := io.ReadAll(p)
		switch p.FormName() {
		case "purpose":
			purpose = string(b)
		case "file":
			name, data = p.FileName(), b
		}
	}
	if purpose != "batch" {
		ftError(w, http.StatusBadRequest, "", "purpose", fmt.Sprintf("'%s' is not a purpose this fake takes (batch)", purpose))
		return
	}
	s.mu.Lock()
	f := s.addFile(name, purpose, data)
	s.mu.Unlock()
	ftJSON(w, http.StatusOK, batchFileObject(f))
}

func (s *BatchServer) listFiles(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	data := []any{}
	for i := len(s.files) - 1; i >= 0; i-- {
		data = append(data, batchFileObject(s.files[i]))
	}
	s.mu.Unlock()
	ftJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}

func (s *BatchServer) getFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.file(r.PathValue("id"))
	s.mu.Unlock()
	if f == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such File object: "+r.PathValue("id"))
		return
	}
	ftJSON(w, http.StatusOK, batchFileObject(f))
}

func (s *BatchServer) content(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.file(r.PathValue("id"))
	s.mu.Unlock()
	if f == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such File object: "+r.PathValue("id"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(f.Data)
}

func (s *BatchServer) batchObject(b *fakeBatch) map[string]any {
	obj := map[string]any{"id": b.ID, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": b.InputFile,
		"completion_window": "24h", "status": b.Status, "output_file_id": nil, "error_file_id": nil, "created_at": b.Created,
		"request_counts": map[string]int{"total": b.total, "completed": b.completed, "failed": b.fail}, "metadata": b.Metadata, "errors": nil}
	if b.OutputFile != "" {
		obj["output_file_id"] = b.OutputFile
	}
	if b.ErrorFile != "" {
		obj["error_file_id"] = b.ErrorFile
	}
	if len(b.errors) > 0 {
		obj["errors"] = map[string]any{"object": "list", "data": b.errors}
	}
	return obj
}

func (s *BatchServer) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		InputFileID      string         `json:"input_file_id"`
		Endpoint         string         `json:"endpoint"`
		CompletionWindow string         `json:"completion_window"`
		Metadata         map[string]any `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		ftError(w, http.StatusBadRequest, "", "", "malformed JSON: "+err.Error())
		return
	}
	if req.Endpoint != "/v1/chat/completions" || req.CompletionWindow != "24h" {
		ftError(w, http.StatusBadRequest, "", "endpoint", fmt.Sprintf("endpoint %q with window %q: this fake takes /v1/chat/completions and 24h", req.Endpoint, req.CompletionWindow))
		return
	}
	s.mu.Lock()
	f := s.file(req.InputFileID)
	if f == nil || f.Purpose != "batch" {
		s.mu.Unlock()
		ftError(w, http.StatusBadRequest, "", "input_file_id", "No batch input file "+req.InputFileID)
		return
	}
	b := &fakeBatch{ID: fmt.Sprintf("batch_fake%04d", len(s.batches)+1), InputFile: f.ID, Status: "validating", Metadata: req.Metadata,
		Created: time.Now().Unix(), total: len(splitJSONL(f.Data))}
	s.batches = append(s.batches, b)
	created := len(s.batches)
	lose := s.lostSoFar < s.cfg.LoseCreate
	if lose {
		s.lostSoFar++
	}
	obj := s.batchObject(b)
	s.mu.Unlock()
	if s.cfg.OnCreate != nil {
		s.cfg.OnCreate(created)
	}
	if lose {
		ftError(w, http.StatusInternalServerError, "", "", "injected: the batch was created but the reply is lost")
		return
	}
	ftJSON(w, http.StatusOK, obj)
}

func (s *BatchServer) list(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
		limit = v
	}
	after := r.URL.Query().Get("after")
	s.mu.Lock()
	data := []any{}
	started := after == ""
	more := false
	for i := len(s.batches) - 1; i >= 0; i-- {
		b := s.batches[i]
		if !started {
			started = b.ID == after
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		data = append(data, s.batchObject(b))
	}
	s.mu.Unlock()
	ftJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *BatchServer) batch(id string) *fakeBatch {
	for _, b := range s.batches {
		if b.ID == id {
			return b
		}
	}
	return nil
}

func (s *BatchServer) retrieve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b := s.batch(r.PathValue("id"))
	if b == nil {
		s.mu.Unlock()
		ftError(w, http.StatusNotFound, "", "id", "No such Batch object: "+r.PathValue("id"))
		return
	}
	s.step(b)
	obj := s.batchObject(b)
	s.mu.Unlock()
	ftJSON(w, http.StatusOK, obj)
}

func (s *BatchServer) cancel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batch(r.PathValue("id"))
	if b == nil {
		ftError(w, http.StatusNotFound, "", "id", "No such Batch object: "+r.PathValue("id"))
		return
	}
	if b.Status == "validating" || b.Status == "in_progress" || b.Status == "finalizing" {
		b.Status = "cancelling"
	}
	ftJSON(w, http.StatusOK, s.batchObject(b))
}

// step moves a batch one retrieval further; s.mu is held.
func (s *BatchServer) step(b *fakeBatch) {
	switch b.Status {
	case "completed", "failed", "expired", "cancelled":
		return
	case "cancelling":
		s.finish(b, true)
		return
	}
	if s.cfg.Hold != nil && s.cfg.Hold() && b.Status == "in_progress" {
		return
	}
	b.steps++
	switch {
	case b.steps == 1:
		if msgs := s.validate(b); len(msgs) > 0 {
			b.Status, b.errors = "failed", msgs
			return
		}
		b.Status = "in_progress"
	case b.steps < s.cfg.Steps:
		b.Status = "finalizing"
	default:
		s.finish(b, false)
	}
}

// validate checks a batch's input file as OpenAI does before running it.
func (s *BatchServer) validate(b *fakeBatch) []map[string]any {
	if s.cfg.Fail != "" {
		return []map[string]any{{"code": "invalid_request", "message": s.cfg.Fail}}
	}
	f := s.file(b.InputFile)
	lines := splitJSONL(f.Data)
	if len(lines) > s.cfg.MaxLines {
		return []map[string]any{{"code": "too_many_requests", "message": fmt.Sprintf("The batch input file has %d requests, more than the %d allowed.", len(lines), s.cfg.MaxLines)}}
	}
	seen := map[string]bool{}
	for i, l := range lines {
		var in struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(l, &in); err != nil || in.CustomID == "" || in.Method != "POST" || in.URL != "/v1/chat/completions" || len(in.Body) == 0 {
			return []map[string]any{{"code": "invalid_json_line", "message": "This line is not a valid request of the batch's endpoint.", "line": i + 1}}
		}
		if seen[in.CustomID] {
			return []map[string]any{{"code": "duplicate_custom_id", "message": "The custom_id for this request is a duplicate of another request.", "line": i + 1}}
		}
		seen[in.CustomID] = true
	}
	return nil
}

// finish answers a batch's lines and writes its output and error files;
// s.mu is held.
func (s *BatchServer) finish(b *fakeBatch, cancelled bool) {
	f := s.file(b.InputFile)
	type answer struct {
		id   string
		line []byte
	}
	var outs, errs []answer
	expired := false
	for i, l := range splitJSONL(f.Data) {
		var in struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		_ = json.Unmarshal(l, &in) // validated
		reqID := fmt.Sprintf("batch_req_%s_%d", b.ID, i)
		out := map[string]any{"id": reqID, "custom_id": in.CustomID, "response": nil, "error": nil}
		switch {
		case cancelled:
			out["error"] = map[string]any{"code": "batch_cancelled", "message": "This request was not executed because the batch was cancelled."}
		case s.cfg.Expire != nil && s.cfg.Expire(in.CustomID):
			expired = true
			out["error"] = map[string]any{"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}
		default:
			status, msg := 0, ""
			if s.cfg.ErrorLine != nil {
				status, msg = s.cfg.ErrorLine(in.CustomID)
			}
			if status != 0 {
				out["response"] = map[string]any{"status_code": status, "request_id": reqID,
					"body": map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}}}
				break
			}
			rec := httptest.NewRecorder()
			hr := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(in.Body))
			s.chat.chat(rec, hr) // under its own lock, not s.mu
			out["response"] = map[string]any{"status_code": rec.Code, "request_id": reqID, "body": json.RawMessage(bytes.TrimSpace(rec.Body.Bytes()))}
		}
		line, _ := json.Marshal(out)
		a := answer{in.CustomID, line}
		if out["error"] == nil && rec2xx(out) {
			outs = append(outs, a)
		} else {
			errs = append(errs, a)
		}
	}
	if !s.cfg.InOrder {
		// OpenAI does not keep the input's order: neither does the fake.
		key := func(a answer) string { h := sha256.Sum256([]byte(a.id)); return string(h[:]) }
		slices.SortFunc(outs, func(x, y answer) int { return strings.Compare(key(x), key(y)) })
		slices.SortFunc(errs, func(x, y answer) int { return strings.Compare(key(x), key(y)) })
	}
	write := func(as []answer, what string) string {
		if len(as) == 0 {
			return ""
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		for _, a := range as {
			bw.Write(a.line)
			bw.WriteByte('\n')
		}
		bw.Flush()
		return s.addFile(b.ID+"_"+what+".jsonl", "batch_output", buf.Bytes()).ID
	}
	b.OutputFile, b.ErrorFile = write(outs, "output"), write(errs, "error")
	b.completed, b.fail = len(outs), len(errs)
	switch {
	case cancelled:
		b.Status = "cancelled"
	case expired:
		b.Status = "expired"
	default:
		b.Status = "completed"
	}
}

func rec2xx(out map[string]any) bool {
	r, ok := out["response"].(map[string]any)
	if !ok {
		return false
	}
	code, _ := r["status_code"].(int)
	return code >= 200 && code < 300
}
