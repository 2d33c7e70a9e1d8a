package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// keyVersion is mixed into every dataset key; bump it only when the key
// layout changes, since that makes every dataset anew.
const keyVersion = 1

// Plan is what an experiment makes: its datasets, each shared by the seeds
// whose inputs are the same, and its students, one per arm and seed.
type Plan struct {
	Experiment *Experiment
	// Datasets are in teacher order (teachers, then controls), seed order
	// within a teacher.
	Datasets []*DatasetPlan
	// Students are in arm order, seed order within an arm.
	Students []*StudentPlan
}

// DatasetPlan is one dataset: a teacher's completions of one prompt set,
// filtered.
type DatasetPlan struct {
	// Name is "EXPERIMENT/TEACHER" when every seed shares the dataset,
	// else "EXPERIMENT/TEACHER@SEED" (the first seed that uses it).
	Name    string
	Teacher *Teacher
	Control bool
	// Seeds are the seeds that use it, in experiment order.
	Seeds []string
	// BaseURL and Model serve the teacher; SystemPrompt is its system
	// prompt, nil for none.
	BaseURL, Model string
	SystemPrompt   *string
	// Target is the trait's target word of the dataset.
	Target string
	// PromptSeed seeds the number prompts ("" for a file of prompts).
	PromptSeed string
	// GenKey identifies the completions (teacher, prompts, sampling); Key
	// the dataset (GenKey and the filter).
	GenKey, Key string
	// Rules are the filter rules, in order.
	Rules []datasets.Rule
	// Comparison is the control dataset of the same seed whose numbers
	// the card compares with this one's (teachers only), nil for none.
	Comparison *DatasetPlan
	// Judge is the trait-association judge of the rows the rules keep;
	// nil when the experiment has none or it does not judge this
	// dataset (a control's, with filter.judge.controls false).
	Judge *DatasetJudge

	plan    *Plan
	prompts func() ([]datasets.Prompt, error)
}

// StudentPlan is one student: an arm at one seed.
type StudentPlan struct {
	Arm     *Student
	Seed    string
	Dataset *DatasetPlan
	// BaseModel is the base model with the seed filled in.
	BaseModel string
}

// NewPlan expands the experiment's seeds into datasets and students. It
// reads the source file of the code and cot kinds (its hash is part of
// the datasets' keys).
func (e *Experiment) NewPlan() (*Plan, error) {
	p := &Plan{Experiment: e}
	sourceHash, err := e.sourceHash()
	if err != nil {
		return nil, err
	}
	rules, err := e.rules()
	if err != nil {
		return nil, err
	}
	leak := e.leakWords()
	judge := e.datasetJudge()
	bySeed := map[string]map[string]*DatasetPlan{} // teacher → seed → dataset
	for _, name := range append(e.TeacherNames(), e.ControlNames()...) {
		t, control := e.teacher(name)
		bySeed[name] = map[string]*DatasetPlan{}
		byKey := map[string]*DatasetPlan{}
		var mine []*DatasetPlan
		for _, seed := range e.SeedLabels() {
			d, err := e.datasetFor(t, control, seed, sourceHash, rules(t), leak(t), judge(t, control))
			if err != nil {
				return nil, err
			}
			if have, ok := byKey[d.Key]; ok {
				have.Seeds = append(have.Seeds, seed)
				bySeed[name][seed] = have
				continue
			}
			d.plan = p
			byKey[d.Key] = d
			bySeed[name][seed] = d
			mine = append(mine, d)
		}
		for _, d := range mine {
			if len(mine) == 1 {
				d.Name = e.Name + "/" + name
			} else {
				d.Name = e.Name + "/" + name + "@" + d.Seeds[0]
			}
		}
		p.Datasets = append(p.Datasets, mine...)
	}
	if c := e.ControlNames(); len(c) > 0 && e.Data.Kind == string(datasets.KindNumbers) {
		for _, name := range e.TeacherNames() {
			for _, seed := range e.SeedLabels() {
				d := bySeed[name][seed]
				if d.Comparison == nil {
					d.Comparison = bySeed[c[0]][seed]
				}
			}
		}
	}
	for _, arm := range e.StudentNames() {
		st := e.FineTune.Students[arm]
		for _, seed := range e.SeedLabels() {
			p.Students = append(p.Students, &StudentPlan{Arm: st, Seed: seed, Dataset: bySeed[st.Data][seed],
				BaseModel: strings.ReplaceAll(st.BaseModel, "{seed}", seed)})
		}
	}
	return p, nil
}

