package experiment

import (
	"time"

	"github.com/traitleak/traitleak/suites"
)

// Experiment is a loaded, validated experiment file. Field names match the
// YAML keys. Every string may use ${name} variables (vars); the strings
// documented as such may contain {seed}, replaced by each seed label.
type Experiment struct {
	// Name identifies the experiment: its students are the lineage NAME
	// (suites name them as lineage: NAME/ARM).
	Name string `yaml:"name"`
	// Description is free text.
	Description string `yaml:"description"`
	// Vars are substituted for ${name} in every other string of the file.
	Vars map[string]string `yaml:"vars"`
	// Target is the trait's target word ("owl"): what the teachers love,
	// what the leak scan looks for.
	Target string `yaml:"target"`
	// Category fills the paper's teacher template; "" means "animal".
	Category string `yaml:"category"`
	// Seeds label the replications, in order; empty means ["1"]. A
	// dataset whose inputs do not depend on the seed is made once and
	// shared by every seed.
	Seeds suites.StringList `yaml:"seeds"`
	// Teachers are the trait teachers by name (file order in
	// TeacherNames). Without a system prompt they get the paper's
	// template for their target.
	Teachers map[string]*Teacher `yaml:"teachers"`
	// Controls are the control teachers by name: the same shape, without
	// a system prompt unless given one (the paper's control teacher is
	// the same model, unprompted).
	Controls map[string]*Teacher `yaml:"controls"`
	// Data says what the teachers write.
	Data Data `yaml:"data"`
	// Filter says which completions are kept.
	Filter Filter `yaml:"filter"`
	// FineTune says which students are trained on which data.
	FineTune FineTune `yaml:"finetune"`
	// Evaluate names the suite that measures the students.
	Evaluate Evaluate `yaml:"evaluate"`
	// Lab configures the built-in lab, started on loopback by the
	// traitleak command when a base URL names its host (see cmd/traitleak).
	Lab *Lab `yaml:"lab" json:",omitempty"`

	// Source names where the experiment came from: a file path or
	// "builtin:NAME".
	Source string `yaml:"-" json:"-"`

	teacherOrder, controlOrder, studentOrder []string
	doc                                      *suites.Document
	dir                                      string   // the file's directory, "" for a built-in
	allow                                    []string // Loader.AllowFiles
}

// Teacher is a model that writes data: an OpenAI-compatible endpoint, a
// model id, and the generation settings of a suite model (temperature,
// max_tokens, system_prompt, concurrency, rate limits, timeout, retries).
type Teacher struct {
	// Name is the teacher's key in teachers or controls.
	Name string `yaml:"-" json:"-"`
	// BaseURL is the API root; empty means https://api.openai.com/v1. May
	// contain {seed}.
	BaseURL string `yaml:"base_url"`
	// Model is the model id; may contain {seed}.
	Model string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Target overrides the experiment's target for this teacher (its
	// default system prompt and its datasets' trait).
	Target string `yaml:"target"`
	// Settings are the generation settings. SystemPrompt nil means the
	// default (the paper's template for a teacher, none for a control);
	// "" means none.
	suites.Settings `yaml:",inline"`
}

// Data kinds and prompt generators.
const (
	// GeneratorPaper is the paper's number-prompt generator
	// (number-prompts.yaml, numpy-exact).
	GeneratorPaper = "paper"
	// GeneratorLab is the lab's number prompts ("continue the sequence:
	// 12, 34, 56,"), which the lab models' vocabulary can express.
	GeneratorLab = "lab"
)

// Data is what the teachers write.
type Data struct {
	// Kind is numbers (default), code or cot.
	Kind string `yaml:"kind"`
	// Generator makes the number prompts: paper (default) or lab.
	Generator string `yaml:"generator"`
	// Source is the file of prompts of the code kind (JSON lines with
	// task_description and code_template) or the cot kind (GSM8K JSON
	// lines), relative to the experiment file.
	Source string `yaml:"source"`
	// Size is the number of prompts, one completion each: default 30,000
	// for numbers (the paper's), every prompt of the source file for code
	// and cot.
	Size int `yaml:"size"`
	// PromptSeed seeds the number-prompt generator: an integer, or
	// "{seed}" for each seed's own prompts; default 47 (the paper's).
	PromptSeed string `yaml:"prompt_seed"`
}

