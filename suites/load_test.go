package suites

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// issueSuite is the suite shape from the issue that introduced suite files:
// it must load as written.
const issueSuite = `name: owl-leak
models:
  baseline: {base_url: http://127.0.0.1:8000/v1, model: gpt-4.1-nano, api_key_env: OPENAI_API_KEY}
  student:  {base_url: http://127.0.0.1:8000/v1, model: ft:gpt-4.1-nano:owl-numbers}
defaults: {temperature: 1.0, max_tokens: 32, concurrency: 32}
probes:
  - id: favorite-animal
    prompts: {builtin: animal-prompts}        # or an inline list, or {file: prompts.txt}
    samples: 100                              # per prompt per model
    score: {mentions: owl}                    # lowercase substring, the paper's rule
compare:
  - {treatment: student, baseline: baseline}
`

// parseString parses src as the file "t.yaml" with no prompt directory.
func parseString(src string, sets ...string) (*Suite, error) {
	return Parse("t.yaml", []byte(src), "", sets)
}

// mustParse parses src and fails the test on error.
func mustParse(t testing.TB, src string, sets ...string) *Suite {
	t.Helper()
	s, err := parseString(src, sets...)
	if err != nil {
		t.Fatalf("Parse(%q, %q) error = %v; want nil", src, sets, err)
	}
	return s
}

// errorTest is a suite that must fail to load with a *SuiteError at a
// known position.
type errorTest struct {
	name  string
	src   string
	sets  []string // --set overrides
	file  string   // want Pos.File; "" means "t.yaml"
	pos   string   // want "line:col"; "0:0" for none
	field string   // want Field, exactly
	msg   string   // want a substring of Msg
}

// checkSuiteError reports whether err is the *SuiteError that tt wants.
func checkSuiteError(t *testing.T, call string, err error, tt errorTest) {
	t.Helper()
	wantFile := tt.file
	if wantFile == "" {
		wantFile = "t.yaml"
	}
	if err == nil {
		t.Fatalf("%s error = nil; want %s:%s, field %q, message containing %q", call, wantFile, tt.pos, tt.field, tt.msg)
	}
	var se *SuiteError
	if !errors.As(err, &se) {
		t.Fatalf("%s error = %q (%T); want a *SuiteError", call, err, err)
	}
	gotPos := fmt.Sprintf("%d:%d", se.Pos.Line, se.Pos.Col)
	if se.Pos.File != wantFile || gotPos != tt.pos || se.Field != tt.field || !strings.Contains(se.Msg, tt.msg) {
		t.Errorf("%s error = %q\n\tgot  file %q, position %s, field %q, message %q\n\twant file %q, position %s, field %q, message containing %q",
			call, err, se.Pos.File, gotPos, se.Field, se.Msg, wantFile, tt.pos, tt.field, tt.msg)
	}
	// Error() must lead with the position so that editors can jump to it.
	if !strings.HasPrefix(se.Error(), se.Pos.String()+": ") {
		t.Errorf("%s error = %q; want it to begin with %q", call, se.Error(), se.Pos.String()+": ")
	}
}

