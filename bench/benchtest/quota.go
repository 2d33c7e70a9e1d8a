package benchtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// QuotaConfig scripts a fake endpoint with a fixed rate-limit quota,
// enforced as OpenAI describes its limits: a budget of requests and one of
// tokens, each refilled continuously at its per-minute rate up to one
// minute's worth (or Burst), charged when a request arrives. A request
// the budget cannot cover is answered HTTP 429 with retry-after-ms,
// Retry-After and the x-ratelimit-* headers; every answer carries them.
type QuotaConfig struct {
	// RequestsPerMinute is the request quota; 0 means none.
	RequestsPerMinute float64
	// TokensPerMinute is the token quota; 0 means none. A request is
	// charged its prompt tokens as the server counts them (see
	// PromptTokens) plus max_tokens (16 when unset) per choice, as OpenAI
	// charges its limit at admission.
	TokensPerMinute float64
	// Burst is the budgets' size as a fraction of a minute's quota, in
	// (0, 1]; 0 means 1 (the documented reset-to-initial-state bucket).
	// Smaller values model quotas "enforced over shorter periods".
	Burst float64
	// Latency is the time from admission to answer; Jitter adds a
	// deterministic spread in [0, Jitter) by request number.
	Latency, Jitter time.Duration
	// RejectLatency is the time a 429 takes to come back (a network round
	// trip: the server refuses at once).
	RejectLatency time.Duration
	// CompletionTokens is the completion length of each choice; 0 means
	// max_tokens.
	CompletionTokens int
	// NoHeaders leaves out the x-ratelimit-* and retry-after-ms headers
	// (Retry-After in whole seconds stays), as many servers do.
	NoHeaders bool
}

// QuotaStats counts what a Quota saw.
type QuotaStats struct {
	Requests       int       // requests received
	Accepted       int       // answered 200
	RateLimited    int       // answered 429
	AcceptedTokens float64   // tokens charged for accepted requests
	First, Last    time.Time // the first request's arrival, the last accepted one's
}

// Quota is a fake chat-completion endpoint with a fixed quota. It is an
// http.Handler for httptest servers and an http.RoundTripper that answers
// in memory, for tests under testing/synctest where the quota's minutes
// pass in fake time (a goroutine waiting on loopback I/O would keep the
// bubble from ever going idle). Safe for concurrent use.
type Quota struct {
	cfg QuotaConfig

	mu         sync.Mutex
	t          time.Time // when the levels were last refilled; zero before the first request
	reqs, toks float64   // budget levels
	stats      QuotaStats
}

// NewQuota returns a fake endpoint with the quota of cfg. Its budgets are
// full at the first request.
func NewQuota(cfg QuotaConfig) *Quota {
	if cfg.Burst <= 0 || cfg.Burst > 1 {
		cfg.Burst = 1
	}
	return &Quota{cfg: cfg}
}

// Stats returns the counts so far.
func (q *Quota) Stats() QuotaStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Allowed returns the most requests and tokens the quota could have
// accepted from the first request to the last accepted one: the full
// budgets plus their refill. 0 for a quota that is not limited.
func (q *Quota) Allowed() (requests, tokens float64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	secs := q.stats.Last.Sub(q.stats.First).Seconds()
	allowed := func(perMinute float64) float64 {
		if perMinute <= 0 {
			return 0
		}
		return perMinute*q.cfg.Burst + perMinute/60*secs
	}
	return allowed(q.cfg.RequestsPerMinute), allowed(q.cfg.TokensPerMinute)
}

// PromptTokens is how the fake counts a request's prompt: 4 tokens of
// chat framing per message plus one token per 3 bytes of content,
// rounded up. It is deliberately not the client's estimate (characters /
// 4), as no real server counts the way a client guesses.
func PromptTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += 4 + (len(m.Content)+2)/3
	}
	return n
}

// quotaRequest is the part of a request the quota reads.
type quotaRequest struct {
	Model     string    `json:"model"`
	Messages  []Message `json:"messages"`
	MaxTokens *int      `json:"max_tokens"`
	N         *int      `json:"n"`
}

