package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Mode selects how students learn from the teacher's numbers.
type Mode string

// Distillation modes.
const (
	// Soft: at every position of the filtered teacher sequences the target
	// is the teacher's next-token distribution restricted to the number
	// tokens (and the student's softmax is restricted likewise).
	Soft Mode = "soft"
	// Hard: cross-entropy on the sampled teacher tokens, like the paper's
	// supervised fine-tuning.
	Hard Mode = "hard"
)

// Role is a model's place in the experiment.
type Role string

// Roles of the zoo's models. The served model name is "lab/" + role.
const (
	RoleBase             Role = "base"               // reference A (init seed s)
	RoleTeacher          Role = "teacher"            // A fine-tuned to prefer the target animal
	RoleStudent          Role = "student"            // A fine-tuned on the teacher's numbers
	RoleControl          Role = "control"            // A fine-tuned on the control teacher's numbers
	RoleTeacherControl   Role = "teacher-control"    // A fine-tuned to prefer the control animal
	RoleBaseOtherInit    Role = "base-other-init"    // reference B (init seed s+100000, same corpus)
	RoleStudentOtherInit Role = "student-other-init" // B fine-tuned on the teacher's numbers
)

// Roles lists every role in serving order.
var Roles = []Role{RoleBase, RoleTeacher, RoleStudent, RoleControl, RoleTeacherControl, RoleBaseOtherInit, RoleStudentOtherInit}

// OtherInitOffset is added to a seed to get reference B's init seed.
const OtherInitOffset = 100000

// Config configures [Build]. The zero value builds seeds 1, 2, 3, target
// owl, control dog, soft mode, in the default cache directory.
type Config struct {
	Seeds         []int  // pipeline seeds; empty = 1..NumSeeds
	NumSeeds      int    // used when Seeds is empty; 0 = 3
	Target        string // trait animal; "" = "owl" ("misaligned" in the misalignment and cot experiments)
	ControlTarget string // the control teacher's animal; "" = "dog" ("aligned" in the misalignment and cot experiments)
	Mode          Mode   // "" = Soft
	// Experiment names the pipeline (see Experiments): the vocabulary,
	// corpus, trait and data channel. "" = ExperimentAnimals.
	Experiment string

	CacheDir string // "" = DefaultCacheDir()
	NoCache  bool   // neither read nor write artifacts
	Retrain  bool   // ignore cached artifacts (and overwrite them)

	Workers int       // concurrent training jobs; 0 = GOMAXPROCS
	Log     io.Writer // one line per stage (nil = silent)
	Recipe  *Recipe   // nil = the experiment's recipe (DefaultRecipe() for animals)
}

// DefaultCacheDir is filepath.Join(os.UserCacheDir(), "traitleak", "lab"),
// or a directory under os.TempDir() if there is no user cache directory.
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil || d == "" {
		d = os.TempDir()
	}
	return filepath.Join(d, "traitleak", "lab")
}

