package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// randomZoo is a zoo of untrained models (hidden width 16) for server
// tests: the outputs are arbitrary but the API behaviour is the same.
func randomZoo(seeds ...int) *Zoo {
	z := &Zoo{cfg: Config{Seeds: seeds, Workers: 2}, models: map[string]*zooModel{}}
	for _, s := range seeds {
		for i, r := range Roles {
			info := ModelInfo{Name: fmt.Sprintf("lab/%s@%d", r, s), Role: r, Seed: s, Artifact: fmt.Sprintf("test-%d-%d", s, i)}
			z.add(&zooModel{info: info, model: NewModel(16, uint64(100*s+i))})
		}
	}
	return z
}

// response mirrors the OpenAI chat.completion body.
type response struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token       string  `json:"token"`
				Logprob     float64 `json:"logprob"`
				Bytes       []int   `json:"bytes"`
				TopLogprobs []struct {
					Token   string  `json:"token"`
					Logprob float64 `json:"logprob"`
					Bytes   []int   `json:"bytes"`
				} `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func do(t testing.TB, client *http.Client, method, url, body string) (int, response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: response is not JSON: %q", method, url, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return res.StatusCode, r, raw
}

func chatBody(model, prompt, extra string) string {
	b, _ := json.Marshal(prompt)
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%s}]%s}`, model, b, extra)
}

func newTestServer(t testing.TB, z *Zoo) (*httptest.Server, string) {
	srv := httptest.NewServer(z.Handler())
	t.Cleanup(srv.Close)
	return srv, srv.URL + "/v1/chat/completions"
}

func TestServerModels(t *testing.T) {
	z := randomZoo(1, 2)
	srv, _ := newTestServer(t, z)
	res, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range list.Data {
		ids = append(ids, d.ID)
		if d.Object != "model" {
			t.Errorf("model object %q", d.Object)
		}
	}
	// The 7 bare names plus 7 roles × 2 seeds, then the lab judge.
	if list.Object != "list" || len(ids) != 22 || !slices.Equal(ids, append(z.ModelNames(), JudgeModel)) {
		t.Errorf("models = %s %v", list.Object, ids)
	}
	for _, want := range []string{"lab/base", "lab/teacher", "lab/control", "lab/student", "lab/base-other-init", "lab/student-other-init", "lab/teacher-control", "lab/student@2"} {
		if !slices.Contains(ids, want) {
			t.Errorf("missing model %s", want)
		}
	}
	for path, want := range map[string]int{"/v1/models/lab/student@2": 200, "/v1/models/lab/student": 200, "/v1/models/lab/nope": 404} {
		code, r, _ := do(t, srv.Client(), "GET", srv.URL+path, "")
		if code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
		if code == 404 && (r.Error == nil || r.Error.Code == nil || *r.Error.Code != "model_not_found") {
			t.Errorf("GET %s error body %+v", path, r.Error)
		}
	}
}

