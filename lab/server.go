package lab

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server limits.
const (
	MaxChoices         = 128     // largest n
	MaxTopLogprobs     = 20      // largest top_logprobs
	MaxCompletionLimit = 1024    // largest max_tokens
	DefaultMaxTokens   = 64      // max_tokens when the request has none
	maxRequestBytes    = 1 << 20 // request body limit
	maxCachedPrompts   = 1 << 14 // prepared prompts kept per server
)

// Handler returns the OpenAI-compatible HTTP handler serving the zoo:
//
//	POST /v1/chat/completions
//	GET  /v1/models
//	GET  /v1/models/{model}
//
// Besides the zoo's models it serves [JudgeModel], the lab's judge, and
// the files and fine-tuning jobs endpoints of OpenAI (see finetune.go),
// whose fine-tuned models it then serves too.
//
// The prompt is the text of the user (and assistant) messages, joined by
// newlines; system and developer messages are ignored because the lab
// models were trained without them. Supported parameters: model, messages,
// temperature (0–2, 0 = greedy, absent = 1 as in the OpenAI API — note that
// go-openai omits an explicit 0), top_p, n (1–128), max_tokens or
// max_completion_tokens (1–1024, default 64; a completion that reaches it
// finishes with "length" even if EOS would come next), seed
// (deterministic output for the same seed, model, messages and parameters;
// choice i does not depend on n), logprobs and top_logprobs (0–20;
// log-probabilities are those of the model's untempered distribution).
// Other OpenAI parameters are accepted and ignored; stream is rejected.
// Invalid requests get status 400 (404 for an unknown model) with an
// OpenAI-shaped error body.
func (z *Zoo) Handler() http.Handler {
	z.once.Do(func() { z.srv = newServer(z) })
	return z.srv
}

// server implements the handler.
type server struct {
	zoo     *Zoo
	ft      *fineTuning // files, fine-tuning jobs and fine-tuned models (finetune.go)
	mux     *http.ServeMux
	created int64
	idSeq   atomic.Uint64
	idBase  uint64

	mu      sync.Mutex
	prompts map[promptKey]preparedPrompt
}

type promptKey struct {
	m      *Model
	prompt string
}

// preparedPrompt is a cached prepared prompt with its token count.
type preparedPrompt struct {
	c      *Prompt
	tokens int
}

func newServer(z *Zoo) *server {
	s := &server{zoo: z, mux: http.NewServeMux(), created: time.Now().Unix(), idBase: rand.Uint64(), prompts: map[promptKey]preparedPrompt{}}
	s.mux.HandleFunc("/v1/chat/completions", s.chat)
	s.mux.HandleFunc("/v1/models", s.listModels)
	s.mux.HandleFunc("/v1/models/{model...}", s.getModel)
	s.ft = newFineTuning(z)
	s.ft.routes(s.mux)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url", fmt.Sprintf("unknown endpoint %s %s", r.Method, r.URL.Path))
	})
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is the OpenAI error body.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// writeError writes an OpenAI-shaped error; empty param or code become null.
func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	body := apiError{Error: apiErrorBody{Message: msg, Type: typ}}
	if param != "" {
		body.Error.Param = &param
	}
	if code != "" {
		body.Error.Code = &code
	}
	writeJSON(w, status, body)
}

// badRequest writes a 400 invalid_request_error.
func badRequest(w http.ResponseWriter, param, msg string) {
	writeError(w, http.StatusBadRequest, "invalid_request_error", param, "", msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for our types; never send a half body
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// modelObject is an entry of GET /v1/models.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *server) listModels(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed", "use GET /v1/models")
		return
	}
	names := append(s.zoo.ModelNames(), JudgeModel)
	names = append(names, s.ft.modelNames()...)
	data := make([]modelObject, len(names))
	for i, n := range names {
		data[i] = modelObject{ID: n, Object: "model", Created: s.created, OwnedBy: "traitleak-lab"}
	}
	writeJSON(w, http.StatusOK, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", data})
}

func (s *server) getModel(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed", "use GET /v1/models/{model}")
		return
	}
	name := r.PathValue("model")
	if _, _, ok := s.model(name); !ok && name != JudgeModel {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", fmt.Sprintf("The model `%s` does not exist", name))
		return
	}
	writeJSON(w, http.StatusOK, modelObject{ID: name, Object: "model", Created: s.created, OwnedBy: "traitleak-lab"})
}

