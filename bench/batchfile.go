package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Batch input and output files: JSON Lines, one request or answer a line,
// in the format of OpenAI's Batch API, which `vllm run-batch` reads and
// writes too.
//
// An input line is
//
//	{"custom_id": KEY, "method": "POST", "url": "/v1/chat/completions", "body": REQUEST}
//
// where REQUEST is the chat-completion body the online client sends for
// the same job (wireRequest: the same model, messages, temperature, seed
// and n) and KEY is the sample key of the job's first draw. A job covers
// up to n consecutive draws of one prompt (Job), and the batch body keeps
// OpenAI's n: the Batch API takes the chat-completions body as it is, n
// included, and answers with n choices in one output line, as vLLM's
// run-batch does; choice i is draw First+i. Sending one line per draw
// instead would send n times the prompt tokens (batches are billed by
// token) and change the requests, and so the samples a seeded server
// returns, from those of an online run. A line whose answer has fewer
// choices than asked (a server that ignores n) stores the missing draws
// as failed, so that --resubmit-failed sends them again.

// BatchURL is the endpoint of every input line.
const BatchURL = "/v1/chat/completions"

// BatchRequestLine is one line of a batch input file.
type BatchRequestLine struct {
	CustomID string      `json:"custom_id"`
	Method   string      `json:"method"`
	URL      string      `json:"url"`
	Body     chatRequest `json:"body"`
}

// BatchOutputLine is one line of a batch output or error file. go-openai
// has no type for it. Exactly one of Response and Error is normally set:
// Response for a request that was sent (its HTTP status and body, an
// error body for a status other than 2xx), Error for one that was not
// (batch_expired, batch_cancelled, or a line the provider could not
// read).
type BatchOutputLine struct {
	// ID is the provider's id of the request (batch_req_…, vllm-…).
	ID string `json:"id"`
	// CustomID is the input line's custom_id.
	CustomID string             `json:"custom_id"`
	Response *BatchLineResponse `json:"response"`
	Error    *BatchLineError    `json:"error"`
}

// BatchLineResponse is the HTTP answer to one request of a batch.
type BatchLineResponse struct {
	StatusCode int             `json:"status_code"`
	RequestID  string          `json:"request_id"`
	Body       json.RawMessage `json:"body"`
}

// BatchLineError is why a request of a batch has no answer.
type BatchLineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ParseBatchOutputLine decodes one line of an output or error file. It
// fails on a line that is not a JSON object, has no custom_id, or has
// neither a response nor an error.
func ParseBatchOutputLine(line []byte) (BatchOutputLine, error) {
	var l BatchOutputLine
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&l); err != nil {
		return BatchOutputLine{}, fmt.Errorf("%w: batch output line: %v", ErrMalformed, err)
	}
	if dec.More() {
		return BatchOutputLine{}, fmt.Errorf("%w: batch output line: data after the JSON object", ErrMalformed)
	}
	switch {
	case l.CustomID == "":
		return BatchOutputLine{}, fmt.Errorf("%w: batch output line without custom_id", ErrMalformed)
	case l.Response == nil && l.Error == nil:
		return BatchOutputLine{}, fmt.Errorf("%w: batch output line %s has neither response nor error", ErrMalformed, l.CustomID)
	}
	return l, nil
}

// Err returns why the line holds no usable answer, or nil for a 2xx
// response: an *APIError for another status (with the error body's
// message), a *BatchLineFailure for an error object.
func (l BatchOutputLine) Err() error {
	if l.Response != nil && (l.Error == nil || l.Error.Code == "" && l.Error.Message == "") {
		if l.Response.StatusCode >= 200 && l.Response.StatusCode < 300 {
			return nil
		}
		return &APIError{Status: l.Response.StatusCode, Message: errorMessage(l.Response.Body)}
	}
	if l.Error == nil {
		return &BatchLineFailure{Code: "no_response"}
	}
	return &BatchLineFailure{Code: l.Error.Code, Message: l.Error.Message}
}

// BatchLineFailure is a request of a batch that got no answer: expired,
// cancelled, failed with the batch, or refused by the provider.
type BatchLineFailure struct {
	Code    string // batch_expired, batch_cancelled, batch_failed, ...
	Message string
}

// Error formats the provider's code and message.
func (e *BatchLineFailure) Error() string {
	if e.Message == "" {
		return "batch request " + e.Code
	}
	return fmt.Sprintf("batch request %s: %s", e.Code, e.Message)
}

// BatchLimits bound one input file. The zero value means OpenAI's limits
// (DefaultBatchLimits).
type BatchLimits struct {
	MaxLines int   // requests per file
	MaxBytes int64 // bytes per file, newlines included
}

// DefaultBatchLimits are OpenAI's: 50,000 requests and 200 MB per file
// (200,000,000 bytes, the smaller reading of "MB").
func DefaultBatchLimits() BatchLimits { return BatchLimits{MaxLines: 50000, MaxBytes: 200_000_000} }

func (l BatchLimits) withDefaults() BatchLimits {
	d := DefaultBatchLimits()
	if l.MaxLines <= 0 {
		l.MaxLines = d.MaxLines
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	return l
}

// ErrBatchLimit is an input line larger than a file may be. It wraps
// ErrConfig.
var ErrBatchLimit = fmt.Errorf("%w: batch file limit", ErrConfig)

// batchLine encodes the input line of req for the job whose first draw has
// key customID, with its newline.
func batchLine(customID string, req Request) []byte {
	b, _ := json.Marshal(BatchRequestLine{CustomID: customID, Method: http.MethodPost, URL: BatchURL, Body: wireRequest(req)}) // plain data
	return append(b, '\n')
}

// splitLines cuts lines (each ending in a newline) into consecutive files
// within limits, returning the end index of each file. A line that alone
// exceeds MaxBytes is an ErrBatchLimit error naming it by what.
func splitLines(sizes []int, limits BatchLimits, what func(i int) string) ([]int, error) {
	limits = limits.withDefaults()
	var ends []int
	lines, bytes := 0, int64(0)
	for i, n := range sizes {
		if int64(n) > limits.MaxBytes {
			return nil, fmt.Errorf("%w: the request for %s is %d bytes, more than a batch file may hold (%d bytes)", ErrBatchLimit, what(i), n, limits.MaxBytes)
		}
		if lines > 0 && (lines+1 > limits.MaxLines || bytes+int64(n) > limits.MaxBytes) {
			ends = append(ends, i)
			lines, bytes = 0, 0
		}
		lines++
		bytes += int64(n)
	}
	if lines > 0 {
		ends = append(ends, len(sizes))
	}
	return ends, nil
}

// errNoAnswer is a line of an input file that its batch's output and
// error files do not mention.
var errNoAnswer = errors.New("no answer in the batch's output or error file")
