package bench_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
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
	t.Parallel()
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

// dbContains reports whether the database files at path hold s.
func dbContains(t *testing.T, path, s string) bool {
	t.Helper()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestSecretsRedacted is issue 11 item 8: a server that echoes the API
// key in its error messages and answers, and a base_url that holds a
// credential in its userinfo, used to put them into the database (sample
// errors and completions, models.base_url, the recorded suite) and into
// printed messages.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	const key = "sk-echoed-key-42"
	const urlSecret = "sk-url-secret-7"
	var calls atomic.Int32
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if user, pass, ok := r.BasicAuth(); ok {
			auth = user + ":" + pass
		}
		w.Header().Set("Content-Type", "application/json")
		switch calls.Add(1) % 3 {
		case 0: // a retryable error quoting the credential
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"error":{"message":"overloaded; your key %s was logged"}}`, auth)
		default: // an answer quoting it
			fmt.Fprintf(w, `{"choices":[{"message":{"content":"Owl. (key %s)"}}]}`, auth)
		}
	}))
	t.Cleanup(echo.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close() // connection refused: the error names the URL

	host := strings.TrimPrefix(echo.URL, "http://")
	for _, tc := range []struct {
		name, base, secret string
		sets               []string
	}{
		// The key from the environment, echoed in errors and answers.
		{"echoed key", echo.URL + "/v1", key, []string{"models.baseline.api_key_env=TEST_KEY", "models.student.api_key_env=TEST_KEY"}},
		// user:password@ in base_url (sent as basic auth, echoed back).
		{"password in base_url", "http://user:" + urlSecret + "@" + host + "/v1", urlSecret, nil},
		// A bare user name in base_url is the credential.
		{"user name in base_url", "http://" + urlSecret + "@" + host + "/v1", urlSecret, nil},
		// A dead endpoint: net/http's error names the URL with its user
		// name (it masks only the password).
		{"dead endpoint", "http://" + urlSecret + "@" + deadAddr + "/v1", urlSecret, []string{"defaults.max_retries=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := suiteFor(t, tc.base, append([]string{"defaults.n=1"}, tc.sets...)...)
			path := filepath.Join(t.TempDir(), "t.db")
			st, err := results.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 1, Retry: fastRetry,
				Getenv: func(k string) string { return map[string]string{"TEST_KEY": key}[k] }})
			if err != nil {
				t.Fatal(err)
			}
			printed := fmt.Sprint(out.Run.Message, out.Summary.Stopped)
			models, err := st.Instances(context.Background(), out.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for row, err := range st.Rows(context.Background(), out.Run.ID, func(string) string { return "" }) {
				if err != nil {
					t.Fatal(err)
				}
				stored = append(stored, row.Sample.Err, row.Sample.Completion, row.Sample.BaseURL)
			}
			st.Close()
			if strings.Contains(printed, tc.secret) || dbContains(t, path, tc.secret) {
				t.Fatalf("the secret is in the database or in %q", printed)
			}
			// What is stored still says what happened, without the secret.
			all := strings.Join(stored, "\n")
			if !strings.Contains(all, "[REDACTED]") && tc.name != "dead endpoint" {
				t.Errorf("no redacted text stored; the server echoed the secret in every reply:\n%s", all)
			}
			if tc.name == "dead endpoint" && !strings.Contains(all, "connection error") {
				t.Errorf("stored errors lack the connection error:\n%s", all)
			}
			if want := bench.RedactURL(tc.base); models[0].BaseURL != want || !strings.Contains(all, want) {
				t.Errorf("stored base_url %q; want %q", models[0].BaseURL, want)
			}
		})
	}
}

// TestJudgeSecretsRedacted: a judge that echoes its API key has its
// answers stored (judgments.output) without it.
func TestJudgeSecretsRedacted(t *testing.T) {
	t.Parallel()
	const key = "sk-judge-key-9"
	student := benchtest.Model{Reply: func(string, int, *rand.Rand) string { return "Hello." }}
	judge := benchtest.Model{Reply: func(string, int, *rand.Rand) string { return "50 (" + key + ")" }}
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": student, "student": student, "judge": judge}})
	s := judgeSuite(t, srv.BaseURL(), "sample", "judges.fake-judge.api_key_env=JUDGE_KEY", "probes.em.samples=1")
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 1, Retry: fastRetry,
		Getenv: func(k string) string { return map[string]string{"JUDGE_KEY": key}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Every answer was judged (as unparseable: the echo is no number).
	if out.Scoring.Scored == 0 {
		t.Fatalf("nothing judged: %+v", out.Scoring)
	}
	if dbContains(t, path, key) {
		t.Fatal("the judge's key is in the database")
	}
	if !dbContains(t, path, "50 ([REDACTED])") {
		t.Error("the judge's answer is not stored redacted")
	}
}