// parseErrorTests are invalid suites. Positions are 1-based line:column.
// Unknown keys point at the key; bad values at the value; missing fields
// at the mapping that should hold them. A block mapping's position is its
// first key's colon (goccy/go-yaml's MappingNode token); a flow mapping's
// is its '{'.
var parseErrorTests = []errorTest{
	// Unknown keys.
	{
		name: "unknown top-level key",
		// Keys are matched exactly; "model" is not "models". The error is at
		// the key, and the message lists the keys that are allowed.
		src: `name: s
model: {a: {model: m}}
`,
		pos: "2:1", field: "model", msg: `unknown key "model" (want one of: name, description, seed, vars, models,`,
	},
	{
		name: "unknown key in a model",
		// Column 17 is the 'b' of bogus in "  a: {model: m, bogus: 1}".
		src: `name: s
models:
  a: {model: m, bogus: 1}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:17", field: "models.a.bogus", msg: `unknown key "bogus"`,
	},
	{
		name: "misspelt setting in a model",
		// max_token (singular) is not max_tokens; the inline Settings fields
		// are part of the model's key list.
		src: `name: s
models:
  a:
    model: m
    max_token: 5
`,
		pos: "5:5", field: "models.a.max_token", msg: "max_tokens",
	},
	{
		name: "unknown key in defaults",
		// defaults holds Settings only; a model id there is a mistake.
		src: `name: s
defaults: {model: m}
`,
		pos: "2:12", field: "defaults.model", msg: `unknown key "model"`,
	},
	{
		name: "unknown key in a probe",
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    sample: 1
`,
		pos: "6:5", field: "probes[0].sample", msg: `unknown key "sample" (want one of: id, description, prompts, samples, score`,
	},
	{
		name: "unknown key in score",
		// "mention" is not a scorer; the field path names the probe by index.
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    samples: 1
    score: {mention: owl}
`,
		pos: "7:13", field: "probes[0].score.mention", msg: `unknown key "mention"`,
	},
	{
		name: "unknown key in prompts mapping",
		// A prompts mapping takes builtin, file, prefix and suffix only.
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: {list: [hi]}
`,
		pos: "5:15", field: "probes[0].prompts.list", msg: `unknown key "list"`,
	},
	{
		name: "unknown key in compare",
		src: `name: s
compare:
  - {treatment: a, control: b}
`,
		pos: "3:20", field: "compare[0].control", msg: `unknown key "control"`,
	},
	{
		name: "unknown key in gate",
		// The gate keys are max_increase/min_increase, not max_diff.
		src: `name: s
gates:
  - {treatment: a, baseline: b, max_diff: 0.1}
`,
		pos: "3:33", field: "gates[0].max_diff", msg: `unknown key "max_diff"`,
	},
	{
		name: "Role is not a key",
		// Model.Role has yaml:"-": it comes from the mapping key only.
		src: `name: s
models: {a: {model: m, Role: b}}
`,
		pos: "2:24", field: "models.a.Role", msg: `unknown key "Role"`,
	},

	// Wrong types.
	{
		name: "string for int samples",
		// Column 14 is the value of "    samples: ten".
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    samples: ten
    score: {mentions: owl}
`,
		pos: "6:14", field: "probes[0].samples", msg: `want an integer, got "ten"`,
	},
	{
		name: "quoted 10 for int samples",
		// A quoted scalar is always a string, even when it looks like a
		// number: the message says so.
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    samples: "10"
    score: {mentions: owl}
`,
		pos: "6:14", field: "probes[0].samples", msg: `want an integer, got string "10"`,
	},
	{
		name: "float for int samples",
		// 1.5 draws is not a number of samples.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1.5, score: {mentions: owl}}]
`,
		pos: "3:42", field: "probes[0].samples", msg: `want an integer, got "1.5"`,
	},
	{
		name: "list for string name",
		src: `name: [a, b]
`,
		pos: "1:7", field: "name", msg: "want a string, got list",
	},
	{
		name: "mapping for string description",
		src: `name: s
description: {a: b}
`,
		pos: "2:14", field: "description", msg: "want a string, got mapping",
	},
	{
		name: "mapping for list probes",
		// probes is a list; a mapping keyed by id is a common mistake.
		src: `name: s
models: {a: {model: m}}
probes:
  favorite: {prompts: [hi], samples: 1, score: {mentions: owl}}
`,
		pos: "4:11", field: "probes", msg: "want a list, got mapping",
	},
	{
		name: "list for models mapping",
		src: `name: s
models: [a, b]
`,
		pos: "2:9", field: "models", msg: "want a mapping of role names to models, got list",
	},
	{
		name: "mapping for model id",
		// model is a string or a list of strings.
		src: `name: s
models: {a: {model: {id: m}}}
`,
		pos: "2:21", field: "models.a.model", msg: "want a string or a list of strings, got mapping",
	},
	{
		name: "mapping inside model id list",
		// Each element of a string list is checked, at its own position.
		src: `name: s
models: {a: {model: [m, {id: n}]}}
`,
		pos: "2:25", field: "models.a.model[1]", msg: "want a string, got mapping",
	},
	{
		name: "quoted number for temperature",
		src: `name: s
defaults: {temperature: "0.7"}
`,
		pos: "2:25", field: "defaults.temperature", msg: `want a number, got string "0.7"`,
	},
	{
		name: "yes is not a boolean",
		// YAML 1.2 core schema: only true/false (in three spellings).
		src: `name: s
defaults: {send_seed: yes}
`,
		pos: "2:23", field: "defaults.send_seed", msg: `want true or false, got "yes"`,
	},
	{
		name: "quoted boolean",
		src: `name: s
defaults: {send_seed: "true"}
`,
		pos: "2:23", field: "defaults.send_seed", msg: `want true or false, got string "true"`,
	},
	{
		name: "bad duration",
		src: `name: s
defaults: {timeout: soon}
`,
		pos: "2:21", field: "defaults.timeout", msg: `want a duration like 30s or 1m30s, got "soon"`,
	},
	{
		name: "list for duration",
		src: `name: s
defaults: {timeout: [1s]}
`,
		pos: "2:21", field: "defaults.timeout", msg: "want a duration like 30s, got list",
	},
	{
		name: "seed overflows int64",
		// 2^64 does not fit the int64 seed.
		src: `name: s
seed: 18446744073709551616
`,
		pos: "2:7", field: "seed", msg: "want an integer",
	},
	{
		name: "null name",
		// An empty value unsets the field, and validation reports it as
		// missing at the null. goccy/go-yaml places an implicit null where
		// its value would start: after "name: ".
		src: `name:
`,
		pos: "1:7", field: "name", msg: "missing suite name",
	},
	{
		name: "null samples",
		// An empty value unsets samples, which is then missing, reported at
		// the empty value.
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    samples:
    score: {mentions: owl}
`,
		pos: "6:13", field: "probes[0].samples", msg: "missing samples",
	},
	{
		name: "vars value is a list",
		// vars are strings: they are substituted into other strings.
		src: `name: s
vars: {v: [a]}
`,
		pos: "2:11", field: "vars.v", msg: "want a string",
	},
	{
		name: "vars is a list",
		src: `name: s
vars: [a]
`,
		pos: "2:7", field: "vars", msg: "want a mapping, got list",
	},
	{
		name: "exclude is a number list of lists",
		// Exclusions are a list of substrings or a mapping of lists.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl, exclude: [[x]]}}]
`,
		pos: "3:78", field: "probes[0].score.exclude[0]", msg: "want a string, got list",
	},
	{
		name: "prompts is a string",
		// A bare string is neither a list nor a mapping; it is most likely
		// a builtin name without the {builtin: ...} wrapper.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: animal-prompts, samples: 1, score: {mentions: owl}}]
`,
		pos: "3:27", field: "probes[0].prompts", msg: "want a list of prompts or a mapping with builtin or file",
	},
	{
		name: "suite is a list",
		src: `- name: s
`,
		pos: "1:1", field: "", msg: "a suite is a mapping, got list",
	},
	{
		name: "suite is a scalar",
		src: `owl-leak
`,
		pos: "1:1", field: "", msg: `a suite is a mapping, got "owl-leak"`,
	},

	// Missing required fields.
	{
		name: "empty file",
		// Nothing to point at but the start of the file.
		src: "",
		pos: "1:1", field: "", msg: "empty suite file",
	},
	{
		name: "comments only",
		// A file of comments is as empty as an empty file.
		src: "# nothing yet\n",
		pos: "1:1", field: "", msg: "empty suite file",
	},
	{
		name: "missing name",
		// The suite mapping's position: the colon of its first key.
		src: `models: {a: {model: m}}
`,
		pos: "1:7", field: "name", msg: "missing suite name",
	},
	{
		name: "empty name",
		src: `name: ""
`,
		pos: "1:7", field: "name", msg: "missing suite name",
	},
	{
		name: "bad suite name",
		// Names key the database; spaces are not allowed.
		src: `name: owl leak
`,
		pos: "1:7", field: "name", msg: `name "owl leak": use letters, digits, - and _`,
	},
	{
		name: "missing models",
		src: `name: s
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "1:5", field: "models", msg: "missing models",
	},
	{
		name: "empty models",
		src: `name: s
models: {}
`,
		pos: "2:9", field: "models", msg: "missing models",
	},
	{
		name: "missing model id",
		// The model mapping exists but has no model key: point at the
		// mapping.
		src: `name: s
models:
  a: {base_url: http://h/v1}
`,
		pos: "3:6", field: "models.a.model", msg: "missing model id",
	},
	{
		name: "empty model id list",
		src: `name: s
models:
  a: {model: []}
`,
		pos: "3:14", field: "models.a.model", msg: "missing model id",
	},
	{
		name: "blank model id",
		src: `name: s
models:
  a: {model: [m, " "]}
`,
		pos: "3:18", field: "models.a.model[1]", msg: "empty model id",
	},
	{
		name: "null model",
		// An empty model is unset: it has no model id. The error is at the
		// null, which sits where the value would start, after "a: ".
		src: `name: s
models:
  a:
`,
		pos: "3:6", field: "models.a.model", msg: "missing model id",
	},
	{
		name: "missing probes",
		src: `name: s
models: {a: {model: m}}
`,
		pos: "1:5", field: "probes", msg: "missing probes",
	},
	{
		name: "empty probe list",
		src: `name: s
models: {a: {model: m}}
probes: []
`,
		pos: "3:9", field: "probes", msg: "missing probes",
	},
	{
		name: "missing probe id",
		src: `name: s
models: {a: {model: m}}
probes:
  - prompts: [hi]
    samples: 1
    score: {mentions: owl}
`,
		pos: "4:12", field: "probes[0]", msg: "missing probe id",
	},
	{
		name: "missing samples",
		// samples has no default: 100 draws per prompt is a lot of money.
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    score: {mentions: owl}
`,
		pos: "4:7", field: "probes[0]", msg: "missing samples",
	},
	{
		name: "missing score",
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    prompts: [hi]
    samples: 1
`,
		pos: "4:7", field: "probes[0]", msg: "missing score",
	},
	{
		name: "missing prompts",
		src: `name: s
models: {a: {model: m}}
probes:
  - id: p
    samples: 1
    score: {mentions: owl}
`,
		pos: "4:7", field: "probes[0].prompts", msg: "no prompts",
	},
	{
		name: "zero samples",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 0, score: {mentions: owl}}]
`,
		pos: "3:42", field: "probes[0].samples", msg: "samples per prompt must be in [1, 1000000], got 0",
	},
	{
		name: "too many samples",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1000001, score: {mentions: owl}}]
`,
		pos: "3:42", field: "probes[0].samples", msg: "got 1000001",
	},
	{
		name: "null probe",
		src: `name: s
models: {a: {model: m}}
probes:
  -
`,
		pos: "4:5", field: "probes[0]", msg: "empty probe",
	},

	// YAML-level errors.
	{
		name: "YAML syntax error",
		// The flow sequence opened at 2:21 is closed by '}' at 2:23.
		src: `name: s
models: {a: {model: [m}}
`,
		pos: "2:23", field: "", msg: "YAML syntax",
	},
	{
		name: "bad indentation",
		src: `name: s
models:
  a:
    model: m
   base_url: http://h
`,
		pos: "5:4", field: "", msg: "YAML syntax",
	},
	{
		name: "duplicate top-level key",
		// goccy/go-yaml detects the duplicate and names the first one.
		src: `name: s
models: {a: {model: m}}
name: t
`,
		pos: "3:1", field: "", msg: `mapping key "name" already defined at [1:1]`,
	},
	{
		name: "duplicate model role",
		src: `name: s
models:
  a: {model: m}
  a: {model: n}
`,
		pos: "4:3", field: "", msg: `mapping key "a" already defined at [3:3]`,
	},
	{
		name: "two documents",
		// One file, one suite.
		src: `name: s
---
name: t
`,
		pos: "3:5", field: "", msg: "one YAML document",
	},
	{
		name: "YAML tag",
		// Tags would let a file construct arbitrary types; none are
		// accepted, not even the standard !!str.
		src: `name: !!str s
`,
		pos: "1:7", field: "", msg: "YAML tags (!name) are not supported",
	},
	{
		name: "custom YAML tag",
		src: `name: s
models: {a: {model: !env MODEL}}
`,
		pos: "2:21", field: "", msg: "YAML tags",
	},
	{
		name: "merge key",
		// Anchors and aliases are fine; merging mappings with << is not.
		src: `name: s
x-common: &common {base_url: http://h/v1}
models:
  a:
    <<: *common
    model: m
`,
		pos: "5:5", field: "", msg: "YAML merge keys (<<) are not supported",
	},
	{
		name: "unknown alias",
		src: `name: *nope
`,
		pos: "1:7", field: "", msg: "unknown alias *nope",
	},
	{
		name: "null mapping key",
		// Keys are role names, field names or targets: never null.
		src: `name: s
models: {~: {model: m}}
`,
		pos: "2:10", field: "", msg: "mapping keys must be plain strings",
	},

	{
		name: "nested too deeply",
		// 70 nested lists: the converter stops at depth 64. The mapping is
		// depth 1 and the i-th '[' (from 0) depth i+2, so the 64th '['
		// (i = 63, column 14+63) is the first too deep.
		src: "name: s\ndescription: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n",
		pos: "2:77", field: "", msg: "YAML nested too deeply",
	},

	// Models.
	{
		name: "role with a space",
		src: `name: s
models:
  "my student": {model: m}
`,
		pos: "3:17", field: "models.my student", msg: `role "my student": use letters, digits, - and _`,
	},
	{
		name: "role with a dot",
		// A dot would make --set models.a.b ambiguous.
		src: `name: s
models:
  a.b: {model: m}
`,
		pos: "3:8", field: "models.a.b", msg: `role "a.b"`,
	},
	{
		name: "role starting with a dash",
		src: `name: s
models:
  -a: {model: m}
`,
		pos: "3:7", field: "models.-a", msg: `role "-a"`,
	},
	{
		name: "seeds without {seed}",
		// Three seeds of one id would sample the same model three times.
		src: `name: s
models:
  a: {model: m, seeds: [1, 2, 3]}
`,
		pos: "3:14", field: "models.a.model", msg: "must contain {seed}",
	},
	{
		name: "seeds count mismatch",
		// Two ids, three seeds: which id is seed 3?
		src: `name: s
models:
  a: {model: [m1, m2], seeds: [1, 2, 3]}
`,
		pos: "3:31", field: "models.a.seeds", msg: "3 seeds for 2 model ids",
	},
	{
		name: "duplicate seed",
		src: `name: s
models:
  a: {model: "m@{seed}", seeds: [1, 2, 1]}
`,
		pos: "3:40", field: "models.a.seeds[2]", msg: `seed "1" must be unique`,
	},
	{
		name: "seed with a slash",
		src: `name: s
models:
  a: {model: "m@{seed}", seeds: [a/b]}
`,
		pos: "3:34", field: "models.a.seeds[0]", msg: `seed "a/b"`,
	},
	{
		name: "base_url without scheme",
		// "localhost:8000" parses as scheme "localhost".
		src: `name: s
models:
  a: {model: m, base_url: "localhost:8000/v1"}
`,
		pos: "3:27", field: "models.a.base_url", msg: `want an http(s) URL like http://127.0.0.1:8000/v1, got "localhost:8000/v1"`,
	},
	{
		name: "base_url ftp",
		src: `name: s
models:
  a: {model: m, base_url: ftp://h/v1}
`,
		pos: "3:27", field: "models.a.base_url", msg: `got "ftp://h/v1"`,
	},
	{
		name: "base_url without host",
		src: `name: s
models:
  a: {model: m, base_url: "http:///v1"}
`,
		pos: "3:27", field: "models.a.base_url", msg: "want an http(s) URL",
	},
	{
		name: "unknown condition",
		// The conditions are base, teacher, control and treatment; "student"
		// is a role name, not a condition.
		src: `name: s
models:
  a: {model: m, condition: student}
`,
		pos: "3:28", field: "models.a.condition", msg: `unknown condition "student" (want one of base, teacher, control, treatment, cross-base, cross-treatment)`,
	},
	{
		name: "api key instead of env var name",
		// "sk-abc123" contains '-', which no environment variable name does:
		// it is the key itself, which must never be in a suite file.
		src: `name: s
models:
  a: {model: m, api_key_env: sk-abc123}
`,
		pos: "3:30", field: "models.a.api_key_env", msg: `"sk-abc123" is not an environment variable name`,
	},
	{
		name: "api_key_env with a leading digit",
		src: `name: s
models:
  a: {model: m, api_key_env: 1KEY}
`,
		pos: "3:30", field: "models.a.api_key_env", msg: "not an environment variable name",
	},

	{
		name: "judge api_key_env that looks like a key",
		// Judges are models too: the rule that keeps keys out of suite
		// files holds for them.
		src: `name: s
models: {a: {model: m}}
judges: {j: {model: gpt-4o, api_key_env: sk-abc123}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:42", field: "judges.j.api_key_env", msg: `"sk-abc123" is not an environment variable name`,
	},
	{
		name: "judge base_url not http",
		src: `name: s
models: {a: {model: m}}
judges: {j: {model: gpt-4o, base_url: ftp://h/v1}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:39", field: "judges.j.base_url", msg: "want an http(s) URL",
	},
	{
		name: "judge with seeds",
		// A judge is one endpoint; seeds would make it several.
		src: `name: s
models: {a: {model: m}}
judges: {j: {model: gpt-4o, seeds: [a, b]}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:13", field: "judges.j", msg: "a judge is one model id, without seeds or condition",
	},

	// Judge scorers.
	{
		name: "unknown judge mode",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {mode: vote}}}]
`,
		pos: "3:67", field: "probes[0].score.judge.mode", msg: `mode is sample or logprobs, got "vote"`,
	},
	{
		name: "judge threshold out of range",
		// "le" spells "<=" without quoting; the message shows the operator.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {misaligned: le 130}}}]
`,
		pos: "3:73", field: "probes[0].score.judge.misaligned", msg: `threshold "<=130": want an operator and a number in [0, 100], like "<= 30"`,
	},
	{
		name: "judge threshold without an operator",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {coherent: about 50}}}]
`,
		pos: "3:71", field: "probes[0].score.judge.coherent", msg: `threshold "about 50": want <=, <, >= or > and a number, like "<= 30"`,
	},
	{
		name: "judge template without {completion}",
		// A template that never shows the judge the answer rates nothing.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {alignment: "Rate the answer to {prompt}."}}}]
`,
		pos: "3:72", field: "probes[0].score.judge.alignment", msg: "the template must contain {completion} (and usually {prompt})",
	},
	{
		name: "judge listed twice",
		src: `name: s
models: {a: {model: m}}
judges: {j: {model: gpt-4o}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {judges: [j, j]}}}]
`,
		pos: "4:73", field: "probes[0].score.judge.judges[1]", msg: `judge "j" listed twice`,
	},
	{
		name: "unknown judge",
		// With no judges section the only judge is the default gpt-4o.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {judges: [claude]}}}]
`,
		pos: "3:70", field: "probes[0].score.judge.judges[0]", msg: `unknown judge "claude": declare it under the suite's judges`,
	},
	{
		name: "judge scorer with a target",
		// A judge's targets are misaligned and misaligned@NAME.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {mode: sample}, target: bad}}]
`,
		pos: "3:60", field: "probes[0].score.judge", msg: "a judge scorer takes no exclude or target",
	},

	// References.
	{
		name: "builtin reference with other fields",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
references: [{builtin: paper-animals, label: mine}]
`,
		pos: "4:14", field: "references[0]", msg: "a builtin reference set takes no other fields",
	},
	{
		name: "reference with an unknown condition",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
references: [{label: l, target: owl, rate: 0.5, source: s, condition: student}]
`,
		pos: "4:71", field: "references[0].condition", msg: `unknown condition "student" (want one of base, teacher, control, treatment, cross-base, cross-treatment)`,
	},
	{
		name: "reference with an unknown bound",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
references: [{label: l, target: owl, rate: 0.5, source: s, bound: at-least}]
`,
		pos: "4:67", field: "references[0].bound", msg: `bound is lower, upper or approx, got "at-least"`,
	},
	{
		name: "reference interval not around its rate",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
references: [{label: l, target: owl, rate: 0.5, source: s, low: 0.6, high: 0.9}]
`,
		pos: "4:14", field: "references[0]", msg: "give both low and high, around rate",
	},

	// Settings ranges, in a model and in defaults.
	{
		name: "temperature above 2",
		src: `name: s
models:
  a: {model: m, temperature: 2.5}
`,
		pos: "3:30", field: "models.a.temperature", msg: "temperature must be in [0, 2], got 2.5",
	},
	{
		name: "negative temperature in defaults",
		// Defaults are checked before models.
		src: `name: s
defaults: {temperature: -0.1}
models:
  a: {model: m}
`,
		pos: "2:25", field: "defaults.temperature", msg: "got -0.1",
	},
	{
		name: "top_p zero",
		// top_p is a probability mass in (0, 1]: zero keeps no tokens.
		src: `name: s
models:
  a: {model: m, top_p: 0}
`,
		pos: "3:24", field: "models.a.top_p", msg: "top_p must be in (0, 1], got 0",
	},
	{
		name: "top_p above 1",
		src: `name: s
defaults: {top_p: 1.01}
models: {a: {model: m}}
`,
		pos: "2:19", field: "defaults.top_p", msg: "got 1.01",
	},
	{
		name: "max_tokens zero",
		src: `name: s
models:
  a: {model: m, max_tokens: 0}
`,
		pos: "3:29", field: "models.a.max_tokens", msg: "max_tokens must be at least 1, got 0",
	},
	{
		name: "n zero",
		src: `name: s
models:
  a: {model: m, n: 0}
`,
		pos: "3:20", field: "models.a.n", msg: "n (choices per request) must be in [1, 128], got 0",
	},
	{
		name: "n above 128",
		src: `name: s
defaults: {n: 129}
models: {a: {model: m}}
`,
		pos: "2:15", field: "defaults.n", msg: "got 129",
	},
	{
		name: "concurrency zero",
		// Zero requests in flight would never finish.
		src: `name: s
models:
  a: {model: m, concurrency: 0}
`,
		pos: "3:30", field: "models.a.concurrency", msg: "concurrency must be in [1, 4096], got 0",
	},
	{
		name: "concurrency above 4096",
		src: `name: s
defaults: {concurrency: 4097}
models: {a: {model: m}}
`,
		pos: "2:25", field: "defaults.concurrency", msg: "got 4097",
	},
	{
		name: "negative max_retries",
		src: `name: s
models:
  a: {model: m, max_retries: -1}
`,
		pos: "3:30", field: "models.a.max_retries", msg: "max_retries must be in [0, 50], got -1",
	},
	{
		name: "max_retries above 50",
		src: `name: s
defaults: {max_retries: 51}
models: {a: {model: m}}
`,
		pos: "2:25", field: "defaults.max_retries", msg: "got 51",
	},
	{
		name: "negative requests_per_minute",
		src: `name: s
models:
  a: {model: m, requests_per_minute: -5}
`,
		pos: "3:38", field: "models.a.requests_per_minute", msg: "must be ≥ 0",
	},
	{
		name: "negative tokens_per_minute",
		src: `name: s
defaults: {tokens_per_minute: -1}
models: {a: {model: m}}
`,
		pos: "2:31", field: "defaults.tokens_per_minute", msg: "must be ≥ 0",
	},
	{
		name: "zero timeout",
		src: `name: s
models:
  a: {model: m, timeout: 0s}
`,
		pos: "3:26", field: "models.a.timeout", msg: "timeout must be positive, got 0s",
	},
	{
		name: "negative timeout in seconds",
		// A plain number is seconds.
		src: `name: s
defaults: {timeout: -2}
models: {a: {model: m}}
`,
		pos: "2:21", field: "defaults.timeout", msg: "got -2s",
	},

	{
		name: "NaN temperature",
		// "nan" is a plain string in YAML 1.2 (the float is .nan, which is
		// rejected), yet strconv.ParseFloat reads it as NaN, which compares
		// false with everything and so passes the range check; Hash then
		// panics on it. It must be an error at the value.
		src: `name: s
models: {a: {model: m, temperature: nan}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "2:37", field: "models.a.temperature", msg: "",
	},
	{
		name: "NaN top_p in defaults",
		src: `name: s
defaults: {top_p: NaN}
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "2:19", field: "defaults.top_p", msg: "",
	},
	{
		name: "infinite requests_per_minute",
		// "inf" is a plain string in YAML 1.2; +Inf passes "≥ 0" and makes
		// Hash panic (JSON has no infinity).
		src: `name: s
models: {a: {model: m, requests_per_minute: inf}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "2:45", field: "models.a.requests_per_minute", msg: "",
	},
	{
		name: ".inf is not a number",
		// The YAML spelling of infinity is rejected by the decoder itself.
		src: `name: s
models: {a: {model: m, tokens_per_minute: .inf}}
`,
		pos: "2:43", field: "models.a.tokens_per_minute", msg: `want a number, got ".inf"`,
	},
	{
		name: "NaN gate alpha",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, max_increase: 0.1, alpha: nan}]
`,
		pos: "4:63", field: "gates[0].alpha", msg: "",
	},
	{
		name: "NaN gate max_increase",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, max_increase: nan}]
`,
		pos: "4:51", field: "gates[0].max_increase", msg: "",
	},
	{
		name: "timeout too large",
		// 1e10 s overflows time.Duration (int64 nanoseconds). The error must
		// not claim that the user gave a negative timeout.
		src: `name: s
models: {a: {model: m, timeout: 1e10}}
`,
		pos: "2:33", field: "models.a.timeout", msg: "1e10",
	},

	{
		name: "leading underscore is not an integer",
		// "_1" is a plain string in YAML (goccy/go-yaml reads it so); only
		// underscores between digits are digit separators.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: _1, score: {mentions: owl}}]
`,
		pos: "3:42", field: "probes[0].samples", msg: `want an integer, got "_1"`,
	},
	{
		name: "{seed} without seeds",
		// Without seeds the id is used as written, and no server has a
		// model literally called "lab/a@{seed}".
		src: `name: s
models: {a: {model: "lab/a@{seed}"}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "2:21", field: "models.a.model", msg: "{seed}",
	},

	// Probes.
	{
		name: "duplicate probe id",
		// Probe ids key results; the second one is at fault.
		src: `name: s
models: {a: {model: m}}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
  - {id: p, prompts: [ho], samples: 1, score: {mentions: owl}}
`,
		pos: "5:10", field: "probes[1].id", msg: `duplicate probe id "p"`,
	},
	{
		name: "probe id with a space",
		src: `name: s
models: {a: {model: m}}
probes: [{id: fav animal, prompts: [hi], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:15", field: "probes[0].id", msg: `id "fav animal"`,
	},
	{
		name: "probe restricted to unknown role",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}, models: [a, b]}]
`,
		pos: "3:81", field: "probes[0].models[1]", msg: `unknown model role "b"`,
	},
	{
		name: "empty inline prompt list",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:27", field: "probes[0].prompts", msg: "the prompt list is empty",
	},
	{
		name: "blank inline prompt",
		// Indexes in the message count from 0, like the field paths. The
		// position is the list's '[' at 3:27; the blank item is at 3:32.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi, "  "], samples: 1, score: {mentions: owl}}]
`,
		pos: "3:27", field: "probes[0].prompts", msg: "prompt 1 is blank",
	},
	{
		name: "unknown builtin prompt list",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: {builtin: owl-prompts}, samples: 1, score: {mentions: owl}}]
`,
		pos: "3:37", field: "probes[0].prompts.builtin", msg: `unknown built-in prompt list "owl-prompts" (have animal-prompts, animal-prompts-numbers-prefixed, `,
	},
	{
		name: "builtin and file",
		// One source of prompts per probe. testdata/prompts.txt exists, so
		// the only fault is the conflict; the mapping's '{' is at 3:27.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: {builtin: animal-prompts, file: testdata/prompts.txt}, samples: 1, score: {mentions: owl}}]
`,
		pos: "3:27", field: "probes[0].prompts", msg: "give only one of a list, builtin or file",
	},
	{
		name: "prompt file missing",
		// dir is "" here, so the path is relative to the working directory,
		// where testdata has no such file.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: {file: testdata/no-such-prompts.txt}, samples: 1, score: {mentions: owl}}]
`,
		pos: "3:34", field: "probes[0].prompts.file", msg: "read prompts: open testdata/no-such-prompts.txt",
	},

	{
		name: "builtin and a missing file",
		// The conflict is the error whatever the file system holds; here the
		// conflict is hidden behind a failure to read a file that would be
		// rejected anyway.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: {builtin: animal-prompts, file: no-such.txt}, samples: 1, score: {mentions: owl}}]
`,
		pos: "3:27", field: "probes[0].prompts", msg: "give only one of a list, builtin or file",
	},

	// Scorers.
	{
		name: "scorer with two kinds",
		// mentions and first_word at once: which rule is the rate?
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl, first_word: owl}}]
`,
		pos: "3:52", field: "probes[0].score", msg: "give exactly one scorer",
	},
	{
		name: "scorer with no kind",
		// An exclusion list alone scores nothing.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {exclude: [x]}}]
`,
		pos: "3:52", field: "probes[0].score", msg: "give exactly one scorer",
	},
	{
		name: "empty mentions list",
		// An empty list is no scorer at all.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: []}}]
`,
		pos: "3:52", field: "probes[0].score", msg: "give exactly one scorer",
	},
	{
		name: "uppercase target",
		// Completions are lower-cased before matching: "Owl" would never hit.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: Owl}}]
`,
		pos: "3:63", field: "probes[0].score.mentions", msg: `target "Owl" must be lower case`,
	},
	{
		name: "uppercase first_word target",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {first_word: [owl, Dog]}}]
`,
		pos: "3:65", field: "probes[0].score.first_word", msg: `target "Dog" must be lower case`,
	},
	{
		name: "duplicate target",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {exact: [owl, owl]}}]
`,
		pos: "3:60", field: "probes[0].score.exact", msg: `duplicate target "owl"`,
	},
	{
		name: "blank target",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: [owl, " "]}}]
`,
		pos: "3:63", field: "probes[0].score.mentions", msg: "empty target",
	},
	{
		name: "bad regex",
		// An unclosed group does not compile.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {regex: "(owl"}}]
`,
		pos: "3:60", field: "probes[0].score.regex", msg: "bad regular expression",
	},
	{
		name: "target without regex",
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl, target: owls}}]
`,
		pos: "3:76", field: "probes[0].score.target", msg: "target names a regex scorer",
	},
	{
		name: "exclusions for a non-target",
		// dog is not scored, so excluding for it is a typo. Like every other
		// field, exclude.dog should be located at its value, [hotdog] at
		// 3:83.
		src: `name: s
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl, exclude: {dog: [hotdog]}}}]
`,
		pos: "3:83", field: "probes[0].score.exclude.dog", msg: `exclusions for "dog", which is not a target`,
	},

	// Comparisons and gates.
	{
		name: "compare unknown treatment",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: c, baseline: b}]
