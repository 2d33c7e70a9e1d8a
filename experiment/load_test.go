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
