package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// The Batch API of an OpenAI-compatible provider: input files uploaded to
// /v1/files (purpose batch), batches created, polled and read back from
// /v1/batches, their output and error files downloaded from
// /v1/files/{id}/content.
//
// It reuses the fine-tuning provider's HTTP layer (FineTuner: go-openai
// over ftDoer, which sends the key only to the base URL's host, refuses
// redirects, classifies errors and retries). go-openai has the batch
// calls but no type for the lines of an output file (BatchOutputLine is
// that type) and reads replies into memory with the fine-tuning layer's
// 32 MiB bound, so file contents are streamed to a temporary file here.
//
// Every step is idempotent in the manner of EnsureFile and EnsureJob: the
// input file is found by its content-derived name before it is uploaded,
// and the batch by the identity in its metadata (MetaBatch) before it is
// created, so a restart or a lost reply never submits the same batch
// twice.

// MetaBatch is the metadata key a BatchAPI puts on the batches it creates:
// the batch's identity for EnsureBatch.
const MetaBatch = "traitleak_batch"

// Statuses of a batch, as OpenAI names them. Completed, Failed, Expired
// and Cancelled are final.
const (
	BatchValidating = "validating"
	BatchInProgress = "in_progress"
	BatchFinalizing = "finalizing"
	BatchCompleted  = "completed"
	BatchFailed     = "failed"
	BatchExpired    = "expired"
	BatchCancelling = "cancelling"
	BatchCancelled  = "cancelled"
)

// BatchFinal reports whether status is a final batch status.
func BatchFinal(status string) bool {
	return status == BatchCompleted || status == BatchFailed || status == BatchExpired || status == BatchCancelled
}

// ErrNoBatchAPI is a provider that answers 404 on /v1/batches: it has no
// Batch API (vLLM's server, llama.cpp, Ollama, the lab). It wraps
// ErrConfig.
var ErrNoBatchAPI = fmt.Errorf("%w: the provider has no Batch API", ErrConfig)

// BatchInfo is a batch as the provider reports it.
type BatchInfo struct {
	ID           string
	Status       string
	InputFileID  string
	OutputFileID string // "" until the provider writes one
	ErrorFileID  string // "" when no line failed
	// Errors are the provider's errors of a batch that failed validation,
	// "line N: code: message".
	Errors    []string
	Metadata  map[string]string
	Total     int // requests
	Completed int
	Failed    int
}

// String reports the batch's request counts and errors in one line.
func (b BatchInfo) String() string {
	s := fmt.Sprintf("batch %s %s (%d of %d requests done, %d failed)", b.ID, b.Status, b.Completed, b.Total, b.Failed)
	if len(b.Errors) > 0 {
		s += ": " + strings.Join(b.Errors, "; ")
	}
	return s
}

// BatchConfig configures a BatchAPI.
type BatchConfig struct {
	// BaseURL is the API root, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token, only to BaseURL's host. Never
	// logged or stored.
	APIKey string
	// HTTPClient sends the requests; nil means NewFineTuneHTTPClient().
	// Redirects are never followed.
	HTTPClient *http.Client
	// Timeout bounds one request attempt (an upload or a download); 0
	// means 10 min.
	Timeout time.Duration
	// Retry bounds the retries of each API call; zero means
	// DefaultRetryPolicy().
	Retry RetryPolicy
	// MaxFileBytes bounds a downloaded output or error file; 0 means
	// 4 GiB.
	MaxFileBytes int64
}

// BatchAPI submits and reads batches on one provider. It is safe for
// concurrent use.
type BatchAPI struct {
	ft      *FineTuner
	maxFile int64
}

// NewBatchAPI returns a BatchAPI for cfg. BaseURL must be an absolute
// http or https URL.
func NewBatchAPI(cfg BatchConfig) (*BatchAPI, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ft, err := NewFineTuner(FineTuneConfig{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, HTTPClient: cfg.HTTPClient, Timeout: timeout, Retry: cfg.Retry})
	if err != nil {
		return nil, fmt.Errorf("%w: batch API: base URL %q is not an absolute http(s) URL", ErrConfig, cfg.BaseURL)
	}
	maxFile := cfg.MaxFileBytes
	if maxFile <= 0 {
		maxFile = 4 << 30
	}
	return &BatchAPI{ft: ft, maxFile: maxFile}, nil
}