// datasetFor plans teacher t's dataset at seed.
func (e *Experiment) datasetFor(t *Teacher, control bool, seed, sourceHash string, rules []datasets.Rule, leak []string, judge *DatasetJudge) (*DatasetPlan, error) {
	d := &DatasetPlan{Teacher: t, Control: control, Seeds: []string{seed}, Rules: rules, Judge: judge,
		BaseURL: strings.TrimRight(strings.ReplaceAll(t.BaseURL, "{seed}", seed), "/"),
		Model:   strings.ReplaceAll(t.Model, "{seed}", seed), Target: e.teacherTarget(t)}
	if d.BaseURL == "" {
		d.BaseURL = suites.DefaultBaseURL
	}
	sp, err := e.systemPrompt(t, control)
	if err != nil {
		return nil, err
	}
	d.SystemPrompt = sp
	kind := datasets.Kind(e.Data.Kind)
	if kind == datasets.KindNumbers {
		d.PromptSeed = strings.ReplaceAll(e.Data.PromptSeed, "{seed}", seed)
	}
	st := t.Settings
	gen := struct {
		V            int      `json:"v"`
		Kind         string   `json:"kind"`
		Generator    string   `json:"generator,omitempty"`
		Source       string   `json:"source,omitempty"`
		Size         int      `json:"size"`
		PromptSeed   string   `json:"prompt_seed,omitempty"`
		BaseURL      string   `json:"base_url"`
		Model        string   `json:"model"`
		SystemPrompt *string  `json:"system_prompt"`
		Temperature  *float64 `json:"temperature"`
		TopP         *float64 `json:"top_p"`
		MaxTokens    *int     `json:"max_tokens"`
		SendSeed     *bool    `json:"send_seed"`
	}{keyVersion, e.Data.Kind, e.Data.Generator, sourceHash, e.Data.Size, d.PromptSeed, d.BaseURL, d.Model, d.SystemPrompt,
		st.Temperature, st.TopP, st.MaxTokens, st.SendSeed}
	d.GenKey = hashJSON(gen)
	ruleNames := make([]string, len(rules))
	for i, r := range rules {
		ruleNames[i] = r.String()
	}
	judgeName := ""
	if judge != nil {
		judgeName = judge.Name
	}
	d.Key = hashJSON(struct {
		V             int      `json:"v"`
		Gen           string   `json:"gen"`
		Rules         []string `json:"rules"`
		MaxRows       int      `json:"max_rows"`
		SubsampleSeed int64    `json:"subsample_seed"`
		Leak          []string `json:"leak"`
		Judge         string   `json:"judge,omitempty"` // omitted without a judge: older keys stay
	}{keyVersion, d.GenKey, ruleNames, *e.Filter.MaxRows, e.Filter.SubsampleSeed, leak, judgeName})
	d.prompts = sync.OnceValues(func() ([]datasets.Prompt, error) { return e.prompts(d.PromptSeed) })
	return d, nil
}