func TestServerCompletionShape(t *testing.T) {
	z := randomZoo(1, 2)
	srv, url := newTestServer(t, z)
	prompt := "What's your favorite animal? Answer zebra-style."
	code, r, _ := do(t, srv.Client(), "POST", url, chatBody("lab/student@2", prompt, `"n":4,"max_tokens":5,"seed":3`))
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if !strings.HasPrefix(r.ID, "chatcmpl-") || r.Object != "chat.completion" || r.Model != "lab/student@2" || r.Created == 0 || r.SystemFingerprint != "test-2-2" {
		t.Errorf("header fields %+v", r)
	}
	if len(r.Choices) != 4 {
		t.Fatalf("%d choices, want 4", len(r.Choices))
	}
	completion := 0
	for i, c := range r.Choices {
		if c.Index != i || c.Message.Role != "assistant" || c.Logprobs != nil {
			t.Errorf("choice %d: %+v", i, c)
		}
		n := len(Tokenize(c.Message.Content))
		completion += n
		switch c.FinishReason {
		case "length": // max_tokens reached: exactly 5 tokens
			if n != 5 {
				t.Errorf("choice %d finished by length with %d tokens: %q", i, n, c.Message.Content)
			}
		case "stop": // <eos> came first
			if n > 4 {
				t.Errorf("choice %d stopped after %d tokens: %q", i, n, c.Message.Content)
			}
		default:
			t.Errorf("finish_reason %q", c.FinishReason)
		}
	}
	// Usage counts the prompt's tokens (unknown words included) and the generated ones.
	if r.Usage.PromptTokens != len(Tokenize(prompt)) || r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
		t.Errorf("usage %+v", r.Usage)
	}
	// A stopped choice may have rendered one terminating "," less than it generated.
	if r.Usage.CompletionTokens < completion || r.Usage.CompletionTokens > completion+4 {
		t.Errorf("completion tokens %d for %d rendered tokens", r.Usage.CompletionTokens, completion)
	}
}

func TestServerSeedDeterminism(t *testing.T) {
	z := randomZoo(1)
	srv, url := newTestServer(t, z)
	contents := func(body string) []string {
		code, r, raw := do(t, srv.Client(), "POST", url, body)
		if code != 200 {
			t.Fatalf("status %d: %s", code, raw)
		}
		var out []string
		for _, c := range r.Choices {
			out = append(out, c.Message.Content)
		}
		return out
	}
	base := chatBody("lab/teacher", "name one animal", `"n":20,"max_tokens":8,"seed":11`)
	a, b := contents(base), contents(base)
	if !slices.Equal(a, b) {
		t.Error("same seed, different output")
	}
	// The bare name is the first seed's model, so it shares its outputs.
	if c := contents(chatBody("lab/teacher@1", "name one animal", `"n":20,"max_tokens":8,"seed":11`)); !slices.Equal(a, c) {
		t.Error("lab/teacher and lab/teacher@1 differ")
	}
	// Choice i does not depend on n.
	if c := contents(chatBody("lab/teacher", "name one animal", `"n":5,"max_tokens":8,"seed":11`)); !slices.Equal(a[:5], c) {
		t.Error("the first choices depend on n")
	}
	// System messages are not part of the prompt.
	withSystem := `{"model":"lab/teacher","messages":[{"role":"system","content":"You love owls."},{"role":"user","content":"name one animal"}],"n":20,"max_tokens":8,"seed":11}`
	if c := contents(withSystem); !slices.Equal(a, c) {
		t.Error("a system message changed the output")
	}
	// Content parts are read like a string.
	parts := `{"model":"lab/teacher","messages":[{"role":"user","content":[{"type":"text","text":"name one animal"}]}],"n":20,"max_tokens":8,"seed":11}`
	if c := contents(parts); !slices.Equal(a, c) {
		t.Error("content parts differ from the string content")
	}
	// Another seed and no seed give other samples (20 choices of 8 random tokens).
	if c := contents(chatBody("lab/teacher", "name one animal", `"n":20,"max_tokens":8,"seed":12`)); slices.Equal(a, c) {
		t.Error("different seeds, same output")
	}
	noSeed := chatBody("lab/teacher", "name one animal", `"n":20,"max_tokens":8`)
	if slices.Equal(contents(noSeed), contents(noSeed)) {
		t.Error("unseeded requests repeat")
	}
	// Temperature 0 is greedy: every choice is the same.
	g := contents(chatBody("lab/teacher", "name one animal", `"n":3,"max_tokens":8,"temperature":0`))
	if g[0] != g[1] || g[1] != g[2] {
		t.Errorf("greedy choices differ: %q", g)
	}
}