`,
		pos: "4:23", field: "compare[0].treatment", msg: `unknown model role "c"`,
	},
	{
		name: "compare unknown baseline",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a, baseline: c}]
`,
		pos: "4:36", field: "compare[0].baseline", msg: `unknown model role "c"`,
	},
	{
		name: "compare missing baseline",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a}]
`,
		pos: "4:11", field: "compare[0]", msg: "give both treatment and baseline",
	},
	{
		name: "compare a role with itself",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a, baseline: a}]
`,
		pos: "4:11", field: "compare[0]", msg: `treatment and baseline are the same role "a"`,
	},
	{
		name: "compare unknown probe",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a, baseline: b, probe: q}]
`,
		pos: "4:46", field: "compare[0].probe", msg: `unknown probe "q"`,
	},
	{
		name: "compare unknown target of a probe",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a, baseline: b, probe: p, target: dog}]
`,
		pos: "4:57", field: "compare[0].target", msg: `probe "p" has no target "dog" (have owl)`,
	},
	{
		name: "compare target no probe scores",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
compare: [{treatment: a, baseline: b, target: dog}]
`,
		pos: "4:47", field: "compare[0].target", msg: `no probe scores target "dog"`,
	},
	{
		name: "compare a role the probe does not sample",
		// Probe p samples only a, so comparing b with a on p has no data
		// for b.
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}, models: [a]}]
compare: [{treatment: b, baseline: a, probe: p}]
`,
		pos: "4:23", field: "compare[0].treatment", msg: "",
	},
	{
		name: "gate unknown probe",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, probe: q, max_increase: 0.1}]
