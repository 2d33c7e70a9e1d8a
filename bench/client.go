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
	// Unusable counts the choices the server returned without content
	// (no message, or "content": null); they are not in Choices.
	Unusable int
	// RateLimit is what the answer's x-ratelimit-* headers said.
	RateLimit RateLimit
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
	RetryAfter time.Duration // from retry-after-ms or Retry-After; 0 when absent
	RateLimit  RateLimit     // from the x-ratelimit-* headers
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
// bad credentials, no permission, unknown model or endpoint, a redirect
// (which is never followed).
func Fatal(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return false
	}
	return api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden || api.Status == http.StatusNotFound ||
		api.Status >= 300 && api.Status < 400
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

// OpenAIClient is a Client for OpenAI-compatible chat-completion
// endpoints.
//
// Why it writes requests and reads replies itself rather than through
// go-openai: it must send temperature 0 (go-openai's omitempty drops it),
// tell a null content from an empty one (go-openai decodes both as ""),
// classify every failure once, and bound the size of replies.
//
// Every text it returns (completions, error messages) has the API key and
// the userinfo of the base URL redacted: a server may echo them back.
type OpenAIClient struct {
	url     string // BaseURL + /chat/completions
	key     string
	hc      *http.Client
	timeout time.Duration
	redact  *Redactor
}

// NewOpenAIClient returns a client for cfg.
func NewOpenAIClient(cfg OpenAIConfig) *OpenAIClient {
	hc := &http.Client{Transport: NewTransport(64)}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // the transport and its connections are shared
		hc = &c
	}
	hc.CheckRedirect = refuseRedirect
	return &OpenAIClient{url: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions", key: cfg.APIKey, hc: hc, timeout: cfg.Timeout,
		redact: NewRedactor([]string{cfg.APIKey}, []string{cfg.BaseURL})}
}

// refuseRedirect makes an http.Client return a redirect instead of
// following it: the API key must never reach another URL (net/http keeps
// the Authorization header on a redirect to the same host at another
// port), and an answer must come from base_url, since that is what is
// recorded.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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

// chatRequest is the JSON body of a chat-completion request. Unset
// optional fields are left out, so that the server's defaults apply.
type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"` // 0 is sent
	TopP        *float64      `json:"top_p,omitempty"`
	MaxTokens   *int          `json:"max_tokens,omitempty"`
	N           int           `json:"n,omitempty"` // left out for one choice: some servers reject an explicit n
	Seed        *int64        `json:"seed,omitempty"`
	LogProbs    bool          `json:"logprobs,omitempty"`
	TopLogProbs int           `json:"top_logprobs,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatReply is the part of a chat-completion reply the client reads.
// Pointers tell a missing or null member from a zero one.
type chatReply struct {
	Choices []struct {
		Message *struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
		LogProbs     *struct {
			Content []struct {
				Token   string  `json:"token"`
				LogProb float64 `json:"logprob"`
				Top     []struct {
					Token   string  `json:"token"`
					LogProb float64 `json:"logprob"`
				} `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// Complete sends one attempt of req.
func (c *OpenAIClient) Complete(ctx context.Context, req Request) (*Response, error) {
	body, err := json.Marshal(wireRequest(req))
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	start := time.Now()
	var reply chatReply
	var hdr http.Header
	err = c.send(ctx, body, &reply, &hdr)
	latency := time.Since(start)
	if err != nil {
		return nil, err
	}
	resp, err := reply.response(latency, c.redact)
	if resp != nil {
		resp.RateLimit = ParseRateLimit(hdr)
	}
	return resp, err
}

// wireRequest maps req onto the JSON body, leaving out what go-openai
// left out (zero top_p and max_tokens, n of one) so that servers see the
// same requests as before.
func wireRequest(req Request) chatRequest {
	w := chatRequest{Model: req.Model, Temperature: req.Temperature, Seed: req.Seed, LogProbs: req.LogProbs, TopLogProbs: req.TopLogProbs}
	if req.N > 1 {
		w.N = req.N
	}
	if req.TopP != nil && *req.TopP != 0 {
		w.TopP = req.TopP
	}
	if req.MaxTokens != nil && *req.MaxTokens != 0 {
		w.MaxTokens = req.MaxTokens
	}
	w.Messages = make([]chatMessage, len(req.Messages))
	for i, m := range req.Messages {
		w.Messages[i] = chatMessage(m)
	}
	return w
}

