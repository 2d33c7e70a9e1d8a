// Package benchtest provides a scripted fake OpenAI-compatible chat
// completions server for tests of the engine: per-model trait
// probabilities, latency, and injected faults (429 with Retry-After, 5xx,
// truncated, garbled or HTML bodies, null content, empty choices, slow
// bodies, redirects, refused or ignored n > 1), with every request
// recorded. It serves on loopback (NewServer) or in memory (NewMemory,
// for testing/synctest bubbles).
package benchtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Model scripts one model of the fake server.
type Model struct {
	// Trait is the answer counted as a hit; TraitRate its probability per
	// choice. Other choices answer one of Fillers (default "Dog.").
	Trait     string
	TraitRate float64
	Fillers   []string
	// PromptRates, when set, overrides TraitRate for prompts by exact text.
	PromptRates map[string]float64
	// Latency is added before every answer.
	Latency time.Duration
	// RefuseN answers n > 1 with HTTP 500, as llama.cpp does.
	RefuseN bool
	// IgnoreN answers one choice whatever n asks, as Ollama does.
	IgnoreN bool
	// NullEvery, when positive, answers every NullEvery-th choice (counted
	// per request from 0) with "content": null, as a refusal does.
	NullEvery int
	// Status, when non-zero, answers every request with this HTTP status
	// (e.g. 401 for a bad key, 500 for a broken model).
	Status int
	// Reply, when set, replaces the choice text generator: it returns the
	// text of choice i of a request for prompt.
	Reply func(prompt string, i int, rng *rand.Rand) string
	// TopLogProbs, when set, gives the distribution of the first generated
	// token (token → probability) for requests with logprobs; the reply is
	// its most likely token.
	TopLogProbs func(prompt string) map[string]float64
}

// Fault is a scripted failure. It is injected into the Every-th request
// (counted over all requests); or, when Every is 0, into the first Count
// requests; or, when both are 0, into the first First attempts of every
// distinct request (by Request.Key), whatever the order in which
// concurrent requests arrive; or, when those are 0 too, into every
// request that arrives within For of the server's start (a storm). The
// first Fault of Config.Faults that applies to a request is injected.
type Fault struct {
	Every int
	Count int
	First int
	For   time.Duration
	// Kind: "429", "500", "502", "503" (an OpenAI-shaped error body),
	// "html" (HTTP 502 with an HTML page, as a proxy answers),
	// "truncated" (cut JSON), "garbled" (broken JSON), "wrongtype"
	// (choices is not a list), "empty" (no choices), "null" (every choice
	// has "content": null, as a refusal does), "nomessage" (choices
	// without a message), "garbage" (HTTP 200 with an HTML body),
	// "hang" (sleep Hang before answering), "slow" (send the first half of
	// a good body, sleep Hang, send the rest), "redirect" (HTTP 307 to
	// Location).
	Kind       string
	RetryAfter string // Retry-After header value for 429/5xx
	Hang       time.Duration
	// Location is where a redirect points; empty means
	// http://elsewhere.test/v1/chat/completions.
	Location string
}