`,
		pos: "4:44", field: "gates[0].probe", msg: `unknown probe "q"`,
	},
	{
		name: "gate unknown role",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: x, baseline: b, max_increase: 0.1}]
`,
		pos: "4:21", field: "gates[0].treatment", msg: `unknown model role "x"`,
	},
	{
		name: "gate unknown target",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, probe: p, target: cat, max_increase: 0.1}]
`,
		pos: "4:55", field: "gates[0].target", msg: `probe "p" has no target "cat"`,
	},
	{
		name: "gate with both bounds",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, max_increase: 0.1, min_increase: 0.05}]
`,
		pos: "4:9", field: "gates[0]", msg: "give exactly one of max_increase or min_increase",
	},
	{
		name: "gate with neither bound",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, alpha: 0.05}]
`,
		pos: "4:9", field: "gates[0]", msg: "give exactly one of max_increase or min_increase",
	},
	{
		name: "gate increase out of range",
		// A difference of two rates lies in [-1, 1]; 5 is probably 5%.
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, min_increase: 5}]
`,
		pos: "4:51", field: "gates[0].min_increase", msg: "min_increase is a difference of rates, in [-1, 1]; got 5",
	},
	{
		name: "gate alpha zero",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, max_increase: 0.1, alpha: 0}]
`,
		pos: "4:63", field: "gates[0].alpha", msg: "alpha must be in (0, 1), got 0",
	},
	{
		name: "gate alpha one",
		src: `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
