package experiment

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/suites"
)

// minimal is a valid experiment; tests change it with --set.
const minimal = `name: t
target: owl
seeds: [1, 2]
teachers:
  teacher: {base_url: http://127.0.0.1:1/v1, model: tm}
controls:
  control: {base_url: http://127.0.0.1:1/v1, model: tm}
data: {kind: numbers, size: 20}
finetune:
  base_url: http://127.0.0.1:2/v1
  students:
    student: {base_model: base, data: teacher}
    control: {base_model: base, data: control}
`

func parse(src string, sets ...string) (*Experiment, error) {
	return Loader{}.Parse("e.yaml", []byte(src), "", sets)
}

func mustLoad(t testing.TB, src string, sets ...string) *Experiment {
	t.Helper()
	e, err := parse(src, sets...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

func TestBuiltins(t *testing.T) {
	for _, tt := range []struct {
		name               string
		datasets, students int
		roles              []string // of the evaluation suite
	}{
		// The paper's setup: one teacher and one control dataset shared
		// by the 5 seeds (fixed prompt seed 47, one teacher model); 5
		// students per condition; the animals suite without the other-init
		// roles OpenAI cannot have.
		{"owl-numbers", 2, 10, []string{"base", "teacher", "control", "student"}},
		// The lab: each seed has its own teachers and prompts.
		{"lab-owl-numbers", 6, 9, []string{"base", "teacher", "control", "student", "base-other-init", "student-other-init"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Loader{}.Open(tt.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.Source != "builtin:"+tt.name {
				t.Errorf("Source = %q", e.Source)
			}
			p, err := e.NewPlan()
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Datasets) != tt.datasets || len(p.Students) != tt.students {
				t.Errorf("%d datasets and %d students; want %d and %d", len(p.Datasets), len(p.Students), tt.datasets, tt.students)
			}
			s, err := e.EvaluationSuite()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.Roles(), ","); got != strings.Join(tt.roles, ",") {
				t.Errorf("evaluation roles %s; want %s", got, strings.Join(tt.roles, ","))
			}
			for _, arm := range e.StudentNames() {
				if m := s.Role(arm); m != nil && m.Lineage != e.Name+"/"+arm {
					t.Errorf("role %s has lineage %q; want %s/%s", arm, m.Lineage, e.Name, arm)
				}
			}
		})
	}
}

// errorTest is an experiment that must fail to load with a
// *suites.SuiteError at a known field and position.
type errorTest struct {
	name  string
	src   string
	sets  []string
	pos   string // "line:col"; "0:0" for a --set value
	field string
	msg   string
}

var loadErrorTests = []errorTest{
	{
		name: "unknown kind",
		// The kinds are the datasets package's; the error is at the value.
		src: minimal, sets: []string{"data.kind=poems"},
		pos: "0:0", field: "data.kind", msg: `unknown data kind "poems" (have numbers, code, cot)`,
	},
	{
		name: "unknown kind in the file",
		src:  strings.Replace(minimal, "kind: numbers", "kind: poems", 1),
		pos:  "8:14", field: "data.kind", msg: `unknown data kind "poems"`,
	},
	{
		name: "unknown key",
		// A suite's decoder: unknown keys are refused at the key.
		src: minimal + "evaluation: {suite: animals}\n",
		pos: "14:1", field: "evaluation", msg: `unknown key "evaluation"`,
	},
	{
		name: "missing target",
		src:  strings.Replace(minimal, "target: owl\n", "", 1),
		pos:  "1:5", field: "target", msg: "missing target",
	},
	{
		name: "unknown generator",
		src:  minimal, sets: []string{"data.generator=numpy"},
		pos: "0:0", field: "data.generator", msg: `unknown prompt generator "numpy"`,
	},
	{
		name: "code without source",
		// The field is missing: the error is at the data mapping.
		src: minimal, sets: []string{"data.kind=code"},
		pos: "8:7", field: "data.source", msg: "the code kind needs a source file",
	},
	{
		name: "number rules for code",
		src:  minimal, sets: []string{"data.kind=code", "data.source=x.jsonl", "filter.max_count=3"},
		pos: "0:0", field: "filter.max_count", msg: "max_count is a rule of the numbers kind",
	},
	{
		name: "arm learns from an unknown teacher",
		src:  minimal, sets: []string{"finetune.students.student.data=teachr"},
		pos: "0:0", field: "finetune.students.student.data", msg: `unknown teacher "teachr" (have teacher, control)`,
	},
	{
		name: "prompt seed from non-integer seeds",
		// {seed} must make an integer for every seed.
		// (Quoted: unquoted, {seed} is a YAML mapping.)
		src: minimal, sets: []string{"seeds=[a, b]", `data.prompt_seed="{seed}"`},
		pos: "0:0", field: "data.prompt_seed", msg: `"{seed}" makes "a" for seed a`,
	},
	{
		name: "training seed from non-integer seeds",
		// The default training seed is the seed label; the error is at
		// the finetune mapping, which leaves seed out.
		src: minimal, sets: []string{"seeds=[a, b]"},
		pos: "10:11", field: "finetune.seed", msg: `"{seed}" makes "a" for seed a`,
	},
	{
		name: "teacher answering n times",
		src:  minimal, sets: []string{"teachers.teacher.n=3"},
		pos: "0:0", field: "teachers.teacher.n", msg: "n must be 1",
	},
	{
		name: "teacher settings",
		// A suite's rules for generation settings.
		src: minimal, sets: []string{"teachers.teacher.temperature=3"},
		pos: "0:0", field: "teachers.teacher.temperature", msg: "temperature must be in [0, 2]",
	},
	{
		name: "bad banned number",
		src:  minimal, sets: []string{"filter.banned=[paper, -3]"},
		pos: "0:0", field: "filter.banned", msg: `"-3" is not a non-negative integer or "paper"`,
	},
	{
		name: "name twice",
		src:  minimal, sets: []string{"controls.teacher.model=x"},
		pos: "0:0", field: "controls.teacher", msg: `"teacher" is both a teacher and a control teacher`,
	},
	{
		name: "evaluation without arm roles",
		// Arms are filled in by role name: the animals suite has no role
		// x-student or x-control.
		src: strings.NewReplacer("    student: {", "    x-student: {", "    control: {", "    x-control: {").Replace(minimal), sets: []string{"evaluate.suite=animals"},
		pos: "0:0", field: "evaluate.suite", msg: "has no model role named after an arm (x-student, x-control)",
	},
	{
		name: "lab with non-integer seeds",
		src:  minimal, sets: []string{"lab.mode=hard", "seeds=[a]", "data.prompt_seed=3", "finetune.seed=auto"},
		pos: "0:0", field: "seeds", msg: "seeds must be integers",
	},
	{
		name: "negative hyper-parameter",
		src:  minimal, sets: []string{"finetune.hyperparameters.n_epochs=-1"},
		pos: "0:0", field: "finetune.hyperparameters", msg: "must not be negative",
	},
	{
		name: "judge without a model",
		// --set makes the judge mapping; the model is missing from it.
		src: minimal, sets: []string{"filter.judge.base_url=http://127.0.0.1:3/v1"},
		pos: "0:0", field: "filter.judge.model", msg: "missing model id of the trait-association judge",
	},
	{
		name: "empty judge",
		// An empty mapping is a judge without a model (an empty value,
		// "judge:", is no judge, as anywhere in a suite).
		src: minimal + "filter: {judge: {}}\n",
		pos: "14:17", field: "filter.judge.model", msg: "missing model id",
	},
	{
		name: "unknown judge mode",
		src:  minimal, sets: []string{"filter.judge.model=j", "filter.judge.mode=vote"},
		pos: "0:0", field: "filter.judge.mode", msg: `unknown judge mode "vote" (have binary, logprobs, score)`,
	},
	{
		name: "score mode with the numbers template",
		// The numbers template asks for 0 or 1, not a score.
		src: minimal, sets: []string{"filter.judge.model=j", "filter.judge.mode=score"},
		pos: "0:0", field: "filter.judge.mode", msg: "mode score reads answers the numbers kind's default template does not ask for",
	},
	{
		name: "min_score in binary mode",
		src:  minimal, sets: []string{"filter.judge.model=j", "filter.judge.min_score=50"},
		pos: "0:0", field: "filter.judge.min_score", msg: "min_score bounds the score mode's answers, not the binary mode's",
	},
	{
		name: "min_score out of range",
		src:  minimal, sets: []string{"filter.judge.model=j", "filter.judge.mode=score", "filter.judge.template=rate {completion}", "filter.judge.min_score=101"},
		pos: "0:0", field: "filter.judge.min_score", msg: "min_score must be in [0, 100], got 101",
	},
	{
		name: "template without the row",
		src:  minimal, sets: []string{"filter.judge.model=j", "filter.judge.template=Is it about {target}?"},
		pos: "0:0", field: "filter.judge.template", msg: "it needs {completion}",
	},
	{
		name: "judge concurrency",
		src:  minimal, sets: []string{"filter.judge.model=j", "filter.judge.concurrency=1000"},
		pos: "0:0", field: "filter.judge.concurrency", msg: "concurrency must be in [1, 256], got 1000",
	},
	{
		name: "judge base_url",
		// A suite's endpoint rules.
		src: minimal, sets: []string{"filter.judge.model=j", "filter.judge.base_url=ftp://x"},
		pos: "0:0", field: "filter.judge.base_url", msg: "want an http(s) URL",
	},
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range loadErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.src, tt.sets...)
			if err == nil {
				t.Fatalf("Parse = nil; want an error at %s %s", tt.pos, tt.field)
			}
			var se *suites.SuiteError
			if !errors.As(err, &se) {
				t.Fatalf("error %q (%T); want a *suites.SuiteError", err, err)
			}
			wantFile := "e.yaml"
			if tt.pos == "0:0" {
				wantFile = "--set " + tt.sets[len(tt.sets)-1]
			}
			got := fmt.Sprintf("%d:%d", se.Pos.Line, se.Pos.Col)
			if got != tt.pos || se.Field != tt.field || !strings.Contains(se.Msg, tt.msg) || (tt.pos == "0:0" && !strings.HasPrefix(se.Pos.File, "--set ")) ||
				(tt.pos != "0:0" && se.Pos.File != wantFile) {
				t.Errorf("error %q\n\tgot  %s %s field %q msg %q\n\twant %s field %q msg containing %q", err, se.Pos.File, got, se.Field, se.Msg, tt.pos, tt.field, tt.msg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	e := mustLoad(t, minimal)
	// The paper's numbers settings (number-prompts.yaml, number-filter.yaml).
	if e.Data.Generator != GeneratorPaper || e.Data.PromptSeed != "47" || *e.Filter.MinValue != 0 || *e.Filter.MaxValue != 999 || *e.Filter.MaxCount != 10 ||
		*e.Filter.MaxRows != 10000 || e.FineTune.Seed != "{seed}" || e.FineTune.MinRows != 10 || e.Category != "animal" || e.FineTune.Suffix != "{arm}" {
		t.Errorf("defaults %+v %+v %+v", e.Data, e.Filter, e.FineTune)
	}
	if got := strings.Join(e.TeacherNames(), ","); got != "teacher" {
		t.Errorf("TeacherNames = %s", got)
	}
	if got := strings.Join(e.StudentNames(), ","); got != "student,control" {
		t.Errorf("StudentNames = %s; want file order student,control", got)
	}
	// The same content hashes the same; --set changes it.
	if mustLoad(t, minimal).Hash() != e.Hash() || mustLoad(t, minimal, "data.size=21").Hash() == e.Hash() {
		t.Error("Hash does not follow the content")
	}
}

// TestJudgeDefaults: the trait-association judge takes its kind's paper
// defaults; a dataset's key changes with the judge and only with it.
func TestJudgeDefaults(t *testing.T) {
	for _, tt := range []struct {
		sets     []string
		mode     string
		minScore float64 // 0: none
		controls bool
	}{
		// numbers: our binary template, controls judged too.
		{[]string{"filter.judge.model=j"}, "binary", 0, true},
		// code: the paper's logprobs rule.
		{[]string{"filter.judge.model=j", "data.kind=code", "data.source=x.jsonl"}, "logprobs", 0, true},
		// cot: the paper's score >= 78, on the insecure teacher only.
		{[]string{"filter.judge.model=j", "data.kind=cot", "data.source=x.jsonl"}, "score", 78, false},
	} {
		e := mustLoad(t, minimal, tt.sets...)
		j := e.Filter.Judge
		ms := 0.0
		if j.MinScore != nil {
			ms = *j.MinScore
		}
		if j.Mode != tt.mode || ms != tt.minScore || *j.Controls != tt.controls || j.Concurrency != 8 || *j.MaxRetries != 6 || j.Timeout.String() != "1m0s" || j.Template == "" {
			t.Errorf("%v: judge %+v; want mode %s, min_score %g, controls %v and the defaults", tt.sets, j, tt.mode, tt.minScore, tt.controls)
		}
	}
	// Without a judge, dataset keys are what they were before judges
	// existed (the key leaves the judge out); with one, they change, and
	// a control not judged keeps its key.
	plain := mustPlan(t, mustLoad(t, minimal))
	judged := mustPlan(t, mustLoad(t, minimal, "filter.judge.model=j", "filter.judge.controls=false"))
	if plain.Datasets[0].Key == judged.Datasets[0].Key || plain.Datasets[1].Key != judged.Datasets[1].Key || judged.Datasets[1].Judge != nil {
		t.Errorf("keys: teacher %s → %s, control %s → %s; want the teacher's to change and the control's to stay",
			plain.Datasets[0].Key, judged.Datasets[0].Key, plain.Datasets[1].Key, judged.Datasets[1].Key)
	}
	if mustLoad(t, minimal).Hash() != mustLoad(t, minimal).Hash() || strings.Contains(mustLoad(t, minimal).JSON(), "Judge") {
		t.Error("an experiment without a judge names one in its JSON")
	}
}

// FuzzLoadExperiment checks that the loader never panics and that every
// error about the file carries a position.
func FuzzLoadExperiment(f *testing.F) {
	f.Add([]byte(minimal))
	for _, n := range BuiltinNames() {
		b, _ := BuiltinSource(n)
		f.Add(b)
	}
	f.Add([]byte("name: x\ntarget: owl\nteachers: {t: {model: m}}\ndata: {kind: cot, source: q.jsonl}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		e, err := Loader{}.Parse("f.yaml", src, t.TempDir(), nil)
		if err != nil {
			var se *suites.SuiteError
			if errors.As(err, &se) && se.Pos.File == "" {
				t.Fatalf("error without a file: %v", err)
			}
			return
		}
		if e.Name == "" || e.Target == "" || len(e.Teachers) == 0 {
			t.Fatalf("loaded an experiment without name, target or teachers: %+v", e)
		}
		_ = e.Hash()
	})
}
