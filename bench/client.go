package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Message is one chat message.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Request is one chat-completion request.
type Request struct {
	Model       string
	Messages    []Message
	Temperature *float64 // nil: server default; 0 is sent as 0
	TopP        *float64 // nil: server default
	MaxTokens   *int     // nil: server default
	N           int      // choices; 0 or 1 asks for one
	Seed        *int64   // nil: no seed sent
	LogProbs    bool
	TopLogProbs int // 0..20, with LogProbs
}

// Choice is one returned completion.
type Choice struct {
	Text         string
	FinishReason string
	LogProbs     []TokenLogProb // nil unless requested and returned
}

// TokenLogProb is the log probability of one generated token and of the
// most likely alternatives at its position.
type TokenLogProb struct {
	Token   string
	LogProb float64
	Top     []TopLogProb
}

// TopLogProb is one alternative token at a position.
type TopLogProb struct {
	Token   string
	LogProb float64
}

// Response is a successful chat completion.
type Response struct {
	Choices          []Choice
	PromptTokens     int
	CompletionTokens int
	// Latency is the duration of the successful attempt.
	Latency time.Duration
	// Attempts counts HTTP attempts, retries included (set by WithRetry).
	Attempts int
}

// Client sends chat-completion requests. Implementations must be safe for
// concurrent use.
type Client interface {
	Complete(ctx context.Context, req Request) (*Response, error)
}

// ClientFunc adapts a function to the Client interface.
type ClientFunc func(ctx context.Context, req Request) (*Response, error)

// Complete calls f.
func (f ClientFunc) Complete(ctx context.Context, req Request) (*Response, error) { return f(ctx, req) }

// Errors of a request, classified once here so that retry policy and
// reports use errors.Is and errors.As, never string matching.
var (
	// ErrRateLimited is an HTTP 429 answer (matched by errors.Is on an *APIError).
	ErrRateLimited = errors.New("rate limited")
	// ErrTimeout is a request that exceeded its timeout.
	ErrTimeout = errors.New("request timed out")
	// ErrConnection is a transport failure: refused, reset, closed early.
	ErrConnection = errors.New("connection error")
	// ErrMalformed is a reply that is not the JSON the API promises: broken
	// JSON, a missing or empty choices list.
	ErrMalformed = errors.New("malformed response")
)

// APIError is an HTTP error answer from the server.
type APIError struct {
	Status     int
	Message    string        // the server's error.message, or a body excerpt
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
}

// Error formats the status and message.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
}

// Is makes errors.Is(err, ErrRateLimited) true for HTTP 429.
func (e *APIError) Is(target error) bool {
	return target == ErrRateLimited && e.Status == http.StatusTooManyRequests
}

// Retryable reports whether err is worth retrying: rate limits, server
// errors, timeouts, connection errors and malformed replies.
func Retryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Status == http.StatusTooManyRequests || api.Status == http.StatusRequestTimeout || api.Status >= 500
	}
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) || errors.Is(err, ErrMalformed)
}

// Fatal reports whether err means no request to this model can succeed:
// bad credentials, no permission, unknown model or endpoint.
func Fatal(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return false
	}
	return api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden || api.Status == http.StatusNotFound
}

// Status returns the HTTP status of err, or 0.
func Status(err error) int {
	var api *APIError
	if errors.As(err, &api) {
		return api.Status
	}
	return 0
}

// maxBody bounds a reply body; larger replies are malformed.
const maxBody = 32 << 20

// OpenAIConfig configures an OpenAI-compatible client.
type OpenAIConfig struct {
	// BaseURL is the API root, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token when non-empty. Never logged.
	APIKey string
	// HTTPClient sends the requests; nil means a client from NewTransport.
	HTTPClient *http.Client
	// Timeout bounds one attempt; 0 means no bound beyond ctx.
	Timeout time.Duration
}

// OpenAIClient is a Client for OpenAI-compatible chat-completion endpoints,
// built on github.com/sashabaranov/go-openai with its own HTTP doer that
// classifies errors, keeps Retry-After, rejects malformed JSON and sends
// temperature 0 (which go-openai's omitempty would drop).
type OpenAIClient struct {
	api     *openai.Client
	timeout time.Duration
}

// NewOpenAIClient returns a client for cfg.
func NewOpenAIClient(cfg OpenAIConfig) *OpenAIClient {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(64)}
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.HTTPClient = &doer{hc: hc}
	return &OpenAIClient{api: openai.NewClientWithConfig(oc), timeout: cfg.Timeout}
}

// NewTransport returns an HTTP transport that keeps up to conns idle
// connections per host (net/http's default of 2 would reconnect on almost
// every request at high concurrency).
func NewTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(conns*2, 100)
	t.MaxIdleConnsPerHost = max(conns, 2)
	t.IdleConnTimeout = 90 * time.Second
	return t
}

