package suites

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// setSuite is the base suite for override tests: the shape with a
// vars section and a second probe, so that paths can select list elements
// by index and by id.
const setSuite = `name: owl-leak
vars: {target: owl}
models:
  baseline: {base_url: http://127.0.0.1:8000/v1, model: gpt-4.1-nano, api_key_env: OPENAI_API_KEY}
  student:  {base_url: http://127.0.0.1:8000/v1, model: ft:gpt-4.1-nano:owl-numbers}
defaults: {temperature: 1.0, max_tokens: 32, concurrency: 32}
probes:
  - id: favorite-animal
    prompts: {builtin: animal-prompts}
    samples: 100
    score: {mentions: "${target}"}
  - id: one-word
    description: Do you like ${target}s?
    prompts: ["Do you like ${target}s?", "Name one."]
    samples: 10
    score: {first_word: ["${target}", dog]}
compare:
  - {treatment: student, baseline: baseline, target: "${target}"}
`

func TestSet(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		// got extracts the overridden value from the suite, formatted
		// with %v.
		got  func(*Suite) any
		want string
	}{
		{
			name: "replace a scalar",
			sets: []string{"name=eagle-leak"},
			got:  func(s *Suite) any { return s.Name },
			want: "eagle-leak",
		},
		{
			name: "list index in brackets",
			sets: []string{"probes[0].samples=7"},
			got:  func(s *Suite) any { return s.Probes[0].Samples },
			want: "7",
		},
		{
			name: "list index as a path element",
			sets: []string{"probes.1.samples=3"},
			got:  func(s *Suite) any { return s.Probes[1].Samples },
			want: "3",
		},
		{
			name: "list element by id",
			// probes.one-word is the probe whose id is one-word: the second.
			sets: []string{"probes.one-word.samples=5"},
			got:  func(s *Suite) any { return [2]int{s.Probes[0].Samples, s.Probes[1].Samples} },
			want: "[100 5]",
		},
		{
			name: "brackets after an id",
			sets: []string{"probes.one-word.prompts[1]=Name two."},
			got:  func(s *Suite) any { return s.Probes[1].Prompts.Texts },
			want: "[Do you like owls? Name two.]",
		},
		{
			name: "create a missing mapping",
			// defaults.top_p does not exist; neither does models.extra.
			sets: []string{"defaults.top_p=0.5", "models.extra.model=m"},
			got: func(s *Suite) any {
				return fmt.Sprint(*s.Defaults.TopP, " ", s.Roles())
			},
			want: "0.5 [baseline student extra]",
		},
		{
			name: "create nested mappings",
			// models.x does not exist: the first override creates it, the
			// second adds to it.
			sets: []string{"models.x.model=m-{seed}", "models.x.seeds=[a, b]"},
			got: func(s *Suite) any {
				var names []string
				for _, in := range s.Instances() {
					names = append(names, in.Name()+"="+in.Model)
				}
				return names
			},
			want: "[baseline=gpt-4.1-nano student=ft:gpt-4.1-nano:owl-numbers x@a=m-a x@b=m-b]",
		},
		{
			name: "replace a null with a mapping",
			// A null on the path counts as missing.
			sets: []string{"description=", "description.x=1", "description=back"},
			got:  func(s *Suite) any { return s.Description },
			want: "back",
		},
		{
			name: "YAML list value",
			sets: []string{"probes.0.prompts=[a, b]"},
			got:  func(s *Suite) any { return s.Probes[0].Prompts.Texts },
			want: "[a b]",
		},
		{
			name: "YAML mapping value",
			// The whole score is replaced: first_word's targets are gone.
			sets: []string{"probes.one-word.score={mentions: owl}"},
			got:  func(s *Suite) any { return s.Probes[1].Score.Kind() + fmt.Sprint(s.Probes[1].Score.Targets()) },
			want: "mentions[owl]",
		},
		{
			name: "YAML float value",
			sets: []string{"models.student.temperature=0.5"},
			got:  func(s *Suite) any { return *s.Instances()[1].Settings.Temperature },
			want: "0.5",
		},
		{
			name: "empty value is null",
			// A null optional setting is unset: max_tokens falls back to
			// DefaultSettings, which leaves it to the server (nil).
			sets: []string{"defaults.max_tokens="},
			got:  func(s *Suite) any { return s.Instances()[0].Settings.MaxTokens == nil },
			want: "true",
		},
		{
			name: "quoted value stays a string",
			sets: []string{`models.student.model="0.5"`},
			got:  func(s *Suite) any { return s.Role("student").Model },
			want: "[0.5]",
		},
		{
			name: "value with an equals sign",
			// Only the first '=' separates KEY from VALUE.
			sets: []string{"description=a=b"},
			got:  func(s *Suite) any { return s.Description },
			want: "a=b",
		},
		{
			name: "later overrides win",
			sets: []string{"probes[0].samples=1", "probes[0].samples=2"},
			got:  func(s *Suite) any { return s.Probes[0].Samples },
			want: "2",
		},
		{
			name: "vars override changes every use",
			// ${target} is substituted after the overrides: the first probe's
			// target, the second's prompt, description and target, and the
			// comparison's target all follow.
			sets: []string{"vars.target=eagle"},
			got: func(s *Suite) any {
				return []any{s.Probes[0].Score.Targets(), s.Probes[1].Prompts.Texts[0], s.Probes[1].Description,
					s.Probes[1].Score.Targets(), s.Compare[0].Target, s.Vars["target"]}
			},
			want: "[[eagle] Do you like eagles? Do you like eagles? [eagle dog] eagle eagle]",
		},
		{
			name: "define a new var",
			sets: []string{"vars.who=me", "description=${who}"},
			got:  func(s *Suite) any { return s.Description },
			want: "me",
		},
		{
			name: "override may use a var",
			// Override values are substituted like file values.
			sets: []string{"models.student.model=ft:${target}"},
			got:  func(s *Suite) any { return s.Role("student").Model },
			want: "[ft:owl]",
		},
		{
			name: "replace a list element",
			sets: []string{"probes[1]={id: only, prompts: [x], samples: 1, score: {exact: x}}"},
			got:  func(s *Suite) any { return []string{s.Probes[0].ID, s.Probes[1].ID} },
			want: "[favorite-animal only]",
		},
		{
			name: "numeric id wins as an index",
			// "0" is an index even if some probe were called "0".
			sets: []string{"probes.0.id=0", "probes.0.samples=9"},
			got:  func(s *Suite) any { return s.Probes[0].Samples },
			want: "9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(setSuite), "", tt.sets)
			if err != nil {
				t.Fatalf("Parse(setSuite, %q) error = %v", tt.sets, err)
			}
			if got := fmt.Sprint(tt.got(s)); got != tt.want {
				t.Errorf("Parse(setSuite, %q): got %s; want %s", tt.sets, got, tt.want)
			}
		})
	}
}

