package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// The filter's trait-association judge. Its calls are the engine's kind
// of judge call: each is keyed by suites.JudgmentKey (endpoint, model,
// mode, template, prompt, completion) and stored in the judgments table
// with Store.PutJudgments, whose rules keep a successful judgment and
// replace a failed one. So a row is judged once, whatever the dataset,
// experiment or process asks again, and a call that failed is asked again
// by the next run. The verdict is read from the stored answer each time,
// so changing min_score re-reads the same calls.

// judgeName is the judgments' judge column for the filter's calls.
const judgeName = "filter"

// judgeFailLimit is how many judge calls in a row may fail before the
// stage stops calling (the endpoint is down or refusing): the rows not
// judged stay for the next run.
const judgeFailLimit = 10

// DatasetJudge is a dataset's trait-association judge: the experiment's
// judge with the dataset's target filled into its template.
type DatasetJudge struct {
	datasets.AssociationJudge
	// Instance is the judge's endpoint and model (BaseURL without a
	// trailing "/"; its settings are those of the calls).
	Instance suites.Instance
	// Name describes the judge stably (model, endpoint without
	// credentials, mode, template hash): part of the dataset's key.
	Name string
}

// Rule returns the filter rule applying verdicts.
func (j *DatasetJudge) Rule(verdicts map[int]datasets.JudgeVerdict) datasets.JudgeFilter {
	return datasets.JudgeFilter{Name: j.Name, Verdicts: verdicts}
}

// mode is the judgments' mode column: the filter's mode, apart from the
// evaluation judges' "sample" and "logprobs".
func (j *DatasetJudge) mode() string { return "association-" + string(j.Mode) }

// key returns the judgment key of one row.
func (j *DatasetJudge) key(g datasets.Generation) string {
	prompt := ""
	if j.UsesPrompt() {
		prompt = g.Text
	}
	return suites.JudgmentKey(j.Instance, j.mode(), j.Template, prompt, g.Completion)
}

// datasetJudge returns, per teacher, the dataset's judge: nil without
// filter.judge, or for a control teacher when filter.judge.controls is
// false.
func (e *Experiment) datasetJudge() func(t *Teacher, control bool) *DatasetJudge {
	cfg := e.Filter.Judge
	return func(t *Teacher, control bool) *DatasetJudge {
		if cfg == nil || (control && !*cfg.Controls) {
			return nil
		}
		base := strings.TrimRight(cfg.BaseURL, "/")
		if base == "" {
			base = suites.DefaultBaseURL
		}
		aj := datasets.AssociationJudge{Template: datasets.JudgeTemplate(cfg.Template, e.teacherTarget(t), e.Category), Mode: datasets.JudgeMode(cfg.Mode)}
		if cfg.MinScore != nil {
			aj.MinScore = *cfg.MinScore
		}
		zero := 0.0
		st := suites.Settings{Temperature: &zero, Concurrency: &cfg.Concurrency, MaxRetries: cfg.MaxRetries, Timeout: &cfg.Timeout,
			RequestsPerMinute: &cfg.RequestsPerMinute, TokensPerMinute: &cfg.TokensPerMinute}
		return &DatasetJudge{AssociationJudge: aj,
			Instance: suites.Instance{Role: judgeName, BaseURL: base, Model: cfg.Model, APIKeyEnv: cfg.APIKeyEnv, Settings: st},
			Name:     fmt.Sprintf("%s at %s, %s", cfg.Model, bench.RedactURL(base), aj)}
	}
}

// request is the judge's request for one row: temperature 0; one token
// with its top 5 log probabilities (the paper's code judge), up to 16
// tokens for a binary answer, the server's default length for a scored
// one (which reasons before its score).
func (j *DatasetJudge) request(g datasets.Generation) bench.Request {
	zero := 0.0
	req := bench.Request{Model: j.Instance.Model, Messages: []bench.Message{{Role: "user", Content: j.Prompt(g.Text, g.Completion)}}, Temperature: &zero}
	switch j.Mode {
	case datasets.JudgeLogprobs:
		one := 1
		req.MaxTokens, req.LogProbs, req.TopLogProbs = &one, true, 5
	case datasets.JudgeBinary:
		n := 16
		req.MaxTokens = &n
	}
	return req
}

// verdict reads a stored judgment in the judge's mode.
func (j *DatasetJudge) verdict(jd results.Judgment) datasets.JudgeVerdict {
	if j.Mode != datasets.JudgeLogprobs {
		return j.Verdict(jd.Output)
	}
	var top []datasets.TokenLogProb
	if err := json.Unmarshal([]byte(jd.Output), &top); err != nil {
		return datasets.VerdictUnparseable
	}
	return datasets.LogprobsVerdict(top)
}