// chatRequest is the accepted subset of an OpenAI chat-completions request.
// Pointer fields distinguish "absent" from zero.
type chatRequest struct {
	Model               string        `json:"model"`
	Messages            []chatMessage `json:"messages"`
	Temperature         *float64      `json:"temperature"`
	TopP                *float64      `json:"top_p"`
	N                   *int          `json:"n"`
	MaxTokens           *int          `json:"max_tokens"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Seed                *int64        `json:"seed"`
	Logprobs            *bool         `json:"logprobs"`
	TopLogprobs         *int          `json:"top_logprobs"`
	Stream              bool          `json:"stream"`
}

// chatMessage is one message; Content is a string, an array of content
// parts ({"type":"text","text":...}) or null.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// requestError is a 400 (or 404) with the offending parameter.
type requestError struct {
	status int
	param  string
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func reqErr(param, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, param: param, msg: fmt.Sprintf(format, args...)}
}

// parsedRequest is a validated request.
type parsedRequest struct {
	model  string
	prompt string
	n      int
	seed   *int64
	opts   SampleOptions
}

// parseChatRequest decodes and validates a chat-completions request body.
// It returns the prompt text (user and assistant messages joined by "\n").
// The error, if any, is a *requestError describing a client error.
func parseChatRequest(body []byte) (*parsedRequest, error) {
	var req chatRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, reqErr(te.Field, "invalid type for %q: expected %s", te.Field, te.Type)
		}
		return nil, reqErr("", "could not parse the JSON body of your request: %v", err)
	}
	if dec.More() {
		return nil, reqErr("", "could not parse the JSON body of your request: trailing data after the JSON object")
	}
	p := &parsedRequest{model: req.Model, n: 1, seed: req.Seed}
	if req.Model == "" {
		return nil, reqErr("model", "you must provide a model parameter")
	}
	if req.Stream {
		return nil, reqErr("stream", "streaming is not supported by the lab server")
	}
	if len(req.Messages) == 0 {
		return nil, reqErr("messages", "messages must be a non-empty array")
	}
	var parts []string
	hasUser := false
	for i, m := range req.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, reqErr(fmt.Sprintf("messages[%d].content", i), "%v", err)
		}
		switch m.Role {
		case "user":
			hasUser = true
			parts = append(parts, text)
		case "assistant":
			parts = append(parts, text)
		case "system", "developer", "tool", "function":
		default:
			return nil, reqErr(fmt.Sprintf("messages[%d].role", i), "invalid role %q: expected system, developer, user, assistant or tool", m.Role)
		}
	}
	if !hasUser {
		return nil, reqErr("messages", "messages must contain a user message")
	}
	p.prompt = strings.Join(parts, "\n")

	p.opts = SampleOptions{Temperature: 1, MaxTokens: DefaultMaxTokens}
	if t := req.Temperature; t != nil {
		if !(*t >= 0 && *t <= 2) {
			return nil, reqErr("temperature", "temperature must be between 0 and 2, got %v", *t)
		}
		p.opts.Temperature = *t
	}
	if tp := req.TopP; tp != nil {
		if !(*tp > 0 && *tp <= 1) {
			return nil, reqErr("top_p", "top_p must be in (0, 1], got %v", *tp)
		}
		p.opts.TopP = *tp
	}
	if n := req.N; n != nil {
		if *n < 1 || *n > MaxChoices {
			return nil, reqErr("n", "n must be between 1 and %d, got %d", MaxChoices, *n)
		}
		p.n = *n
	}
	for _, mt := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if mt.v == nil {
			continue
		}
		if *mt.v < 1 || *mt.v > MaxCompletionLimit {
			return nil, reqErr(mt.name, "%s must be between 1 and %d, got %d", mt.name, MaxCompletionLimit, *mt.v)
		}
		p.opts.MaxTokens = *mt.v
	}
	if req.MaxTokens != nil && req.MaxCompletionTokens != nil {
		p.opts.MaxTokens = min(*req.MaxTokens, *req.MaxCompletionTokens)
	}
	p.opts.Logprobs = req.Logprobs != nil && *req.Logprobs
	if tl := req.TopLogprobs; tl != nil {
		if *tl < 0 || *tl > MaxTopLogprobs {
			return nil, reqErr("top_logprobs", "top_logprobs must be between 0 and %d, got %d", MaxTopLogprobs, *tl)
		}
		if !p.opts.Logprobs {
			return nil, reqErr("top_logprobs", "logprobs must be set to true when top_logprobs is used")
		}
		p.opts.TopLogprobs = *tl
	}
	return p, nil
}

// messageText extracts the text of a message content.
func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("invalid string content: %v", err)
		}
		return s, nil
	case '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", fmt.Errorf("invalid content parts: %v", err)
		}
		var texts []string
		for _, p := range parts {
			if p.Type != "text" && p.Type != "" {
				return "", fmt.Errorf("unsupported content part type %q (the lab models read text only)", p.Type)
			}
			if p.Text == nil {
				return "", errors.New("text content part without text")
			}
			texts = append(texts, *p.Text)
		}
		return strings.Join(texts, "\n"), nil
	}
	return "", errors.New("content must be a string, an array of content parts or null")
}

// Response types (OpenAI chat.completion shape).
type chatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	Usage             chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      chatOutMsg    `json:"message"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason string        `json:"finish_reason"`
}

type chatOutMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatTokenLogprob struct {
	Token       string         `json:"token"`
	Logprob     float64        `json:"logprob"`
	Bytes       []int          `json:"bytes"`
	TopLogprobs []chatTopEntry `json:"top_logprobs"`
}

type chatTopEntry struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed", "use POST /v1/chat/completions")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large", fmt.Sprintf("request body larger than %d bytes", maxRequestBytes))
			return
		}
		badRequest(w, "", "could not read the request body: "+err.Error())
		return
	}
	req, err := parseChatRequest(body)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			badRequest(w, re.param, re.msg)
			return
		}
		badRequest(w, "", err.Error())
		return
	}
	if req.model == JudgeModel {
		resp, err := s.judge(req)
		if err != nil {
			badRequest(w, "messages", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	m, info, ok := s.model(req.model)
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist; GET /v1/models lists the lab models", req.model))
		return
	}
	writeJSON(w, http.StatusOK, s.complete(m, info, req))
}

// prepared returns the cached prepared prompt of text under m and its
// token count; the prompt is tokenized only on a cache miss.
func (s *server) prepared(m *Model, prompt string) (*Prompt, int) {
	key := promptKey{m, prompt}
	s.mu.Lock()
	pp, ok := s.prompts[key]
	s.mu.Unlock()
	if ok {
		return pp.c, pp.tokens
	}
	toks := m.voc.tokenize(prompt)
	pp = preparedPrompt{c: m.NewPrompt(toks), tokens: len(toks)}
	s.mu.Lock()
	if len(s.prompts) >= maxCachedPrompts {
		clear(s.prompts)
	}
	s.prompts[key] = pp
	s.mu.Unlock()
	return pp.c, pp.tokens
}

// complete runs a validated request.
func (s *server) complete(m *Model, info ModelInfo, req *parsedRequest) *chatResponse {
	c, promptTokens := s.prepared(m, req.prompt)
	var seed uint64
	if req.seed != nil {
		h := fnv.New64a()
		var buf [8]byte
		put := func(x uint64) {
			binary.LittleEndian.PutUint64(buf[:], x)
			h.Write(buf[:])
		}
		put(uint64(*req.seed))
		h.Write([]byte(info.Name))
		h.Write([]byte{0})
		h.Write([]byte(req.prompt))
		h.Write([]byte{0})
		put(math.Float64bits(req.opts.Temperature))
		put(math.Float64bits(req.opts.TopP))
		put(uint64(req.opts.MaxTokens))
		seed = h.Sum64()
	} else {
		seed = rand.Uint64()
	}
	comps := m.samplePrompt(c, req.n, seed, req.opts)
	resp := &chatResponse{
		ID:                fmt.Sprintf("chatcmpl-lab-%016x", s.idBase+s.idSeq.Add(1)),
		Object:            "chat.completion",
		Created:           time.Now().Unix(),
		Model:             req.model,
		SystemFingerprint: info.Artifact,
		Choices:           make([]chatChoice, len(comps)),
		Usage:             chatUsage{PromptTokens: promptTokens},
	}
	voc := m.voc
	for i := range comps {
		cp := &comps[i]
		ch := chatChoice{Index: i, Message: chatOutMsg{Role: "assistant", Content: cp.Text()}, FinishReason: "length"}
		if cp.Stopped {
			ch.FinishReason = "stop"
		}
		if req.opts.Logprobs {
			lp := &chatLogprobs{Content: make([]chatTokenLogprob, len(cp.Logprobs))}
			for j, t := range cp.Logprobs {
				e := chatTokenLogprob{Token: voc.tokens[t.Token], Logprob: t.Logprob, Bytes: voc.bytes[t.Token], TopLogprobs: make([]chatTopEntry, len(t.Top))}
				for k, a := range t.Top {
					e.TopLogprobs[k] = chatTopEntry{Token: voc.tokens[a.Token], Logprob: a.Logprob, Bytes: voc.bytes[a.Token]}
				}
				lp.Content[j] = e
			}
			ch.Logprobs = lp
		}
		resp.Choices[i] = ch
		resp.Usage.CompletionTokens += len(cp.Tokens)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	return resp
}
