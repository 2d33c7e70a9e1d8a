package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/internal/cputime"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// BenchmarkThroughput drives the full path (plan → HTTP → score → SQLite)
// against an in-process fake endpoint and, in the same benchmark, a bare
// Go HTTP loop against the same endpoint with the same concurrency. It
// reports both rates and their ratio; with latency it also reports the
// full path against the ideal rate concurrency ÷ latency, and the CPU
// time each path costs per sample (fake server included, which serves both).
//
//	go test ./bench -run '^$' -bench Throughput -benchtime 3x
func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		latency     time.Duration
		concurrency int
		samples     int
	}{
		{0, 64, 20000},
		{50 * time.Millisecond, 64, 64 * 200},
	} {
		b.Run(fmt.Sprintf("latency=%s/concurrency=%d", tc.latency, tc.concurrency), func(b *testing.B) {
			srv := benchtest.New(benchtest.Config{Models: map[string]benchtest.Model{
				"m": {Trait: "Owl", TraitRate: 0.3, Latency: tc.latency},
			}})
			defer srv.Close()
			var full, sampling, bare float64
			var fullCPU, bareCPU time.Duration // process CPU time, server included
			for b.Loop() {
				c0 := cputime.Process()
				full, sampling = fullPath(b, srv.BaseURL(), tc.concurrency, tc.samples)
				c1 := cputime.Process()
				bare = bareLoop(b, srv.BaseURL(), tc.concurrency, tc.samples)
				fullCPU, bareCPU = fullCPU+c1-c0, bareCPU+cputime.Process()-c1
			}
			b.ReportMetric(full, "fullpath-samples/s")
			b.ReportMetric(sampling, "sampling-phase-samples/s")
			b.ReportMetric(bare, "bareloop-samples/s")
			b.ReportMetric(full/bare, "fullpath/bareloop")
			if perSample := float64(b.N * tc.samples); fullCPU > 0 {
				b.ReportMetric(float64(fullCPU.Microseconds())/perSample, "fullpath-cpu-µs/sample")
				b.ReportMetric(float64(bareCPU.Microseconds())/perSample, "bareloop-cpu-µs/sample")
			}
			if tc.latency > 0 {
				ideal := float64(tc.concurrency) / tc.latency.Seconds()
				b.ReportMetric(full/ideal, "fullpath/ideal")
			}
		})
	}
}

// fullPath runs a one-model suite of samples draws (one per request,
// spread evenly over the built-in animal-prompts list) into a fresh
// database and returns samples per second over the whole Execute (plan,
// run record, sampling, scoring, storing, final counts) and over its
// sampling phase alone.
func fullPath(b *testing.B, base string, concurrency, samples int) (whole, sampling float64) {
	b.Helper()
	prompts, err := suites.PromptList("animal-prompts")
	if err != nil {
		b.Fatal(err)
	}
	src := fmt.Sprintf(`name: throughput
models:
  m: {base_url: %s, model: m}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: %d, n: 1}
probes:
  - id: p
    prompts: {builtin: animal-prompts}
    samples: %d
    score: {mentions: owl}
`, base, concurrency, samples/len(prompts))
	s, err := suites.Parse("bench.yaml", []byte(src), "", nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := results.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	out, err := bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 0})
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if out.Counts.Stored != out.Counts.Planned || out.Counts.Failed != 0 {
		b.Fatalf("counts %+v", out.Counts)
	}
	return float64(out.Counts.Stored) / el.Seconds(), float64(out.Summary.Done) / out.Summary.Elapsed.Seconds()
}

// bareLoop sends samples requests with concurrency goroutines and a plain
// net/http client, decoding each reply, and returns requests per second.
func bareLoop(b *testing.B, base string, concurrency, samples int) float64 {
	b.Helper()
	body, _ := json.Marshal(map[string]any{
		"model": "m", "temperature": 1.0, "max_tokens": 8,
		"messages": []map[string]string{{"role": "user", "content": "Name your favorite animal using only one word."}},
	})
	hc := &http.Client{Transport: bench.NewTransport(concurrency)}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(samples) {
				resp, err := hc.Post(base+"/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				var out struct {
					Choices []struct {
						Message struct{ Content string }
					}
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err := json.Unmarshal(data, &out); err != nil || len(out.Choices) != 1 {
					b.Errorf("bad reply: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(samples) / time.Since(start).Seconds()
}
