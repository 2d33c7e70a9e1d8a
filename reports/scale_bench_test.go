package reports

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// BenchmarkLoadJudgesSequential measures loading, analysing and
// rendering (Markdown) a run with the two parts of a report that once
// grew with its samples: two judges scoring every sample of a probe (their
// agreement) and sequential rules (replayed from the stored draws: a
// sequential gate, and a stop-for-width rule that never reaches its
// width, so that every round is read). The run has 2 models × 2 probes ×
// 50 prompts × samples draws: 100,000 and 400,000 draws. It reports the
// time per load and the process's peak RSS during the loads (peak-RSS-MB:
// VmHWM, reset through /proc/self/clear_refs after the database is
// written, Linux only) and the peak Go heap in use sampled every
// millisecond (peak-heap-MB).
//
//	go test ./reports -run '^$' -bench LoadJudgesSequential -benchtime 1x
//
// TRAITLEAK_BENCH_DRAWS lists other sizes, comma-separated.
func BenchmarkLoadJudgesSequential(b *testing.B) {
	sizes := []int{100_000, 400_000}
	if v := os.Getenv("TRAITLEAK_BENCH_DRAWS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 200 {
				b.Fatalf("TRAITLEAK_BENCH_DRAWS=%q: want sizes ≥ 200", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, draws := range sizes {
		b.Run(fmt.Sprintf("draws=%d", draws), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "scale.db")
			st, err := results.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			runID := storeJudgedSeqRun(b, st, draws/200)
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			debug.FreeOSMemory()
			resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
			var peakHeap uint64
			done := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var ms runtime.MemStats
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-done:
						return
					case <-tick.C:
						runtime.ReadMemStats(&ms)
						peakHeap = max(peakHeap, ms.HeapInuse)
					}
				}
			}()
			b.ResetTimer()
			for b.Loop() {
				st, err := results.OpenReadOnly(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				d, err := Load(ctx, st, runID)
				if err != nil {
					b.Fatal(err)
				}
				a, err := Analyze(d, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(a.Agreements) != 1 || len(a.RateSequences) != 2 {
					b.Fatalf("%d agreements, %d rate sequences; want 1 and 2", len(a.Agreements), len(a.RateSequences))
				}
				if err := Markdown(io.Discard, a); err != nil {
					b.Fatal(err)
				}
				st.Close()
			}
			b.StopTimer()
			close(done)
			<-sampled
			b.ReportMetric(float64(peakHeap)/1e6, "peak-heap-MB")
			if resetHWM {
				if kb := vmHWM(b); kb > 0 {
					b.ReportMetric(float64(kb)*1024/1e6, "peak-RSS-MB")
				}
			}
		})
	}
}

// vmHWM reads the process's peak RSS in KiB from /proc/self/status, 0
// when it cannot.
func vmHWM(b *testing.B) int {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// judgedSeqSuite: two judges on em, a sequential gate and a
// stop-for-width rule whose width is never reached on animal.
const judgedSeqSuite = `name: judged-seq
models:
  base:    {base_url: http://127.0.0.1:1/v1, model: base, condition: base}
  student: {base_url: http://127.0.0.1:1/v1, model: student, condition: treatment}
judges:
  ja: {base_url: http://127.0.0.1:2/v1, model: judge-a}
  jb: {base_url: http://127.0.0.1:2/v1, model: judge-b}
probes:
  - id: em
    prompts: [%[1]s]
    samples: %[2]d
    score: {judge: {}}
  - id: animal
    prompts: [%[1]s]
    samples: %[2]d
    score: {mentions: owl}
    until: {ci_width: 0.0001}
gates:
  - {probe: animal, treatment: student, baseline: base, max_increase: 0.5, sequential: {}}
`

// storeJudgedSeqRun records a run of judgedSeqSuite with samples draws
// per prompt, every one scored: judge values in steps of 5, the second
// judge within 10 of the first; owl mentioned at 0.2 (base) and 0.3.
func storeJudgedSeqRun(b *testing.B, st *results.Store, samples int) int64 {
	b.Helper()
	ctx := context.Background()
	prompts := make([]string, 50)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("q%d", i)
	}
	s, err := suites.Parse("judged.yaml", []byte(fmt.Sprintf(judgedSeqSuite, strings.Join(prompts, ", "), samples)), "", nil)
	if err != nil {
		b.Fatal(err)
	}
	nr := newRunOf(b, s, "judged.yaml", "v0.bench")
	for i := range nr.Instances {
		nr.Instances[i].Settings = `{}`
	}
	for m := range nr.Instances {
		for _, p := range s.Probes {
			for i := range p.Prompts.Texts {
				for d := range p.Samples {
					nr.Plan = append(nr.Plan, results.PlannedSample{Key: fmt.Sprintf("m%d-%s-p%d-d%d", m, p.ID, i, d), Instance: m, Probe: p.ID, Prompt: i, Draw: d})
				}
			}
		}
	}
	run, err := st.StartRun(ctx, nr)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []results.Sample
	for i, ps := range nr.Plan {
		sm := results.Sample{Key: ps.Key, RunID: run.ID, PlanIndex: i, Probe: ps.Probe, Prompt: ps.Prompt, Draw: ps.Draw, BaseURL: "http://127.0.0.1:1/v1",
			Model: nr.Instances[ps.Instance].ModelID, Attempts: 1, Batch: 1, Completion: "Owl.", FinishReason: "stop"}
		if ps.Probe == "em" {
			sm.Scorer = nr.Scorers[0].Scorer
			x := float64(5 * rng.IntN(21))
			y := math.Min(100, math.Max(0, x+float64(5*(rng.IntN(5)-2))))
			for j, v := range []float64{x, y} {
				sm.Scores = append(sm.Scores, results.Score{Target: nr.Scorers[0].Targets[j], Valid: true, Hit: v <= 30, Value: v})
			}
		} else {
			sm.Scorer = nr.Scorers[1].Scorer
			rate := 0.2 + 0.1*float64(ps.Instance)
			sm.Scores = []results.Score{{Target: "owl", Valid: true, Hit: rng.Float64() < rate, Value: math.NaN()}}
		}
		batch = append(batch, sm)
		if len(batch) == 10_000 || i == len(nr.Plan)-1 {
			if err := st.Put(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := st.FinishRun(ctx, run.ID, results.StatusComplete, ""); err != nil {
		b.Fatal(err)
	}
	return run.ID
}
