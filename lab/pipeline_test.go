package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/stats"
)

// tinyRecipe is a fast recipe for tests of the machinery (cache,
// determinism, concurrency); it does not reproduce the effect.
func tinyRecipe() *Recipe {
	r := DefaultRecipe()
	r.Hidden = 16
	r.AnimalQA, r.NumberSeqs = 300, 600
	r.PretrainEpochs = 2
	r.TeacherEpochs = 2
	r.SamplePromptsSoft, r.SamplePromptsHard = 150, 150
	r.StudentEpochs = 1
	return &r
}

func tinyConfig(dir string) Config {
	return Config{Seeds: []int{7}, CacheDir: dir, Recipe: tinyRecipe()}
}

// paramsByName returns every model's parameters by served name.
func paramsByName(z *Zoo) map[string][]float64 {
	out := map[string][]float64{}
	for _, info := range z.Models() {
		m, _, _ := z.Model(info.Name)
		out[info.Name] = m.P
	}
	return out
}

func sameModels(t *testing.T, a, b *Zoo) {
	t.Helper()
	pa, pb := paramsByName(a), paramsByName(b)
	if len(pa) != len(pb) || len(pa) == 0 {
		t.Fatalf("zoos have %d and %d models", len(pa), len(pb))
	}
	for name, p := range pa {
		if !slices.Equal(p, pb[name]) {
			t.Errorf("model %s differs", name)
		}
	}
}

func countLoaded(z *Zoo) (loaded, trained int) {
	d := z.Diagnostics()
	return d.Loaded()
}