// Check asks the provider for its latest batch, to find out before
// anything is uploaded whether it has a Batch API: a 404 is
// ErrNoBatchAPI, with a hint.
func (a *BatchAPI) Check(ctx context.Context) error {
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	err := a.ft.call(ctx, "list batches", func(ctx context.Context) error {
		return a.ft.getJSON(ctx, "/batches?limit=1", &list)
	})
	if Status(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %s/batches answered 404 (%v); vLLM's server has no /v1/batches: write the files with --batch-dir and run them with vllm run-batch (see README), or run without --batch",
			ErrNoBatchAPI, a.ft.base, err)
	}
	return err
}

// BatchFileName is the name an input file with the given content key (hex
// SHA-256 of its bytes) is uploaded under: a later run finds the upload by
// it.
func BatchFileName(contentKey string) string {
	if len(contentKey) > 32 {
		contentKey = contentKey[:32]
	}
	return "traitleak-batch-" + contentKey + ".jsonl"
}

// EnsureFile returns the id of an uploaded input file holding data, whose
// hex SHA-256 is contentKey: the recorded file recordedID if the provider
// still has it with the same size, else an earlier upload named
// BatchFileName(contentKey) with the same size, else a new upload
// (purpose batch).
func (a *BatchAPI) EnsureFile(ctx context.Context, data []byte, contentKey, recordedID string) (string, error) {
	name := BatchFileName(contentKey)
	usable := func(of openai.File) bool {
		return of.ID != "" && of.Bytes == len(data) && of.Status != "error" && of.Status != "deleted"
	}
	f := a.ft
	if recordedID != "" {
		var of openai.File
		err := f.call(ctx, "get file "+recordedID, func(ctx context.Context) (err error) {
			of, err = f.api.GetFile(ctx, recordedID)
			return err
		})
		switch {
		case err == nil && usable(of):
			return of.ID, nil
		case err != nil && Status(err) != http.StatusNotFound:
			return "", err
		}
	}
	find := func(ctx context.Context) (string, error) {
		var list openai.FilesList
		err := f.call(ctx, "list files", func(ctx context.Context) (err error) {
			list, err = f.api.ListFiles(ctx)
			return err
		})
		if err != nil {
			return "", err
		}
		for _, of := range list.Files {
			if of.FileName == name && of.Purpose == string(openai.PurposeBatch) && usable(of) {
				return of.ID, nil
			}
		}
		return "", nil
	}
	if id, err := find(ctx); err != nil || id != "" {
		return id, err
	}
	var id string
	err := f.retryLoop(ctx, "upload "+name, func(ctx context.Context, attempt int) (bool, error) {
		if attempt > 1 {
			// The previous attempt may have stored the file before failing.
			found, err := find(ctx)
			if err != nil {
				return false, err
			}
			if found != "" {
				id = found
				return true, nil
			}
		}
		of, err := f.api.CreateFileBytes(ctx, openai.FileBytesRequest{Name: name, Bytes: data, Purpose: openai.PurposeBatch})
		id = of.ID
		return err == nil, err
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("upload %s: %w: no file id in the reply", name, ErrMalformed)
	}
	return id, nil
}

// EnsureBatch returns the batch whose metadata carries identity under
// MetaBatch: the recorded batch recordedID, else one found in the
// provider's list, else a new batch of the chat-completions endpoint on
// input file fileID with a 24 h completion window.
func (a *BatchAPI) EnsureBatch(ctx context.Context, identity, fileID, recordedID string) (BatchInfo, bool, error) {
	if recordedID != "" {
		b, err := a.Batch(ctx, recordedID)
		return b, false, err
	}
	if b, ok, err := a.FindBatch(ctx, identity); err != nil || ok {
		return b, false, err
	}
	if fileID == "" {
		return BatchInfo{}, false, errors.New("create batch: no input file id")
	}
	req := openai.CreateBatchRequest{InputFileID: fileID, Endpoint: openai.BatchEndpointChatCompletions, CompletionWindow: "24h",
		Metadata: map[string]any{MetaBatch: identity}}
	var out BatchInfo
	err := a.ft.retryLoop(ctx, "create batch", func(ctx context.Context, attempt int) (bool, error) {
		if attempt > 1 {
			found, ok, err := a.FindBatch(ctx, identity)
			if err != nil {
				return false, err
			}
			if ok {
				out = found
				return true, nil
			}
		}
		var raw []byte
		if _, err := a.ft.api.CreateBatch(context.WithValue(ctx, ftCaptureKey{}, &raw), req); err != nil {
			return false, err
		}
		b, err := decodeBatch(raw)
		out = b
		return err == nil, err
	})
	return out, err == nil, err
}

// Batch retrieves a batch.
func (a *BatchAPI) Batch(ctx context.Context, id string) (BatchInfo, error) {
	var b BatchInfo
	err := a.ft.call(ctx, "get batch "+id, func(ctx context.Context) error {
		var raw []byte
		if _, err := a.ft.api.RetrieveBatch(context.WithValue(ctx, ftCaptureKey{}, &raw), id); err != nil {
			return err
		}
		var err error
		b, err = decodeBatch(raw)
		return err
	})
	return b, err
}

// FindBatch returns the newest batch whose metadata has MetaBatch =
// identity. OpenAI's list has no metadata filter: it reads up to 100
// pages of 100 batches, newest first.
func (a *BatchAPI) FindBatch(ctx context.Context, identity string) (BatchInfo, bool, error) {
	return findListed(ctx, a.ft, "batches", "/batches", nil, func(raw json.RawMessage) (BatchInfo, string, bool, error) {
		b, err := decodeBatch(raw)
		return b, b.ID, err == nil && b.Metadata[MetaBatch] == identity, err
	})
}

// batchJSON is a batch object as read here: metadata values are strings.
type batchJSON struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	InputFileID  string  `json:"input_file_id"`
	OutputFileID *string `json:"output_file_id"`
	ErrorFileID  *string `json:"error_file_id"`
	Errors       *struct {
		Data []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Line    *int   `json:"line"`
		} `json:"data"`
	} `json:"errors"`
	RequestCounts struct {
		Total     int `json:"total"`
		Completed int `json:"completed"`
		Failed    int `json:"failed"`
	} `json:"request_counts"`
	Metadata map[string]any `json:"metadata"`
}