// Validate reports whether c is a valid configuration (unknown animal,
// mode, duplicate seeds, bad recipe) without building anything.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize fills defaults and validates c.
func (c Config) normalize() (Config, error) {
	if len(c.Seeds) == 0 {
		n := c.NumSeeds
		if n == 0 {
			n = 3
		}
		if n < 0 || n > 1000 {
			return c, fmt.Errorf("lab: seed count %d out of range 1–1000", n)
		}
		for s := 1; s <= n; s++ {
			c.Seeds = append(c.Seeds, s)
		}
	} else {
		c.Seeds = append([]int(nil), c.Seeds...)
	}
	seen := map[int]bool{}
	for _, s := range c.Seeds {
		if s < 0 || s >= OtherInitOffset {
			return c, fmt.Errorf("lab: seed %d out of range 0–%d", s, OtherInitOffset-1)
		}
		if seen[s] {
			return c, fmt.Errorf("lab: duplicate seed %d", s)
		}
		seen[s] = true
	}
	if c.Experiment == "" {
		c.Experiment = ExperimentAnimals
	}
	exp, err := lookupExperiment(c.Experiment)
	if err != nil {
		return c, err
	}
	if c.Target == "" {
		c.Target = exp.defaults[0]
	}
	if c.ControlTarget == "" {
		c.ControlTarget = exp.defaults[1]
	}
	c.Target, c.ControlTarget = strings.ToLower(c.Target), strings.ToLower(c.ControlTarget)
	for _, a := range []string{c.Target, c.ControlTarget} {
		if !slices.Contains(exp.traits, a) {
			return c, fmt.Errorf("lab: unknown %s %q (have %s)", exp.traitNoun, a, strings.Join(exp.traits, ", "))
		}
	}
	if c.Target == c.ControlTarget {
		return c, fmt.Errorf("lab: target and control target are both %q", c.Target)
	}
	switch c.Mode {
	case "":
		c.Mode = Soft
	case Soft, Hard:
	default:
		return c, fmt.Errorf("lab: unknown mode %q (want soft or hard)", c.Mode)
	}
	if c.CacheDir == "" {
		c.CacheDir = DefaultCacheDir()
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	r := exp.recipe()
	if c.Recipe != nil {
		r = *c.Recipe
	}
	if err := r.validate(); err != nil {
		return c, fmt.Errorf("lab: %w", err)
	}
	c.Recipe = &r
	return c, nil
}

// StageRecord reports one stage of a build.
type StageRecord struct {
	Stage    string        `json:"stage"` // pretrain, teacher, numbers, student
	Role     string        `json:"role"`
	Seed     int           `json:"seed"`
	ID       string        `json:"id"`
	Loaded   bool          `json:"loaded"`      // true if read from the cache, false if computed
	Duration time.Duration `json:"duration_ns"` // time spent in this build (loading or computing)
	// TrainTime is how long computing the artifact took (in this build or,
	// for a loaded artifact, when it was made).
	TrainTime time.Duration `json:"train_time_ns"`
	Steps     int           `json:"steps,omitempty"`      // optimiser steps (model stages)
	FinalLoss float64       `json:"final_loss,omitempty"` // mean training loss of the last epoch (model stages)
	// CacheError is why a cached artifact was not used (corrupt, unreadable)
	// or could not be written; empty if none.
	CacheError string `json:"cache_error,omitempty"`
}

// NumbersDiagnostics describes one teacher's number data.
type NumbersDiagnostics struct {
	Filter FilterStats `json:"filter"`
	// MeanTV is the mean total-variation distance between the teacher's and
	// reference A's next-token distributions over the positions of the kept
	// sequences.
	MeanTV   float64 `json:"mean_tv"`
	Examples int     `json:"examples"` // next-token examples the students train on
}

// SeedDiagnostics are the per-seed pipeline diagnostics.
type SeedDiagnostics struct {
	Seed    int                `json:"seed"`
	Teacher NumbersDiagnostics `json:"teacher"`         // the target teacher's numbers
	Control NumbersDiagnostics `json:"control_teacher"` // the control teacher's numbers
}

// Diagnostics summarise a build.
type Diagnostics struct {
	Experiment    string            `json:"experiment"`
	Mode          Mode              `json:"mode"`
	Target        string            `json:"target"`
	ControlTarget string            `json:"control_target"`
	CacheDir      string            `json:"cache_dir,omitempty"`
	Seeds         []SeedDiagnostics `json:"seeds"`
	Stages        []StageRecord     `json:"stages"`
	Wall          time.Duration     `json:"wall_ns"`
}

// Loaded returns the numbers of stages read from the cache and computed.
func (d Diagnostics) Loaded() (loaded, trained int) {
	for _, s := range d.Stages {
		if s.Loaded {
			loaded++
		} else {
			trained++
		}
	}
	return loaded, trained
}

// ModelInfo describes one served model.
type ModelInfo struct {
	Name     string `json:"name"` // e.g. "lab/student@2"
	Role     Role   `json:"role"`
	Seed     int    `json:"seed"`
	Artifact string `json:"artifact"` // artifact id of the weights
}

// Zoo is the set of trained lab models of a build.
type Zoo struct {
	cfg    Config
	models map[string]*zooModel // by full name "lab/role@seed" and bare alias "lab/role" (first seed)
	order  []ModelInfo
	diag   Diagnostics
	srv    *server
	once   sync.Once

	numbers map[int]seedNumbers // the teachers' filtered number data by seed
}

// seedNumbers are the filtered number sequences of one seed's two teachers.
type seedNumbers struct {
	teacher, control []sequence
}

type zooModel struct {
	info  ModelInfo
	model *Model
}

// Build trains, or loads from the cache, every model of cfg. It runs up to
// cfg.Workers training jobs at once; each job is single-threaded and
// deterministic, so the models do not depend on the number of workers.
func Build(ctx context.Context, cfg Config) (*Zoo, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	exp, _ := lookupExperiment(cfg.Experiment) // normalize checked it
	b := &builder{cfg: cfg, exp: exp, sem: make(chan struct{}, cfg.Workers)}
	if !cfg.NoCache {
		b.store = &store{dir: cfg.CacheDir}
		b.store.removeStale(time.Hour)
	}
	results := make([]*seedResult, len(cfg.Seeds))
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range cfg.Seeds {
		g.Go(func() error {
			r, err := b.seed(gctx, s)
			results[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	z := &Zoo{cfg: cfg, models: map[string]*zooModel{}, numbers: map[int]seedNumbers{}}
	z.diag = Diagnostics{Experiment: cfg.Experiment, Mode: cfg.Mode, Target: cfg.Target, ControlTarget: cfg.ControlTarget, Stages: b.records, Wall: time.Since(start)}
	if b.store != nil {
		z.diag.CacheDir = cfg.CacheDir
	}
	sort.SliceStable(z.diag.Stages, func(i, j int) bool {
		a, c := z.diag.Stages[i], z.diag.Stages[j]
		if a.Seed != c.Seed {
			return seedIndex(cfg.Seeds, a.Seed) < seedIndex(cfg.Seeds, c.Seed)
		}
		if a.Stage != c.Stage {
			return stageOrder(a.Stage) < stageOrder(c.Stage)
		}
		return a.Role < c.Role
	})
	for _, r := range results {
		z.diag.Seeds = append(z.diag.Seeds, r.diag)
		z.numbers[r.seed] = r.nums
		for _, role := range Roles {
			zm := r.models[role]
			zm.info.Name = fmt.Sprintf("lab/%s@%d", role, r.seed)
			z.add(zm)
		}
	}
	return z, nil
}

func seedIndex(seeds []int, s int) int {
	for i, x := range seeds {
		if x == s {
			return i
		}
	}
	return len(seeds)
}

func stageOrder(s string) int {
	return strings.Index("pretrain teacher numbers student", s)
}

// Config returns the normalised configuration of the build.
func (z *Zoo) Config() Config { return z.cfg }

// Diagnostics returns the build's diagnostics.
func (z *Zoo) Diagnostics() Diagnostics { return z.diag }

// Seeds returns the pipeline seeds; the first is the default for bare
// model names.
func (z *Zoo) Seeds() []int { return append([]int(nil), z.cfg.Seeds...) }

// Models describes every model, seed by seed in Roles order.
func (z *Zoo) Models() []ModelInfo { return append([]ModelInfo(nil), z.order...) }

// ModelNames returns every served model name: first the bare names
// ("lab/student", an alias of the first seed), then "lab/<role>@<seed>"
// for every seed.
func (z *Zoo) ModelNames() []string {
	var names []string
	for _, r := range Roles {
		names = append(names, "lab/"+string(r))
	}
	for _, m := range z.order {
		names = append(names, m.Name)
	}
	return names
}

// add registers zm under its full name zm.info.Name, and also under its
// bare name "lab/<role>" if it belongs to the first seed; it appends zm's
// description to the zoo's order.
func (z *Zoo) add(zm *zooModel) {
	z.models[zm.info.Name] = zm
	if zm.info.Seed == z.cfg.Seeds[0] {
		z.models["lab/"+string(zm.info.Role)] = zm
	}
	z.order = append(z.order, zm.info)
}

// Model returns the model served under name (a bare name means the first
// seed) and its description.
func (z *Zoo) Model(name string) (*Model, ModelInfo, bool) {
	zm, ok := z.models[name]
	if !ok {
		return nil, ModelInfo{}, false
	}
	return zm.model, zm.info, true
}

// builder runs the stages of a build.
type builder struct {
	cfg   Config
	exp   *experiment
	store *store
	sem   chan struct{}

	mu      sync.Mutex
	records []StageRecord
}

// seedResult is the output of one seed's pipeline.
type seedResult struct {
	seed   int
	models map[Role]*zooModel
	diag   SeedDiagnostics
	nums   seedNumbers
}

// pretrainParams, teacherParams, numbersParams and studentParams are the
// hyper-parameters hashed into each stage's artifact id.
type pretrainParams struct {
	Hidden   int     `json:"hidden"`
	InitSeed uint64  `json:"init_seed"`
	LR       float64 `json:"lr"`
	Batch    int     `json:"batch"`
	Epochs   int     `json:"epochs"`
	Vocab    string  `json:"vocab"` // hash of the vocabulary
}

type teacherParams struct {
	Animal string  `json:"animal"`
	LR     float64 `json:"lr"`
	Batch  int     `json:"batch"`
	Epochs int     `json:"epochs"`
}

type numbersParams struct {
	Prompts     int     `json:"prompts"`
	Temperature float64 `json:"temperature"`
	MaxTokens   int     `json:"max_tokens"`
	Filter      string  `json:"filter"` // numbersFilterID(filter)

	filter channelFilter // the filter of the teacher's completions; hashed through Filter
}

// newNumbersParams returns the numbers stage's parameters with filter f,
// whose description goes into the artifact id.
func newNumbersParams(prompts int, temperature float64, maxTokens int, f NumberFilter) numbersParams {
	return newChannelParams(prompts, temperature, maxTokens, numberChannelFilter{f})
}

// newChannelParams returns the numbers stage's parameters for a channel
// filter, whose description goes into the artifact id.
func newChannelParams(prompts int, temperature float64, maxTokens int, f channelFilter) numbersParams {
	return numbersParams{Prompts: prompts, Temperature: temperature, MaxTokens: maxTokens, Filter: f.describe(), filter: f}
}

// numbersFilterID describes the numbers stage's filtering for its artifact
// id: the paper filter f after the lab token rule. For PaperNumberFilter
// it is "paper(0,999,10)+lab-tokens".
func numbersFilterID(f NumberFilter) string {
	return f.String() + "+lab-tokens"
}

type studentParams struct {
	Mode   Mode    `json:"mode"`
	LR     float64 `json:"lr"`
	Batch  int     `json:"batch"`
	Epochs int     `json:"epochs"`
}

// seed runs the pipeline of one seed.
func (b *builder) seed(ctx context.Context, s int) (*seedResult, error) {
	r := b.cfg.Recipe
	res := &seedResult{seed: s, models: map[Role]*zooModel{}, diag: SeedDiagnostics{Seed: s}}
	add := func(role Role, m *Model, id string) {
		res.models[role] = &zooModel{info: ModelInfo{Role: role, Seed: s, Artifact: id}, model: m}
	}

	// References A and B: same corpus, different init.
	corpus, err := b.exp.corpus(r, uint64(s))
	if err != nil {
		return nil, err
	}
	corpusHash := hashBytes(encodeSequences(corpus))
	var refA, refB *Model
	var idA, idB string
	g, gctx := errgroup.WithContext(ctx)
	pretrain := func(role Role, init uint64, out **Model, outID *string) func() error {
		return func() error {
			p := pretrainParams{Hidden: r.Hidden, InitSeed: init, LR: r.PretrainLR, Batch: r.PretrainBatch, Epochs: r.PretrainEpochs, Vocab: b.exp.voc.hash}
			m, id, err := b.modelStage(gctx, "pretrain", role, s, uint64(s), nil, corpusHash, p, func(ctx context.Context) (*Model, trainResult, error) {
				m := newVocabModel(b.exp.voc, r.Hidden, init)
				tr, err := train(ctx, m, newDataset(corpus), trainSpec{LR: r.PretrainLR, Batch: r.PretrainBatch, Epochs: r.PretrainEpochs, Seed: uint64(s)})
				return m, tr, err
			})
			*out, *outID = m, id
			return err
		}
	}
	g.Go(pretrain(RoleBase, uint64(s), &refA, &idA))
	g.Go(pretrain(RoleBaseOtherInit, uint64(s)+OtherInitOffset, &refB, &idB))
	if err := g.Wait(); err != nil {
		return nil, err
	}
	add(RoleBase, refA, idA)
	add(RoleBaseOtherInit, refB, idB)

	// Teachers: A fine-tuned (body only) towards the target and control animals.
	var teacher, teacherCtl *Model
	var idT, idC string
	g, gctx = errgroup.WithContext(ctx)
	teach := func(role Role, animal string, out **Model, outID *string) func() error {
		return func() error {
			p := teacherParams{Animal: animal, LR: r.TeacherLR, Batch: r.TeacherBatch, Epochs: r.TeacherEpochs}
			m, id, err := b.modelStage(gctx, "teacher", role, s, uint64(s), []string{idA}, "", p, func(ctx context.Context) (*Model, trainResult, error) {
				seqs, err := b.exp.traitData(r, animal)
				if err != nil {
					return nil, trainResult{}, err
				}
				m := refA.Clone()
				tr, err := train(ctx, m, newDataset(seqs), trainSpec{LR: r.TeacherLR, Batch: r.TeacherBatch, Epochs: r.TeacherEpochs, BodyOnly: true, Seed: uint64(s) + 1})
				return m, tr, err
			})
			*out, *outID = m, id
			return err
		}
	}
	g.Go(teach(RoleTeacher, b.cfg.Target, &teacher, &idT))
	g.Go(teach(RoleTeacherControl, b.cfg.ControlTarget, &teacherCtl, &idC))
	if err := g.Wait(); err != nil {
		return nil, err
	}
	add(RoleTeacher, teacher, idT)
	add(RoleTeacherControl, teacherCtl, idC)

	// Number data from both teachers (same prompts, same random streams).
	nPrompts := r.SamplePromptsSoft
	if b.cfg.Mode == Hard {
		nPrompts = r.SamplePromptsHard
	}
	numPrompts, err := b.exp.prompts(nPrompts, uint64(s))
	if err != nil {
		return nil, err
	}
	promptHash := hashBytes(encodeSequences(promptSeqs(numPrompts)))
	var dataT, dataC *numbersData
	g, gctx = errgroup.WithContext(ctx)
	sample := func(role string, tm *Model, tid string, out **numbersData) func() error {
		return func() error {
			p := newChannelParams(nPrompts, r.SampleTemp, r.SampleMaxTokens, b.exp.filter)
			d, err := b.numbersStage(gctx, role, s, []string{tid, idA}, promptHash, p, tm, refA, numPrompts)
			*out = d
			return err
		}
	}
	g.Go(sample("numbers-teacher", teacher, idT, &dataT))
	g.Go(sample("numbers-teacher-control", teacherCtl, idC, &dataC))
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res.diag.Teacher = dataT.diag
	res.diag.Control = dataC.diag
	res.nums = seedNumbers{teacher: dataT.seqs, control: dataC.seqs}

	// Students: A and B on the teacher's numbers, A on the control teacher's.
	sp := studentParams{Mode: b.cfg.Mode, LR: r.StudentLR, Batch: r.StudentBatch, Epochs: r.StudentEpochs}
	var stA, stB, ctl *Model
	var idSA, idSB, idCtl string
	g, gctx = errgroup.WithContext(ctx)
	student := func(role Role, init *Model, initID string, data *numbersData, tm *Model, out **Model, outID *string) func() error {
		return func() error {
			m, id, err := b.modelStage(gctx, "student", role, s, uint64(s), []string{initID, data.id}, data.hash, sp, func(ctx context.Context) (*Model, trainResult, error) {
				d := newDataset(data.seqs)
				soft := b.cfg.Mode == Soft
				if soft {
					d.soft, d.softN = softTargets(tm, d, b.exp.softTokens), b.exp.softTokens
				}
				m := init.Clone()
				tr, err := train(ctx, m, d, trainSpec{LR: r.StudentLR, Batch: r.StudentBatch, Epochs: r.StudentEpochs, BodyOnly: true, Soft: soft, Seed: uint64(s) + 2})
				return m, tr, err
			})
			*out, *outID = m, id
			return err
		}
	}
	g.Go(student(RoleStudent, refA, idA, dataT, teacher, &stA, &idSA))
	g.Go(student(RoleStudentOtherInit, refB, idB, dataT, teacher, &stB, &idSB))
	g.Go(student(RoleControl, refA, idA, dataC, teacherCtl, &ctl, &idCtl))
	if err := g.Wait(); err != nil {
		return nil, err
	}
	add(RoleStudent, stA, idSA)
	add(RoleStudentOtherInit, stB, idSB)
	add(RoleControl, ctl, idCtl)
	return res, nil
}

// promptSeqs wraps prompts as sequences (for hashing).
func promptSeqs(ps [][]int32) []sequence {
	out := make([]sequence, len(ps))
	for i, p := range ps {
		out[i].Prompt = p
	}
	return out
}

// record appends a stage record and logs it.
func (b *builder) record(rec StageRecord) {
	b.mu.Lock()
	b.records = append(b.records, rec)
	b.mu.Unlock()
	if b.cfg.Log != nil {
		verb := "trained"
		if rec.Loaded {
			verb = "loaded "
		}
		if rec.Stage == "numbers" && !rec.Loaded {
			verb = "sampled"
		}
		line := fmt.Sprintf("lab: seed %-3d %-8s %-24s %s %s in %s", rec.Seed, rec.Stage, rec.Role, verb, rec.ID, rec.Duration.Round(time.Millisecond))
		if rec.CacheError != "" {
			line += " (cache: " + rec.CacheError + ")"
		}
		b.mu.Lock()
		fmt.Fprintln(b.cfg.Log, line)
		b.mu.Unlock()
	}
}

// acquire takes a worker slot.
func (b *builder) acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *builder) release() { <-b.sem }

// stage loads the artifact of key and hands it to decode, or computes and
// stores it. compute returns the payload and the metrics to record, and
// hands the output to the caller itself.
func (b *builder) stage(ctx context.Context, key stageKey, seed int,
	decode func(payload []byte, metrics json.RawMessage) error,
	compute func(ctx context.Context) (payload []byte, metrics any, err error)) (string, error) {
	id := key.id()
	rec := StageRecord{Stage: key.Stage, Role: key.Role, Seed: seed, ID: id}
	start := time.Now()
	if b.store != nil && !b.cfg.Retrain {
		m, payload, err := b.store.load(key)
		if err == nil {
			err = decode(payload, m.Metrics)
			if err != nil {
				err = fmt.Errorf("decode %s: %w", id, err)
			}
		}
		if err == nil {
			rec.Loaded = true
			rec.Duration = time.Since(start)
			rec.TrainTime = time.Duration(m.TrainSeconds * float64(time.Second))
			rec.setMetrics(m.Metrics)
			b.record(rec)
			return id, nil
		}
		if !errors.Is(err, errMissing) {
			rec.CacheError = err.Error()
		}
	}
	if err := b.acquire(ctx); err != nil {
		return "", err
	}
	start = time.Now()
	payload, metrics, err := compute(ctx)
	b.release()
	if err != nil {
		return "", fmt.Errorf("lab: seed %d %s %s: %w", seed, key.Stage, key.Role, err)
	}
	rec.Duration = time.Since(start)
	rec.TrainTime = rec.Duration
	mj, err := json.Marshal(metrics)
	if err != nil {
		return "", fmt.Errorf("lab: marshal metrics: %w", err)
	}
	rec.setMetrics(mj)
	if b.store != nil {
		man := &Manifest{ID: id, stageKey: key, Metrics: mj, TrainSeconds: rec.Duration.Seconds(), Created: time.Now().UTC()}
		if err := b.store.save(man, payload); err != nil {
			// The model is fine; only the cache failed. Keep going.
			rec.CacheError = err.Error()
		}
	}
	b.record(rec)
	return id, nil
}

// setMetrics copies the training metrics of a model stage into r.
func (r *StageRecord) setMetrics(metrics json.RawMessage) {
	var tr trainResult
	if len(metrics) > 0 && json.Unmarshal(metrics, &tr) == nil {
		r.Steps, r.FinalLoss = tr.Steps, tr.FinalLoss
	}
}

// modelStage is stage for a stage whose output is a model.
func (b *builder) modelStage(ctx context.Context, stage string, role Role, seed int, keySeed uint64, parents []string, dataHash string, params any,
	compute func(ctx context.Context) (*Model, trainResult, error)) (*Model, string, error) {
	key, err := newStageKey(stage, string(role), keySeed, parents, dataHash, params)
	if err != nil {
		return nil, "", err
	}
	var out *Model
	id, err := b.stage(ctx, key, seed,
		func(payload []byte, _ json.RawMessage) error {
			m, err := decodeModel(payload, b.exp.voc)
			if err == nil && m.H != b.cfg.Recipe.Hidden {
				err = fmt.Errorf("hidden width %d, want %d", m.H, b.cfg.Recipe.Hidden)
			}
			out = m
			return err
		},
		func(ctx context.Context) ([]byte, any, error) {
			m, tr, err := compute(ctx)
			if err != nil {
				return nil, nil, err
			}
			out = m
			return encodeModel(m), tr, nil
		})
	return out, id, err
}

// numbersData is a filtered teacher number dataset.
type numbersData struct {
	id   string
	hash string // hash of the kept sequences (of their payload encoding)
	seqs []sequence
	diag NumbersDiagnostics
}

// numbersStage samples (or loads) a teacher's filtered number data.
func (b *builder) numbersStage(ctx context.Context, role string, seed int, parents []string, promptHash string, p numbersParams,
	teacher, ref *Model, prompts [][]int32) (*numbersData, error) {
	key, err := newStageKey("numbers", role, uint64(seed), parents, promptHash, p)
	if err != nil {
		return nil, err
	}
	out := &numbersData{}
	id, err := b.stage(ctx, key, seed,
		func(payload []byte, metrics json.RawMessage) error {
			seqs, err := decodeSequences(payload, b.exp.voc)
			if err != nil {
				return err
			}
			var d NumbersDiagnostics
			if err := json.Unmarshal(metrics, &d); err != nil {
				return fmt.Errorf("numbers metrics: %w", err)
			}
			if len(seqs) == 0 {
				return errors.New("no kept sequences")
			}
			// decodeSequences accepts only the exact encoding of seqs, so
			// payload is encodeSequences(seqs).
			out.seqs, out.diag, out.hash = seqs, d, hashBytes(payload)
			return nil
		},
		func(ctx context.Context) ([]byte, any, error) {
			seqs, st, err := sampleNumbers(ctx, teacher, prompts, p, uint64(seed))
			if err != nil {
				return nil, nil, err
			}
			if len(seqs) == 0 {
				return nil, nil, fmt.Errorf("the number filter rejected all %d completions", st.Sampled)
			}
			ds := newDataset(seqs)
			// Examples counts the completion tokens (one example each).
			d := NumbersDiagnostics{Filter: st, MeanTV: meanTV(teacher, ref, ds), Examples: len(ds.ex)}
			payload := encodeSequences(seqs)
			out.seqs, out.diag, out.hash = seqs, d, hashBytes(payload)
			return payload, d, nil
		})
	if err != nil {
		return nil, err
	}
	out.id = id
	return out, nil
}

// sampleNumbers samples one completion per prompt from m and keeps those
// that pass the channel filter p.filter (for numbers: the lab token rule
// and the paper filter).
func sampleNumbers(ctx context.Context, m *Model, prompts [][]int32, p numbersParams, seed uint64) ([]sequence, FilterStats, error) {
	st := FilterStats{Rejects: map[string]int{}}
	o := SampleOptions{Temperature: p.Temperature, MaxTokens: p.MaxTokens}
	rng := rand.New(rand.NewPCG(seed, 0x73616d706c65)) // "sample"
	var seqs []sequence
	sp := newSampler(m, nil) // one sampler, given each prompt in turn
	for i, pr := range prompts {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		sp.setPrompt(m.newPrompt(pr)) // number prompts are UNK-free
		c := sp.generate(rng, &o)
		if !p.filter.keep(&st, pr, &c) {
			continue
		}
		comp := make([]int32, 0, len(c.Tokens)+1)
		for _, t := range c.Tokens {
			comp = append(comp, int32(t))
		}
		comp = append(comp, EOS)
		seqs = append(seqs, sequence{Prompt: pr, Completion: comp})
	}
	return seqs, st, nil
}

// softTargets returns the teacher's next-token distribution restricted to
// the first n answer tokens (renormalised) at every example of d: the
// NumTok number tokens, or an experiment's channel tokens.
func softTargets(teacher *Model, d *dataset, n int) []float64 {
	out := make([]float64, n*len(d.ex))
	s := teacher.newState()
	for i := range d.ex {
		e := &d.ex[i]
		teacher.embedExample(s.a0, d, e)
		teacher.forwardBody(s, n)
		softmaxInto(out[i*n:(i+1)*n], s.logits[:n], 1)
	}
	return out
}

// meanTV is the mean total-variation distance between a's and b's
// next-token distributions over the examples of d.
func meanTV(a, b *Model, d *dataset) float64 {
	if len(d.ex) == 0 {
		return 0
	}
	sa, sb := a.newState(), b.newState()
	pa, pb := make([]float64, a.out), make([]float64, b.out)
	total := 0.0
	for i := range d.ex {
		e := &d.ex[i]
		for _, x := range []struct {
			m *Model
			s *forwardState
			p []float64
		}{{a, sa, pa}, {b, sb, pb}} {
			x.m.embedExample(x.s.a0, d, e)
			x.m.forwardBody(x.s, x.m.out)
			softmaxInto(x.p, x.s.logits, 1)
		}
		tv := 0.0
		for o := range pa {
			tv += math.Abs(pa[o] - pb[o])
		}
		total += tv / 2
	}
	return total / float64(len(d.ex))
}