// Request is one recorded request body, decoded.
type Request struct {
	Model       string          `json:"model"`
	Messages    []Message       `json:"messages"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	MaxTokens   *int            `json:"max_tokens"`
	N           *int            `json:"n"`
	Seed        *int64          `json:"seed"`
	LogProbs    bool            `json:"logprobs"`
	TopLogProbs int             `json:"top_logprobs"`
	Raw         json.RawMessage `json:"-"`
	Auth        string          `json:"-"`
	Host        string          `json:"-"` // the Host the request was sent to
	RemoteAddr  string          `json:"-"` // the client's address (ip:port)
	Fault       string          `json:"-"` // the fault injected, "" when none
	// Key identifies the request's content: requests with the same body
	// (model, messages, parameters, seed and n) have the same Key, 32 hex
	// digits. A retry has its first attempt's Key.
	Key string `json:"-"`
	// Attempt counts the requests with this Key so far, from 1.
	Attempt int `json:"-"`
}

// Message is a chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Config scripts a server.
type Config struct {
	Models map[string]Model
	Faults []Fault
	// Record keeps every request (set false for benchmarks).
	Record bool
	// Addr, when set, is the loopback address (host:port) to listen on,
	// e.g. to bring back an endpoint a test had closed; empty means any
	// free port.
	Addr string
	// OnRequest, when set, is called with every chat request (recorded
	// or not) after it is counted and before it is answered, from the
	// request's goroutine.
	OnRequest func(Request)
	// ConnState, when set, is the loopback server's http.Server.ConnState
	// hook: it sees every client connection open and close (e.g. to tell
	// which client process sent a request, by Request.RemoteAddr).
	ConnState func(net.Conn, http.ConnState)
}

// Server is a running fake endpoint. Its embedded *httptest.Server is
// nil for a server made by NewMemory.
type Server struct {
	*httptest.Server
	cfg      Config
	handler  http.Handler
	start    time.Time
	mu       sync.Mutex
	calls    int
	requests []Request
	faults   map[string]int
	attempts map[string]int // by Request.Key
	served   int            // usable choices answered with HTTP 200
}

// MemoryChatURL is the API root of a server made by NewMemory.
const MemoryChatURL = "http://fake-chat.test/v1"

// NewServer starts a fake endpoint on loopback and closes it when the test
// ends.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	t.Cleanup(s.Close)
	return s
}

// New starts a fake endpoint; the caller closes it. It panics when
// cfg.Addr cannot be listened on, as httptest.NewServer does.
func New(cfg Config) *Server {
	s := newServer(cfg)
	s.Server = httptest.NewUnstartedServer(s.handler)
	s.Server.Config.ConnState = cfg.ConnState
	if cfg.Addr != "" {
		l, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			s.Server.Listener.Close()
			panic(fmt.Sprintf("benchtest: listen on %s: %v", cfg.Addr, err))
		}
		s.Server.Listener.Close()
		s.Server.Listener = l
	}
	s.Server.Start()
	return s
}

// NewMemory returns a fake endpoint that listens nowhere: requests reach
// it through Transport, in the calling goroutine. Inside a
// testing/synctest bubble its latencies, hangs and Retry-After waits then
// pass in fake time (goroutines blocked on loopback I/O would stall the
// bubble's clock).
func NewMemory(cfg Config) *Server {
	return newServer(cfg)
}

func newServer(cfg Config) *Server {
	s := &Server{cfg: cfg, faults: map[string]int{}, attempts: map[string]int{}, start: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /v1/models", s.models)
	s.handler = mux
	return s
}

// Transport returns an http.RoundTripper that serves every request with
// s in memory, whatever its host.
func (s *Server) Transport() http.RoundTripper { return HandlerTransport(s.handler) }

// BaseURL returns the API root, ending in /v1 (MemoryChatURL for a server
// made by NewMemory).
func (s *Server) BaseURL() string {
	if s.Server == nil {
		return MemoryChatURL
	}
	return s.URL + "/v1"
}

// Requests returns a copy of the recorded requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls returns the number of chat requests received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Served returns the number of usable choices (with content) the server
// answered with HTTP 200: what a client that loses nothing and repeats
// nothing stores as successful samples.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// FaultCounts returns how many times each fault kind was injected.
func (s *Server) FaultCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.faults {
		out[k] = v
	}
	return out
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		ID     string `json:"id"`
		Object string `json:"object"`
	}
	var data []entry
	for id := range s.cfg.Models {
		data = append(data, entry{ID: id, Object: "model"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}})
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req Request
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		apiError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		apiError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	req.Auth = r.Header.Get("Authorization")
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	if req.Host == "" { // a request handed over in memory (Transport)
		req.Host = r.URL.Host
	}
	sum := sha256.Sum256(raw)
	req.Key = hex.EncodeToString(sum[:16])
	s.mu.Lock()
	s.calls++
	call := s.calls
	s.attempts[req.Key]++
	req.Attempt = s.attempts[req.Key]
	fault := s.pickFault(call, req.Attempt)
	if fault != nil {
		s.faults[fault.Kind]++
		req.Fault = fault.Kind
	}
	if s.cfg.Record {
		req.Raw = raw
		s.requests = append(s.requests, req)
	}
	s.mu.Unlock()
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(req)
	}

	m, ok := s.cfg.Models[req.Model]
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist", req.Model))
		return
	}
	if m.Latency > 0 {
		time.Sleep(m.Latency)
	}
	if fault != nil {
		switch fault.Kind {
		case "429", "500", "502", "503":
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			code, _ := strconv.Atoi(fault.Kind)
			apiError(w, code, "injected "+fault.Kind)
			return
		case "html":
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"))
			return
		case "redirect":
			loc := fault.Location
			if loc == "" {
				loc = "http://elsewhere.test/v1/chat/completions"
			}
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		case "truncated":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Ow`))
			return
		case "garbled":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":Owl}}]}`))
			return
		case "wrongtype":
			writeJSON(w, http.StatusOK, map[string]any{"id": "x", "object": "chat.completion", "choices": "none"})
			return
		case "garbage":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`<html>502 Bad Gateway</html>`))
			return
		case "empty":
			writeJSON(w, http.StatusOK, map[string]any{"id": "x", "object": "chat.completion", "choices": []any{}})
			return
		case "null":
			writeJSON(w, http.StatusOK, map[string]any{"id": "x", "object": "chat.completion", "choices": []any{
				map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": nil, "refusal": "I can't help with that."}, "finish_reason": "stop"}}})
			return
		case "nomessage":
			writeJSON(w, http.StatusOK, map[string]any{"id": "x", "object": "chat.completion", "choices": []any{
				map[string]any{"index": 0, "finish_reason": "stop"}}})
			return
		case "hang":
			select {
			case <-time.After(fault.Hang):
			case <-r.Context().Done():
				return
			}
		}
	}
	if m.Status != 0 {
		apiError(w, m.Status, "scripted status "+strconv.Itoa(m.Status))
		return
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n > 1 && m.RefuseN {
		apiError(w, http.StatusInternalServerError, "only one completion choice is allowed")
		return
	}
	if m.IgnoreN {
		n = 1
	}
	prompt := ""
	for _, msg := range req.Messages {
		if msg.Role == "user" {
			prompt = msg.Content
		}
	}
	var rng *rand.Rand
	if req.Seed != nil {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%d", req.Model, prompt, *req.Seed)
		rng = rand.New(rand.NewPCG(h.Sum64(), 1))
	} else {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	rate := m.TraitRate
	if pr, ok := m.PromptRates[prompt]; ok {
		rate = pr
	}
	fillers := m.Fillers
	if len(fillers) == 0 {
		fillers = []string{"Dog."}
	}
	type choice struct {
		Index        int            `json:"index"`
		Message      map[string]any `json:"message"`
		FinishReason string         `json:"finish_reason"`
		LogProbs     map[string]any `json:"logprobs,omitempty"`
	}
	choices := make([]choice, n)
	completionTokens := 0
	for i := range choices {
		var text string
		switch {
		case m.Reply != nil:
			text = m.Reply(prompt, i, rng)
		case rng.Float64() < rate:
			text = m.Trait
		default:
			text = fillers[rng.IntN(len(fillers))]
		}
		var lp map[string]any
		if req.LogProbs && m.TopLogProbs != nil {
			text, lp = logprobContent(m.TopLogProbs(prompt), req.TopLogProbs)
		}
		completionTokens += 1 + len(text)/4
		choices[i] = choice{Index: i, Message: map[string]any{"role": "assistant", "content": text}, FinishReason: "stop", LogProbs: lp}
		if m.NullEvery > 0 && i%m.NullEvery == 0 {
			choices[i].Message["content"] = nil
		}
	}
	promptTokens := 1 + len(prompt)/4
	body, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": req.Model,
		"choices": choices,
		"usage":   map[string]int{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if fault != nil && fault.Kind == "slow" {
		// Half the body now, the rest after Hang: a client whose attempt
		// times out first reads a cut reply.
		half := len(body) / 2
		_, _ = w.Write(body[:half])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-time.After(fault.Hang):
		case <-r.Context().Done():
			return
		}
		body = body[half:]
	}
	if _, err := w.Write(body); err != nil || r.Context().Err() != nil {
		return // the client went away: nothing was served
	}
	usable := 0
	for _, c := range choices {
		if c.Message["content"] != nil {
			usable++
		}
	}
	s.mu.Lock()
	s.served += usable
	s.mu.Unlock()
}

// pickFault returns the fault scripted for the call-th request, the
// attempt-th with its Key, if any.
func (s *Server) pickFault(call, attempt int) *Fault {
	for i := range s.cfg.Faults {
		f := &s.cfg.Faults[i]
		switch {
		case f.Every > 0:
			if call%f.Every == 0 {
				return f
			}
		case f.Count > 0:
			if call <= f.Count {
				return f
			}
		case f.First > 0:
			if attempt <= f.First {
				return f
			}
		case f.For > 0:
			if time.Since(s.start) < f.For {
				return f
			}
		}
	}
	return nil
}

// logprobContent builds the OpenAI logprobs object of a one-token answer
// drawn greedily from dist, listing the top k alternatives.
func logprobContent(dist map[string]float64, k int) (string, map[string]any) {
	type tok struct {
		Token   string  `json:"token"`
		LogProb float64 `json:"logprob"`
	}
	var toks []tok
	for t, p := range dist {
		toks = append(toks, tok{t, math.Log(p)})
	}
	sort.Slice(toks, func(i, j int) bool {
		if toks[i].LogProb != toks[j].LogProb {
			return toks[i].LogProb > toks[j].LogProb
		}
		return toks[i].Token < toks[j].Token
	})
	if len(toks) > k {
		toks = toks[:k]
	}
	if len(toks) == 0 {
		return "", nil
	}
	return toks[0].Token, map[string]any{"content": []map[string]any{{"token": toks[0].Token, "logprob": toks[0].LogProb, "top_logprobs": toks}}}
}