// judgeClient returns the client of the judge's calls: the runner's
// client factory (nil: the OpenAI client), rate-limited and retrying as
// the judge's settings say, and a redactor of its key and base URL's
// credentials.
func (r *stageRun) judgeClient(j *DatasetJudge) (bench.Client, *bench.Redactor, error) {
	in := j.Instance
	key := ""
	if in.APIKeyEnv != "" {
		if key = r.getenv(in.APIKeyEnv); key == "" {
			return nil, nil, configf("%s: filter.judge.api_key_env: environment variable %s is not set", r.exp.Position("filter.judge.api_key_env"), in.APIKeyEnv)
		}
	}
	st := in.Settings
	hc := &http.Client{Transport: bench.NewTransport(*st.Concurrency)}
	var c bench.Client
	if r.NewClient != nil {
		c = r.NewClient(in, key, hc)
	} else {
		c = bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: hc, Timeout: *st.Timeout})
	}
	policy := bench.DefaultRetryPolicy()
	policy.MaxRetries = *st.MaxRetries
	c = bench.WithRetry(bench.WithRateLimit(c, *st.RequestsPerMinute, *st.TokensPerMinute), policy)
	var keys []string
	if key != "" {
		keys = []string{key}
	}
	return c, bench.NewRedactor(keys, []string{in.BaseURL}), nil
}

// judgeRows judges rows (the rows of dataset d the rules kept) for their
// association with the trait and returns the verdicts by prompt index.
// Stored judgments are reused; the rest are asked for, at most the
// judge's concurrency at once, and stored in batches as they come. If a
// call fails (after its retries), no verdict is returned: the stage
// fails, the rows judged stay stored, and the next run asks only for the
// rest.
func (r *stageRun) judgeRows(ctx context.Context, d *DatasetPlan, rows []datasets.Generation) (map[int]datasets.JudgeVerdict, error) {
	db := context.WithoutCancel(ctx)
	j := d.Judge
	keys := make([]string, len(rows))
	first := map[string]datasets.Generation{} // one row per key: equal rows are judged once
	var unique []string
	for i, g := range rows {
		keys[i] = j.key(g)
		if _, ok := first[keys[i]]; !ok {
			first[keys[i]] = g
			unique = append(unique, keys[i])
		}
	}
	known, err := r.Store.Judgments(db, unique)
	if err != nil {
		return nil, err
	}
	var todo []string
	for _, k := range unique {
		if jd, ok := known[k]; !ok || jd.Failed() {
			todo = append(todo, k)
		}
	}
	r.logf("judge %s: %d rows, %d distinct, %d judged before, %d to judge by %s", d.Name, len(rows), len(unique), len(unique)-len(todo), len(todo), j.Instance.Model)
	if len(todo) > 0 {
		got, err := r.callJudge(ctx, d, todo, first)
		if err != nil {
			return nil, err
		}
		for k, jd := range got {
			known[k] = jd
		}
	}
	if ctx.Err() != nil {
		return nil, errInterrupted("judge " + d.Name)
	}
	out := make(map[int]datasets.JudgeVerdict, len(rows))
	failed, missing := 0, 0
	var firstErr string
	for _, k := range unique {
		jd, ok := known[k]
		switch {
		case !ok:
			missing++
		case jd.Failed():
			failed++
			if firstErr == "" {
				firstErr = jd.Err
			}
		}
	}
	if failed+missing > 0 {
		msg := fmt.Sprintf("filter %s: %d of %d judge calls failed", d.Name, failed, len(unique))
		if firstErr != "" {
			msg += " (the first: " + firstErr + ")"
		}
		if missing > 0 {
			msg += fmt.Sprintf(", %d not made (the judge failed %d calls in a row)", missing, judgeFailLimit)
		}
		return nil, errors.New(msg + "; no row was kept or rejected for them: run the filter stage again to ask only for those")
	}
	for i, g := range rows {
		out[g.Index] = j.verdict(known[keys[i]])
	}
	return out, nil
}