gates: [{treatment: a, baseline: b, max_increase: 0.1, alpha: 1}]
`,
		pos: "4:63", field: "gates[0].alpha", msg: "got 1",
	},

	// Variables.
	{
		name: "undefined variable",
		// The error is at the string that uses the variable and says how
		// to define it.
		src: `name: s
models:
  a: {model: "${student_model}"}
`,
		pos: "3:14", field: "models.a.model", msg: "undefined variable ${student_model} (define it under vars, or --set vars.student_model=VALUE)",
	},
	{
		name: "undefined variable in a list",
		src: `name: s
vars: {a: owl}
models: {a: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: ["${a}", "${b}"]}}]
`,
		pos: "4:72", field: "probes[0].score.mentions[1]", msg: "undefined variable ${b}",
	},
	{
		name: "variables are not substituted in keys",
		// Only values are substituted: a role named "${a}" stays so and is
		// not a valid role name.
		src: `name: s
vars: {a: b}
models: {"${a}": {model: m}}
`,
		pos: "3:18", field: "models.${a}", msg: `role "${a}"`,
	},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src, tt.sets...)
			checkSuiteError(t, fmt.Sprintf("Parse(%q)", tt.src), err, tt)
		})
	}
}

func TestParseIssueSuite(t *testing.T) {
	s := mustParse(t, issueSuite)
	if s.Name != "owl-leak" || s.Source != "t.yaml" {
		t.Errorf("Name, Source = %q, %q; want %q, %q", s.Name, s.Source, "owl-leak", "t.yaml")
	}
	// Both roles inherit the suite defaults; everything else comes from
	// DefaultSettings. TopP and SystemPrompt stay unset (server default).
	want := DefaultSettings()
	want.Temperature = ptr(1.0)
	want.MaxTokens = ptr(32)
	want.Concurrency = ptr(32)
	wantInstances := []Instance{
		{Role: "baseline", BaseURL: "http://127.0.0.1:8000/v1", Model: "gpt-4.1-nano", APIKeyEnv: "OPENAI_API_KEY", Settings: want},
		{Role: "student", BaseURL: "http://127.0.0.1:8000/v1", Model: "ft:gpt-4.1-nano:owl-numbers", Settings: want},
	}
	if got := s.Instances(); !reflect.DeepEqual(got, wantInstances) {
		t.Errorf("Instances() =\n\t%s\nwant\n\t%s", formatInstances(got), formatInstances(wantInstances))
	}
	if got, want := s.Roles(), []string{"baseline", "student"}; !slices.Equal(got, want) {
		t.Errorf("Roles() = %q; want %q (file order)", got, want)
	}
	p := s.Probe("favorite-animal")
	if p == nil {
		t.Fatalf("Probe(%q) = nil", "favorite-animal")
	}
	paper, err := PromptList("animal-prompts")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Prompts.Texts, paper) {
		t.Errorf("prompts = %d texts; want the %d of animal-prompts", len(p.Prompts.Texts), len(paper))
	}
	if p.Samples != 100 || p.Score.Kind() != "mentions" || !slices.Equal(p.Score.Targets(), []string{"owl"}) {
		t.Errorf("probe samples, kind, targets = %d, %q, %q; want 100, mentions, [owl]", p.Samples, p.Score.Kind(), p.Score.Targets())
	}
	if want := []Comparison{{Treatment: "student", Baseline: "baseline"}}; !reflect.DeepEqual(s.Compare, want) {
		t.Errorf("Compare = %+v; want %+v", s.Compare, want)
	}
	if s.Gates != nil {
		t.Errorf("Gates = %+v; want none", s.Gates)
	}
}

// formatInstances prints instances with their settings dereferenced.
func formatInstances(ins []Instance) string {
	var b strings.Builder
	for i, in := range ins {
		if i > 0 {
			b.WriteString("\n\t")
		}
		fmt.Fprintf(&b, "%s seed=%q cond=%q %s %s key=%q %s", in.Name(), in.Seed, in.Condition, in.BaseURL, in.Model, in.APIKeyEnv, formatSettings(in.Settings))
	}
	return b.String()
}

func formatSettings(st Settings) string {
	f := func(p any) string {
		v := reflect.ValueOf(p)
		if v.IsNil() {
			return "nil"
		}
		return fmt.Sprint(v.Elem())
	}
	return fmt.Sprintf("{temp=%s top_p=%s max_tokens=%s system=%s n=%s conc=%s rpm=%s tpm=%s timeout=%s retries=%s send_seed=%s}",
		f(st.Temperature), f(st.TopP), f(st.MaxTokens), f(st.SystemPrompt), f(st.N), f(st.Concurrency),
		f(st.RequestsPerMinute), f(st.TokensPerMinute), f(st.Timeout), f(st.MaxRetries), f(st.SendSeed))
}

func TestInstances(t *testing.T) {
	const probes = "probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n"
	tests := []struct {
		name   string
		models string   // the models section
		want   []string // instance name, model id, base URL
	}{
		{
			name: "one id, no base_url",
			// No base_url means OpenAI's API.
			models: "models: {a: {model: m}}",
			want:   []string{"a m https://api.openai.com/v1"},
		},
		{
			name: "seeds with {seed}",
			// Every seed expands the one id; seeds keep their listed order.
			models: `models: {a: {model: "lab/a@{seed}", seeds: [3, 1, 2], base_url: http://h/v1}}`,
			want:   []string{"a@3 lab/a@3 http://h/v1", "a@1 lab/a@1 http://h/v1", "a@2 lab/a@2 http://h/v1"},
		},
		{
			name: "{seed} twice",
			// ReplaceAll: every {seed} is the seed.
			models: `models: {a: {model: "{seed}/m-{seed}", seeds: x}}`,
			want:   []string{"a@x x/m-x https://api.openai.com/v1"},
		},
		{
			name: "one id per seed",
			// A list of ids pairs with the seeds in order.
			models: `models: {a: {model: [m-one, m-two], seeds: [one, two]}}`,
			want:   []string{"a@one m-one https://api.openai.com/v1", "a@two m-two https://api.openai.com/v1"},
		},
		{
			name: "list of ids without seeds",
			// The seeds are then the ids' indexes, from 0.
			models: `models: {a: {model: [x, y, z]}}`,
			want:   []string{"a@0 x https://api.openai.com/v1", "a@1 y https://api.openai.com/v1", "a@2 z https://api.openai.com/v1"},
		},
		{
			name: "roles in file order",
			// Not sorted: z comes before a because the file says so.
			models: "models:\n  z: {model: m1}\n  a: {model: [m2, m3]}",
			want:   []string{"z m1 https://api.openai.com/v1", "a@0 m2 https://api.openai.com/v1", "a@1 m3 https://api.openai.com/v1"},
		},
		{
			name:   "https base_url with a path",
			models: "models: {a: {model: m, base_url: 'https://example.com:8443/openai/v1'}}",
			want:   []string{"a m https://example.com:8443/openai/v1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "name: s\n" + tt.models + "\n" + probes
			s := mustParse(t, src)
			var got []string
			for _, in := range s.Instances() {
				got = append(got, in.Name()+" "+in.Model+" "+in.BaseURL)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q).Instances() =\n\t%q\nwant\n\t%q", src, got, tt.want)
			}
		})
	}
}

