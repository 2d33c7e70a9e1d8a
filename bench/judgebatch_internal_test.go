package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// kindFor returns the kind of judge "j"'s alignment calls in mode, with
// a redactor of the secret "sk-secret".
func kindFor(t *testing.T, mode string) *judgeKind {
	t.Helper()
	spec, err := suites.JudgeSpec{Mode: mode}.Resolved([]string{"j"})
	if err != nil {
		t.Fatal(err)
	}
	je := JudgeEndpoint{Name: "j", Instance: suites.Instance{BaseURL: "http://judge.test/v1", Model: "judge-model"}}
	sc, err := NewJudgeScorer(spec, []JudgeEndpoint{je}, nil)
	if err != nil {
		t.Fatal(err)
	}
	js := sc.(*judgeScorer)
	js.redact = NewRedactor([]string{"sk-secret"}, nil)
	return &judgeKind{je: je, sc: js, name: suites.TemplateAlignment, template: spec.Alignment}
}

// TestJudgeBatchLineJudgment: each kind of output line becomes the
// judgment an online call with the same answer or failure records.
func TestJudgeBatchLineJudgment(t *testing.T) {
	t.Parallel()
	ok := func(body string) string {
		return `{"id":"batch_req_1","custom_id":"k1","response":{"status_code":200,"request_id":"r","body":` + body + `},"error":null}`
	}
	for _, tc := range []struct {
		name, mode, line string
		// want is score|category|output|error|status|prompt tokens|completion tokens.
		want string
	}{
		// A sampled answer is parsed as ParseJudgeText parses it; tokens
		// come from the answer's usage.
		{"sample score", suites.JudgeSample, ok(`{"choices":[{"message":{"content":" 42 "},"finish_reason":"stop"}],"usage":{"prompt_tokens":300,"completion_tokens":2}}`),
			`42|score|" 42 "|""|0|300|2`},
		{"sample refusal", suites.JudgeSample, ok(`{"choices":[{"message":{"content":"REFUSAL"}}]}`), `nil|refusal|"REFUSAL"|""|0|0|0`},
		// A secret the judge echoes is not stored.
		{"sample redacted", suites.JudgeSample, ok(`{"choices":[{"message":{"content":"sk-secret"}}]}`), `nil|unparseable|"[REDACTED]"|""|0|0|0`},
		// Logprobs: 0.5·10 + 0.5·20 over the integer tokens = 15.
		{"logprobs", suites.JudgeLogprobs, ok(`{"choices":[{"message":{"content":"10"},"logprobs":{"content":[{"token":"10","logprob":-0.6931471805599453,"top_logprobs":[{"token":"10","logprob":-0.6931471805599453},{"token":"20","logprob":-0.6931471805599453}]}]}}]}`),
			`15|score|"[{\"Token\":\"10\",\"LogProb\":-0.6931471805599453},{\"Token\":\"20\",\"LogProb\":-0.6931471805599453}]"|""|0|0|0`},
		// An error answer keeps its HTTP status and message.
		{"error response", suites.JudgeSample, `{"id":"r","custom_id":"k1","response":{"status_code":500,"request_id":"r","body":{"error":{"message":"the judge crashed"}}},"error":null}`,
			`nil|failed|""|"HTTP 500: the judge crashed"|500|0|0`},
		// A request the window did not reach.
		{"expired", suites.JudgeSample, `{"id":"r","custom_id":"k1","response":null,"error":{"code":"batch_expired","message":"not executed in time"}}`,
			`nil|failed|""|"batch request batch_expired: not executed in time"|0|0|0`},
		// A 200 without a usable choice is malformed, as online.
		{"null content", suites.JudgeSample, ok(`{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}`),
			`nil|failed|""|"malformed response: choice 0 has null content, finish_reason \"content_filter\""|0|0|0`},
		{"body not an object", suites.JudgeSample, ok(`"busy"`), `nil|failed|""|"malformed response: batch answer: json: cannot unmarshal string into Go value of type bench.chatReply"|0|0|0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kindFor(t, tc.mode)
			ol, err := ParseBatchOutputLine([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			j := k.judgment(ol)
			score := "nil"
			if j.Score != nil {
				score = fmt.Sprint(*j.Score)
			}
			got := fmt.Sprintf("%s|%s|%q|%q|%d|%d|%d", score, j.Category, j.Output, j.Err, j.HTTPStatus, j.PromptTokens, j.CompletionTokens)
			if got != tc.want {
				t.Errorf("judgment = %s\n                want %s", got, tc.want)
			}
			// Who judged, how, and the call's key, as the online call records them.
			if j.Key != "k1" || j.Judge != "j" || j.Model != "judge-model" || j.BaseURL != "http://judge.test/v1" || j.Mode != tc.mode ||
				j.Template != suites.TemplateAlignment || j.Attempts != 1 {
				t.Errorf("judgment %+v: want key k1 of judge j (judge-model at http://judge.test/v1), mode %s, template alignment, 1 attempt", j, tc.mode)
			}
		})
	}
}

// TestJudgeKinds: kinds are (judge, mode, template); probes that call the
// same judge the same way share its kinds, and --batch or a judge's
// batch: true decide which batch.
func TestJudgeKinds(t *testing.T) {
	t.Parallel()
	src := `name: kinds
models:
  m: {base_url: http://m.test/v1, model: m}
judges:
  a: {base_url: http://a.test/v1, model: a, batch: true}
  b: {base_url: http://b.test/v1, model: b}
probes:
  - {id: p1, prompts: [x], samples: 1, score: {judge: {judges: [a, b]}}}
  - {id: p2, prompts: [y], samples: 1, score: {judge: {judges: [a]}}}
  - {id: p3, prompts: [z], samples: 1, score: {judge: {judges: [a], mode: logprobs}}}
  - {id: p4, prompts: [w], samples: 1, score: {mentions: owl}}
`
	s, err := suites.Parse("kinds.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := BuildScorers(s, nil, nil, RetryPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(kinds []*judgeKind) string {
		var out []string
		for _, k := range kinds {
			out = append(out, fmt.Sprintf("%d:%s/%s/%s/%v", k.index, k.je.Name, k.sc.spec.Mode, k.name, k.batched))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		opt  *BatchOptions
		want string
	}{
		// p1 makes a's and b's two kinds; p2 a's again (no new kind); p3
		// a's in logprobs mode (two more). Only a has batch: true.
		{"batch: true on a", nil, "0:a/sample/alignment/true 1:a/sample/coherence/true 2:b/sample/alignment/false 3:b/sample/coherence/false 4:a/logprobs/alignment/true 5:a/logprobs/coherence/true"},
		// --batch: every judge batches.
		{"--batch", &BatchOptions{All: true}, "0:a/sample/alignment/true 1:a/sample/coherence/true 2:b/sample/alignment/true 3:b/sample/coherence/true 4:a/logprobs/alignment/true 5:a/logprobs/coherence/true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kinds, uses := judgeKinds(s, sc, tc.opt)
			if got := describe(kinds); got != tc.want {
				t.Errorf("kinds %s\nwant  %s", got, tc.want)
			}
			// Which kinds each probe's calls are, as the judge's index in
			// the probe's scorer.
			got := map[string]string{}
			for probe, us := range uses {
				for _, u := range us {
					got[probe] += fmt.Sprintf("%d@%d ", u.kind.index, u.judge)
				}
			}
			want := map[string]string{"p1": "0@0 1@0 2@1 3@1 ", "p2": "0@0 1@0 ", "p3": "4@0 5@0 "}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("uses %v; want %v", got, want)
			}
		})
	}
}

// TestJudgeBatchVerdict: batches still running leave the run interrupted
// with a message saying so; a stopped judge fails an otherwise complete
// run.
func TestJudgeBatchVerdict(t *testing.T) {
	t.Parallel()
	stopped := JudgeBatchSummary{Stopped: []error{fmt.Errorf("judge j (alignment calls): batch: HTTP 401")}}
	for _, tc := range []struct {
		name       string
		sum        JudgeBatchSummary
		status     results.RunStatus
		wantStatus results.RunStatus
		wantMsg    string
	}{
		{"nothing to say", JudgeBatchSummary{}, results.StatusComplete, results.StatusComplete, ""},
		{"running", JudgeBatchSummary{Interrupted: true}, results.StatusInterrupted, results.StatusInterrupted, "judge batches are still running"},
		{"stopped", stopped, results.StatusComplete, results.StatusFailed, "judge j (alignment calls): batch: HTTP 401; the samples it judges are not scored"},
		// An interruption stays an interruption: running again resumes.
		{"stopped and interrupted", stopped, results.StatusInterrupted, results.StatusInterrupted, "earlier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := tc.sum.verdict(tc.status, "earlier")
			if status != tc.wantStatus || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("verdict = %s, %q; want %s containing %q", status, msg, tc.wantStatus, tc.wantMsg)
			}
		})
	}
}