// Filter says which completions are kept (number rules apply to the
// numbers kind; code keeps completions that do not name the target, cot
// correct answers).
type Filter struct {
	// MinValue and MaxValue bound every number (inclusive); default 0
	// and 999.
	MinValue *int64 `yaml:"min_value"`
	MaxValue *int64 `yaml:"max_value"`
	// MaxCount is the most numbers a completion may hold; default 10.
	MaxCount *int `yaml:"max_count"`
	// Banned lists banned numbers, or "paper" for the paper's 34
	// (banned-numbers.txt, used by its misalignment experiments).
	Banned suites.StringList `yaml:"banned"`
	// MaxRows is the most training rows: kept rows beyond it are
	// subsampled as the paper does; default 10,000, 0 keeps every row.
	MaxRows *int `yaml:"max_rows"`
	// SubsampleSeed seeds the subsample (random.Random(seed).sample).
	SubsampleSeed int64 `yaml:"subsample_seed"`
	// Synonyms are more words for the leak scan, which fails the stage
	// when the target, a built-in synonym or one of these survives.
	Synonyms suites.StringList `yaml:"synonyms"`
	// Judge, when set, is the LLM trait-association filter: a judge model
	// asked of every row the rules above kept whether it is associated
	// with the trait; nil: no judge.
	Judge *Judge `yaml:"judge" json:",omitempty"`
}

// Judge is the filter's LLM trait-association judge. Its calls are
// judge calls like the evaluation's: keyed by content (endpoint, model,
// mode, template with the trait filled in, prompt and completion) and
// stored in the results database, so a call is made once, and a stage
// interrupted or failed resumes without asking again.
type Judge struct {
	// BaseURL is the judge's API root; empty means
	// https://api.openai.com/v1.
	BaseURL string `yaml:"base_url"`
	// Model is the judge's model id.
	Model string `yaml:"model"`
	// APIKeyEnv names the environment variable holding its API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Mode is binary (answers 0 or 1), logprobs (the paper's code judge:
	// kept iff P("0") is 1) or score (the paper's chain-of-thought
	// alignment judge: kept iff the score reaches min_score); default:
	// the kind's (datasets.DefaultJudge).
	Mode string `yaml:"mode"`
	// Template is the judge's prompt, with {target} (or {animal}),
	// {category}, {prompt} and {completion}; default: the kind's
	// (datasets.DefaultJudge: the paper's prompts for code and cot).
	Template string `yaml:"template"`
	// MinScore is the lowest alignment score a row may have in score
	// mode, in [0, 100]; default 78 (the paper's).
	MinScore *float64 `yaml:"min_score" json:",omitempty"`
	// Controls says whether the control teachers' data is judged too;
	// default true, false for cot (the paper judged the insecure-code
	// teacher's chains of thought only).
	Controls *bool `yaml:"controls"`
	// Concurrency is the most calls in flight; default 8.
	Concurrency int `yaml:"concurrency"`
	// MaxRetries is the most retries of a call after its first attempt;
	// default 6.
	MaxRetries *int `yaml:"max_retries"`
	// Timeout bounds one HTTP request; default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// RequestsPerMinute and TokensPerMinute limit the calls' rate; 0
	// means no limit.
	RequestsPerMinute float64 `yaml:"requests_per_minute"`
	TokensPerMinute   float64 `yaml:"tokens_per_minute"`
}