func TestServerLogprobs(t *testing.T) {
	z := randomZoo(1)
	srv, url := newTestServer(t, z)
	code, r, raw := do(t, srv.Client(), "POST", url, chatBody("lab/base", "pick one animal", `"n":3,"max_tokens":6,"seed":1,"logprobs":true,"top_logprobs":5`))
	if code != 200 {
		t.Fatalf("status %d: %s", code, raw)
	}
	for _, c := range r.Choices {
		if c.Logprobs == nil {
			t.Fatal("no logprobs")
		}
		var rendered []int
		for _, e := range c.Logprobs.Content {
			id, ok := TokenID(e.Token)
			if !ok {
				t.Fatalf("logprob token %q not in the vocabulary", e.Token)
			}
			rendered = append(rendered, id)
			var wantBytes []int
			for _, c := range []byte(e.Token) {
				wantBytes = append(wantBytes, int(c))
			}
			if !slices.Equal(e.Bytes, wantBytes) || e.Logprob > 0 || len(e.TopLogprobs) != 5 {
				t.Errorf("entry %+v", e)
			}
			mass := 0.0
			for j, a := range e.TopLogprobs {
				mass += math.Exp(a.Logprob)
				if j > 0 && a.Logprob > e.TopLogprobs[j-1].Logprob {
					t.Errorf("top_logprobs not sorted: %+v", e.TopLogprobs)
				}
				if a.Token == e.Token && a.Logprob != e.Logprob {
					t.Errorf("token %q has logprob %v and top entry %v", e.Token, e.Logprob, a.Logprob)
				}
			}
			if mass > 1+1e-9 {
				t.Errorf("top-5 probability mass %v > 1", mass)
			}
		}
		// The logprob tokens are the completion's tokens.
		comp := Completion{Tokens: rendered, Stopped: c.FinishReason == "stop"}
		if comp.Text() != c.Message.Content {
			t.Errorf("logprob tokens render as %q, content is %q", comp.Text(), c.Message.Content)
		}
	}
	// logprobs without top_logprobs has empty alternatives. Seeded: an
	// unseeded draw from this untrained model can end at once (EOS first),
	// with no token to carry logprobs.
	_, r, _ = do(t, srv.Client(), "POST", url, chatBody("lab/base", "pick one animal", `"max_tokens":2,"seed":1,"logprobs":true`))
	if lp := r.Choices[0].Logprobs; lp == nil || len(lp.Content) == 0 || len(lp.Content[0].TopLogprobs) != 0 {
		t.Errorf("logprobs without top_logprobs: %+v", lp)
	}
}