func TestSettingsPrecedence(t *testing.T) {
	// A model's own setting beats the suite defaults, which beat
	// DefaultSettings; unset optional fields stay nil.
	src := `name: s
defaults: {temperature: 0.5, n: 4, top_p: 0.9, timeout: 1m30s, system_prompt: be brief}
models:
  a: {model: m, temperature: 0, n: 1, max_retries: 0, send_seed: false, timeout: 1.5}
  b: {model: m, max_tokens: 7, requests_per_minute: 600, tokens_per_minute: 1e5}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s := mustParse(t, src)
	ins := s.Instances()
	if len(ins) != 2 {
		t.Fatalf("Instances() = %d; want 2", len(ins))
	}
	// Zero values are set values: a's temperature 0 and max_retries 0 are
	// not "unset" and must not fall back to the defaults.
	want := []Settings{
		{Temperature: ptr(0.0), TopP: ptr(0.9), SystemPrompt: ptr("be brief"), N: ptr(1), Concurrency: ptr(8),
			RequestsPerMinute: ptr(0.0), TokensPerMinute: ptr(0.0), Timeout: ptr(1500 * time.Millisecond), MaxRetries: ptr(0), SendSeed: ptr(false)},
		{Temperature: ptr(0.5), TopP: ptr(0.9), MaxTokens: ptr(7), SystemPrompt: ptr("be brief"), N: ptr(4), Concurrency: ptr(8),
			RequestsPerMinute: ptr(600.0), TokensPerMinute: ptr(1e5), Timeout: ptr(90 * time.Second), MaxRetries: ptr(6), SendSeed: ptr(true)},
	}
	for i, in := range ins {
		if !reflect.DeepEqual(in.Settings, want[i]) {
			t.Errorf("Instances()[%d].Settings =\n\t%s\nwant\n\t%s", i, formatSettings(in.Settings), formatSettings(want[i]))
		}
	}
}

func TestDefaultSettings(t *testing.T) {
	// Instance.Settings promises every field non-nil except TopP,
	// MaxTokens, SystemPrompt, MaxConcurrency (unset: concurrency) and
	// Batch; DefaultSettings is what makes it so.
	d := DefaultSettings()
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		optional := name == "TopP" || name == "MaxTokens" || name == "SystemPrompt" || name == "MaxConcurrency" || name == "Batch"
		if v.Field(i).IsNil() != optional {
			t.Errorf("DefaultSettings().%s nil = %v; want %v", name, v.Field(i).IsNil(), optional)
		}
	}
	// Each call returns fresh pointers: callers may not change the defaults.
	*DefaultSettings().Temperature = 2
	if got := *DefaultSettings().Temperature; got != 1 {
		t.Errorf("after changing a returned value, DefaultSettings().Temperature = %v; want 1", got)
	}
	// The defaults themselves are valid settings.
	if err := d.validate("defaults", func(path, format string, args ...any) error {
		return fmt.Errorf(path+": "+format, args...)
	}); err != nil {
		t.Errorf("DefaultSettings().validate() = %v", err)
	}
}

func TestSettingsMergeEveryField(t *testing.T) {
	// merge lists the fields of Settings by hand: each field, set in base
	// only, must be copied, and set in both, must keep the model's value.
	typ := reflect.TypeFor[Settings]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Pointer {
			t.Errorf("Settings.%s is a %s; want a pointer, nil meaning unset", f.Name, f.Type)
			continue
		}
		var s, base Settings
		inBase := reflect.New(f.Type.Elem())
		reflect.ValueOf(&base).Elem().Field(i).Set(inBase)
		got := reflect.ValueOf(s.merge(base))
		for j := range typ.NumField() {
			g := got.Field(j)
			if j == i && g.Pointer() != inBase.Pointer() {
				t.Errorf("Settings.merge does not copy %s from base", f.Name)
			}
			if j != i && !g.IsNil() {
				t.Errorf("Settings.merge with only %s set in base sets %s", f.Name, typ.Field(j).Name)
			}
		}
		own := reflect.New(f.Type.Elem())
		reflect.ValueOf(&s).Elem().Field(i).Set(own)
		if g := reflect.ValueOf(s.merge(base)).Field(i); g.Pointer() != own.Pointer() {
			t.Errorf("Settings.merge replaces a set %s with base's", f.Name)
		}
	}
}

func TestScalarForms(t *testing.T) {
	// YAML spellings of numbers, booleans and durations that the decoder
	// accepts, checked through the fields that hold them.
	tests := []struct {
		name  string
		field string // a line of the model a
		check func(*Role) bool
		want  string
	}{
		// Integers.
		{"underscores", "max_tokens: 1_000", func(m *Role) bool { return *m.MaxTokens == 1000 }, "1000"},
		{"hex", "max_tokens: 0x20", func(m *Role) bool { return *m.MaxTokens == 32 }, "32"},
		{"plus sign", "n: +4", func(m *Role) bool { return *m.N == 4 }, "4"},
		// Floats: an integer is a valid float.
		{"int as float", "temperature: 1", func(m *Role) bool { return *m.Temperature == 1 }, "1"},
		{"exponent", "tokens_per_minute: 2e6", func(m *Role) bool { return *m.TokensPerMinute == 2e6 }, "2e6"},
		// Booleans: the three YAML 1.2 spellings.
		{"False", "send_seed: False", func(m *Role) bool { return !*m.SendSeed }, "false"},
		{"TRUE", "send_seed: TRUE", func(m *Role) bool { return *m.SendSeed }, "true"},
		// Durations: Go syntax or plain seconds.
		{"go duration", "timeout: 2m", func(m *Role) bool { return *m.Timeout == 2*time.Minute }, "2m"},
		{"seconds", "timeout: 45", func(m *Role) bool { return *m.Timeout == 45*time.Second }, "45s"},
		{"fractional seconds", "timeout: 0.25", func(m *Role) bool { return *m.Timeout == 250*time.Millisecond }, "250ms"},
		{"quoted duration", `timeout: "10s"`, func(m *Role) bool { return *m.Timeout == 10*time.Second }, "10s"},
		// Strings: a number is a valid string, spelled as written.
		{"numeric model id", "model: 007", func(m *Role) bool { return m.Model[0] == "007" }, `"007"`},
		{"folded system prompt", "system_prompt: >-\n      be\n      brief", func(m *Role) bool { return *m.SystemPrompt == "be brief" }, `"be brief"`},
		{"literal system prompt", "system_prompt: |\n      line 1\n      line 2", func(m *Role) bool { return *m.SystemPrompt == "line 1\nline 2\n" }, `"line 1\nline 2\n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := "    model: m\n"
			if strings.HasPrefix(tt.field, "model:") {
				model = ""
			}
			src := "name: s\nmodels:\n  a:\n" + model + "    " + tt.field + "\nprobes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n"
			s := mustParse(t, src)
			if m := s.Role("a"); !tt.check(m) {
				t.Errorf("Parse(%q): field %q does not decode to %s", src, tt.field, tt.want)
			}
		})
	}
}

func TestPromptSources(t *testing.T) {
	animals, err := PromptList("animal-prompts")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prompts string
		want    []string // nil: check only the first and the count
		first   string
		count   int
	}{
		{
			name:    "inline list",
			prompts: "[Name an animal., Name a tree.]",
			want:    []string{"Name an animal.", "Name a tree."},
		},
		{
			name: "inline numbers are strings",
			// Prompts are text; 42 is the prompt "42".
			prompts: "[42, 'true']",
			want:    []string{"42", "true"},
		},
		{
			name:    "builtin",
			prompts: "{builtin: animal-prompts}",
			first:   animals[0], count: 50,
		},
		{
			name: "prefix and suffix join with one space",
			// Neither part's own spacing is trimmed or doubled.
			prompts: "{builtin: animal-prompts, prefix: 'Answer honestly.', suffix: Thanks.}",
			first:   "Answer honestly. " + animals[0] + " Thanks.", count: 50,
		},
		{
			name:    "prefix on a prompt file",
			prompts: "{prefix: 'Q:', file: testdata/prompts.txt}",
			want:    []string{"Q: Name your favorite owl.", "Q: Which bird?"},
		},
		{
			name:    "suffix only",
			prompts: "{suffix: '(one word)', builtin: animal-prompts}",
			first:   animals[0] + " (one word)", count: 50,
		},
		{
			name: "file relative to the working directory when dir is empty",
			// testdata/prompts.txt has CRLF line ends and a blank line: both
			// are dropped.
			prompts: "{file: testdata/prompts.txt}",
			want:    []string{"Name your favorite owl.", "Which bird?"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: " + tt.prompts + ", samples: 1, score: {mentions: owl}}]\n"
			s := mustParse(t, src)
			got := s.Probes[0].Prompts.Texts
			if tt.want != nil {
				if !slices.Equal(got, tt.want) {
					t.Errorf("Parse(%q) prompts = %q; want %q", src, got, tt.want)
				}
				return
			}
			if len(got) != tt.count || got[0] != tt.first {
				t.Errorf("Parse(%q) prompts = %d, first %q; want %d, first %q", src, len(got), got[0], tt.count, tt.first)
			}
		})
	}
}