// callJudge asks the judge for the judgments of keys (rows by key in
// rows) and stores them: one lane of the judge's concurrency through a
// bench.Stage, whose writer stores each batch. It returns what it
// stored, failed calls included. A refusal that retrying cannot fix (a
// bad key, an unknown model) stops the stage as a configuration error,
// with the provider's message.
func (r *stageRun) callJudge(ctx context.Context, d *DatasetPlan, keys []string, rows map[string]datasets.Generation) (map[string]results.Judgment, error) {
	db := context.WithoutCancel(ctx)
	j := d.Judge
	client, redact, err := r.judgeClient(j)
	if err != nil {
		return nil, err
	}
	var progress *bench.Progress
	stop := func() {}
	if r.Sampling != nil {
		progress, stop = r.Sampling("judge " + d.Name)
		progress.ToScore.Store(int64(len(keys)))
	}
	defer stop()
	var mu sync.Mutex
	got := map[string]results.Judgment{}
	streak := 0 // failed calls in a row
	stage := &bench.Stage[string, results.Judgment]{
		Grace: r.Grace,
		Lanes: []bench.Lane[string, results.Judgment]{{
			Items:   slices.Values(keys),
			Workers: *j.Instance.Settings.Concurrency,
			Work: func(ctx context.Context, key string) ([]results.Judgment, error) {
				jd, err := r.judgeOne(ctx, j, client, redact, key, rows[key])
				if progress != nil {
					progress.Scored.Add(1)
				}
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.Canceled) {
						return nil, nil // interrupted: asked again by the next run
					}
					return nil, err
				}
				mu.Lock()
				defer mu.Unlock()
				if jd.Failed() {
					streak++
				} else {
					streak = 0
				}
				if streak >= judgeFailLimit {
					return []results.Judgment{jd}, fmt.Errorf("%w: %d judge calls in a row failed", bench.ErrStopLane, streak)
				}
				return []results.Judgment{jd}, nil
			},
		}},
		Sink: func(batch []results.Judgment) error {
			if err := r.Store.PutJudgments(db, batch); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, jd := range batch {
				got[jd.Key] = jd
			}
			return nil
		},
	}
	if err := stage.Run(ctx); err != nil {
		return nil, fmt.Errorf("judge %s: %w", d.Name, err)
	}
	return got, nil
}

// judgeOne makes one judge call and returns its judgment: failed (with
// the error, redacted) when the call failed after its retries. Only an
// interruption or a refusal retrying cannot fix is returned as an error.
func (r *stageRun) judgeOne(ctx context.Context, j *DatasetJudge, c bench.Client, redact *bench.Redactor, key string, g datasets.Generation) (results.Judgment, error) {
	resp, err := c.Complete(ctx, j.request(g))
	if ctx.Err() != nil {
		return results.Judgment{}, ctx.Err()
	}
	jd := results.Judgment{Key: key, Judge: judgeName, BaseURL: redact.URL(j.Instance.BaseURL), Model: j.Instance.Model, Mode: j.mode(),
		Template: "association:" + j.TemplateHash(), CreatedAt: time.Now()}
	if err != nil {
		if bench.Fatal(err) {
			// A bad key, an unknown model or endpoint: no call can succeed.
			return jd, configf("%s: filter.judge: %s at %s refused the call: %s", r.exp.Position("filter.judge"), j.Instance.Model, jd.BaseURL,
				redact.String(err.Error()))
		}
		jd.Category, jd.Err, jd.HTTPStatus, jd.Attempts = results.CategoryFailed, redact.String(err.Error()), bench.Status(err), 1
		var re *bench.RetryError
		if errors.As(err, &re) {
			jd.Attempts = re.Attempts
		}
		return jd, nil
	}
	jd.PromptTokens, jd.CompletionTokens, jd.Latency, jd.Attempts = resp.PromptTokens, resp.CompletionTokens, resp.Latency, resp.Attempts
	if len(resp.Choices) == 0 {
		jd.Category, jd.Err = results.CategoryFailed, "the judge returned no usable choice"
		return jd, nil
	}
	ch := resp.Choices[0]
	if j.Mode == datasets.JudgeLogprobs {
		top := []datasets.TokenLogProb{}
		if len(ch.LogProbs) > 0 {
			for _, t := range ch.LogProbs[0].Top {
				top = append(top, datasets.TokenLogProb{Token: t.Token, LogProb: t.LogProb})
			}
		}
		b, _ := json.Marshal(top) // decoded from JSON: no NaN or infinity to refuse
		jd.Output = redact.String(string(b))
	} else {
		jd.Output = redact.String(ch.Text)
	}
	jd.Category = results.CategoryScore
	if j.verdict(jd) == datasets.VerdictUnparseable {
		jd.Category = results.CategoryUnparseable
	}
	return jd, nil
}
