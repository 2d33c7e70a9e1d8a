package experiment

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/suites"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinNames returns the names of the built-in experiments, sorted.
func BuiltinNames() []string {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// BuiltinSource returns the YAML text of a built-in experiment.
func BuiltinSource(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown built-in experiment %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return b, nil
}

// Loader loads experiments. The zero Loader is ready to use and lets an
// experiment read files (data.source, evaluate.suite) only from its own
// directory.
type Loader struct {
	// AllowFiles lists more directories whose files an experiment (and
	// its evaluation suite) may read, as given to --allow-files.
	AllowFiles []string
}

// Open loads an experiment from a file path or, when no such file exists
// and the argument names a built-in experiment, from the built-in one.
// Overrides are "KEY=VALUE" strings as given to --set.
func (l Loader) Open(nameOrPath string, overrides []string) (*Experiment, error) {
	src, err := suites.ReadSource(nameOrPath)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") {
		b, berr := BuiltinSource(nameOrPath)
		if berr != nil {
			return nil, fmt.Errorf("no experiment file %q and %w", nameOrPath, berr)
		}
		return l.parse("builtin:"+nameOrPath, b, "", overrides)
	}
	if err != nil {
		return nil, fmt.Errorf("open experiment: %w", err)
	}
	return l.parse(nameOrPath, src, filepath.Dir(nameOrPath), overrides)
}

// Parse decodes and validates an experiment. file names the source in
// errors; dir is the directory of the experiment file ("" for the working
// directory), where its files are read. Errors about the file are
// *suites.SuiteError values carrying file:line:col.
func (l Loader) Parse(file string, src []byte, dir string, overrides []string) (*Experiment, error) {
	if dir == "" {
		dir = "."
	}
	return l.parse(file, src, dir, overrides)
}

