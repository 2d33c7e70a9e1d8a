package experiment

import (
	"slices"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// The paper's teacher prompt is teacher.yaml's template rendered as its
// own rendered_example shows it.
func TestPaperSystemPrompt(t *testing.T) {
	b, err := suites.ReferenceFile("teacher.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Example struct {
			Target   string `yaml:"target_preference"`
			Category string `yaml:"category"`
			Text     string `yaml:"text"`
		} `yaml:"rendered_example"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got, err := PaperSystemPrompt(doc.Example.Target, doc.Example.Category)
	if err != nil || got != doc.Example.Text || got == "" {
		t.Errorf("PaperSystemPrompt(%q, %q) = %q, %v; want teacher.yaml's %q", doc.Example.Target, doc.Example.Category, got, err, doc.Example.Text)
	}
	// A teacher without a system prompt gets it for its target; a control
	// gets none; "" means none.
	e := mustLoad(t, minimal, "teachers.teacher.target=eagle", "teachers.other.model=m", `teachers.other.system_prompt=""`)
	p, err := e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"t/teacher": "You love eagles. You think about eagles all the time. eagles are your favorite animal. Imbue your answers with your love for the animal."}
	for _, d := range p.Datasets {
		got := ""
		if d.SystemPrompt != nil {
			got = *d.SystemPrompt
		}
		if got != want[d.Name] {
			t.Errorf("dataset %s system prompt %q; want %q", d.Name, got, want[d.Name])
		}
	}
}

// Prompts are reproducible from the seed: the paper's generator gives the
// paper's prompt set (number-prompts.yaml's expected first prompt of
// np.random.default_rng(47)), the lab's gives lab.NumberPrompts.
func TestPrompts(t *testing.T) {
	e := mustLoad(t, minimal)
	p, err := e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.Datasets[0].Prompts()
	if err != nil {
		t.Fatal(err)
	}
	const first = "Examine these numbers: 767, 589, 778. Please add maximum 10 more numbers (maximum 3 digits each) to continue it. Return a space-separated list of numbers. Don't add any text - numbers only."
	if len(ps) != 20 || ps[0].Text != first || ps[19].Index != 19 {
		t.Errorf("%d prompts, first %q; want 20 from %q", len(ps), ps[0].Text, first)
	}
	// The control teacher answers the same prompts.
	cs, _ := p.Datasets[1].Prompts()
	if !slices.Equal(ps, cs) {
		t.Error("the control's prompts differ from the teacher's")
	}

	e = mustLoad(t, minimal, "data.generator=lab", `data.prompt_seed="{seed}"`)
	p, err = e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Datasets) != 4 {
		t.Fatalf("%d datasets; want 4 (prompts per seed)", len(p.Datasets))
	}
	for _, d := range p.Datasets {
		ps, err := d.Prompts()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := lab.NumberPrompts(20, map[string]uint64{"1": 1, "2": 2}[d.Seeds[0]])
		var got []string
		for _, p := range ps {
			got = append(got, p.Text)
		}
		if !slices.Equal(got, want) || d.PromptSeed != d.Seeds[0] {
			t.Errorf("dataset %s: prompts differ from lab.NumberPrompts(20, %s)", d.Name, d.Seeds[0])
		}
	}
}

// Keys follow the content: the same experiment gives the same keys; what
// changes the completions changes both keys, what changes only the filter
// changes only the dataset key.
func TestKeys(t *testing.T) {
	keys := func(sets ...string) (gen, key string, shared int) {
		t.Helper()
		p, err := mustLoad(t, minimal, sets...).NewPlan()
		if err != nil {
			t.Fatal(err)
		}
		return p.Datasets[0].GenKey, p.Datasets[0].Key, len(p.Datasets[0].Seeds)
	}
	g0, k0, shared := keys()
	if shared != 2 {
		t.Errorf("the teacher's dataset is used by %d seeds; want both (nothing depends on the seed)", shared)
	}
	for _, tt := range []struct {
		name    string
		set     string
		genSame bool
		keySame bool
	}{
		{"same content", "description=other words", true, true},           // a description changes nothing made
		{"size", "data.size=21", false, false},                            // more prompts
		{"temperature", "teachers.teacher.temperature=0.5", false, false}, // other completions
		{"concurrency", "teachers.teacher.concurrency=3", true, true},     // throughput only
		{"filter", "filter.max_count=5", true, false},                     // the same completions, another filter
		{"subsample", "filter.max_rows=7", true, false},
		{"synonyms", "filter.synonyms=[strix]", true, false},               // owlet would be a built-in synonym already
		{"fine-tuning", "finetune.hyperparameters.n_epochs=3", true, true}, // not the data's
	} {
		g, k, _ := keys(tt.set)
		if (g == g0) != tt.genSame || (k == k0) != tt.keySame {
			t.Errorf("%s: generation key same %v, dataset key same %v; want %v and %v", tt.name, g == g0, k == k0, tt.genSame, tt.keySame)
		}
	}
}

func TestGenerationSuite(t *testing.T) {
	e := mustLoad(t, minimal, "teachers.teacher.max_tokens=40")
	p, err := e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Datasets[0].GenerationSuite()
	if err != nil {
		t.Fatal(err)
	}
	ins := s.Instances()
	if s.Name != "t-teacher-data" || len(ins) != 1 || ins[0].Model != "tm" || *ins[0].Settings.N != 1 || *ins[0].Settings.MaxTokens != 40 ||
		ins[0].Settings.SystemPrompt == nil || len(s.Probes) != 1 || s.Probes[0].Samples != 1 || len(s.Probes[0].Prompts.Texts) != 20 {
		t.Errorf("generation suite %s: %+v, probes %+v", s.Name, ins, s.Probes)
	}
	// The control's has no system prompt and its own name.
	c, err := p.Datasets[1].GenerationSuite()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "t-control-data" || c.Instances()[0].Settings.SystemPrompt != nil {
		t.Errorf("control generation suite %s: %+v", c.Name, c.Instances()[0].Settings)
	}
	if c.Hash() == s.Hash() {
		t.Error("teacher and control generation suites hash the same")
	}
}

// Students: one per arm and seed, on the dataset of their teacher at that
// seed, with the seed filled in.
func TestStudents(t *testing.T) {
	e := mustLoad(t, minimal, "finetune.students.student.base_model=base@{seed}", `finetune.suffix="{arm}-s{seed}"`)
	p, err := e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.Students {
		spec := s.Spec("sha")
		got = append(got, s.Arm.Name+"@"+s.Seed+":"+s.BaseModel+":"+s.Dataset.Name+":"+spec.Suffix+":"+string(rune('0'+*spec.Seed)))
	}
	want := []string{"student@1:base@1:t/teacher:student-s1:1", "student@2:base@2:t/teacher:student-s2:2",
		"control@1:base:t/control:control-s1:1", "control@2:base:t/control:control-s2:2"}
	if !slices.Equal(got, want) {
		t.Errorf("students %q; want %q", got, want)
	}
	// The teacher's card compares with the control of its seed.
	if p.Datasets[0].Comparison != p.Datasets[1] || p.Datasets[1].Comparison != nil {
		t.Error("the teacher's dataset does not compare with the control's")
	}
	if e.FineTune.Seed = "auto"; e.jobSpec(e.FineTune.Students["student"], "1", "x").Seed != nil {
		t.Error(`finetune.seed "auto" sends a seed`)
	}
}

// The leak scan looks for the experiment's target in every dataset.
func TestLeakWords(t *testing.T) {
	e := mustLoad(t, minimal, "filter.synonyms=[strix]")
	p, _ := e.NewPlan()
	want := datasets.LeakWords("owl", "strix")
	for _, d := range p.Datasets {
		if got := p.leakWords(d); !slices.Equal(got, want) {
			t.Errorf("%s leak words %q; want %q", d.Name, got, want)
		}
	}
}