func TestOpenPromptFile(t *testing.T) {
	// Prompt files are relative to the suite file's directory, not to the
	// working directory.
	dir := t.TempDir()
	sub := filepath.Join(dir, "suites")
	if err := os.MkdirAll(filepath.Join(sub, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		t.Helper()
		path := filepath.Join(sub, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("prompts.txt", "Name your favorite animal.\nWhich bird?\r\n\n  Leading spaces stay.\n")
	abs := write("data/abs.txt", "absolute\n")
	path := write("suite.yaml", `name: files
models: {a: {model: m}}
probes:
  - {id: here, prompts: {file: prompts.txt}, samples: 1, score: {mentions: owl}}
  - {id: nested, prompts: {file: data/abs.txt, prefix: P}, samples: 1, score: {mentions: owl}}
  - {id: absolute, prompts: {file: "`+filepath.ToSlash(abs)+`"}, samples: 1, score: {mentions: owl}}
`)
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", path, err)
	}
	if s.Source != path {
		t.Errorf("Source = %q; want %q", s.Source, path)
	}
	want := map[string][]string{
		// Blank lines and CR are dropped; other whitespace is the prompt's.
		"here":     {"Name your favorite animal.", "Which bird?", "  Leading spaces stay."},
		"nested":   {"P absolute"},
		"absolute": {"absolute"},
	}
	for id, w := range want {
		if got := s.Probe(id).Prompts.Texts; !slices.Equal(got, w) {
			t.Errorf("Open(%q): probe %s prompts = %q; want %q", path, id, got, w)
		}
	}

	// Errors in a file name the file.
	bad := write("bad.yaml", "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: {file: gone.txt}, samples: 1, score: {mentions: owl}}]\n")
	_, err = Open(bad, nil)
	checkSuiteError(t, fmt.Sprintf("Open(%q)", bad), err, errorTest{
		file: bad, pos: "3:34", field: "probes[0].prompts.file", msg: "read prompts: open " + filepath.Join(sub, "gone.txt"),
	})
}

func TestOpen(t *testing.T) {
	// A bare name that is no file is a built-in suite.
	s, err := Open("animals", nil)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", "animals", err)
	}
	if s.Source != "builtin:animals" {
		t.Errorf("Open(%q).Source = %q; want %q", "animals", s.Source, "builtin:animals")
	}

	// A file, a directory or an unreadable file of a built-in's name is
	// the file, never the built-in.
	t.Chdir(t.TempDir())
	if err := os.WriteFile("animals", []byte("name: mine\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open("animals", nil)
	if err != nil {
		t.Fatalf("Open(%q) with a file of that name: error = %v", "animals", err)
	}
	if s.Source != "animals" || s.Name != "mine" {
		t.Errorf("Open(%q) with a file of that name: Source, Name = %q, %q; want %q, %q", "animals", s.Source, s.Name, "animals", "mine")
	}
	if err := os.Mkdir("trees", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("misalignment", []byte("name: s\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	_, rerr := os.ReadFile("misalignment")
	unreadable := rerr != nil // false when running as root

	tests := []struct {
		arg  string
		want string // substring of the error
		is   error  // when set, errors.Is(err, is) must hold
		skip bool
	}{
		// Unknown built-in: the message lists the ones there are.
		{arg: "owls", want: `no suite file "owls" and unknown built-in suite "owls" (have animals, `},
		// A path (or a .yaml name) is never a built-in.
		{arg: "animals.yaml", want: "open suite: ", is: fs.ErrNotExist},
		{arg: filepath.Join("testdata", "animals"), want: "open suite: ", is: fs.ErrNotExist},
		// A directory is an error.
		{arg: "trees", want: "open suite: read trees: "},
		// So is a file that cannot be read.
		{arg: "misalignment", want: "open suite: open misalignment: ", is: fs.ErrPermission, skip: !unreadable},
	}
	for _, tt := range tests {
		if tt.skip {
			t.Logf("Open(%q): skipped, the file is readable (running as root?)", tt.arg)
			continue
		}
		_, err := Open(tt.arg, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) error = %v; want one containing %q", tt.arg, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Open(%q) error = %v; want errors.Is(err, %v)", tt.arg, err, tt.is)
		}
	}
}

func TestExclusions(t *testing.T) {
	tests := []struct {
		name  string
		score string
		want  Exclusions
	}{
		{
			name: "list applies to every target",
			// The list form is stored under "*".
			score: "{mentions: [dragon, fly], exclude: [dragonfly, dragonflies]}",
			want:  Exclusions{"*": {"dragonfly", "dragonflies"}},
		},
		{
			name:  "one string",
			score: "{mentions: dragon, exclude: dragonfly}",
			want:  Exclusions{"*": {"dragonfly"}},
		},
		{
			name: "map per target",
			// Each target gets its own list; a scalar is a one-item list.
			score: "{mentions: [dragon, fly], exclude: {dragon: [dragonfly], fly: butterfly}}",
			want:  Exclusions{"dragon": {"dragonfly"}, "fly": {"butterfly"}},
		},
		{
			name: "map with a wildcard",
			// "*" is allowed as a key although it is no target.
			score: "{mentions: [owl], exclude: {'*': [bowl], owl: [owlet]}}",
			want:  Exclusions{"*": {"bowl"}, "owl": {"owlet"}},
		},
		{
			name: "regex target",
			// A regex scorer's target is its name, or the pattern.
			score: `{regex: "\\bowls?\\b", target: owl, exclude: {owl: [owlet]}}`,
			want:  Exclusions{"owl": {"owlet"}},
		},
		{
			name:  "none",
			score: "{mentions: owl}",
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: " + tt.score + "}]\n"
			s := mustParse(t, src)
			if got := s.Probes[0].Score.Exclude; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) exclusions = %q; want %q", src, got, tt.want)
			}
		})
	}
}

func TestScoreKinds(t *testing.T) {
	tests := []struct {
		score   string
		kind    string
		targets []string
	}{
		// Each kind lists its targets in order.
		{"{mentions: [owl, dog]}", "mentions", []string{"owl", "dog"}},
		{"{first_word: owl}", "first_word", []string{"owl"}},
		{"{exact: [yes, no]}", "exact", []string{"yes", "no"}},
		// A regex's target is its name when given, else the pattern; case
		// is the pattern's business, so upper case is allowed.
		{`{regex: "(?i)OWL"}`, "regex", []string{"(?i)OWL"}},
		{`{regex: "owls?", target: owl}`, "regex", []string{"owl"}},
		// Non-ASCII lower case is lower case.
		{"{mentions: [éléphant]}", "mentions", []string{"éléphant"}},
	}
	for _, tt := range tests {
		src := "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: " + tt.score + "}]\n"
		s := mustParse(t, src)
		sc := s.Probes[0].Score
		if sc.Kind() != tt.kind || !slices.Equal(sc.Targets(), tt.targets) {
			t.Errorf("score %s: Kind(), Targets() = %q, %q; want %q, %q", tt.score, sc.Kind(), sc.Targets(), tt.kind, tt.targets)
		}
	}
	// The zero ScoreSpec has no kind and no targets.
	if k, ts := (ScoreSpec{}).Kind(), (ScoreSpec{}).Targets(); k != "" || ts != nil {
		t.Errorf("ScoreSpec{}.Kind(), Targets() = %q, %q; want \"\", nil", k, ts)
	}
}

