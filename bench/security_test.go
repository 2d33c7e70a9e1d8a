package bench_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
)

// authRecorder is an httptest server that records the Authorization
// header of every request it receives.
type authRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newAuthRecorder(t *testing.T) *authRecorder {
	t.Helper()
	a := &authRecorder{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.auths = append(a.auths, r.Header.Get("Authorization"))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"Owl."},"finish_reason":"stop"}]}`))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authRecorder) received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// TestRedirectNotFollowed is issue 11 item 6: a 307 or 308 from base_url
// to another port of the same host used to be followed with the API key
// (net/http keeps Authorization on a same-host redirect), and its answers
// recorded as coming from base_url.
func TestRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			other := newAuthRecorder(t)
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, status)
			}))
			t.Cleanup(redirector.Close)

			s := suiteFor(t, redirector.URL+"/v1", "models.student.api_key_env=TEST_KEY", "models.baseline.api_key_env=TEST_KEY")
			st := openStore(t)
			out, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry,
				Getenv: func(string) string { return "sk-secret-redirect" }})
			if err != nil {
				t.Fatal(err)
			}
			if got := other.received(); len(got) > 0 {
				t.Fatalf("the redirect target received %d requests (Authorization %q); want none", len(got), got[0])
			}
			// Every request meets the redirect: it stops the model at the
			// first, naming where it pointed.
			if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "redirect to "+other.URL+"/v1/chat/completions not followed") {
				t.Errorf("status %s, message %q; want failed naming the Location", out.Run.Status, out.Run.Message)
			}
			var api *bench.APIError
			if len(out.Summary.Stopped) != 2 || !errors.As(out.Summary.Stopped[0].Err, &api) || api.Status != status {
				t.Errorf("stopped %v; want both models stopped by HTTP %d", out.Summary.Stopped, status)
			}
		})
	}
}