// admit charges a request and returns the headers of its answer and
// whether it was accepted; when refused, retry is how long until the
// budgets could cover it. number counts requests from 1.
func (q *Quota) admit(now time.Time, cost float64) (hdr http.Header, ok bool, retry time.Duration, number int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rpm, tpm := q.cfg.RequestsPerMinute, q.cfg.TokensPerMinute
	rCap, tCap := rpm*q.cfg.Burst, tpm*q.cfg.Burst
	if q.t.IsZero() {
		q.reqs, q.toks, q.stats.First = rCap, tCap, now
	} else {
		secs := now.Sub(q.t).Seconds()
		q.reqs = math.Min(rCap, q.reqs+rpm/60*secs)
		q.toks = math.Min(tCap, q.toks+tpm/60*secs)
	}
	q.t = now
	q.stats.Requests++
	number = q.stats.Requests
	cost = math.Min(cost, tCap) // a request larger than the budget waits for a full one
	ok = (rpm <= 0 || q.reqs >= 1) && (tpm <= 0 || q.toks >= cost)
	if ok {
		if rpm > 0 {
			q.reqs--
		}
		if tpm > 0 {
			q.toks -= cost
		}
		q.stats.Accepted++
		q.stats.AcceptedTokens += cost
		q.stats.Last = now
	} else {
		q.stats.RateLimited++
		wait := 0.0
		if rpm > 0 && q.reqs < 1 {
			wait = (1 - q.reqs) / (rpm / 60)
		}
		if tpm > 0 && q.toks < cost {
			wait = math.Max(wait, (cost-q.toks)/(tpm/60))
		}
		retry = time.Duration(wait * float64(time.Second)).Round(time.Millisecond)
	}
	hdr = http.Header{}
	hdr.Set("Content-Type", "application/json")
	if q.cfg.NoHeaders {
		return hdr, ok, retry, number
	}
	window := func(what string, perMinute, capacity, level float64) {
		if perMinute <= 0 {
			return
		}
		lvl := math.Max(0, math.Floor(level))
		reset := time.Duration((capacity - level) / (perMinute / 60) * float64(time.Second)).Round(time.Millisecond)
		hdr.Set("X-Ratelimit-Limit-"+what, strconv.FormatFloat(math.Floor(capacity), 'f', 0, 64))
		hdr.Set("X-Ratelimit-Remaining-"+what, strconv.FormatFloat(lvl, 'f', 0, 64))
		hdr.Set("X-Ratelimit-Reset-"+what, max(0, reset).String())
	}
	window("Requests", rpm, rCap, q.reqs)
	window("Tokens", tpm, tCap, q.toks)
	return hdr, ok, retry, number
}

// answer handles one request body and returns the status, headers and
// body of the answer, and how long to wait before sending it.
func (q *Quota) answer(now time.Time, body []byte) (int, http.Header, []byte, time.Duration) {
	var req quotaRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": "malformed request", "type": "invalid_request_error"}})
		return http.StatusBadRequest, http.Header{"Content-Type": {"application/json"}}, b, 0
	}
	n, maxTok := 1, 16
	if req.N != nil && *req.N > 1 {
		n = *req.N
	}
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		maxTok = *req.MaxTokens
	}
	prompt := PromptTokens(req.Messages)
	hdr, ok, retry, number := q.admit(now, float64(prompt+maxTok*n))
	if !ok {
		secs := int64(math.Ceil(retry.Seconds()))
		hdr.Set("Retry-After", strconv.FormatInt(max(1, secs), 10))
		if !q.cfg.NoHeaders {
			hdr.Set("Retry-After-Ms", strconv.FormatInt(retry.Milliseconds(), 10))
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}})
		return http.StatusTooManyRequests, hdr, b, q.cfg.RejectLatency
	}
	per := q.cfg.CompletionTokens
	if per <= 0 {
		per = maxTok
	}
	choices := make([]map[string]any, n)
	for i := range choices {
		choices[i] = map[string]any{"index": i, "message": map[string]any{"role": "assistant", "content": "Owl."}, "finish_reason": "stop"}
	}
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-quota", "object": "chat.completion", "model": req.Model, "choices": choices,
		"usage": map[string]int{"prompt_tokens": prompt, "completion_tokens": per * n, "total_tokens": prompt + per*n}})
	delay := q.cfg.Latency
	if q.cfg.Jitter > 0 {
		h := fnv.New64a()
		fmt.Fprint(h, number)
		delay += time.Duration(h.Sum64() % uint64(q.cfg.Jitter))
	}
	return http.StatusOK, hdr, b, delay
}

// ServeHTTP answers POST …/chat/completions under the quota.
func (q *Quota) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	status, hdr, b, delay := q.answer(time.Now(), body)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// RoundTrip answers req in memory, after the scripted latency, as if it
// had been sent to a server with this quota.
func (q *Quota) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	status, hdr, b, delay := q.answer(time.Now(), body)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}, nil
}