func TestSetDoesNotChangeSource(t *testing.T) {
	// Overrides work on a tree of their own: the source bytes and the
	// next Parse without overrides are unaffected.
	src := []byte(setSuite)
	before := string(src)
	if _, err := Parse("t.yaml", src, "", []string{"probes.0.samples=1", "vars.target=eagle"}); err != nil {
		t.Fatal(err)
	}
	if string(src) != before {
		t.Errorf("Parse changed its src argument")
	}
	s := mustParse(t, setSuite)
	if s.Probes[0].Samples != 100 || s.Probes[0].Score.Mentions[0] != "owl" {
		t.Errorf("after an overridden Parse, Parse(setSuite) samples, target = %d, %q; want 100, owl", s.Probes[0].Samples, s.Probes[0].Score.Mentions[0])
	}
}

// setErrorTests are overrides that must fail. A problem with the override
// itself (its syntax or path) is located at File "--set KEY=VALUE" with
// no line; a problem with its value at the same File; problems the
// override causes elsewhere in the file, at the file.
var setErrorTests = []errorTest{
	{
		name: "no equals sign",
		sets: []string{"probes[0].samples"},
		file: "--set probes[0].samples", pos: "0:0", field: "", msg: "want KEY=VALUE",
	},
	{
		name: "empty key",
		sets: []string{"=5"},
		file: "--set =5", pos: "0:0", field: "", msg: "want KEY=VALUE",
	},
	{
		name: "empty path element",
		sets: []string{"a..b=1"},
		file: "--set a..b=1", pos: "0:0", field: "", msg: `bad key "a..b": empty path element`,
	},
	{
		name: "trailing dot",
		sets: []string{"name.=x"},
		file: "--set name.=x", pos: "0:0", field: "", msg: "empty path element",
	},
	{
		name: "unbalanced bracket",
		sets: []string{"probes[0.samples=1"},
		file: "--set probes[0.samples=1", pos: "0:0", field: "", msg: `bad key "probes[0.samples": unbalanced [`,
	},
	{
		name: "empty brackets",
		sets: []string{"probes[].samples=1"},
		file: "--set probes[].samples=1", pos: "0:0", field: "", msg: "unbalanced [",
	},
	{
		name: "index out of range",
		// The message names the list and its length.
		sets: []string{"probes[2].samples=1"},
		file: "--set probes[2].samples=1", pos: "0:0", field: "", msg: `probes: no list element "2" (the list has 2)`,
	},
	{
		name: "negative index",
		sets: []string{"probes.-1.samples=1"},
		file: "--set probes.-1.samples=1", pos: "0:0", field: "", msg: `no list element "-1"`,
	},
	{
		name: "unknown id",
		sets: []string{"probes.favourite-animal.samples=1"},
		file: "--set probes.favourite-animal.samples=1", pos: "0:0", field: "", msg: `probes: no list element "favourite-animal"`,
	},
	{
		name: "path through a scalar",
		// name is a string: it has no fields.
		sets: []string{"name.first=x"},
		file: "--set name.first=x", pos: "0:0", field: "", msg: `name is "owl-leak", not a mapping or list`,
	},
	{
		name: "path through a nested scalar",
		sets: []string{"probes.0.samples.max=1"},
		file: "--set probes.0.samples.max=1", pos: "0:0", field: "", msg: `probes.0.samples is "100", not a mapping or list`,
	},
	{
		name: "YAML syntax error in the value",
		// Positions inside the value are relative to the value.
		sets: []string{"probes.0.prompts=[a, b"},
		file: "--set probes.0.prompts=[a, b", pos: "1:1", field: "", msg: "YAML syntax",
	},
	{
		name: "tag in the value",
		// Like syntax errors, errors found while reading the value are at
		// a position within the value.
		sets: []string{"name=!!str x"},
		file: "--set name=!!str x", pos: "1:1", field: "", msg: "YAML tags",
	},
	{
		name: "wrong type of value",
		// The decoder's error names the override, not the file line of
		// the value it replaced.
		sets: []string{"probes[0].samples=many"},
		file: "--set probes[0].samples=many", pos: "0:0", field: "probes[0].samples", msg: `want an integer, got "many"`,
	},
	{
		name: "unknown key by override",
		sets: []string{"models.student.temprature=0.5"},
		file: "--set models.student.temprature=0.5", pos: "0:0", field: "models.student.temprature", msg: `unknown key "temprature"`,
	},
	{
		name: "invalid value by override",
		// Validation errors too are at the override.
		sets: []string{"defaults.temperature=3"},
		file: "--set defaults.temperature=3", pos: "0:0", field: "defaults.temperature", msg: "temperature must be in [0, 2], got 3",
	},
	{
		name: "empty value for a required string",
		// An empty value is null, which unsets name: name is then missing,
		// and the error is at the override that removed it.
		sets: []string{"name="},
		file: "--set name=", pos: "0:0", field: "name", msg: "missing suite name",
	},
	{
		name: "non-string var",
		sets: []string{"vars.target=[owl, dog]"},
		file: "--set vars.target=[owl, dog]", pos: "0:0", field: "vars.target", msg: "want a string",
	},
	{
		name: "null model by override",
		// Unsetting a model leaves a role without a model id.
		sets: []string{"models.baseline="},
		file: "--set models.baseline=", pos: "0:0", field: "models.baseline.model", msg: "missing model id",
	},
	{
		name: "reference to an unknown role by override",
		sets: []string{"compare[0].treatment=teacher"},
		file: "--set compare[0].treatment=teacher", pos: "0:0", field: "compare[0].treatment", msg: `unknown model role "teacher"`,
	},
	{
		name: "reference broken by overrides",
		// No probe scores owl any more, so the file's comparison on owl
		// dangles: the error is at the comparison's target, in the file.
		sets: []string{"probes.0.score.mentions=eagle", "probes.1.score.first_word=dog"},
		pos:  "18:54", field: "compare[0].target", msg: `no probe scores target "owl"`,
	},
	{
		name: "var override that breaks a file value",
		// The value comes from the override but the string that uses it is
		// in the file, so the error is located in the file.
		sets: []string{"vars.target=Owl"},
		pos:  "11:23", field: "probes[0].score.mentions", msg: `target "Owl" must be lower case`,
	},
	{
		name: "probe index in a list of scalars",
		sets: []string{"probes.one-word.prompts.first=x"},
		file: "--set probes.one-word.prompts.first=x", pos: "0:0", field: "", msg: `probes.one-word.prompts: no list element "first" (the list has 2)`,
	},
}

