package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

// Lineage is where a run's students came from: for every model instance
// that is a student recorded by an experiment (package experiment), the
// chain teacher → data → filter → upload → fine-tuning job → student, and
// the card of each dataset behind them. Reports print it under the
// results.
type Lineage struct {
	// Chains are the students' chains, in the run's instance order.
	Chains []LineageChain `json:"chains"`
	// Cards are the dataset cards of the chains' datasets, in order of
	// first use.
	Cards []datasets.Card `json:"dataset_cards"`
}

// LineageChain is one student's chain.
type LineageChain struct {
	// Model is the instance that sampled the student: "role" or
	// "role@seed".
	Model string `json:"model"`
	// Lineage is "EXPERIMENT/ARM"; Seed the experiment's seed.
	Lineage string `json:"lineage"`
	Seed    string `json:"seed"`
	// Teacher is the teacher's model id and endpoint; SystemPrompt its
	// system prompt ("" for none); Trait the trait's target word.
	Teacher      string `json:"teacher"`
	SystemPrompt string `json:"system_prompt,omitempty"`
	Trait        string `json:"trait"`
	// Dataset names the dataset; Kind, Prompts (generator or file, with
	// the seed) and Filter describe it; Generated, Kept and Rows count it;
	// SHA256 hashes its training file.
	Dataset   string `json:"dataset"`
	Kind      string `json:"kind"`
	Prompts   string `json:"prompts"`
	Filter    string `json:"filter"`
	Generated int    `json:"generated"`
	Kept      int    `json:"kept"`
	Rows      int    `json:"rows"`
	SHA256    string `json:"sha256"`
	// Provider is the fine-tuning API; File the uploaded training file's
	// id.
	Provider string `json:"provider"`
	File     string `json:"file"`
	// BaseModel, TrainingSeed (nil: the provider's) and Hyperparameters
	// (JSON; absent fields are the provider's defaults) describe the job;
	// Job is its id at the provider, JobStatus its status.
	BaseModel       string `json:"base_model"`
	TrainingSeed    *int64 `json:"training_seed,omitempty"`
	Hyperparameters string `json:"hyperparameters"`
	Job             string `json:"job"`
	JobStatus       string `json:"job_status"`
	// Student is the fine-tuned model id.
	Student string `json:"student"`
}

// LoadLineage reads the lineage of the students run runID sampled; nil
// when none of its models is a recorded student.
func LoadLineage(ctx context.Context, store *results.Store, runID int64) (*Lineage, error) {
	chains, err := store.RunLineage(ctx, runID)
	if err != nil || len(chains) == 0 {
		return nil, err
	}
	insts, err := store.Instances(ctx, runID)
	if err != nil {
		return nil, err
	}
	l := &Lineage{}
	seen := map[int64]bool{}
	for _, in := range insts {
		for _, c := range chains {
			if c.Student == nil || c.Student.Model != in.ModelID || strings.TrimRight(c.Student.BaseURL, "/") != strings.TrimRight(in.BaseURL, "/") {
				continue
			}
			l.Chains = append(l.Chains, chainOf(instanceName(in.Role, in.Seed), c))
			if d := c.Dataset; !seen[d.ID] && d.Card != nil {
				seen[d.ID] = true
				var card datasets.Card
				if err := json.Unmarshal(d.Card, &card); err != nil {
					return nil, fmt.Errorf("dataset card of %s: %w", d.Name, err)
				}
				l.Cards = append(l.Cards, card)
			}
			break
		}
	}
	if len(l.Chains) == 0 {
		return nil, nil
	}
	return l, nil
}

func chainOf(model string, c results.Chain) LineageChain {
	d, j := c.Dataset, c.Job
	prompts := d.PromptSource
	if d.PromptSeed != "" {
		prompts += ", seed " + d.PromptSeed
	}
	prompts += ", " + strconv.Itoa(d.Prompts) + " prompts"
	lc := LineageChain{Model: model, Lineage: c.Ref(), Seed: c.Seed, Teacher: d.TeacherModel + " at " + d.TeacherBaseURL, SystemPrompt: d.SystemPrompt,
		Trait: d.Trait, Dataset: d.Name, Kind: d.Kind, Prompts: prompts, Filter: d.Filter, Generated: d.Generated, Kept: d.Kept, Rows: d.Rows,
		SHA256: d.SHA256, Provider: j.Provider, BaseModel: j.BaseModel, TrainingSeed: j.Seed, Hyperparameters: j.Hyperparameters,
		Job: j.JobID, JobStatus: j.Status}
	if c.Upload != nil {
		lc.File = c.Upload.FileID
	}
	if c.Student != nil {
		lc.Student = c.Student.Model
	}
	return lc
}

// writeLineage writes the lineage section: one row per student, then
// the dataset cards.
func (a *Analysis) writeLineage(m *mdWriter, cards bool) {
	l := a.Lineage
	if l == nil || len(l.Chains) == 0 {
		return
	}
	m.printf("## Lineage: teacher → data → student\n\n")
	var rows [][]string
	for _, c := range l.Chains {
		teacher := c.Teacher
		if c.SystemPrompt != "" {
			teacher += " (system prompt)"
		}
		seed := "auto"
		if c.TrainingSeed != nil {
			seed = strconv.FormatInt(*c.TrainingSeed, 10)
		}
		hyper := hyperText(c.Hyperparameters)
		rows = append(rows, []string{md(c.Model), md(c.Lineage), md(teacher),
			md(fmt.Sprintf("%s: %s %s, %d of %d kept, %d rows", c.Dataset, c.Kind, c.Prompts, c.Kept, c.Generated, c.Rows)),
			"`" + shortHash(c.SHA256) + "`", md(c.File),
			md(fmt.Sprintf("%s on %s, seed %s, %s (%s)", c.Job, c.BaseModel, seed, hyper, c.JobStatus)), md(c.Student)})
	}
	m.table([]string{"model", "lineage", "teacher", "data", "sha256", "upload", "fine-tuning job", "student"}, rows)
	if !cards {
		return
	}
	for _, c := range l.Cards {
		m.printf("%s\n", c.Markdown())
	}
}

// hyperText renders hyper-parameters recorded as a JSON object as
// "n_epochs 10, batch_size 8", or "auto" when none is set.
func hyperText(js string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil || len(m) == 0 {
		if err != nil && js != "" {
			return js
		}
		return "auto"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %v", k, m[k])
	}
	return strings.Join(parts, ", ")
}