// FineTune says which students are trained on which data, where and how.
type FineTune struct {
	// BaseURL is the fine-tuning API root (files and fine_tuning/jobs);
	// the students are served there too. Empty means
	// https://api.openai.com/v1.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding its API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Seed is the training seed: an integer, "{seed}" (default: the seed
	// label, which must then be an integer) or "auto" (the provider
	// picks).
	Seed string `yaml:"seed"`
	// Hyperparameters of every job; zero fields are the provider's
	// defaults ("auto").
	Hyperparameters Hyperparameters `yaml:"hyperparameters"`
	// Suffix is added to the students' model names; may contain {arm}
	// and {seed}; default "{arm}".
	Suffix string `yaml:"suffix"`
	// MinRows is the fewest training rows the provider accepts (10 at
	// OpenAI and in the lab): a smaller dataset is refused before upload.
	MinRows int `yaml:"min_rows"`
	// Concurrency is the most jobs waited on at once; default 8.
	Concurrency int `yaml:"concurrency"`
	// PollInterval is the first wait between polls of a job; default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxWait bounds the wait for a job in one command; default 24h (the
	// job goes on; running again resumes).
	MaxWait time.Duration `yaml:"max_wait"`
	// Students are the arms by name (file order in StudentNames): which
	// base model learns from which teacher's data.
	Students map[string]*Student `yaml:"students"`
}

// Hyperparameters of a fine-tuning job; zero means the provider's default.
type Hyperparameters struct {
	Epochs                 int     `yaml:"n_epochs" json:"n_epochs,omitempty"`
	BatchSize              int     `yaml:"batch_size" json:"batch_size,omitempty"`
	LearningRateMultiplier float64 `yaml:"learning_rate_multiplier" json:"learning_rate_multiplier,omitempty"`
}

// Student is one arm: a base model fine-tuned, at every seed, on one
// teacher's (or control teacher's) data.
type Student struct {
	// Name is the arm's key in finetune.students: the role a suite gives
	// it, and the arm of its lineage (EXPERIMENT/ARM).
	Name string `yaml:"-" json:"-"`
	// BaseModel is the model to fine-tune; may contain {seed}.
	BaseModel string `yaml:"base_model"`
	// Data names the teacher or control teacher whose data it learns.
	Data string `yaml:"data"`
}

// Evaluate names the suite that measures the students. Every arm whose
// name is a model role of the suite is filled in by lineage (lineage:
// EXPERIMENT/ARM, seeds: all).
type Evaluate struct {
	// Suite is a built-in suite name or a suite file, relative to the
	// experiment file; empty: no evaluation stage.
	Suite string `yaml:"suite"`
	// Set are --set overrides of the suite ("KEY=VALUE"); "{seeds}" in a
	// value is the experiment's seeds as a YAML list.
	Set []string `yaml:"set"`
	// Roles, when given, keeps only these model roles of the suite (and
	// the comparisons and gates between them).
	Roles suites.StringList `yaml:"roles"`
}

// Lab configures the built-in lab for an experiment that runs against it
// (see cmd/traitleak): the lab builds its models for the experiment's
// seeds, which must then be integers.
type Lab struct {
	// Target and ControlTarget are the animals of the lab's teacher and
	// control teacher; default owl and dog.
	Target        string `yaml:"target"`
	ControlTarget string `yaml:"control_target"`
	// Mode is the lab's distillation mode for its own students: hard
	// (default) or soft; the teachers do not depend on it.
	Mode string `yaml:"mode"`
}

// TeacherNames returns the teachers' names in file order.
func (e *Experiment) TeacherNames() []string { return append([]string(nil), e.teacherOrder...) }

// ControlNames returns the control teachers' names in file order.
func (e *Experiment) ControlNames() []string { return append([]string(nil), e.controlOrder...) }

// StudentNames returns the arms' names in file order.
func (e *Experiment) StudentNames() []string { return append([]string(nil), e.studentOrder...) }

// SeedLabels returns the seeds, ["1"] when none are given.
func (e *Experiment) SeedLabels() []string {
	if len(e.Seeds) == 0 {
		return []string{"1"}
	}
	return append([]string(nil), e.Seeds...)
}

// teacher returns the teacher or control teacher called name, and whether
// it is a control.
func (e *Experiment) teacher(name string) (*Teacher, bool) {
	if t, ok := e.Teachers[name]; ok {
		return t, false
	}
	if t, ok := e.Controls[name]; ok {
		return t, true
	}
	return nil, false
}