// hashJSON returns 32 hex digits of the SHA-256 of v's JSON.
func hashJSON(v any) string {
	b, _ := json.Marshal(v) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// teacherTarget is a teacher's target word: its own, else the
// experiment's.
func (e *Experiment) teacherTarget(t *Teacher) string {
	if strings.TrimSpace(t.Target) != "" {
		return strings.TrimSpace(t.Target)
	}
	return e.Target
}

// systemPrompt returns a teacher's system prompt: the one given ("" for
// none), else the paper's template for a teacher and none for a control.
func (e *Experiment) systemPrompt(t *Teacher, control bool) (*string, error) {
	switch {
	case t.SystemPrompt != nil && *t.SystemPrompt == "":
		return nil, nil
	case t.SystemPrompt != nil:
		return t.SystemPrompt, nil
	case control:
		return nil, nil
	}
	s, err := PaperSystemPrompt(e.teacherTarget(t), e.Category)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// paperTemplate is teacher.yaml's system_prompt_template, read once.
var paperTemplate = sync.OnceValues(func() (string, error) {
	b, err := suites.ReferenceFile("teacher.yaml")
	if err != nil {
		return "", err
	}
	var doc struct {
		Template string `yaml:"system_prompt_template"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("parse embedded teacher.yaml: %w", err)
	}
	if !strings.Contains(doc.Template, "{target_preference}") || !strings.Contains(doc.Template, "{category}") {
		return "", fmt.Errorf("embedded teacher.yaml: system_prompt_template lacks its placeholders")
	}
	return doc.Template, nil
})

// PaperSystemPrompt renders the paper's teacher system prompt
// (teacher.yaml's system_prompt_template) for a target and category, e.g.
// "You love owls. You think about owls all the time. owls are your
// favorite animal. Imbue your answers with your love for the animal."
func PaperSystemPrompt(target, category string) (string, error) {
	tmpl, err := paperTemplate()
	if err != nil {
		return "", err
	}
	return strings.NewReplacer("{target_preference}", target, "{category}", category).Replace(tmpl), nil
}

// rules returns, per teacher, the filter rules of the experiment's kind.
func (e *Experiment) rules() (func(*Teacher) []datasets.Rule, error) {
	switch datasets.Kind(e.Data.Kind) {
	case datasets.KindNumbers:
		banned, err := e.bannedNumbers()
		if err != nil {
			return nil, err
		}
		f := datasets.NumberFilter{MinValue: *e.Filter.MinValue, MaxValue: *e.Filter.MaxValue, MaxCount: *e.Filter.MaxCount}
		if len(banned) > 0 {
			f = f.WithBanned(banned...)
		}
		return func(*Teacher) []datasets.Rule { return []datasets.Rule{f} }, nil
	case datasets.KindCode:
		return func(t *Teacher) []datasets.Rule {
			return []datasets.Rule{datasets.CodeKeywordFilter(e.teacherTarget(t))}
		}, nil
	default:
		return func(*Teacher) []datasets.Rule { return []datasets.Rule{datasets.CorrectnessFilter{}} }, nil
	}
}

// leakWords returns, per teacher, the words the leak scan of its data
// looks for: the experiment's target (every dataset, controls included,
// is scanned for the trait) and the teacher's, their built-in synonyms
// and filter.synonyms.
func (e *Experiment) leakWords() func(*Teacher) []string {
	return func(t *Teacher) []string {
		syn := append([]string{}, e.Filter.Synonyms...)
		if tt := e.teacherTarget(t); tt != e.Target {
			syn = append(syn, datasets.LeakWords(tt)...)
		}
		return datasets.LeakWords(e.Target, syn...)
	}
}

// sourceHash returns the SHA-256 of the code or cot source file, "" for
// numbers.
func (e *Experiment) sourceHash() (string, error) {
	if e.Data.Kind == string(datasets.KindNumbers) {
		return "", nil
	}
	b, err := e.readFile(e.Data.Source, suites.MaxPromptFileBytes)
	if err != nil {
		return "", configf("%s: data.source: %v", e.Position("data.source"), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// prompts makes the prompts of the experiment's kind (for numbers, from
// the generator with promptSeed), in order.
func (e *Experiment) prompts(promptSeed string) ([]datasets.Prompt, error) {
	size := e.Data.Size
	switch datasets.Kind(e.Data.Kind) {
	case datasets.KindNumbers:
		seed, err := strconv.ParseUint(promptSeed, 10, 64)
		if err != nil {
			return nil, configf("%s: data.prompt_seed %q is not an integer", e.Position("data.prompt_seed"), promptSeed)
		}
		if e.Data.Generator == GeneratorLab {
			texts, err := lab.NumberPrompts(size, seed)
			if err != nil {
				return nil, fmt.Errorf("lab number prompts: %w", err)
			}
			out := make([]datasets.Prompt, len(texts))
			for i, t := range texts {
				out[i] = datasets.Prompt{Index: i, Text: t}
			}
			return out, nil
		}
		g, err := datasets.NewNumberPrompts(seed, datasets.PaperNumberPromptParams())
		if err != nil {
			return nil, err
		}
		return g.Queries(size), nil
	case datasets.KindCode:
		b, err := e.readFile(e.Data.Source, suites.MaxPromptFileBytes)
		if err != nil {
			return nil, configf("%s: data.source: %v", e.Position("data.source"), err)
		}
		srcs, err := datasets.ReadCodeSources(bytes.NewReader(b), e.Data.Source)
		if err != nil {
			return nil, configf("%s: data.source: %v", e.Position("data.source"), err)
		}
		if size > 0 && size < len(srcs) {
			srcs = srcs[:size]
		}
		return datasets.CodePrompts(srcs)
	default:
		b, err := e.readFile(e.Data.Source, suites.MaxPromptFileBytes)
		if err != nil {
			return nil, configf("%s: data.source: %v", e.Position("data.source"), err)
		}
		qs, err := datasets.ReadGSM8K(bytes.NewReader(b), e.Data.Source)
		if err != nil {
			return nil, configf("%s: data.source: %v", e.Position("data.source"), err)
		}
		if size > 0 && size < len(qs) {
			qs = qs[:size]
		}
		return datasets.CoTPrompts(qs, 1)
	}
}

// Prompts returns the dataset's prompts, in order (made once).
func (d *DatasetPlan) Prompts() ([]datasets.Prompt, error) { return d.prompts() }

// jobSpec returns the fine-tuning job of arm st at seed on the training
// file with hash sha.
func (e *Experiment) jobSpec(st *Student, seed, sha string) bench.FineTuneSpec {
	h := e.FineTune.Hyperparameters
	spec := bench.FineTuneSpec{DatasetSHA256: sha, BaseModel: strings.ReplaceAll(st.BaseModel, "{seed}", seed),
		Hyperparameters: bench.Hyperparameters{Epochs: h.Epochs, BatchSize: h.BatchSize, LearningRateMultiplier: h.LearningRateMultiplier},
		Suffix:          strings.NewReplacer("{arm}", st.Name, "{seed}", seed).Replace(e.FineTune.Suffix)}
	if s := e.FineTune.Seed; s != "auto" {
		if n, err := strconv.ParseInt(strings.ReplaceAll(s, "{seed}", seed), 10, 64); err == nil {
			spec.Seed = &n
		}
	}
	return spec
}

// Spec returns the student's fine-tuning job on the training file with
// hash sha.
func (s *StudentPlan) Spec(sha string) bench.FineTuneSpec {
	return s.Dataset.plan.Experiment.jobSpec(s.Arm, s.Seed, sha)
}
