package bench

import (
	"bufio"
	"context"
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