// response turns a decoded reply into a Response. A choice without
// content (no message, or "content": null, as with a refusal) is not an
// answer: it is left out and counted in Response.Unusable, and a reply
// with no usable choice at all is malformed, so that it is retried and,
// past the retry budget, stored as a failed sample, never scored.
func (r *chatReply) response(latency time.Duration, redact *Redactor) (*Response, error) {
	if len(r.Choices) == 0 {
		return nil, fmt.Errorf("%w: no choices in reply", ErrMalformed)
	}
	out := &Response{
		PromptTokens:     r.Usage.PromptTokens,
		CompletionTokens: r.Usage.CompletionTokens,
		Latency:          latency,
		Attempts:         1,
		Choices:          make([]Choice, 0, len(r.Choices)),
	}
	var why string
	for i, ch := range r.Choices {
		if ch.Message == nil || ch.Message.Content == nil {
			out.Unusable++
			if why == "" {
				why = noContent(i, ch.Message == nil, ch.FinishReason)
				if ch.Message != nil && ch.Message.Refusal != nil {
					why += fmt.Sprintf(" (refusal: %s)", excerpt([]byte(redact.String(*ch.Message.Refusal))))
				}
			}
			continue
		}
		c := Choice{Text: redact.String(*ch.Message.Content), FinishReason: ch.FinishReason}
		if ch.LogProbs != nil {
			for _, lp := range ch.LogProbs.Content {
				t := TokenLogProb{Token: lp.Token, LogProb: lp.LogProb}
				for _, top := range lp.Top {
					t.Top = append(t.Top, TopLogProb{Token: top.Token, LogProb: top.LogProb})
				}
				c.LogProbs = append(c.LogProbs, t)
			}
		}
		out.Choices = append(out.Choices, c)
	}
	if len(out.Choices) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	return out, nil
}

// noContent describes choice i of a reply that has no content.
func noContent(i int, noMessage bool, finish string) string {
	what := "null content"
	if noMessage {
		what = "no message"
	}
	msg := fmt.Sprintf("choice %d has %s", i, what)
	if finish != "" {
		msg += ", finish_reason " + strconv.Quote(finish)
	}
	return msg
}

// send posts body and decodes a successful reply into v, classifying
// every failure: transport failures as ErrConnection, expired attempts as
// ErrTimeout, HTTP errors as *APIError, broken or oversized replies as
// ErrMalformed. An interruption (ctx cancelled by the caller) is returned
// as ctx's error. hdr, when not nil, is set to a successful answer's
// headers.
func (c *OpenAIClient) send(ctx context.Context, body []byte, v any, hdr *http.Header) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if loc == "" {
			loc = "(no Location header)"
		}
		return &APIError{Status: resp.StatusCode,
			Message: fmt.Sprintf("redirect to %s not followed (the API key is never sent to another URL): set base_url to the URL that answers", c.redact.URL(loc))}
	}
	if resp.StatusCode >= 400 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil && ctx.Err() != nil {
			return c.transportError(ctx, ctx.Err())
		}
		return &APIError{Status: resp.StatusCode, Message: errorMessage([]byte(c.redact.String(string(data)))),
			RetryAfter: serverRetryAfter(resp.Header, time.Now()), RateLimit: ParseRateLimit(resp.Header)}
	}
	if hdr != nil {
		*hdr = resp.Header
	}
	// The reply is decoded straight from the connection. (Closing the
	// body before EOF is fine: net/http drains a small remainder and
	// reuses the connection.)
	if err := json.NewDecoder(&replyBody{body: resp.Body}).Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case ctx.Err() != nil:
			return c.transportError(ctx, err)
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrConnection):
			return err // from replyBody: no server text in it
		case errors.As(err, &se), errors.As(err, &te), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return fmt.Errorf("%w: %s", ErrMalformed, c.redact.String(err.Error()))
		}
		return fmt.Errorf("%w: decode reply: %s", ErrMalformed, c.redact.String(err.Error()))
	}
	return nil
}

// transportError classifies a failure to get or read a reply: an attempt
// whose own timeout expired is ErrTimeout, an interruption by the
// caller's ctx is returned as ctx's error, anything else is ErrConnection.
// The text of err names the URL, with its userinfo: it is redacted.
func (c *OpenAIClient) transportError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s", ErrTimeout, c.redact.String(err.Error()))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%w: %s", ErrConnection, c.redact.String(err.Error()))
}

// replyBody is the body of a successful reply as the decoder reads it: it
// bounds its size and turns read failures into ErrConnection.
type replyBody struct {
	body io.Reader
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
	}
	return n, fmt.Errorf("%w: reading reply: %v", ErrConnection, err)
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
		switch {
		case !(secs > 0): // also NaN
			return 0
		case secs > maxReset.Seconds(): // also +Inf, which would overflow
			return maxReset
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