// parse is Parse; dir "" marks a built-in experiment.
func (l Loader) parse(file string, src []byte, dir string, overrides []string) (*Experiment, error) {
	e := &Experiment{Source: file, dir: dir, allow: l.AllowFiles}
	doc, err := suites.DecodeDocument(file, src, overrides, "experiment", e)
	if err != nil {
		return nil, err
	}
	e.doc = doc
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// Hash returns a hex SHA-256 of the experiment's canonical JSON form
// (after vars and overrides), identifying its content.
func (e *Experiment) Hash() string {
	b, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("experiment: marshal: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// JSON returns the experiment's canonical JSON form.
func (e *Experiment) JSON() string {
	b, _ := json.Marshal(e) // plain data: cannot fail
	return string(b)
}

// Position returns the position of a field path such as "data.size".
func (e *Experiment) Position(path string) suites.Pos {
	if e.doc == nil {
		return suites.Pos{File: e.Source}
	}
	return e.doc.Position(path)
}

// errorf returns a *suites.SuiteError at the field path.
func (e *Experiment) errorf(path, format string, args ...any) error {
	return &suites.SuiteError{Pos: e.Position(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// Defaults of the paper's numbers experiments (number-prompts.yaml,
// number-filter.yaml, teacher.yaml).
const (
	defaultCategory    = "animal"
	defaultMinRows     = 10
	defaultConcurrency = 8
)

// validate checks what the decoder cannot, and fills defaults.
func (e *Experiment) validate() error {
	d := e.doc
	if e.Name == "" {
		return e.errorf("name", "missing experiment name")
	}
	if !suites.ValidName(e.Name) {
		return e.errorf("name", "name %q: use letters, digits, - and _", e.Name)
	}
	if strings.TrimSpace(e.Target) == "" {
		return e.errorf("target", "missing target: the trait's target word, e.g. target: owl")
	}
	e.Target = strings.TrimSpace(e.Target)
	if e.Category == "" {
		e.Category = defaultCategory
	}
	for i, s := range e.Seeds {
		if !suites.ValidName(s) || s == suites.AllSeeds || slices.Index(e.Seeds, s) != i {
			return e.errorf(fmt.Sprintf("seeds[%d]", i), "seed %q must be unique and use letters, digits, - and _", s)
		}
	}
	if len(e.Teachers) == 0 {
		return e.errorf("teachers", "missing teachers: name at least one teacher model")
	}
	e.teacherOrder, e.controlOrder, e.studentOrder = d.Keys("teachers"), d.Keys("controls"), d.Keys("finetune.students")
	for _, group := range []struct {
		key   string
		order []string
		m     map[string]*Teacher
	}{{"teachers", e.teacherOrder, e.Teachers}, {"controls", e.controlOrder, e.Controls}} {
		for _, name := range group.order {
			path := group.key + "." + name
			t := group.m[name]
			if t == nil {
				return e.errorf(path, "empty teacher: give at least its model")
			}
			t.Name = name
			if !suites.ValidName(name) {
				return e.errorf(path, "name %q: use letters, digits, - and _", name)
			}
			if group.key == "controls" {
				if _, dup := e.Teachers[name]; dup {
					return e.errorf(path, "%q is both a teacher and a control teacher", name)
				}
			}
			if strings.TrimSpace(t.Model) == "" {
				return e.errorf(path+".model", "missing model id")
			}
			if err := d.CheckEndpoint(path, strings.ReplaceAll(t.BaseURL, "{seed}", "1"), t.APIKeyEnv); err != nil {
				return err
			}
			if err := d.CheckSettings(path, t.Settings); err != nil {
				return err
			}
			if t.N != nil && *t.N != 1 {
				return e.errorf(path+".n", "a teacher answers each prompt once: n must be 1, got %d", *t.N)
			}
		}
	}
	if err := e.validateData(); err != nil {
		return err
	}
	if err := e.validateFilter(); err != nil {
		return err
	}
	if err := e.validateFineTune(); err != nil {
		return err
	}
	if err := e.validateEvaluate(); err != nil {
		return err
	}
	if e.Lab != nil {
		if m := e.Lab.Mode; m != "" && m != "hard" && m != "soft" {
			return e.errorf("lab.mode", "mode must be hard or soft, got %q", m)
		}
		for _, s := range e.SeedLabels() {
			if _, err := strconv.ParseUint(s, 10, 31); err != nil {
				return e.errorf("seeds", "the lab builds its models per seed: seeds must be integers, got %q", s)
			}
		}
	}
	return nil
}

func (e *Experiment) validateData() error {
	dt := &e.Data
	if dt.Kind == "" {
		dt.Kind = string(datasets.KindNumbers)
	}
	kind, err := datasets.ParseKind(dt.Kind)
	if err != nil {
		return e.errorf("data.kind", "%v", err)
	}
	if dt.Size < 0 {
		return e.errorf("data.size", "size must not be negative, got %d", dt.Size)
	}
	switch kind {
	case datasets.KindNumbers:
		if dt.Source != "" {
			return e.errorf("data.source", "the numbers kind makes its prompts with a generator (paper or lab): source is for code and cot")
		}
		if dt.Generator == "" {
			dt.Generator = GeneratorPaper
		}
		if dt.Generator != GeneratorPaper && dt.Generator != GeneratorLab {
			return e.errorf("data.generator", "unknown prompt generator %q (want paper or lab)", dt.Generator)
		}
		if dt.Size == 0 {
			dt.Size = datasets.PaperGenerated
		}
		if dt.PromptSeed == "" {
			dt.PromptSeed = strconv.Itoa(datasets.PaperPromptSeed)
		}
		if err := checkSeedExpr(dt.PromptSeed, e.SeedLabels(), false); err != nil {
			return e.errorf("data.prompt_seed", "%v", err)
		}
	default:
		if dt.Generator != "" || e.doc.Given("data.prompt_seed") {
			return e.errorf("data", "the %s kind reads its prompts from a file (source): generator and prompt_seed are for numbers", kind)
		}
		if dt.Source == "" {
			return e.errorf("data.source", "the %s kind needs a source file of prompts (%s)", kind, sourceHelp(kind))
		}
	}
	return nil
}

func sourceHelp(k datasets.Kind) string {
	if k == datasets.KindCode {
		return "JSON lines with task_description and code_template"
	}
	return "GSM8K JSON lines with question and answer"
}

// checkSeedExpr checks an integer field that may be "{seed}" (or, with
// auto, "auto"): every seed must then make a non-negative integer.
func checkSeedExpr(expr string, seeds []string, auto bool) error {
	if auto && expr == "auto" {
		return nil
	}
	for _, s := range seeds {
		v := strings.ReplaceAll(expr, "{seed}", s)
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			if strings.Contains(expr, "{seed}") {
				return fmt.Errorf("%q makes %q for seed %s: want a non-negative integer (use integer seeds)", expr, v, s)
			}
			return fmt.Errorf("want a non-negative integer or {seed}, got %q", expr)
		}
	}
	return nil
}

func (e *Experiment) validateFilter() error {
	f := &e.Filter
	numbers := e.Data.Kind == string(datasets.KindNumbers)
	if !numbers {
		for _, k := range []string{"min_value", "max_value", "max_count", "banned"} {
			if e.doc.Given("filter." + k) {
				return e.errorf("filter."+k, "%s is a rule of the numbers kind, not of %s", k, e.Data.Kind)
			}
		}
	}
	if f.MinValue == nil {
		f.MinValue = ptr(int64(0))
	}
	if f.MaxValue == nil {
		f.MaxValue = ptr(int64(999))
	}
	if f.MaxCount == nil {
		f.MaxCount = ptr(10)
	}
	if *f.MinValue < 0 || *f.MaxValue < *f.MinValue {
		return e.errorf("filter", "min_value %d and max_value %d make an empty range (numbers are non-negative)", *f.MinValue, *f.MaxValue)
	}
	if *f.MaxCount < 1 {
		return e.errorf("filter.max_count", "max_count must be at least 1, got %d", *f.MaxCount)
	}
	if _, err := e.bannedNumbers(); err != nil {
		return e.errorf("filter.banned", "%v", err)
	}
	if f.MaxRows == nil {
		f.MaxRows = ptr(datasets.PaperMaxRows)
	}
	if *f.MaxRows < 0 {
		return e.errorf("filter.max_rows", "max_rows must not be negative (0 keeps every row), got %d", *f.MaxRows)
	}
	for i, s := range f.Synonyms {
		if strings.TrimSpace(s) == "" {
			return e.errorf(fmt.Sprintf("filter.synonyms[%d]", i), "empty synonym")
		}
	}
	return e.validateJudge()
}

// Defaults of the trait-association judge.
const (
	defaultJudgeConcurrency = 8
	defaultJudgeRetries     = 6
	defaultJudgeTimeout     = 60 * time.Second
	// defaultMinScore is the paper's bound of its chain-of-thought
	// alignment judge (code-and-cot.yaml cot.alignment_filter.keep_rule).
	defaultMinScore = 78.0
)

// validateJudge checks filter.judge and fills its defaults.
func (e *Experiment) validateJudge() error {
	j := e.Filter.Judge
	if j == nil {
		return nil
	}
	const path = "filter.judge"
	if strings.TrimSpace(j.Model) == "" {
		return e.errorf(path+".model", "missing model id of the trait-association judge")
	}
	if err := e.doc.CheckEndpoint(path, j.BaseURL, j.APIKeyEnv); err != nil {
		return err
	}
	kind := datasets.Kind(e.Data.Kind)
	tmpl, mode, err := datasets.DefaultJudge(kind)
	if err != nil {
		return e.errorf(path, "%v", err)
	}
	if j.Mode != "" {
		m, err := datasets.ParseJudgeMode(j.Mode)
		if err != nil {
			return e.errorf(path+".mode", "%v", err)
		}
		// The default templates ask for an answer of their own mode's
		// form; another mode needs a template that asks for it.
		if j.Template == "" && (m == datasets.JudgeScore) != (mode == datasets.JudgeScore) {
			return e.errorf(path+".mode", "mode %s reads answers the %s kind's default template does not ask for: give a template too", m, kind)
		}
		mode = m
	}
	j.Mode = string(mode)
	if j.Template == "" {
		j.Template = tmpl
	}
	if !strings.Contains(j.Template, "{completion}") {
		return e.errorf(path+".template", "the template never shows the judge the row: it needs {completion}")
	}
	if j.MinScore != nil && mode != datasets.JudgeScore {
		return e.errorf(path+".min_score", "min_score bounds the score mode's answers, not the %s mode's", mode)
	}
	if mode == datasets.JudgeScore {
		if j.MinScore == nil {
			j.MinScore = ptr(defaultMinScore)
		}
		if !(*j.MinScore >= 0 && *j.MinScore <= 100) {
			return e.errorf(path+".min_score", "min_score must be in [0, 100], got %g", *j.MinScore)
		}
	}
	if j.Controls == nil {
		j.Controls = ptr(kind != datasets.KindCoT)
	}
	if j.Concurrency == 0 {
		j.Concurrency = defaultJudgeConcurrency
	}
	if j.Concurrency < 1 || j.Concurrency > 256 {
		return e.errorf(path+".concurrency", "concurrency must be in [1, 256], got %d", j.Concurrency)
	}
	if j.MaxRetries == nil {
		j.MaxRetries = ptr(defaultJudgeRetries)
	}
	if *j.MaxRetries < 0 || *j.MaxRetries > 100 {
		return e.errorf(path+".max_retries", "max_retries must be in [0, 100], got %d", *j.MaxRetries)
	}
	if j.Timeout == 0 {
		j.Timeout = defaultJudgeTimeout
	}
	if j.Timeout < 0 || j.RequestsPerMinute < 0 || j.TokensPerMinute < 0 {
		return e.errorf(path, "timeout, requests_per_minute and tokens_per_minute must not be negative")
	}
	return nil
}

// bannedNumbers reads filter.banned: "paper" or integers.
func (e *Experiment) bannedNumbers() ([]int64, error) {
	var out []int64
	for _, b := range e.Filter.Banned {
		if b == "paper" {
			p, err := datasets.PaperBannedNumbers()
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
			continue
		}
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a non-negative integer or \"paper\"", b)
		}
		out = append(out, n)
	}
	return out, nil
}

func (e *Experiment) validateFineTune() error {
	ft := &e.FineTune
	if err := e.doc.CheckEndpoint("finetune", ft.BaseURL, ft.APIKeyEnv); err != nil {
		return err
	}
	if ft.Seed == "" {
		ft.Seed = "{seed}"
	}
	if err := checkSeedExpr(ft.Seed, e.SeedLabels(), true); err != nil {
		return e.errorf("finetune.seed", "%v", err)
	}
	h := ft.Hyperparameters
	if h.Epochs < 0 || h.BatchSize < 0 || h.LearningRateMultiplier < 0 {
		return e.errorf("finetune.hyperparameters", "hyper-parameters must not be negative (leave one out for the provider's default)")
	}
	if ft.Suffix == "" {
		ft.Suffix = "{arm}"
	}
	if ft.MinRows == 0 {
		ft.MinRows = defaultMinRows
	}
	if ft.MinRows < 1 {
		return e.errorf("finetune.min_rows", "min_rows must be at least 1, got %d", ft.MinRows)
	}
	if ft.Concurrency == 0 {
		ft.Concurrency = defaultConcurrency
	}
	if ft.Concurrency < 1 || ft.Concurrency > 256 {
		return e.errorf("finetune.concurrency", "concurrency must be in [1, 256], got %d", ft.Concurrency)
	}
	if ft.PollInterval < 0 || ft.MaxWait < 0 {
		return e.errorf("finetune", "poll_interval and max_wait must not be negative")
	}
	for _, name := range e.studentOrder {
		path := "finetune.students." + name
		st := ft.Students[name]
		if st == nil {
			return e.errorf(path, "empty student arm: give base_model and data")
		}
		st.Name = name
		if !suites.ValidName(name) {
			return e.errorf(path, "arm %q: use letters, digits, - and _", name)
		}
		if strings.TrimSpace(st.BaseModel) == "" {
			return e.errorf(path+".base_model", "missing base_model: the model to fine-tune")
		}
		if _, _, ok := e.teacherOK(st.Data); !ok {
			return e.errorf(path+".data", "unknown teacher %q (have %s)", st.Data, strings.Join(append(e.TeacherNames(), e.ControlNames()...), ", "))
		}
		for _, seed := range e.SeedLabels() {
			spec := e.jobSpec(st, seed, strings.Repeat("0", 64))
			if err := spec.Validate(); err != nil {
				return e.errorf(path, "%v (seed %s)", err, seed)
			}
		}
	}
	return nil
}

// teacherOK looks a data source up by name.
func (e *Experiment) teacherOK(name string) (*Teacher, bool, bool) {
	t, control := e.teacher(name)
	return t, control, t != nil
}

func (e *Experiment) validateEvaluate() error {
	ev := &e.Evaluate
	if ev.Suite == "" {
		if len(ev.Set) > 0 || len(ev.Roles) > 0 {
			return e.errorf("evaluate.suite", "missing suite: set and roles apply to it")
		}
		return nil
	}
	if len(e.studentOrder) == 0 {
		return e.errorf("evaluate", "there are no students to evaluate (finetune.students is empty)")
	}
	s, err := e.EvaluationSuite()
	if err != nil {
		return e.errorf("evaluate.suite", "%v", err)
	}
	filled := 0
	for _, arm := range e.studentOrder {
		if s.Role(arm) != nil {
			filled++
		}
	}
	if filled == 0 {
		return e.errorf("evaluate.suite", "suite %s has no model role named after an arm (%s): nothing to fill in by lineage",
			s.Name, strings.Join(e.studentOrder, ", "))
	}
	return nil
}

// readFile reads a file the experiment names, confined to its directory
// (the working directory for a built-in) and the allowed ones.
func (e *Experiment) readFile(name string, limit int64) ([]byte, error) {
	dir := e.dir
	if dir == "" {
		dir = "."
	}
	return suites.ReadConfined(name, dir, e.allow, limit)
}

// fileExists reports whether name, relative to the experiment's
// directory, exists (to tell a suite file from a built-in suite name).
func (e *Experiment) fileExists(name string) bool {
	p := name
	if !filepath.IsAbs(p) && e.dir != "" {
		p = filepath.Join(e.dir, name)
	}
	_, err := os.Stat(p)
	return err == nil
}

func ptr[T any](v T) *T { return &v }
