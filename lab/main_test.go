package lab

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/traitleak/traitleak/internal/labtestcache"
)

// testCacheDir is the artifact cache shared by every test of this test
// binary that trains the real recipe, and by the other test binaries of
// the same `go test` run (internal/labtestcache): artifacts are
// content-addressed, so each stage (a seed's references, teachers, number
// sets, students) is trained once per run whichever test, or binary,
// needs it first, and later builds load it. Each `go test` run starts
// from an empty cache, so every run still trains from scratch and checks
// the thresholds on freshly trained models.
var testCacheDir string

// testCache holds testCacheDir and the lock of its builds.
var testCache *labtestcache.Cache

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	c, err := labtestcache.Open("github.com/traitleak/traitleak/lab")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab tests: shared cache:", err)
		return 2
	}
	defer c.Close()
	testCache, testCacheDir = c, c.Dir
	return m.Run()
}

// sharedBuild builds cfg with the shared cache (see testCacheDir), one
// build at a time across the run's binaries (testCache.Lock). The heavy
// tests run in parallel (t.Parallel), and two concurrent builds that need
// the same stage would both train it: the cache only saves what is
// already stored. One build at a time still keeps both cores busy (Build
// runs GOMAXPROCS training jobs), and the later build loads what the
// earlier one trained; the tests' evaluations run beside the builds.
func sharedBuild(t *testing.T, cfg Config) *Zoo {
	t.Helper()
	cfg.CacheDir, cfg.NoCache, cfg.Retrain = testCacheDir, false, false
	unlock, err := testCache.Lock()
	if err != nil {
		t.Fatal(err)
	}
	z, err := Build(context.Background(), cfg)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// acceptanceSeeds are the animal lab's seeds that the acceptance and claim
// tests build, in soft and hard mode (the two modes share their
// references, teachers and number sets), once per test binary through
// sharedBuild. Two seeds, not the default three: a seed costs about 2.4 s
// of CPU in soft mode and 3 s in hard mode, and each test's threshold is
// set beside the measured values of seeds 1 and 2 in its comment.
var acceptanceSeeds = []int{1, 2}

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
