package lab

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// testCacheDir is the artifact cache shared by every test of this test
// binary that trains the real recipe: artifacts are content-addressed, so
// each stage (a seed's references, teachers, number sets, students) is
// trained once per binary whichever test needs it first, and later tests
// load it. TestMain creates it empty and removes it at exit, so every
// `go test` run still trains from scratch and checks the thresholds on
// freshly trained models.
var testCacheDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "traitleak-lab-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab tests: shared cache:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	testCacheDir = dir
	return m.Run()
}

// sharedBuild builds cfg with the binary's shared cache (see testCacheDir).
func sharedBuild(t *testing.T, cfg Config) *Zoo {
	t.Helper()
	cfg.CacheDir, cfg.NoCache, cfg.Retrain = testCacheDir, false, false
	z, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// sharedAux memoises RunAux per configuration for this test binary: the
// auxiliary-logit tests check different properties of the same runs.
var sharedAux = struct {
	mu   sync.Mutex
	runs map[string]*auxRun
}{runs: map[string]*auxRun{}}

type auxRun struct {
	once sync.Once
	res  AuxResult
	err  error
}

// auxResult returns RunAux(cfg), computed once per test binary.
func auxResult(t *testing.T, cfg AuxConfig) AuxResult {
	t.Helper()
	key := fmt.Sprintf("%+v", cfg)
	sharedAux.mu.Lock()
	r := sharedAux.runs[key]
	if r == nil {
		r = &auxRun{}
		sharedAux.runs[key] = r
	}
	sharedAux.mu.Unlock()
	r.once.Do(func() { r.res, r.err = RunAux(context.Background(), cfg) })
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.res
}
