package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
)

// TestReadFileBound checks that a batch's output file is read up to
// MaxFileBytes, not the 32 MiB bound of API replies, and that a larger
// file is an error naming the file and the bound, not a truncated read.
func TestReadFileBound(t *testing.T) {
	t.Parallel()
	const lines = 40
	var content strings.Builder
	for i := range lines {
		fmt.Fprintf(&content, "{\"custom_id\": \"k%02d\"}\n", i)
	}
	size := int64(content.Len())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/files/file-out/content" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error": {"message": "not found"}}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, content.String())
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name  string
		bound int64
		want  string // error; "" to read every line
	}{
		// The file is exactly the bound.
		{"within", size, ""},
		// One byte under the file's size: refused as too large.
		{"over", size - 1, fmt.Sprintf("file file-out is larger than %d bytes", size-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, err := bench.NewBatchAPI(bench.BatchConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test", MaxFileBytes: tc.bound,
				Retry: bench.RetryPolicy{MaxRetries: 0, BaseDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = api.ReadFile(context.Background(), "file-out", func([]byte) error { n++; return nil })
			switch {
			case tc.want == "" && (err != nil || n != lines):
				t.Errorf("ReadFile: %d lines, %v; want %d lines", n, err, lines)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ReadFile: %v; want an error with %q", err, tc.want)
			}
		})
	}
}