func decodeBatch(raw []byte) (BatchInfo, error) {
	var j batchJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return BatchInfo{}, fmt.Errorf("%w: batch: %v", ErrMalformed, err)
	}
	if j.ID == "" || j.Status == "" {
		return BatchInfo{}, fmt.Errorf("%w: batch without id or status", ErrMalformed)
	}
	b := BatchInfo{ID: j.ID, Status: j.Status, InputFileID: j.InputFileID, Total: j.RequestCounts.Total,
		Completed: j.RequestCounts.Completed, Failed: j.RequestCounts.Failed, Metadata: map[string]string{}}
	if j.OutputFileID != nil {
		b.OutputFileID = *j.OutputFileID
	}
	if j.ErrorFileID != nil {
		b.ErrorFileID = *j.ErrorFileID
	}
	if j.Errors != nil {
		for _, e := range j.Errors.Data {
			msg := e.Code + ": " + e.Message
			if e.Line != nil {
				msg = fmt.Sprintf("line %d: %s", *e.Line, msg)
			}
			b.Errors = append(b.Errors, msg)
		}
	}
	for k, v := range j.Metadata {
		if s, ok := v.(string); ok {
			b.Metadata[k] = s
		}
	}
	return b, nil
}

// ReadFile downloads a file's content (an output or error file) to a
// temporary file, retrying the whole download on retryable failures, and
// calls line for each of its lines, in order (a final line without a
// newline included, empty lines skipped). An error from line stops the
// reading and is returned.
func (a *BatchAPI) ReadFile(ctx context.Context, id string, line func([]byte) error) error {
	tmp, err := os.CreateTemp("", "traitleak-batch-*.jsonl")
	if err != nil {
		return fmt.Errorf("download file %s: %w", id, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	err = a.ft.call(ctx, "download file "+id, func(ctx context.Context) error {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := tmp.Truncate(0); err != nil {
			return err
		}
		return a.download(ctx, id, tmp)
	})
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read file %s: %w", id, err)
	}
	r := bufio.NewReaderSize(tmp, 1<<20)
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if t := strings.TrimSpace(string(b)); t != "" {
			if lerr := line([]byte(t)); lerr != nil {
				return fmt.Errorf("file %s line %d: %w", id, n, lerr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read file %s: %w", id, err)
		}
	}
}

// download makes one attempt to copy a file's content to w, through the
// provider's HTTP client (the key only to its host, no redirects, HTTP
// errors classified) but with MaxFileBytes for a bound instead of the
// 32 MiB of API replies.
func (a *BatchAPI) download(ctx context.Context, id string, w io.Writer) error {
	req, err := http.NewRequestWithContext(context.WithValue(ctx, ftLimitKey{}, a.maxFile), http.MethodGet,
		a.ft.base+"/files/"+url.PathEscape(id)+"/content", nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if a.ft.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.ft.key)
	}
	resp, err := a.ft.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		if errors.Is(err, ErrMalformed) { // past the bound
			return fmt.Errorf("file %s is larger than %d bytes", id, a.maxFile)
		}
		return fmt.Errorf("reading file %s: %w", id, err)
	}
	return nil
}
