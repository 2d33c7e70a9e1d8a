package suites

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// lineageSuite has a role named by lineage and one of plain models.
const lineageSuite = `name: s
models:
  base:    {base_url: http://127.0.0.1:1/v1, model: b}
  student: {lineage: %s, seeds: %s}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`

func TestLineageRoles(t *testing.T) {
	for _, tt := range []struct {
		name, lineage, seeds string
		ref                  LineageRef
		want                 []string // WantSeeds
		instances            []string // Instances' names of the student role
	}{
		// The arm defaults to the role's name, so owl-numbers means
		// owl-numbers/student here; "all" asks for every seed (nil).
		{"all seeds", "owl-numbers", "all", LineageRef{"owl-numbers", "student"}, nil, []string{"student@all"}},
		// An explicit arm; seeds omitted ("[]" decodes to an empty list)
		// also means every seed.
		{"explicit arm", "owl-numbers/control", "[]", LineageRef{"owl-numbers", "control"}, nil, []string{"student@all"}},
		// Listed seeds are kept in order: one placeholder instance each.
		{"some seeds", "exp_1/student", "[3, 1]", LineageRef{"exp_1", "student"}, []string{"3", "1"}, []string{"student@3", "student@1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, fmt.Sprintf(lineageSuite, tt.lineage, tt.seeds))
			m := s.Role("student")
			ref, ok, err := m.Ref()
			if err != nil || !ok || ref != tt.ref {
				t.Errorf("Ref() = %+v, %v, %v; want %+v", ref, ok, err, tt.ref)
			}
			if got := m.WantSeeds(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("WantSeeds() = %q; want %q", got, tt.want)
			}
			if m.Resolved() || s.UnresolvedLineage() != "student" {
				t.Errorf("Resolved() = %v, UnresolvedLineage() = %q; want false and student", m.Resolved(), s.UnresolvedLineage())
			}
			var names []string
			for _, in := range s.Instances() {
				if in.Role == "student" {
					names = append(names, in.Name())
					if in.Model != LineagePlaceholder+tt.lineage {
						t.Errorf("placeholder model %q; want %q", in.Model, LineagePlaceholder+tt.lineage)
					}
				}
			}
			if !reflect.DeepEqual(names, tt.instances) {
				t.Errorf("instances %q; want %q", names, tt.instances)
			}
			// Resolved, the role has one model per seed and checks out.
			if err := m.ResolveLineage([]string{"1", "2"}, []string{"ft:a", "ft:b"}, "http://127.0.0.1:2/v1", "KEY"); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check after ResolveLineage: %v", err)
			}
			var got []string
			for _, in := range s.Instances() {
				if in.Role == "student" {
					got = append(got, in.Name()+"="+in.Model+"@"+in.BaseURL+"/"+in.APIKeyEnv)
				}
			}
			want := []string{"student@1=ft:a@http://127.0.0.1:2/v1/KEY", "student@2=ft:b@http://127.0.0.1:2/v1/KEY"}
			if !reflect.DeepEqual(got, want) || s.UnresolvedLineage() != "" {
				t.Errorf("resolved instances %q (unresolved %q); want %q", got, s.UnresolvedLineage(), want)
			}
		})
	}
}