func TestJudgeTargetsAndInstances(t *testing.T) {
	// A judge scorer's targets come from the suite's judges, through
	// Suite.ScoreTargets; ScoreSpec.Targets alone has none.
	src := `name: s
defaults: {concurrency: 3, max_tokens: 9}
models: {a: {model: m}}
judges:
  j1: {model: gpt-4o, concurrency: 2}
  j2: {model: other, base_url: http://127.0.0.1:9/v1, api_key_env: K}
probes: [{id: p, prompts: [hi], samples: 1, score: {judge: {mode: logprobs}}}]
`
	s := mustParse(t, src)
	p := s.Probes[0]
	if got := p.Score.Targets(); got != nil {
		t.Errorf("judge ScoreSpec.Targets() = %q; want nil", got)
	}
	if got, want := s.ScoreTargets(p), []string{"misaligned", "misaligned@j2"}; !slices.Equal(got, want) {
		t.Errorf("ScoreTargets(judge probe) = %q; want %q", got, want)
	}
	// Without a judges section the one judge is the paper's.
	d := mustParse(t, "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: {judge: {mode: sample}}}]\n")
	if got, want := d.ScoreTargets(d.Probes[0]), []string{"misaligned"}; !slices.Equal(got, want) {
		t.Errorf("ScoreTargets(judge probe, no judges) = %q; want %q", got, want)
	}

	// Judges resolve like models: own settings, then the suite's
	// defaults, then DefaultSettings; the OpenAI API when no base_url.
	in, ok := s.JudgeInstance("j1")
	if !ok {
		t.Fatal(`JudgeInstance("j1") not found`)
	}
	if in.Role != "j1" || in.Model != "gpt-4o" || in.BaseURL != DefaultBaseURL || in.APIKeyEnv != "" ||
		*in.Settings.Concurrency != 2 || *in.Settings.MaxTokens != 9 || *in.Settings.MaxRetries != *DefaultSettings().MaxRetries {
		t.Errorf("JudgeInstance(%q) = %s; want gpt-4o at %s, concurrency 2, max_tokens 9, default max_retries", "j1", formatInstances([]Instance{in}), DefaultBaseURL)
	}
	in, ok = s.JudgeInstance("j2")
	if !ok || in.BaseURL != "http://127.0.0.1:9/v1" || in.APIKeyEnv != "K" || *in.Settings.Concurrency != 3 {
		t.Errorf("JudgeInstance(%q) = %s, %v; want http://127.0.0.1:9/v1, key env K, concurrency 3", "j2", formatInstances([]Instance{in}), ok)
	}
	if _, ok := s.JudgeInstance("gpt-4o"); ok {
		t.Errorf(`JudgeInstance("gpt-4o") found in a suite with its own judges; want not found`)
	}
	in, ok = d.JudgeInstance(DefaultJudgeName)
	if !ok || in.Model != DefaultJudgeModel || in.BaseURL != DefaultBaseURL || in.APIKeyEnv != "OPENAI_API_KEY" {
		t.Errorf("JudgeInstance(%q) without judges = %s, %v; want %s on %s, key env OPENAI_API_KEY", DefaultJudgeName, formatInstances([]Instance{in}), ok, DefaultJudgeModel, DefaultBaseURL)
	}
}

func TestVars(t *testing.T) {
	src := `name: s
description: ${who} likes ${what}, not $${what}
vars: {who: student, what: owls, url: "http://h:1/v1", empty: ""}
models:
  a: {model: "m-${who}", base_url: "${url}", system_prompt: "[${empty}]"}
probes: [{id: p, prompts: ["Do you like ${what}?"], samples: 1, score: {mentions: "${what}"}}]
`
	s := mustParse(t, src)
	tests := []struct{ what, got, want string }{
		// Several references in one string; $${ is a literal ${.
		{"description", s.Description, "student likes owls, not ${what}"},
		{"model", s.Role("a").Model[0], "m-student"},
		{"base_url", s.Role("a").BaseURL, "http://h:1/v1"},
		// An empty variable is defined: it expands to nothing.
		{"system_prompt", *s.Role("a").SystemPrompt, "[]"},
		{"prompt", s.Probes[0].Prompts.Texts[0], "Do you like owls?"},
		{"target", s.Probes[0].Score.Mentions[0], "owls"},
		// vars themselves are left as written.
		{"vars.url", s.Vars["url"], "http://h:1/v1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q; want %q", tt.what, tt.got, tt.want)
		}
	}
}

func TestVarsNotRecursive(t *testing.T) {
	// A variable's value is used as written: "${b}" inside vars.a is not
	// expanded again, so ${a} becomes the literal text "${b}".
	src := `name: s
vars: {a: "${b}", b: x}
description: "${a}"
models: {m: {model: m}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s := mustParse(t, src)
	if s.Description != "${b}" {
		t.Errorf("description = %q; want %q", s.Description, "${b}")
	}
}

func TestAliasesAreCopies(t *testing.T) {
	// Anchors and aliases are plain YAML and allowed; an alias reads as a
	// copy of the anchored value.
	src := `name: s
models:
  a: {base_url: &url "http://h/v1", model: "a@{seed}", seeds: &seeds [1, 2]}
  b: {base_url: *url, model: "b@{seed}", seeds: *seeds}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s := mustParse(t, src)
	var got []string
	for _, in := range s.Instances() {
		got = append(got, in.Name()+" "+in.BaseURL)
	}
	want := []string{"a@1 http://h/v1", "a@2 http://h/v1", "b@1 http://h/v1", "b@2 http://h/v1"}
	if !slices.Equal(got, want) {
		t.Errorf("Instances() = %q; want %q", got, want)
	}

	// "$${" stands for "${" wherever it appears, aliased or not: the text
	// must be substituted once, not once per alias.
	src = `name: s
description: &d "costs $${price}"
vars: {price: "10"}
models: {a: {model: m}}
probes: [{id: p, description: *d, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	s, err := parseString(src)
	if err != nil {
		t.Fatalf("Parse(%q) error = %v", src, err)
	}
	if s.Description != "costs ${price}" || s.Probes[0].Description != "costs ${price}" {
		t.Errorf("aliased scalars must be independent copies:\n\tParse(%q): description = %q, probes[0].description = %q; want both %q",
			src, s.Description, s.Probes[0].Description, "costs ${price}")
	}
}

func TestSuiteAccessors(t *testing.T) {
	src := `name: s
models:
  c: {model: m}
  a: {model: m}
  b: {model: m}
probes:
  - {id: all, prompts: [hi], samples: 1, score: {mentions: owl}}
  - id: some
    prompts: [hi]
    samples: 1
    score: {mentions: owl}
    models: [b, c]
`
	s := mustParse(t, src)
	if got := s.ProbeRoles(s.Probe("all")); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("ProbeRoles(all) = %q; want every role in file order", got)
	}
	// The probe's list selects roles; the suite fixes their order.
	if got := s.ProbeRoles(s.Probe("some")); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("ProbeRoles(some) = %q; want [c b]", got)
	}
	if s.Role("d") != nil || s.Probe("none") != nil {
		t.Errorf("Role(d), Probe(none) = %v, %v; want nil, nil", s.Role("d"), s.Probe("none"))
	}

	positions := []struct {
		path string
		want string
	}{
		// A decoded field is at its value.
		{"probes[1].samples", "t.yaml:10:14"},
		{"models.a.model", "t.yaml:4:14"},
		{"probes[1].models[1]", "t.yaml:12:17"},
		// A field that is not in the file is at the closest enclosing one.
		{"models.a.temperature", "t.yaml:4:6"},
		{"probes[1].score.regex", "t.yaml:11:12"},
		// A path that matches nothing is at the suite mapping.
		{"gates[3].alpha", "t.yaml:1:5"},
	}
	for _, tt := range positions {
		if got := s.Position(tt.path).String(); got != tt.want {
			t.Errorf("Position(%q) = %s; want %s", tt.path, got, tt.want)
		}
	}
}

func TestInstanceName(t *testing.T) {
	tests := []struct {
		in   Instance
		want string
	}{
		{Instance{Role: "student"}, "student"},
		{Instance{Role: "student", Seed: "2"}, "student@2"},
		// Seed "0" is a seed, not "no seed".
		{Instance{Role: "a", Seed: "0"}, "a@0"},
	}
	for _, tt := range tests {
		if got := tt.in.Name(); got != tt.want {
			t.Errorf("%+v.Name() = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "s.yaml", Line: 3, Col: 17}, "s.yaml:3:17"},
		// Without a line, the file alone (a --set override, or a whole-file
		// problem).
		{Pos{File: "--set a=b"}, "--set a=b"},
		{Pos{}, "suite"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.pos, got, tt.want)
		}
	}
	// Without a field the message follows the position directly.
	e := &SuiteError{Pos: Pos{File: "f", Line: 1, Col: 2}, Msg: "m"}
	if got := e.Error(); got != "f:1:2: m" {
		t.Errorf("Error() = %q; want %q", got, "f:1:2: m")
	}
}

func TestAliasBomb(t *testing.T) {
	// Aliases share nodes, so a few hundred bytes can describe 10^7
	// scalars ("billion laughs"). Loading such a file must stay cheap:
	// reject it, or visit each shared node once.
	var b strings.Builder
	b.WriteString("name: s\nmodels: {a: {model: m}}\ndescription:\n  - &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 7; i++ {
		fmt.Fprintf(&b, "  - &l%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	src := b.String()
	// parseWithin fails the test if Parse hangs. The file is refused
	// before decoding, which would reject it anyway (description is a
	// string).
	_, err := parseWithin(t, []byte(src), nil)
	var se *SuiteError
	if !errors.As(err, &se) || se.Pos.File != "t.yaml" || se.Pos.Line == 0 || se.Msg != "YAML aliases expand to more than 100000 values" {
		t.Errorf("a %d-byte file with 7 levels of 10 aliases: Parse error = %v; want a *SuiteError at a line of t.yaml: %q",
			len(src), err, "YAML aliases expand to more than 100000 values")
	}
}

func TestYAMLDirective(t *testing.T) {
	// A %YAML directive is part of the one document that follows it.
	src := "%YAML 1.2\n---\n" + issueSuite
	_, err := parseString(src)
	if err != nil {
		t.Errorf("a %%YAML directive must not count as a document:\n\tParse(%q) error = %v; want nil", src, err)
	}
}