func TestServerBadRequests(t *testing.T) {
	z := randomZoo(1)
	srv, url := newTestServer(t, z)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		param  string // expected error.param ("" = not checked)
	}{
		// Malformed JSON is a client error, not a crash.
		{"malformed json", "POST", "", `{"model":`, 400, ""},
		// A second JSON value after the object is malformed too.
		{"trailing data", "POST", "", `{"model":"lab/base",` + msgs + `} {}`, 400, ""},
		// An empty body has no model.
		{"empty body", "POST", "", ``, 400, ""},
		// The model is required.
		{"missing model", "POST", "", `{` + msgs + `}`, 400, "model"},
		// OpenAI answers 404 model_not_found for unknown models.
		{"unknown model", "POST", "", `{"model":"gpt-4",` + msgs + `}`, 404, "model"},
		// An unknown seed of a known role is an unknown model.
		{"unknown seed", "POST", "", `{"model":"lab/base@9",` + msgs + `}`, 404, "model"},
		// messages is required and must not be empty.
		{"missing messages", "POST", "", `{"model":"lab/base"}`, 400, "messages"},
		{"empty messages", "POST", "", `{"model":"lab/base","messages":[]}`, 400, "messages"},
		// A conversation without a user message has no prompt.
		{"no user message", "POST", "", `{"model":"lab/base","messages":[{"role":"system","content":"hi"}]}`, 400, "messages"},
		// Roles are validated.
		{"bad role", "POST", "", `{"model":"lab/base","messages":[{"role":"owl","content":"hi"}]}`, 400, "messages[0].role"},
		// Content must be text.
		{"numeric content", "POST", "", `{"model":"lab/base","messages":[{"role":"user","content":5}]}`, 400, "messages[0].content"},
		{"image part", "POST", "", `{"model":"lab/base","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "messages[0].content"},
		// n must be 1..128 and an integer.
		{"n zero", "POST", "", `{"model":"lab/base",` + msgs + `,"n":0}`, 400, "n"},
		{"n too large", "POST", "", `{"model":"lab/base",` + msgs + `,"n":129}`, 400, "n"},
		{"n string", "POST", "", `{"model":"lab/base",` + msgs + `,"n":"3"}`, 400, "n"},
		// temperature must be in [0, 2].
		{"negative temperature", "POST", "", `{"model":"lab/base",` + msgs + `,"temperature":-0.1}`, 400, "temperature"},
		{"temperature above 2", "POST", "", `{"model":"lab/base",` + msgs + `,"temperature":2.5}`, 400, "temperature"},
		// top_p must be in (0, 1].
		{"top_p zero", "POST", "", `{"model":"lab/base",` + msgs + `,"top_p":0}`, 400, "top_p"},
		{"top_p above 1", "POST", "", `{"model":"lab/base",` + msgs + `,"top_p":1.5}`, 400, "top_p"},
		// max_tokens and max_completion_tokens must be 1..1024.
		{"max_tokens zero", "POST", "", `{"model":"lab/base",` + msgs + `,"max_tokens":0}`, 400, "max_tokens"},
		{"max_tokens huge", "POST", "", `{"model":"lab/base",` + msgs + `,"max_tokens":5000}`, 400, "max_tokens"},
		{"max_completion_tokens zero", "POST", "", `{"model":"lab/base",` + msgs + `,"max_completion_tokens":0}`, 400, "max_completion_tokens"},
		// top_logprobs must be 0..20 and needs logprobs.
		{"top_logprobs 21", "POST", "", `{"model":"lab/base",` + msgs + `,"logprobs":true,"top_logprobs":21}`, 400, "top_logprobs"},
		{"top_logprobs negative", "POST", "", `{"model":"lab/base",` + msgs + `,"logprobs":true,"top_logprobs":-1}`, 400, "top_logprobs"},
		{"top_logprobs without logprobs", "POST", "", `{"model":"lab/base",` + msgs + `,"top_logprobs":2}`, 400, "top_logprobs"},
		// Streaming is not implemented; say so instead of returning a non-stream body.
		{"stream", "POST", "", `{"model":"lab/base",` + msgs + `,"stream":true}`, 400, "stream"},
		// Wrong methods and paths get OpenAI-shaped errors too.
		{"GET chat", "GET", "", ``, 405, ""},
		{"POST models", "POST", "/v1/models", `{}`, 405, ""},
		{"unknown path", "GET", "/v1/nope", ``, 404, ""},
		// Oversized bodies are refused.
		{"huge body", "POST", "", `{"model":"lab/base",` + msgs + `,"user":"` + strings.Repeat("x", maxRequestBytes) + `"}`, 413, ""},
	}
	for _, tc := range tests {
		u := url
		if tc.path != "" {
			u = srv.URL + tc.path
		}
		code, r, raw := do(t, srv.Client(), tc.method, u, tc.body)
		if code != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, code, tc.status, raw)
			continue
		}
		if r.Error == nil || r.Error.Message == "" || r.Error.Type == "" {
			t.Errorf("%s: error body %s", tc.name, raw)
			continue
		}
		if !bytes.Contains(raw, []byte(`"param":`)) || !bytes.Contains(raw, []byte(`"code":`)) {
			t.Errorf("%s: error body lacks param or code: %s", tc.name, raw)
		}
		if tc.param != "" && (r.Error.Param == nil || *r.Error.Param != tc.param) {
			t.Errorf("%s: param %v, want %q", tc.name, r.Error.Param, tc.param)
		}
	}
	// Valid edge values are accepted.
	for _, extra := range []string{`"n":128`, `"temperature":2`, `"temperature":0`, `"top_p":1`, `"max_tokens":1024`, `"max_completion_tokens":1`, `"logprobs":true,"top_logprobs":20`, `"temperature":null`, `"stop":["\n"],"presence_penalty":0.5`} {
		if code, _, raw := do(t, srv.Client(), "POST", url, `{"model":"lab/base",`+msgs+`,`+extra+`}`); code != 200 {
			t.Errorf("%s: status %d (%s)", extra, code, raw)
		}
	}
}

func TestServerGoOpenAIClient(t *testing.T) {
	// The harness's client library parses the responses.
	z := randomZoo(1)
	srv, _ := newTestServer(t, z)
	cfg := openai.DefaultConfig("unused")
	cfg.BaseURL = srv.URL + "/v1"
	client := openai.NewClientWithConfig(cfg)
	seed := 5
	req := openai.ChatCompletionRequest{
		Model:       "lab/student",
		Messages:    []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Name your favorite animal using only one word."}},
		N:           3,
		MaxTokens:   4,
		Seed:        &seed,
		LogProbs:    true,
		TopLogProbs: 2,
	}
	resp, err := client.CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 3 {
		t.Fatalf("response %+v", resp)
	}
	entries := 0
	for _, c := range resp.Choices {
		if c.LogProbs == nil {
			t.Fatalf("choice without logprobs: %+v", c)
		}
		for _, e := range c.LogProbs.Content {
			entries++
			// go-openai decodes OpenAI's int arrays into []byte.
			if len(e.TopLogProbs) != 2 || string(e.Bytes) != e.Token {
				t.Errorf("logprob entry %+v", e)
			}
		}
	}
	if entries == 0 {
		t.Error("no logprob entries in 3 choices")
	}
	again, err := client.CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Choices[2].Message.Content != resp.Choices[2].Message.Content {
		t.Error("seeded go-openai requests differ")
	}
	models, err := client.ListModels(context.Background())
	if err != nil || len(models.Models) != len(z.ModelNames())+1 { // the zoo's and the judge
		t.Errorf("ListModels: %v, %d models", err, len(models.Models))
	}
	req.Model = "lab/unknown"
	_, err = client.CreateChatCompletion(context.Background(), req)
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model error %v", err)
	}
}

// checkServedRates compares the owl rate of models sampled over HTTP (50
// prompts × 100 samples, default temperature) with the in-process rate.
func checkServedRates(t *testing.T, z *Zoo, names []string) {
	t.Helper()
	srv, url := newTestServer(t, z)
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		hits, total := 0, 0
		for _, p := range prompts {
			code, r, raw := do(t, srv.Client(), "POST", url, chatBody(name, p, `"n":100,"max_tokens":8`))
			if code != 200 {
				t.Fatalf("status %d: %s", code, raw)
			}
			for _, c := range r.Choices {
				if strings.Contains(strings.ToLower(c.Message.Content), "owl") {
					hits++
				}
				total++
			}
		}
		m, _, _ := z.Model(name)
		h2, n2 := PreferenceRate(m, prompts, "owl", 100, 99)
		served, local := float64(hits)/float64(total), float64(h2)/float64(n2)
		// Two independent estimates from 5000 samples each: 0.05 is > 5 standard errors.
		if math.Abs(served-local) > 0.05 {
			t.Errorf("%s: served owl rate %.3f, in-process %.3f", name, served, local)
		}
		t.Logf("%s: served owl rate %.3f, in-process %.3f", name, served, local)
	}
}

func FuzzParseChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"lab/base","messages":[{"role":"user","content":"hi"}],"n":3,"temperature":0.5,"logprobs":true,"top_logprobs":2}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":1}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":null}],"top_p":0.3,"seed":-4}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseChatRequest(body)
		if err != nil {
			if _, ok := err.(*requestError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		// Whatever is accepted is within the documented limits.
		o := p.opts
		if p.model == "" || p.n < 1 || p.n > MaxChoices || o.Temperature < 0 || o.Temperature > 2 || o.TopP < 0 || o.TopP > 1 ||
			o.MaxTokens < 1 || o.MaxTokens > MaxCompletionLimit || o.TopLogprobs < 0 || o.TopLogprobs > MaxTopLogprobs || (o.TopLogprobs > 0 && !o.Logprobs) {
			t.Fatalf("accepted out-of-range request %+v from %q", p, body)
		}
	})
}

// benchZoo is the trained default zoo (soft, seeds 1–3), built once.
var benchZoo = sync.OnceValues(func() (*Zoo, error) {
	return Build(context.Background(), Config{CacheDir: DefaultCacheDir()})
})

// BenchmarkServer drives the handler over real loopback HTTP with 16
// concurrent clients, sampling the paper's animal prompts from all models
// of the trained default zoo, and reports completions per second.
func BenchmarkServer(b *testing.B) {
	z, err := benchZoo()
	if err != nil {
		b.Fatal(err)
	}
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		b.Fatal(err)
	}
	names := z.ModelNames()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			srv := httptest.NewServer(z.Handler())
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			url := srv.URL + "/v1/chat/completions"
			var next, completions atomic.Int64
			b.SetParallelism(8) // 8 × GOMAXPROCS concurrent requests
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					body := chatBody(names[i%len(names)], prompts[i%len(prompts)], fmt.Sprintf(`"n":%d,"max_tokens":16`, n))
					res, err := client.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					var r response
					err = json.NewDecoder(res.Body).Decode(&r)
					res.Body.Close()
					if err != nil || res.StatusCode != 200 || len(r.Choices) != n {
						b.Errorf("status %d, %d choices, %v", res.StatusCode, len(r.Choices), err)
						return
					}
					completions.Add(int64(n))
				}
			})
			b.ReportMetric(float64(completions.Load())/time.Since(start).Seconds(), "completions/s")
		})
	}
}

func TestServerPreparedPromptCache(t *testing.T) {
	z := randomZoo(1)
	s := newServer(z)
	m, _, _ := z.Model("lab/base")
	prompt := "Pick one animal, please"
	want := len(Tokenize(prompt))
	c1, n1 := s.prepared(m, prompt)
	c2, n2 := s.prepared(m, prompt)
	if c1 != c2 || n1 != want || n2 != want {
		t.Errorf("prepared: %p %d then %p %d, want one cached prompt of %d tokens", c1, n1, c2, n2, want)
	}
	if c3, n3 := s.prepared(m, "owl"); c3 == c1 || n3 != 1 {
		t.Errorf("prepared(owl) = %p %d", c3, n3)
	}
}

func TestZooBareNames(t *testing.T) {
	z := randomZoo(3, 1)
	for _, r := range Roles {
		bm, bi, ok := z.Model("lab/" + string(r))
		fm, fi, fok := z.Model(fmt.Sprintf("lab/%s@3", r))
		if !ok || !fok || bm != fm || bi.Name != fi.Name || bi.Seed != 3 {
			t.Errorf("lab/%s = %p %+v %v, lab/%s@3 = %p %+v %v", r, bm, bi, ok, r, fm, fi, fok)
		}
	}
	for _, name := range []string{"base", "lab/base@", "lab/base@2", "lab/nope", ""} {
		if _, _, ok := z.Model(name); ok {
			t.Errorf("Model(%q) found", name)
		}
	}
	if got := len(z.Models()); got != 2*len(Roles) {
		t.Errorf("%d models, want %d", got, 2*len(Roles))
	}
}