// A suite without lineage hashes as it did before lineage existed: the
// field is left out of the canonical JSON when empty, so run identities
// (the suite hash) are unchanged; a lineage role's JSON carries it.
func TestLineageKeepsHash(t *testing.T) {
	plain := mustParse(t, `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`)
	b, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Lineage")) {
		t.Errorf("a suite without lineage marshals a Lineage field: %s", b)
	}
	b, err = json.Marshal(mustParse(t, fmt.Sprintf(lineageSuite, "owl-numbers", "all")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"Lineage":"owl-numbers"`)) {
		t.Errorf("a lineage role's JSON lacks its lineage: %s", b)
	}
}

var lineageErrorTests = []errorTest{
	{
		name: "bad experiment name",
		// The reference is EXPERIMENT[/ARM], both names.
		src: fmt.Sprintf(lineageSuite, `"owl numbers"`, "all"),
		pos: "4:22", field: "models.student.lineage", msg: `the experiment name "owl numbers" must use letters`,
	},
	{
		name: "bad arm",
		src:  fmt.Sprintf(lineageSuite, `"owl-numbers/"`, "all"),
		pos:  "4:22", field: "models.student.lineage", msg: `the arm "" must use letters`,
	},
	{
		name: "all among seeds",
		// "all" must stand alone.
		src: fmt.Sprintf(lineageSuite, "owl-numbers", "[1, all]"),
		pos: "4:46", field: "models.student.seeds[1]", msg: `seed "all" must be unique`,
	},
	{
		name: "duplicate seed",
		src:  fmt.Sprintf(lineageSuite, "owl-numbers", "[1, 1]"),
		pos:  "4:46", field: "models.student.seeds[1]", msg: `seed "1" must be unique`,
	},
	{
		name: "model beside lineage",
		// The ids come from the database: a model id in the file is a
		// mistake unless it is a resolved role's (one per seed).
		src: `name: s
models:
  student: {lineage: owl-numbers, model: ft:x, seeds: all}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:42", field: "models.student.model", msg: "with lineage, leave model out",
	},
	{
		name: "judge with lineage",
		src: `name: s
models: {a: {model: m}}
judges: {j: {model: gpt-4o, lineage: owl-numbers}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:13", field: "judges.j", msg: "a judge is one model id",
	},
}

func TestLineageErrors(t *testing.T) {
	for _, tt := range lineageErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src, tt.sets...)
			checkSuiteError(t, fmt.Sprintf("Parse(%q)", tt.src), err, tt)
		})
	}
}

// An empty --set value unsets a string list, as it unsets any field: a
// model role can be turned into a lineage role from the command line.
func TestSetEmptyStringList(t *testing.T) {
	src := `name: s
models: {student: {model: "m-{seed}", seeds: [1, 2]}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s := mustParse(t, src, "models.student.model=", "models.student.seeds=all", "models.student.lineage=exp")
	m := s.Role("student")
	if len(m.Model) != 0 || m.Lineage != "exp" || m.WantSeeds() != nil {
		t.Errorf("student = %+v; want no model ids, lineage exp and every seed", m)
	}
	// Without the lineage the unset model is a missing model id.
	_, err := parseString(src, "models.student.model=")
	checkSuiteError(t, "Parse", err, errorTest{file: "--set models.student.model=", pos: "0:0", field: "models.student.model", msg: "missing model id"})
}

func TestParseLineage(t *testing.T) {
	for _, tt := range []struct {
		ref, role string
		want      LineageRef
		ok        bool
	}{
		{"owl-numbers", "student", LineageRef{"owl-numbers", "student"}, true},         // the arm is the role
		{"owl-numbers/control", "student", LineageRef{"owl-numbers", "control"}, true}, // an explicit arm wins
		{"a/b/c", "student", LineageRef{}, false},                                      // "b/c" is not a name
		{"", "student", LineageRef{}, false},                                           // no experiment
	} {
		got, err := ParseLineage(tt.ref, tt.role)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseLineage(%q, %q) = %+v, %v; want %+v, ok %v", tt.ref, tt.role, got, err, tt.want, tt.ok)
		}
	}
}

// document is a small schema of another kind of file.
type document struct {
	Name     string               `yaml:"name"`
	Vars     map[string]string    `yaml:"vars"`
	Size     int                  `yaml:"size"`
	Wait     time.Duration        `yaml:"wait"`
	Items    map[string]*docItem  `yaml:"items"`
	Tags     StringList           `yaml:"tags"`
	Settings map[string]*Settings `yaml:"settings"`
}

type docItem struct {
	Model string `yaml:"model"`
}

func TestDecodeDocument(t *testing.T) {
	src := `name: "${who}-doc"
vars: {who: owl}
size: 3
wait: 2s
items:
  zeta: {model: z}
  alpha: {model: a}
tags: [x, y]
settings: {hot: {temperature: 3}}
`
	var d document
	doc, err := DecodeDocument("d.yaml", []byte(src), []string{"size=5", "items.beta.model=b"}, "document", &d)
	if err != nil {
		t.Fatal(err)
	}
	// Vars are substituted, --set wins, durations and string lists decode.
	if d.Name != "owl-doc" || d.Size != 5 || d.Wait != 2*time.Second || !reflect.DeepEqual([]string(d.Tags), []string{"x", "y"}) {
		t.Errorf("decoded %+v", d)
	}
	// Keys keeps file order, --set keys last.
	if got := doc.Keys("items"); !reflect.DeepEqual(got, []string{"zeta", "alpha", "beta"}) {
		t.Errorf("Keys(items) = %q; want zeta, alpha, beta", got)
	}
	if p := doc.Position("items.alpha.model"); p.Line != 7 || p.Col != 18 {
		t.Errorf("Position(items.alpha.model) = %v; want d.yaml:7:18", p)
	}
	if !doc.Given("size") || doc.Given("nothing") {
		t.Errorf("Given(size) = %v, Given(nothing) = %v; want true, false", doc.Given("size"), doc.Given("nothing"))
	}
	// Validation after decoding points at the field, with a suite's rules.
	err = doc.CheckSettings("settings.hot", *d.Settings["hot"])
	checkSuiteError(t, "CheckSettings", err, errorTest{file: "d.yaml", pos: "9:31", field: "settings.hot.temperature", msg: "temperature must be in [0, 2]"})
	err = doc.CheckEndpoint("items.zeta", "ftp://x", "")
	checkSuiteError(t, "CheckEndpoint", err, errorTest{file: "d.yaml", pos: "6:9", field: "items.zeta.base_url", msg: "want an http(s) URL"})
}

func TestDecodeDocumentErrors(t *testing.T) {
	for _, tt := range []errorTest{
		// The kind of file names itself in errors.
		{name: "empty", src: "", file: "d.yaml", pos: "1:1", msg: "empty document file"},
		{name: "not a mapping", src: "[1]", file: "d.yaml", pos: "1:1", msg: "an document is a mapping"},
		// Unknown keys and wrong types are refused where they are.
		{name: "unknown key", src: "name: x\nsizes: 3\n", file: "d.yaml", pos: "2:1", field: "sizes", msg: `unknown key "sizes"`},
		{name: "wrong type", src: "size: many\n", file: "d.yaml", pos: "1:7", field: "size", msg: "want an integer"},
		{name: "undefined variable", src: "name: ${x}\n", file: "d.yaml", pos: "1:7", field: "name", msg: "undefined variable ${x}"},
		// The same limits as suites: no tags.
		{name: "tag", src: "name: !x y\n", file: "d.yaml", pos: "1:7", msg: "YAML tags"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d document
			_, err := DecodeDocument("d.yaml", []byte(tt.src), tt.sets, "document", &d)
			var se *SuiteError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T); want a *SuiteError", err, err)
			}
			checkSuiteError(t, "DecodeDocument", err, tt)
		})
	}
}