type bodyPatchKey struct{}

// Complete sends one attempt of req.
func (c *OpenAIClient) Complete(ctx context.Context, req Request) (*Response, error) {
	or := openai.ChatCompletionRequest{Model: req.Model, N: req.N, LogProbs: req.LogProbs, TopLogProbs: req.TopLogProbs}
	if req.N <= 1 {
		or.N = 0 // server default: one choice; some servers reject an explicit n
	}
	for _, m := range req.Messages {
		or.Messages = append(or.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	var patch []string
	if req.Temperature != nil {
		or.Temperature = float32(*req.Temperature)
		if *req.Temperature == 0 {
			patch = append(patch, `"temperature":0`)
		}
	}
	if req.TopP != nil {
		or.TopP = float32(*req.TopP)
	}
	if req.MaxTokens != nil {
		or.MaxTokens = *req.MaxTokens
	}
	if req.Seed != nil {
		s := int(*req.Seed)
		or.Seed = &s
	}
	if len(patch) > 0 {
		ctx = context.WithValue(ctx, bodyPatchKey{}, patch)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	start := time.Now()
	resp, err := c.api.CreateChatCompletion(ctx, or)
	latency := time.Since(start)
	if err != nil {
		return nil, classify(ctx, err)
	}
	if len(resp.Choices) == 0 {
		return nil, fmt.Errorf("%w: no choices in reply", ErrMalformed)
	}
	out := &Response{
		PromptTokens:     resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens,
		Latency:          latency,
		Attempts:         1,
		Choices:          make([]Choice, len(resp.Choices)),
	}
	for i, ch := range resp.Choices {
		c := Choice{Text: ch.Message.Content, FinishReason: string(ch.FinishReason)}
		if ch.LogProbs != nil {
			for _, lp := range ch.LogProbs.Content {
				t := TokenLogProb{Token: lp.Token, LogProb: lp.LogProb}
				for _, top := range lp.TopLogProbs {
					t.Top = append(t.Top, TopLogProb{Token: top.Token, LogProb: top.LogProb})
				}
				c.LogProbs = append(c.LogProbs, t)
			}
		}
		out.Choices[i] = c
	}
	return out, nil
}

// classify maps errors from go-openai and the transport onto the error
// vocabulary of this package.
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

// doer is the HTTP layer under go-openai: it patches request bodies,
// classifies transport and HTTP errors, and hands successful replies to
// go-openai's decoder as a size-bounded stream.
type doer struct{ hc *http.Client }

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	if patch, ok := req.Context().Value(bodyPatchKey{}).([]string); ok && req.Body != nil {
		if err := patchBody(req, patch); err != nil {
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
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil && req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, &APIError{Status: resp.StatusCode, Message: errorMessage(body), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	// go-openai decodes the reply straight from the connection; broken
	// JSON surfaces as a decode error, which classify maps to ErrMalformed.
	resp.Body = &replyBody{body: resp.Body, ctx: req.Context()}
	return resp, nil
}

// replyBody is the body of a successful reply as go-openai reads it: it
// bounds its size and turns read failures into ErrConnection. (Closing it
// before EOF is fine: net/http drains a small remainder and reuses the
// connection.)
type replyBody struct {
	body io.ReadCloser
	ctx  context.Context
	n    int64
}

func (b *replyBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case b.n > maxBody:
		return n, fmt.Errorf("%w: reply larger than %d bytes", ErrMalformed, maxBody)
	case err == nil, err == io.EOF:
		return n, err
	case b.ctx.Err() != nil:
		return n, b.ctx.Err()
	}
	return n, fmt.Errorf("%w: reading reply: %v", ErrConnection, err)
}

func (b *replyBody) Close() error { return b.body.Close() }

// patchBody inserts JSON members (e.g. "temperature":0) at the start of
// the request's JSON object.
func patchBody(req *http.Request, members []string) error {
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("patch request body: not a JSON object")
	}
	sep := ","
	if bytes.HasPrefix(bytes.TrimSpace(b[1:]), []byte("}")) {
		sep = ""
	}
	out := make([]byte, 0, len(b)+64)
	out = append(out, '{')
	out = append(out, strings.Join(members, ",")...)
	out = append(out, sep...)
	out = append(out, b[1:]...)
	req.Body = io.NopCloser(bytes.NewReader(out))
	req.ContentLength = int64(len(out))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	return nil
}

// errorMessage extracts error.message from an OpenAI-shaped error body,
// or returns an excerpt of the body.
func errorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	return excerpt(body)
}

func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
