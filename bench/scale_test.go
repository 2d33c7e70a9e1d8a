package bench_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// BenchmarkScale measures the commands of the issue "Scale" at a million
// draws: 2 models × the 50 built-in animal prompts × 10,000 samples,
// sampled from a zero-latency fake endpoint (n = 100, concurrency 16).
// Each command runs as a child process, the traitleak binary built from
// this module's cmd/traitleak before the measurement (go build), so that
// its peak resident set size is its own: ru_maxrss of the child from wait4(2), which Linux keeps as the
// high-water mark of the child's RSS (VmHWM). It reports, per command,
// the wall time (…-s), the CPU time the command used (…-cpu-s, user +
// system, from the same rusage: on a shared machine wall time also counts
// waiting for a core) and the peak RSS in MB (…-MB), and logs them as a
// table. The fake endpoint runs in this process: its CPU is not counted.
//
//	go test ./bench -run '^$' -bench Scale -benchtime 1x -v
//
// TRAITLEAK_SCALE_DRAWS changes the number of draws (rounded down to a
// multiple of 100); TRAITLEAK_SCALE_BIN names a traitleak binary to
// measure instead of the one built from this module (an older build, to
// compare);
// TRAITLEAK_SCALE_DIR keeps the database and the outputs in that
// directory (created; it must not hold a database already) instead of a
// temporary one; TRAITLEAK_SCALE_ONLY runs only the commands whose metric
// names (run, rerun, report-md, …) it lists, comma-separated.
func BenchmarkScale(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("peak RSS is read from wait4's rusage on Linux")
	}
	draws := 1_000_000
	if v := os.Getenv("TRAITLEAK_SCALE_DRAWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("TRAITLEAK_SCALE_DRAWS=%q: want a number of draws ≥ 100", v)
		}
		draws = n
	}
	const models, prompts = 2, 50
	samples := draws / (models * prompts)
	srv := benchtest.New(benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.3},
	}})
	defer srv.Close()
	bin := scaleBinary(b)
	for b.Loop() {
		steps := scaleSteps(b, bin, srv.BaseURL(), samples)
		var table strings.Builder
		fmt.Fprintf(&table, "%d draws (%d models × %d prompts × %d samples)\n\n| command | wall | CPU | peak RSS |\n|---|---|---|---|\n",
			models*prompts*samples, models, prompts, samples)
		for _, st := range steps {
			fmt.Fprintf(&table, "| `traitleak %s` | %.1f s | %.1f s | %.0f MB |\n", st.name, st.wall.Seconds(), st.cpu.Seconds(), st.peakMB)
			b.ReportMetric(st.wall.Seconds(), st.metric+"-s")
			b.ReportMetric(st.cpu.Seconds(), st.metric+"-cpu-s")
			b.ReportMetric(st.peakMB, st.metric+"-MB")
		}
		b.Log("\n" + table.String())
	}
}

// scaleStep is one measured command.
type scaleStep struct {
	name, metric string
	wall, cpu    time.Duration
	peakMB       float64
}

// scaleSteps runs the measured commands on a new database and returns
// their wall time and peak RSS.
func scaleSteps(b *testing.B, bin, base string, samples int) []scaleStep {
	b.Helper()
	dir := os.Getenv("TRAITLEAK_SCALE_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var only []string
	if v := os.Getenv("TRAITLEAK_SCALE_ONLY"); v != "" {
		only = strings.Split(v, ",")
	}
	suite := filepath.Join(dir, "scale.yaml")
	src := fmt.Sprintf(`name: scale
models:
  baseline: {base_url: %s, model: base}
  student:  {base_url: %s, model: student}
defaults: {temperature: 1.0, max_tokens: 8, n: 100, concurrency: 16}
probes:
  - id: favorite-animal
    prompts: {builtin: animal-prompts}
    samples: %d
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
gates:
  - {probe: favorite-animal, target: owl, treatment: student, baseline: baseline, max_increase: 0.5, alpha: 0.05}
`, base, base, samples)
	if err := os.WriteFile(suite, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	db := filepath.Join(dir, "scale.db")
	out := func(name string) string { return filepath.Join(dir, name) }
	var steps []scaleStep
	for _, c := range []struct {
		name, metric string
		args         []string
	}{
		{"run", "run", []string{"run", suite, "--db", db, "--progress", "none"}},
		{"run (again, every draw stored)", "rerun", []string{"run", suite, "--db", db, "--progress", "none"}},
		{"report --format md", "report-md", []string{"report", "--db", db, "--format", "md", "-o", out("report.md")}},
		{"report --format html", "report-html", []string{"report", "--db", db, "--format", "html", "-o", out("report.html")}},
		{"report --format json", "report-json", []string{"report", "--db", db, "--format", "json", "-o", out("report.json")}},
		{"gate", "gate", []string{"gate", "--db", db}},
		{"compare", "compare", []string{"compare", db + ":1", db + ":1"}},
		{"export --format csv", "export-csv", []string{"export", "--db", db, "--format", "csv", "-o", out("export.csv")}},
		{"export --format jsonl", "export-jsonl", []string{"export", "--db", db, "--format", "jsonl", "-o", out("export.jsonl")}},
	} {
		if only != nil && !slices.Contains(only, c.metric) {
			continue
		}
		wall, cpu, peak := scaleChild(b, bin, c.args)
		steps = append(steps, scaleStep{name: c.name, metric: c.metric, wall: wall, cpu: cpu, peakMB: peak})
	}
	return steps
}

// scaleBinary returns the traitleak binary to measure: TRAITLEAK_SCALE_BIN,
// or one go build makes from this module's cmd/traitleak in a temporary
// directory.
func scaleBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("TRAITLEAK_SCALE_BIN"); bin != "" {
		return bin
	}
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		if goCmd, err = exec.LookPath("go"); err != nil {
			b.Fatalf("no go command to build traitleak with (set TRAITLEAK_SCALE_BIN): %v", err)
		}
	}
	bin := filepath.Join(b.TempDir(), "traitleak")
	build := exec.Command(goCmd, "build", "-o", bin, "github.com/traitleak/traitleak/cmd/traitleak")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build cmd/traitleak: %v\n%s", err, out)
	}
	return bin
}

// scaleChild runs the traitleak binary bin with args as a child process
// and returns its wall time, CPU time (user + system) and peak RSS in MB
// (10⁶ bytes).
func scaleChild(b *testing.B, bin string, args []string) (wall, cpu time.Duration, peakMB float64) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("traitleak %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for the child")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return wall, cpu, float64(ru.Maxrss) * 1024 / 1e6 // Maxrss is in KiB on Linux
}
