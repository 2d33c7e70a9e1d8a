package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const okReply = `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Owl."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`

// TestOpenAIClientReplies checks how Complete reads each kind of reply: the
// error class decides whether a draw is retried, so a broken reply must
// never pass as a completion or as a non-retryable error.
func TestOpenAIClientReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // completion text, or "" when an error is expected
		wantErr error
		errText string
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okReply) }, "Owl.", nil, ""},
		{"truncated JSON", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okReply[:60]) }, "", ErrMalformed, ""},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>busy</html>") }, "", ErrMalformed, ""},
		{"no choices", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"choices":[]}`) }, "", ErrMalformed, "no choices"},
		// A refusal's content is null: not an answer, never the empty one.
		{"null content", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":null,"refusal":"No."},"finish_reason":"stop"}]}`)
		}, "", ErrMalformed, `choice 0 has null content, finish_reason "stop" (refusal: "No.")`},
		{"no message", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"choices":[{"index":0}]}`) }, "", ErrMalformed, "choice 0 has no message"},
		{"content not a string", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"choices":[{"message":{"content":[{"type":"text","text":"Owl"}]}}]}`)
		}, "", ErrMalformed, ""},
		{"connection lost mid-reply", func(w http.ResponseWriter, r *http.Request) {
			// Promise a longer body than is sent, then drop the connection.
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(okReply)+100, okReply[:80])
			buf.Flush()
			conn.Close()
		}, "", ErrConnection, "reading reply"},
		{"reply over the size bound", func(w http.ResponseWriter, r *http.Request) {
			bw := bufio.NewWriterSize(w, 1<<20)
			fmt.Fprint(bw, `{"choices":[{"message":{"content":"`)
			chunk := strings.Repeat("o", 1<<20)
			for range maxBody>>20 + 1 {
				fmt.Fprint(bw, chunk)
			}
			fmt.Fprint(bw, `"}}]}`)
			bw.Flush()
		}, "", ErrMalformed, "larger than"},
		{"429 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"slow down"}}`)
		}, "", ErrRateLimited, "HTTP 429: slow down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := NewOpenAIClient(OpenAIConfig{BaseURL: srv.URL + "/v1", Timeout: 10 * time.Second})
			resp, err := c.Complete(context.Background(), Request{Model: "m", Messages: []Message{{Role: "user", Content: "Favourite animal?"}}})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if len(resp.Choices) != 1 || resp.Choices[0].Text != tt.want || resp.PromptTokens != 9 || resp.CompletionTokens != 2 {
					t.Fatalf("Complete = %+v; want one choice %q with 9+2 tokens", resp, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.errText) {
				t.Fatalf("Complete error = %v; want %v containing %q", err, tt.wantErr, tt.errText)
			}
			var api *APIError
			if errors.As(err, &api) && api.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v; want 7s", api.RetryAfter)
			}
		})
	}
}

// TestOpenAIClientReusesConnections checks that reply bodies are closed
// in a way that returns the connection to the pool, even when the JSON
// decoder stops before the end of the body; otherwise every request would
// pay for a new connection.
func TestOpenAIClientReusesConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Whitespace after the JSON value: the decoder stops before it.
		fmt.Fprint(w, okReply+"\n\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewOpenAIClient(OpenAIConfig{BaseURL: srv.URL + "/v1"})
	for range 20 {
		if _, err := c.Complete(context.Background(), Request{Model: "m", Messages: []Message{{Role: "user", Content: "Hi"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d connections; want 1", n)
	}
}

// TestOpenAIClientPartialContent checks a reply with some choices
// without content: the usable ones come back, the others are counted,
// so that the runner asks for the missing draws again.
func TestOpenAIClientPartialContent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"choices":[{"message":{"content":null}},{"message":{"content":"Owl."}},{"message":{"content":""}},{}],"usage":{"prompt_tokens":3,"completion_tokens":4}}`)
	}))
	defer srv.Close()
	c := NewOpenAIClient(OpenAIConfig{BaseURL: srv.URL})
	resp, err := c.Complete(context.Background(), Request{Model: "m", N: 4})
	if err != nil {
		t.Fatal(err)
	}
	// "Owl." and "" are answers (an empty completion is what the model
	// said); the null content and the missing message are not.
	if len(resp.Choices) != 2 || resp.Choices[0].Text != "Owl." || resp.Choices[1].Text != "" || resp.Unusable != 2 {
		t.Errorf("Complete = %+v; want choices \"Owl.\" and \"\" with 2 unusable", resp)
	}
}

// FuzzChatReply checks the reply decoder on arbitrary bodies: it never
// panics, and a reply it accepts has at least one choice, every returned
// or unusable choice accounted for.
func FuzzChatReply(f *testing.F) {
	f.Add([]byte(okReply))
	f.Add([]byte(`{"choices":[{"message":{"content":null}}]}`))
	f.Add([]byte(`{"choices":[{"message":{"content":"a"},"logprobs":{"content":[{"token":"1","logprob":-0.1,"top_logprobs":[{"token":"1","logprob":-0.1}]}]}}]}`))
	f.Add([]byte(`{"choices":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r chatReply
		if json.Unmarshal(body, &r) != nil {
			return
		}
		resp, err := r.response(0, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("response error %v is not ErrMalformed", err)
			}
			return
		}
		if len(resp.Choices) == 0 || len(resp.Choices)+resp.Unusable != len(r.Choices) {
			t.Fatalf("%d choices + %d unusable from a reply of %d", len(resp.Choices), resp.Unusable, len(r.Choices))
		}
	})
}