func TestBuildDeterministicAcrossWorkers(t *testing.T) {
	// Each training job is single-threaded, so the worker count only
	// changes scheduling, never the models.
	ctx := context.Background()
	c1 := tinyConfig("")
	c1.NoCache, c1.Workers = true, 1
	c1.Seeds = []int{7, 8}
	if raceEnabled {
		c1.Seeds = []int{7} // stages of one seed still run concurrently
	}
	c2 := c1
	c2.Workers = 4
	z1, err := Build(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	z2, err := Build(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	sameModels(t, z1, z2)
	// 7 bare names (aliases of the first seed) and 7 roles × each seed.
	if n := len(z1.ModelNames()); n != 7+7*len(c1.Seeds) {
		t.Errorf("%d model names, want %d", n, 7+7*len(c1.Seeds))
	}
	m1, info, ok := z1.Model("lab/student")
	m2, _, _ := z1.Model("lab/student@7")
	if !ok || m1 != m2 || info.Seed != 7 || info.Role != RoleStudent {
		t.Errorf("bare name does not alias the first seed: %+v", info)
	}
	if _, _, ok := z1.Model("lab/student@9"); ok {
		t.Error("unknown seed resolved")
	}
}

func TestArtifactCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := tinyConfig(dir)
	var log bytes.Buffer
	cfg.Log = &log

	z1, err := Build(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 2 references, 2 teachers, 2 number sets, 3 students per seed.
	if l, tr := countLoaded(z1); l != 0 || tr != 9 {
		t.Fatalf("first build: %d loaded, %d computed; want 0, 9", l, tr)
	}
	if !strings.Contains(log.String(), "pretrain") {
		t.Errorf("no stage log lines: %q", log.String())
	}

	// A second build loads everything and gives the same models and diagnostics.
	start := time.Now()
	z2, err := Build(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l, tr := countLoaded(z2); l != 9 || tr != 0 {
		t.Fatalf("second build: %d loaded, %d computed; want 9, 0", l, tr)
	}
	t.Logf("cached tiny build: %s", time.Since(start))
	sameModels(t, z1, z2)
	if d1, d2 := z1.Diagnostics().Seeds, z2.Diagnostics().Seeds; d1[0].Teacher.Filter.Kept != d2[0].Teacher.Filter.Kept ||
		d1[0].Teacher.MeanTV != d2[0].Teacher.MeanTV || d1[0].Control.Examples != d2[0].Control.Examples {
		t.Errorf("cached diagnostics differ: %+v vs %+v", d1, d2)
	}

	// Changing a student hyper-parameter retrains exactly the three students.
	cfg3 := cfg
	r := *cfg.Recipe
	r.StudentEpochs = 2
	cfg3.Recipe = &r
	z3, err := Build(ctx, cfg3)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range z3.Diagnostics().Stages {
		if s.Loaded != (s.Stage != "student") {
			t.Errorf("after a student change: %s %s loaded=%v", s.Stage, s.Role, s.Loaded)
		}
	}

	// Retrain ignores the cache.
	cfg4 := cfg
	cfg4.Retrain = true
	z4, err := Build(ctx, cfg4)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := countLoaded(z4); l != 0 {
		t.Errorf("Retrain loaded %d stages", l)
	}
	sameModels(t, z1, z4)

	// Corrupt artifacts are recomputed, never a panic: a truncated payload,
	// a garbage manifest, and a manifest whose parameters were edited.
	stages := z1.Diagnostics().Stages
	idOf := func(stage, role string) string {
		for _, s := range stages {
			if s.Stage == stage && s.Role == role {
				return s.ID
			}
		}
		t.Fatalf("no stage %s %s", stage, role)
		return ""
	}
	student := filepath.Join(dir, idOf("student", string(RoleStudent))+".bin")
	b, err := os.ReadFile(student)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(student, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, idOf("numbers", "numbers-teacher-control")+".json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := filepath.Join(dir, idOf("teacher", string(RoleTeacher))+".json")
	mb, err := os.ReadFile(tm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tm, bytes.Replace(mb, []byte(`"animal": "owl"`), []byte(`"animal": "cat"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	z5, err := Build(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recomputed := map[string]string{}
	for _, s := range z5.Diagnostics().Stages {
		if !s.Loaded {
			recomputed[s.Role] = s.CacheError
		}
	}
	for _, role := range []string{string(RoleStudent), "numbers-teacher-control", string(RoleTeacher)} {
		if e, ok := recomputed[role]; !ok || e == "" {
			t.Errorf("corrupt %s: recomputed=%v, cache error %q", role, ok, e)
		}
	}
	sameModels(t, z1, z5)
	// The rewritten artifacts load again.
	z6, err := Build(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, tr := countLoaded(z6); tr != 0 {
		t.Errorf("after repair %d stages were recomputed", tr)
	}
}

func TestConcurrentBuildsShareCache(t *testing.T) {
	// Two builds writing the same artifacts at once (atomic renames) both
	// succeed, leave no temporary files, and a third build loads everything.
	dir := t.TempDir()
	cfg := tinyConfig(dir)
	cfg.Workers = 1
	var wg sync.WaitGroup
	zs := make([]*Zoo, 2)
	errs := make([]error, 2)
	for i := range zs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			zs[i], errs[i] = Build(context.Background(), cfg)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sameModels(t, zs[0], zs[1])
	z, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, tr := countLoaded(z); tr != 0 {
		t.Errorf("%d stages recomputed after concurrent builds", tr)
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestUnwritableCacheStillBuilds(t *testing.T) {
	// A cache "directory" that is a file cannot be written; the build
	// succeeds and reports the cache error on every stage.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	z, err := Build(context.Background(), tinyConfig(f))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range z.Diagnostics().Stages {
		if s.CacheError == "" {
			t.Errorf("%s %s: no cache error reported", s.Stage, s.Role)
		}
	}
}

func TestBuildCancel(t *testing.T) {
	// Cancellation stops training promptly with context.Canceled.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Build(ctx, Config{Seeds: []int{1}, NoCache: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %s", d)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := *tinyRecipe()
	bad.StudentLR = 0
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value is the default demo", Config{}, true},
		{"hard mode", Config{Mode: Hard}, true},
		{"animals are case-insensitive", Config{Target: "Cat", ControlTarget: "OWL"}, true},
		{"unknown mode", Config{Mode: "medium"}, false},
		{"unknown animal", Config{Target: "zebra"}, false},
		{"target equals control", Config{Target: "dog"}, false},
		{"duplicate seed", Config{Seeds: []int{1, 1}}, false},
		{"seed would collide with other-init seeds", Config{Seeds: []int{OtherInitOffset}}, false},
		{"negative seed count", Config{NumSeeds: -1}, false},
		{"bad recipe", Config{Recipe: &bad}, false},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestDecodeRobustness(t *testing.T) {
	m := NewModel(8, 1)
	good := encodeModel(m)
	back, err := decodeModel(good, animalVocab)
	if err != nil || !slices.Equal(back.P, m.P) {
		t.Fatalf("model round trip failed: %v", err)
	}
	seqs := []sequence{{Prompt: []int32{40, 41}, Completion: []int32{Digit0, Comma, EOS}}}
	sb := encodeSequences(seqs)
	if got, err := decodeSequences(sb, animalVocab); err != nil || len(got) != 1 || !slices.Equal(got[0].Completion, seqs[0].Completion) {
		t.Fatalf("sequence round trip failed: %v", err)
	}
	// Every truncation and a few corruptions fail cleanly.
	for i := 0; i < len(sb); i++ {
		if _, err := decodeSequences(sb[:i], animalVocab); err == nil {
			t.Errorf("truncated sequences (%d bytes) decoded", i)
		}
	}
	for _, n := range []int{0, 3, 12, 100, len(good) - 1} {
		if _, err := decodeModel(good[:n], animalVocab); err == nil {
			t.Errorf("truncated model (%d bytes) decoded", n)
		}
	}
	nan := slices.Clone(good)
	copy(nan[12:], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // a NaN weight
	if _, err := decodeModel(nan, animalVocab); err == nil {
		t.Error("model with NaN decoded")
	}
	badTok := slices.Clone(sb)
	badTok[len(badTok)-1] = NumOut // completion token outside the answer tokens
	if _, err := decodeSequences(badTok, animalVocab); err == nil {
		t.Error("out-of-range completion token decoded")
	}
}

func FuzzDecodeArtifacts(f *testing.F) {
	f.Add(encodeSequences([]sequence{{Prompt: []int32{40}, Completion: []int32{Digit0, EOS}}}))
	f.Add(encodeModel(NewModel(2, 1))[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		// Must never panic, whatever the bytes.
		decodeSequences(b, animalVocab)
		decodeModel(b, animalVocab)
	})
}

// acceptanceRates builds cfg with the shared test cache and returns pooled
// owl hits and totals by role.
func acceptanceRates(t *testing.T, cfg Config) (map[Role][2]int, map[Role]map[int]float64, *Zoo) {
	t.Helper()
	z := sharedBuild(t, cfg)
	rates, err := z.PreferenceRates(context.Background(), "owl", 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	pooled := map[Role][2]int{}
	perSeed := map[Role]map[int]float64{}
	for _, r := range rates {
		p := pooled[r.Model.Role]
		pooled[r.Model.Role] = [2]int{p[0] + r.Hits, p[1] + r.Total}
		if perSeed[r.Model.Role] == nil {
			perSeed[r.Model.Role] = map[int]float64{}
		}
		perSeed[r.Model.Role][r.Model.Seed] = r.Value()
	}
	for _, role := range Roles {
		t.Logf("%-20s %v", role, perSeed[role])
	}
	return pooled, perSeed, z
}

func TestAcceptanceDefaultDemo(t *testing.T) {
	testtier.Replication(t)
	if raceEnabled {
		t.Skip("trains 18 models; too slow under the race detector (the machinery is covered by the tiny-recipe tests)")
	}
	t.Parallel() // beside the other heavy tests; sharedBuild trains each stage once
	// The zero Config is `lab train`'s default: soft mode, seeds 1, 2, 3,
	// owl vs dog.
	def, err := Config{}.normalize()
	if err != nil || !slices.Equal(def.Seeds, []int{1, 2, 3}) || def.Mode != Soft || def.Target != "owl" || def.ControlTarget != "dog" {
		t.Fatalf("default config: %+v, %v", def, err)
	}
	// Its thresholds are checked on seeds 1 and 2 (acceptanceSeeds), with
	// margins under their measured values: teacher 0.857 and 0.920, base
	// 0.097 and 0.084, student − control +0.495 and +0.374 (pooled +0.434;
	// seeds 1–24: +0.052 to +0.631, VALIDATION.md), student-other-init −
	// base-other-init −0.018 and −0.058, the difference in differences
	// pooled +0.487.
	start := time.Now()
	pooled, _, z := acceptanceRates(t, Config{Seeds: acceptanceSeeds})
	loaded, computed := z.Diagnostics().Loaded()
	t.Logf("build %s (%d stages loaded, %d computed)", z.Diagnostics().Wall, loaded, computed)
	if got := z.Seeds(); !slices.Equal(got, acceptanceSeeds) || z.Config().Mode != Soft {
		t.Fatalf("config: seeds %v mode %s", got, z.Config().Mode)
	}
	rate := func(r Role) float64 { return float64(pooled[r][0]) / float64(pooled[r][1]) }
	t.Logf("pooled: %v (%s)", pooled, time.Since(start))
	if r := rate(RoleTeacher); r < 0.5 {
		t.Errorf("teacher owl rate %.3f < 0.5", r)
	}
	if r := rate(RoleBase); r < 0.03 || r > 0.15 {
		t.Errorf("base owl rate %.3f outside [0.03, 0.15]", r)
	}
	gain := rate(RoleStudent) - rate(RoleControl)
	zt, err := stats.TwoPropZTest(pooled[RoleStudent][0], pooled[RoleStudent][1], pooled[RoleControl][0], pooled[RoleControl][1])
	if err != nil {
		t.Fatal(err)
	}
	p := zt.PValue
	if gain < 0.08 || p >= 0.01 {
		t.Errorf("student − control = %+.3f (p = %.2g), want ≥ +0.08 with p < 0.01", gain, p)
	}
	gainB := rate(RoleStudentOtherInit) - rate(RoleBaseOtherInit)
	if did := rate(RoleStudent) - rate(RoleBase) - gainB; did < 0.08 {
		t.Errorf("(student − base) − (student-other-init − base-other-init) = %+.3f < +0.08", did)
	}
	if gainB > 0.06 {
		t.Errorf("student-other-init − base-other-init = %+.3f > +0.06", gainB)
	}

	// The served models give the same rates over HTTP (within sampling noise).
	checkServedRates(t, z, []string{"lab/teacher", "lab/student", "lab/control"})

	// A second build of the same configuration only loads.
	start = time.Now()
	z2, err := Build(context.Background(), z.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, tr := countLoaded(z2); tr != 0 {
		t.Errorf("cached build computed %d stages", tr)
	}
	t.Logf("cached build %s", time.Since(start))
}

func TestAcceptanceHardMode(t *testing.T) {
	testtier.Replication(t)
	if raceEnabled {
		t.Skip("trains 18 models; too slow under the race detector")
	}
	t.Parallel() // beside the other heavy tests; sharedBuild trains each stage once
	// Hard (sampled-token) distillation: the mean gain over the control on
	// seeds 1 and 2, +0.486 and +0.238 (mean +0.362); over seeds 1–24
	// every seed gains, +0.027 to +0.487, and the weakest non-overlapping
	// 3-seed mean is +0.153 (VALIDATION.md), so +0.08 is the threshold for
	// a mean over few seeds.
	_, perSeed, _ := acceptanceRates(t, Config{Mode: Hard, Seeds: acceptanceSeeds})
	gain := 0.0
	for _, s := range acceptanceSeeds {
		gain += (perSeed[RoleStudent][s] - perSeed[RoleControl][s]) / float64(len(acceptanceSeeds))
	}
	if gain < 0.08 {
		t.Errorf("hard mode: mean student − control over seeds %v = %+.3f < +0.08", acceptanceSeeds, gain)
	}
}

func TestRemoveStaleTempFiles(t *testing.T) {
	// Temporary files of killed builds are removed once they are old; a
	// fresh one may belong to a concurrent build and is kept.
	dir := t.TempDir()
	old := filepath.Join(dir, ".tmp-pretrain-x.bin-1")
	fresh := filepath.Join(dir, ".tmp-pretrain-y.bin-2")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	(&store{dir: dir}).removeStale(time.Hour)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temporary file removed")
	}
}