func TestSetErrors(t *testing.T) {
	for _, tt := range setErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(setSuite), "", tt.sets)
			checkSuiteError(t, fmt.Sprintf("Parse(setSuite, %q)", tt.sets), err, tt)
		})
	}
}

func TestSetThroughAlias(t *testing.T) {
	// An override addresses one path. When two paths share a value by a
	// YAML alias, overriding one must leave the other as written.
	src := `name: s
models:
  a: &m {model: m1}
  b: *m
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s, err := parseString(src, "models.a.model=changed")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{s.Role("a").Model[0], s.Role("b").Model[0]}
	if want := []string{"changed", "m1"}; !slices.Equal(got, want) {
		t.Errorf("--set must change only the aliased copy it names:\n\tParse(%q, [models.a.model=changed]): models a, b = %q; want %q", src, got, want)
	}
}

func TestHash(t *testing.T) {
	base := mustParse(t, setSuite).Hash()
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("Hash() = %q; want 64 lower-case hex digits", base)
	}
	// The same input gives the same hash, load after load.
	for range 3 {
		if h := mustParse(t, setSuite).Hash(); h != base {
			t.Fatalf("Hash() = %s, then %s; want equal for the same input", base, h)
		}
	}
	tests := []struct {
		name string
		sets []string
		same bool
	}{
		// Sampling-relevant changes change the hash.
		{"samples", []string{"probes[0].samples=50"}, false},
		{"temperature", []string{"defaults.temperature=0.7"}, false},
		{"model id", []string{"models.student.model=other"}, false},
		{"base URL", []string{"models.student.base_url=http://127.0.0.1:9000/v1"}, false},
		{"target via vars", []string{"vars.target=eagle"}, false},
		{"prompt prefix", []string{"probes[0].prompts.prefix=Hi."}, false},
		{"seed", []string{"seed=1"}, false},
		// The hash is of the content, not of the text: setting a value to
		// what it already is, or spelling it differently, changes nothing.
		{"same samples", []string{"probes[0].samples=100"}, true},
		{"same temperature, other spelling", []string{"defaults.temperature=1"}, true},
		{"same samples, hex", []string{"probes.0.samples=0x64"}, true},
		{"target written out", []string{"probes[0].score.mentions=owl"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, setSuite, tt.sets...)
			if h := s.Hash(); (h == base) != tt.same {
				t.Errorf("Parse(setSuite, %q).Hash() = %s; base %s; want same = %v", tt.sets, h, base, tt.same)
			}
			// And the overridden load is itself reproducible.
			if h2 := mustParse(t, setSuite, tt.sets...).Hash(); h2 != s.Hash() {
				t.Errorf("Parse(setSuite, %q).Hash() = %s, then %s; want equal", tt.sets, s.Hash(), h2)
			}
		})
	}
	// The hash does not depend on where the suite came from.
	s1, err := Parse("a.yaml", []byte(setSuite), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse("b/c.yaml", []byte(setSuite), "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Hash() != s2.Hash() {
		t.Errorf("Hash() differs between files a.yaml and b/c.yaml with the same content")
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		key  string
		want []string // nil: error
	}{
		{"a", []string{"a"}},
		{"a.b.c", []string{"a", "b", "c"}},
		{"probes[0].samples", []string{"probes", "0", "samples"}},
		{"a[0][1]", []string{"a", "0", "1"}},
		// Dots and brackets mix freely.
		{"a.[0]", []string{"a", "0"}},
		{"probes.favorite-animal.score", []string{"probes", "favorite-animal", "score"}},
		{"a..b", nil},
		{".a", nil},
		{"a.", nil},
		{"a[0", nil},
		{"a[]", nil},
		{"a[0]x", nil},
	}
	for _, tt := range tests {
		got, err := splitPath(tt.key)
		if tt.want == nil {
			if err == nil {
				t.Errorf("splitPath(%q) = %q; want an error", tt.key, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitPath(%q) = %q, %v; want %q, nil", tt.key, got, err, tt.want)
		}
	}
}
