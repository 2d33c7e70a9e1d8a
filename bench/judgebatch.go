package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/traitleak/traitleak/internal/atomicfile"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Judging through a Batch API (run --batch, rescore --batch, or
// batch: true on a judge).
//
// Before the scoring phase of a run (ScoreMissing), a judge pre-pass
// sends the judge calls scoring will need through the Batch API of every
// judge that batches, and stores the answers as judgments; ScoreMissing
// then finds them in the judgments table and makes no online call for
// them. The pre-pass works per kind of judge call: one judge with one
// mode and one template (a judge's alignment and its coherence calls are
// two kinds). For each kind it streams the run's rows, takes the
// successful samples its probes have not scored yet, computes each
// call's judgment key as the online scorer does (suites.JudgeRule.Key)
// and drops the keys already stored (successful judgments, and failed
// ones unless ResubmitFailed) and those already in a file of the round.
// The remaining calls become input lines whose custom_id is the judgment
// key and whose body is the online request (judgeScorer.request), one
// file of at most BatchLimits at a time: each file is recorded as a batch
// of the run (results.Batch, its instance judgeBatchInstance(kind)) and
// submitted before the next is built, and its bytes are then dropped.
//
// A round puts at most judgeRoundFiles files' worth of lines in files
// (the memory of the keys it holds is bounded by that), waits for their
// batches, stores their answers, and the next round streams the rows
// again until no call is left: keys stored by a round are skipped by the
// next.
// A restarted run first polls the batches the run left uncollected
// (recorded, with their ids: nothing is submitted twice) and only then
// builds new ones; a batch recorded but never uploaded is abandoned, its
// calls going into a new file. Output lines are joined to their calls by
// custom_id. An answer is parsed exactly as an online answer is
// (judgeScorer.answered); an error line, an expired or cancelled request,
// or a line the files leave out is stored as a failed judgment with the
// provider's message, as a failed online call is. The scoring phase asks
// failed judgments again, online, as it does any failed judgment; with
// ResubmitFailed, judgments stored as failed before the pass go into a
// new batch instead.

// judgeRoundFiles bounds the lines a round puts in files before it waits
// for their batches: that many files of BatchLimits.MaxLines. The keys of
// a round are held in memory, 16 bytes each (a set of 500,000, the round
// at the default limits, measured 18.9 MB of heap with Go 1.26); more
// calls wait for the next round.
const judgeRoundFiles = 10

// judgeChunk is how many candidate keys are looked up in the judgments
// table at once.
const judgeChunk = 1000

// judgeBatchInstance is the instance column of a judge batch: -1 - kind,
// negative so that it is no model's index (results.Batch.Instance).
func judgeBatchInstance(kind int) int { return -1 - kind }

// JudgeBatchSummary is what the judge pre-pass of a run did.
type JudgeBatchSummary struct {
	Batches  int // batches recorded now (submitted, or written offline)
	Judged   int // judge calls answered and stored as judgments
	Failed   int // judge calls whose line failed: stored as failed, asked again online by the scoring phase
	TooLarge int // judge calls whose request exceeds a batch file: left to the scoring phase, online
	// Interrupted is true when batches of the run are still running (ctx
	// ended, Poll.MaxWait passed, or offline outputs missing): the
	// samples they judge were not scored; running again polls on.
	Interrupted bool
	// Stopped holds, per kind of judge call, the fatal error that
	// stopped its batches; the probes that call it are not scored.
	Stopped []error
}

// verdict amends a run's status and message with the pre-pass: batches
// still running or a judge stopped.
func (s JudgeBatchSummary) verdict(status results.RunStatus, msg string) (results.RunStatus, string) {
	switch {
	case s.Interrupted && status == results.StatusInterrupted:
		return status, "judge batches are still running; their samples are not scored yet: run again to poll on"
	case len(s.Stopped) > 0 && status != results.StatusInterrupted:
		m := s.Stopped[0].Error()
		if len(s.Stopped) > 1 {
			m += fmt.Sprintf(" (and %d more)", len(s.Stopped)-1)
		}
		return results.StatusFailed, m + "; the samples it judges are not scored: run again to retry"
	}
	return status, msg
}

// judgeKind is one kind of judge call of a run: one judge, with one mode
// and one template.
type judgeKind struct {
	index    int
	je       JudgeEndpoint
	sc       *judgeScorer // a scorer that makes these calls: builds their requests, reads their answers
	name     string       // suites.TemplateAlignment or suites.TemplateCoherence
	template string       // the template's text
	batched  bool
	api      *BatchAPI
	stopped  error
}

func (k *judgeKind) String() string {
	if k.sc.spec.Mode != suites.JudgeSample {
		return fmt.Sprintf("judge %s (%s %s calls)", k.je.Name, k.sc.spec.Mode, k.name)
	}
	return fmt.Sprintf("judge %s (%s calls)", k.je.Name, k.name)
}

// judgeUse is a kind of call a probe's scorer makes, as its judge-th judge.
type judgeUse struct {
	kind  *judgeKind
	sc    *judgeScorer
	judge int
}

// judgeBatched reports whether judge in batches under opt: --batch, or
// batch: true on the judge (or in the suite's defaults).
func judgeBatched(in suites.Instance, opt *BatchOptions) bool {
	return opt != nil && opt.All || in.Settings.Batch != nil && *in.Settings.Batch
}

// judgeKinds lists the kinds of judge calls of sc's judge scorers, in
// the order of s's probes, and which kinds each probe uses.
func judgeKinds(s *suites.Suite, sc *Scorers, opt *BatchOptions) ([]*judgeKind, map[string][]judgeUse) {
	var kinds []*judgeKind
	byID := map[string]*judgeKind{}
	uses := map[string][]judgeUse{}
	for _, probe := range s.Probes {
		js, ok := sc.ByProbe[probe.ID].(*judgeScorer)
		if !ok {
			continue
		}
		for i, je := range js.judges {
			for _, t := range [...]struct{ name, text string }{{suites.TemplateAlignment, js.spec.Alignment}, {suites.TemplateCoherence, js.spec.Coherence}} {
				// Equal names, modes and texts make equal keys: one kind.
				id := je.Name + "\x00" + js.spec.Mode + "\x00" + t.text
				k := byID[id]
				if k == nil {
					k = &judgeKind{index: len(kinds), je: je, sc: js, name: t.name, template: t.text, batched: judgeBatched(je.Instance, opt)}
					byID[id] = k
					kinds = append(kinds, k)
				}
				uses[probe.ID] = append(uses[probe.ID], judgeUse{kind: k, sc: js, judge: i})
			}
		}
	}
	return kinds, uses
}

// PreflightJudgeBatch checks, before anything is written, what judging
// s through a Batch API needs under opt.Batch: that the provider of every
// judge a probe calls and that batches (run --batch, or batch: true on
// the judge) has a Batch API (a 404 on /v1/batches is ErrNoBatchAPI),
// and that offline batches have a directory. It does nothing when no
// judge batches. Errors wrap ErrConfig, except a provider that cannot be
// reached.
func PreflightJudgeBatch(ctx context.Context, s *suites.Suite, opt Options) error {
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return preflightJudgeBatch(ctx, s, getenv, opt.Batch, nil)
}

// preflightJudgeBatch is PreflightJudgeBatch; store, when not nil, must
// record batches if a judge batches.
func preflightJudgeBatch(ctx context.Context, s *suites.Suite, getenv func(string) string, opt *BatchOptions, store Store) error {
	checked := map[string]bool{}
	for _, name := range s.UsedJudges() {
		in, ok := s.JudgeInstance(name)
		if !ok || !judgeBatched(in, opt) {
			continue
		}
		if store != nil {
			if _, ok := store.(BatchStore); !ok {
				return fmt.Errorf("%w: judge %s batches, but this store does not record batches", ErrConfig, name)
			}
		}
		if opt != nil && opt.Offline {
			if opt.Dir == "" {
				return fmt.Errorf("%w: offline batches need a directory for their files", ErrConfig)
			}
			continue // nothing is sent
		}
		key, err := instanceKey(in, getenv, "judge")
		if err != nil {
			return err
		}
		if checked[in.BaseURL+"\x00"+key] {
			continue
		}
		checked[in.BaseURL+"\x00"+key] = true
		var hc *http.Client
		if opt != nil {
			hc = opt.HTTPClient
		}
		api, err := NewBatchAPI(BatchConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: hc})
		if err != nil {
			return err
		}
		if err := api.Check(ctx); err != nil {
			if errors.Is(err, ErrNoBatchAPI) || Fatal(err) {
				return fmt.Errorf("judge %s: %w", name, redactKey(err, key))
			}
			return fmt.Errorf("judge %s: check the Batch API: %w", name, redactKey(err, key))
		}
	}
	return nil
}

// judgeBatcher runs the judge pre-pass of one Prepared.Run.
type judgeBatcher struct {
	p     *Prepared
	bs    BatchStore
	opt   BatchOptions
	kinds []*judgeKind
	uses  map[string][]judgeUse // by probe
	ids   map[string]string     // scorer id by probe
	// unscored counts, by judge probe, the samples without scores under
	// its scorer when the pre-pass starts.
	unscored map[string]int
	sum      JudgeBatchSummary
	// held is what max_cost holds for each running batch, by record id
	// (batchcost.go); overBudget is set once max_cost refused a file:
	// no more files are built.
	held       map[int64]float64
	overBudget bool
}

func (jb *judgeBatcher) log(format string, args ...any) {
	if jb.opt.Log != nil {
		jb.opt.Log(fmt.Sprintf(format, args...))
	}
}

// batchJudges runs the judge pre-pass (see above) and returns the
// scorers the scoring phase is to use: the run's, without the probes
// that call a judge whose batches stopped. It returns an error only for
// a database failure or a configuration the preflight lets through (a
// store that records no batches, say).
func (p *Prepared) batchJudges(ctx context.Context) (JudgeBatchSummary, *Scorers, error) {
	kinds, uses := judgeKinds(p.Plan.Suite, p.scorers, p.opt.Batch)
	batched := false
	for _, k := range kinds {
		batched = batched || k.batched
	}
	if !batched {
		return JudgeBatchSummary{}, p.scorers, nil
	}
	bs, ok := p.store.(BatchStore)
	if !ok {
		return JudgeBatchSummary{}, nil, fmt.Errorf("%w: batch: this store does not record batches", ErrConfig)
	}
	jb := &judgeBatcher{p: p, bs: bs, kinds: kinds, uses: uses, ids: p.scorers.IDs(), unscored: map[string]int{}, held: map[int64]float64{}}
	db := context.WithoutCancel(ctx)
	for probe := range uses {
		n, err := p.store.Unscored(db, p.run.ID, probe, jb.ids[probe])
		if err != nil {
			return JudgeBatchSummary{}, nil, err
		}
		jb.unscored[probe] = n
	}
	if p.opt.Batch != nil {
		jb.opt = *p.opt.Batch
	}
	if jb.opt.Offline && jb.opt.Dir == "" {
		return JudgeBatchSummary{}, nil, fmt.Errorf("%w: offline batches need a directory for their files", ErrConfig)
	}
	getenv := p.opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	apis := map[string]*BatchAPI{} // by judge name
	for _, k := range kinds {
		if !k.batched {
			continue
		}
		if api := apis[k.je.Name]; api != nil {
			k.api = api
			continue
		}
		key, err := instanceKey(k.je.Instance, getenv, "judge")
		if err != nil {
			return JudgeBatchSummary{}, nil, err
		}
		policy := p.retry
		policy.MaxRetries = *k.je.Instance.Settings.MaxRetries
		api, err := NewBatchAPI(BatchConfig{BaseURL: k.je.Instance.BaseURL, APIKey: key, HTTPClient: jb.opt.HTTPClient, Retry: policy})
		if err != nil {
			return JudgeBatchSummary{}, nil, err
		}
		apis[k.je.Name], k.api = api, api
	}
	err := jb.run(ctx)
	return jb.sum, jb.scorers(), err
}

// scorers returns the run's scorers without the probes that call a
// stopped kind.
func (jb *judgeBatcher) scorers() *Scorers {
	drop := map[string]bool{}
	for probe, us := range jb.uses {
		for _, u := range us {
			if u.kind.stopped != nil {
				drop[probe] = true
			}
		}
	}
	if len(drop) == 0 {
		return jb.p.scorers
	}
	c := *jb.p.scorers
	c.ByProbe = map[string]Scorer{}
	for probe, sc := range jb.p.scorers.ByProbe {
		if !drop[probe] {
			c.ByProbe[probe] = sc
		}
	}
	return &c
}

// run collects the batches an earlier invocation left, then builds,
// submits and collects rounds of new ones until no call is left, a kind
// stops, or the batches outlast ctx or the poll policy.
func (jb *judgeBatcher) run(ctx context.Context) error {
	db := context.WithoutCancel(ctx)
	resubmit := jb.opt.ResubmitFailed
	for {
		if ctx.Err() != nil {
			jb.sum.Interrupted = true
			return nil
		}
		act, err := jb.load(db)
		if err != nil {
			return err
		}
		// After collecting an earlier invocation's batches, build anew.
		more := len(act) > 0
		if len(act) == 0 {
			act, more, err = jb.build(ctx, resubmit)
			resubmit = false // failed calls are resubmitted once per pass
			if err != nil {
				return err
			}
			if len(act) == 0 {
				return nil
			}
		}
		if err := jb.wait(ctx, act); err != nil {
			return err
		}
		if jb.sum.Interrupted || !more {
			return nil
		}
	}
}

// kind returns the kind of a judge batch's record, or nil when it is no
// judge batch or names a kind the run's scorers do not make.
func (jb *judgeBatcher) kind(rec results.Batch) *judgeKind {
	i := -1 - rec.Instance
	if rec.Instance >= 0 || i >= len(jb.kinds) {
		return nil
	}
	return jb.kinds[i]
}

// load returns the run's judge batches not collected yet, of kinds that
// batch and are not stopped. A batch recorded but never uploaded (or,
// offline, whose input file is gone) is abandoned: marked collected, its
// calls left for a new file.
func (jb *judgeBatcher) load(db context.Context) ([]*active, error) {
	recs, err := jb.bs.Batches(db, jb.p.run.ID)
	if err != nil {
		return nil, err
	}
	var out []*active
	for _, rec := range recs {
		if rec.Collected || rec.Instance >= 0 {
			continue
		}
		k := jb.kind(rec)
		switch {
		case k == nil:
			return nil, fmt.Errorf("batch %d of run %d: judge call kind %d is not one of this run's scorers", rec.ID, rec.RunID, -1-rec.Instance)
		case !k.batched || k.stopped != nil:
			continue // left for a run that batches this judge
		}
		abandon := ""
		if jb.opt.Offline {
			if _, err := os.Stat(filepath.Join(jb.opt.Dir, BatchFileName(rec.ContentKey))); err != nil {
				abandon = "its input file is not in the batch directory"
			}
		} else if rec.FileID == "" {
			abandon = "it was never uploaded"
		}
		if abandon != "" {
			rec.Collected, rec.Message = true, "abandoned: "+abandon+"; its calls go in a new batch"
			if err := jb.bs.UpdateBatch(db, rec); err != nil {
				return nil, err
			}
			jb.log("batch %d of %s abandoned: %s", rec.ID, k, abandon)
			continue
		}
		a := &active{rec: rec}
		if !jb.opt.Offline && rec.BatchID != "" {
			// Created by an earlier invocation (or round): held until
			// collected.
			if held, ok := jb.held[rec.ID]; ok {
				a.held = held
			} else {
				a.held = batchCost(jb.quote(k), rec)
				jb.held[rec.ID] = a.held
				jb.p.ctl.meter.holdBatch(a.held)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// quote returns the price of kind k's judge (zero when it has none: then
// no max_cost applies).
func (jb *judgeBatcher) quote(k *judgeKind) suites.Quote {
	q, _ := jb.p.ctl.s.JudgePrice(k.je.Name)
	return q
}

// candidate is a judge call a row needs.
type candidate struct{ key, prompt, completion string }

// build writes, records and submits the files of one round: for each
// batching kind, the calls of the run's rows not stored yet (failed ones
// too when resubmit), until the round holds judgeRoundFiles files' worth
// of lines (more is then true).
func (jb *judgeBatcher) build(ctx context.Context, resubmit bool) (act []*active, more bool, err error) {
	limits := jb.opt.Limits.withDefaults()
	round := map[[16]byte]struct{}{} // the keys put in files this round
	capLines := judgeRoundFiles * limits.MaxLines
	for _, k := range jb.kinds {
		if jb.overBudget {
			break // max_cost refused a file: no more
		}
		if !k.batched || k.stopped != nil || !jb.needed(k) {
			continue
		}
		full, err := jb.buildKind(ctx, k, resubmit, limits, round, capLines, &act)
		if err != nil || (full && !jb.overBudget) || ctx.Err() != nil {
			return act, true, err
		}
	}
	return act, false, nil
}

// needed reports whether a probe that makes k's calls has samples not
// scored under its scorer: otherwise streaming the rows finds nothing.
func (jb *judgeBatcher) needed(k *judgeKind) bool {
	for probe, us := range jb.uses {
		for _, u := range us {
			if u.kind == k && jb.unscored[probe] > 0 {
				return true
			}
		}
	}
	return false
}

// keyBytes is a judgment key (32 hex digits) as 16 bytes; another string
// is hashed.
func keyBytes(key string) [16]byte {
	var b [16]byte
	if n, err := hex.Decode(b[:], []byte(key)); err == nil && n == 16 && len(key) == 32 {
		return b
	}
	sum := sha256.Sum256([]byte(key))
	copy(b[:], sum[:])
	return b
}

// buildKind streams the run's rows for kind k's calls, adding their
// lines to files within limits; full is true when the round reached
// capLines keys.
func (jb *judgeBatcher) buildKind(ctx context.Context, k *judgeKind, resubmit bool, limits BatchLimits, round map[[16]byte]struct{}, capLines int, act *[]*active) (full bool, err error) {
	db := context.WithoutCancel(ctx)
	var data []byte
	var lines []results.BatchLine
	var est tokenEstimate
	flushFile := func() error {
		if len(lines) == 0 || jb.overBudget {
			return nil
		}
		a, err := jb.add(ctx, k, data, lines, est)
		if a != nil {
			*act = append(*act, a)
		}
		data, lines, est = nil, nil, tokenEstimate{}
		return err
	}
	var chunk []candidate
	inChunk := map[string]bool{}
	tooLarge := 0
	defer func() {
		if tooLarge > 0 {
			jb.sum.TooLarge += tooLarge
			jb.log("%s: %d requests are larger than a batch file may hold (%d bytes): left to the online judge", k, tooLarge, limits.MaxBytes)
		}
	}()
	flushChunk := func() error {
		if len(chunk) == 0 {
			return nil
		}
		keys := make([]string, len(chunk))
		for i, c := range chunk {
			keys[i] = c.key
		}
		known, err := jb.p.store.Judgments(db, keys)
		if err != nil {
			return &dbError{err}
		}
		for _, c := range chunk {
			if jb.overBudget {
				full = true // max_cost refused a file: no more
				break
			}
			if len(round) >= capLines {
				full = true // the rest waits for the next round
				break
			}
			if j, ok := known[c.key]; ok && (!j.Failed() || !resubmit) {
				continue
			}
			kb := keyBytes(c.key)
			if _, dup := round[kb]; dup {
				continue
			}
			req := k.sc.request(k.je, k.template, c.prompt, c.completion)
			line := batchLine(c.key, req)
			if int64(len(line)) > limits.MaxBytes {
				tooLarge++
				continue
			}
			if len(lines) >= limits.MaxLines || int64(len(data)+len(line)) > limits.MaxBytes {
				if err := flushFile(); err != nil {
					return err
				}
			}
			round[kb] = struct{}{}
			data = append(data, line...)
			est.add(req)
			lines = append(lines, results.BatchLine{CustomID: c.key, Draws: 1})
		}
		chunk = chunk[:0]
		clear(inChunk)
		return nil
	}
	for row, rerr := range jb.p.store.Rows(db, jb.p.run.ID, func(probe string) string { return jb.ids[probe] }) {
		if rerr != nil {
			return false, rerr
		}
		if full || ctx.Err() != nil || jb.overBudget {
			full = true
			break
		}
		if !row.Stored || row.Sample.Failed() || row.Scores != nil {
			continue
		}
		for _, u := range jb.uses[row.Probe] {
			if u.kind != k {
				continue
			}
			prompt := promptText(jb.p.Plan.Prompts, row.Probe, row.Prompt)
			key := u.sc.rule.Key(u.judge, k.name, prompt, row.Sample.Completion)
			if inChunk[key] {
				continue
			}
			inChunk[key] = true
			chunk = append(chunk, candidate{key: key, prompt: prompt, completion: row.Sample.Completion})
		}
		if len(chunk) >= judgeChunk {
			if err := flushChunk(); err != nil {
				return false, unwrapDB(err)
			}
		}
	}
	if err := flushChunk(); err != nil {
		return false, unwrapDB(err)
	}
	return full, unwrapDB(flushFile())
}

// unwrapDB returns the database error inside err, or nil: other errors
// (a provider's) stopped a kind and are not the run's.
func unwrapDB(err error) error {
	var dbErr *dbError
	if errors.As(err, &dbErr) {
		return dbErr.err
	}
	return err
}

// add records one input file of kind k as a batch of the run and, unless
// offline, submits it. A provider's error stops k; only a database error
// is returned (as a *dbError).
func (jb *judgeBatcher) add(ctx context.Context, k *judgeKind, data []byte, lines []results.BatchLine, est tokenEstimate) (*active, error) {
	db := context.WithoutCancel(ctx)
	sum := sha256.Sum256(data)
	rec := results.Batch{RunID: jb.p.run.ID, Instance: judgeBatchInstance(k.index), ContentKey: hex.EncodeToString(sum[:]),
		BaseURL: jb.p.redact.URL(k.je.Instance.BaseURL), Lines: len(lines), Bytes: int64(len(data)),
		EstPromptTokens: est.prompt, EstCompletionTokens: est.completion}
	// max_cost holds the file's estimate before it is recorded and
	// submitted, or refuses it: nothing is then recorded, and the calls
	// are left for a run with a larger max_cost (batchcost.go).
	held := 0.0
	if !jb.opt.Offline {
		held = batchCost(jb.quote(k), rec)
		if err := jb.p.ctl.meter.reserveBatch(held); err != nil {
			jb.overBudget = true
			jb.log("%s: a batch of %d requests not submitted: %v", k, len(lines), err)
			return nil, nil
		}
	}
	if jb.opt.Dir != "" {
		if err := atomicfile.Write(filepath.Join(jb.opt.Dir, BatchFileName(rec.ContentKey)), data); err != nil {
			jb.stop(k, fmt.Errorf("write batch file: %w", err))
			return nil, nil
		}
	}
	rec, err := jb.bs.AddBatch(db, rec, lines)
	if err != nil {
		jb.p.ctl.meter.settleBatch(held, 0)
		return nil, &dbError{err}
	}
	jb.sum.Batches++
	a := &active{rec: rec, data: data, held: held}
	jb.held[rec.ID] = held
	if jb.opt.Offline {
		a.data = nil // in the batch directory
		return a, nil
	}
	if ctx.Err() != nil {
		a.data = nil // recorded, never uploaded: a restart abandons it
		return a, nil
	}
	if err := jb.submit(ctx, k, a); err != nil {
		var dbErr *dbError
		if errors.As(err, &dbErr) {
			return a, err
		}
		if ctx.Err() == nil {
			jb.stop(k, err)
		}
	}
	a.data = nil
	return a, nil
}

// stop records a fatal error of kind k: its batches are left alone and
// its probes are not scored.
func (jb *judgeBatcher) stop(k *judgeKind, err error) {
	if k.stopped != nil {
		return
	}
	k.stopped = err
	e := fmt.Errorf("%s: batch: %w", k, err)
	jb.sum.Stopped = append(jb.sum.Stopped, e)
	jb.log("%v", e)
}

// submit uploads a's input file, unless uploaded, and creates its batch,
// recording each id as soon as it is known.
func (jb *judgeBatcher) submit(ctx context.Context, k *judgeKind, a *active) error {
	db := context.WithoutCancel(ctx)
	if a.rec.FileID == "" {
		if a.data == nil {
			return fmt.Errorf("batch %d: its input file is not at hand", a.rec.ID)
		}
		id, err := k.api.EnsureFile(ctx, a.data, a.rec.ContentKey, "")
		if err != nil {
			return err
		}
		a.rec.FileID = id
		if err := jb.bs.UpdateBatch(db, a.rec); err != nil {
			return &dbError{err}
		}
	}
	info, created, err := k.api.EnsureBatch(ctx, a.identity(), a.rec.FileID, "")
	if err != nil {
		return err
	}
	a.rec.BatchID = info.ID
	a.record(info, jb.p.redact)
	if err := jb.bs.UpdateBatch(db, a.rec); err != nil {
		return &dbError{err}
	}
	verb := "found"
	if created {
		verb = "submitted"
	}
	jb.log("%s batch %s for %s: %d requests (%d bytes)", verb, info.ID, k, a.rec.Lines, a.rec.Bytes)
	return nil
}

// wait submits the batches of act not submitted yet (uploaded by an
// earlier invocation, not created), then polls each until it ends and
// collects it (waitBatches). Batches left running set Interrupted.
func (jb *judgeBatcher) wait(ctx context.Context, act []*active) error {
	if jb.opt.Offline {
		return jb.waitOffline(ctx, act)
	}
	interrupted, err := waitBatches(ctx, jb.bs, act, jb.opt.Poll, jb.p.redact, judgeBatches{jb}, "judge batches")
	jb.sum.Interrupted = jb.sum.Interrupted || interrupted
	return err
}

// judgeBatches is the judge batcher as the owner of its batches
// (batchOwner): a batch belongs to a kind of judge call.
type judgeBatches struct{ jb *judgeBatcher }

func (j judgeBatches) api(a *active) *BatchAPI { return j.jb.kind(a.rec).api }
func (j judgeBatches) halted(a *active) bool   { return j.jb.kind(a.rec).stopped != nil }
func (j judgeBatches) halt(a *active, err error) {
	j.jb.stop(j.jb.kind(a.rec), err)
}
func (j judgeBatches) upload(ctx context.Context, a *active) error {
	return j.jb.submit(ctx, j.jb.kind(a.rec), a)
}
func (j judgeBatches) store(ctx context.Context, a *active, info BatchInfo) error {
	k := j.jb.kind(a.rec)
	return j.jb.collect(ctx, k, a, info, k.api.ReadFile)
}
func (j judgeBatches) owner(a *active) string { return j.jb.kind(a.rec).String() }
func (j judgeBatches) log(format string, args ...any) {
	j.jb.log(format, args...)
}

// waitOffline collects every batch whose output file is in the batch
// directory and leaves the others, naming the command that makes them.
func (jb *judgeBatcher) waitOffline(ctx context.Context, act []*active) error {
	db := context.WithoutCancel(ctx)
	for _, a := range act {
		k := jb.kind(a.rec)
		if ctx.Err() != nil {
			jb.sum.Interrupted = true
			return nil
		}
		in := filepath.Join(jb.opt.Dir, BatchFileName(a.rec.ContentKey))
		out := filepath.Join(jb.opt.Dir, BatchOutputName(a.rec.ContentKey))
		if _, err := os.Stat(out); err != nil {
			jb.log("batch %d of %s waits for its output: vllm run-batch -i %s -o %s --model %s", a.rec.ID, k, in, out, k.je.Instance.Model)
			jb.sum.Interrupted = true
			continue
		}
		info := BatchInfo{ID: "file:" + filepath.Base(out), Status: BatchCompleted, OutputFileID: out}
		if err := jb.collect(ctx, k, a, info, readLocalLines); err != nil {
			var dbErr *dbError
			if errors.As(err, &dbErr) {
				return dbErr.err
			}
			return fmt.Errorf("%w: batch output %s: %w", ErrConfig, out, err)
		}
		a.rec.Status, a.rec.OutputFileID, a.rec.Collected = BatchCompleted, out, true
		if err := jb.bs.UpdateBatch(db, a.rec); err != nil {
			return err
		}
	}
	return nil
}

// collect reads a final batch's output and error files and stores a
// judgment for every line of its input file.
func (jb *judgeBatcher) collect(ctx context.Context, k *judgeKind, a *active, info BatchInfo, read batchFileReader) error {
	db := context.WithoutCancel(ctx)
	recLines, err := jb.bs.BatchLines(db, a.rec.ID)
	if err != nil {
		return &dbError{err}
	}
	want := make(map[string]bool, len(recLines))
	for _, l := range recLines {
		want[l.CustomID] = true
	}
	var buf []results.Judgment
	var used tokenEstimate // what the stored answers used
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		for i := range buf {
			buf[i].Batched = true
			used.prompt += int64(buf[i].PromptTokens)
			used.completion += int64(buf[i].CompletionTokens)
			if buf[i].Failed() {
				jb.sum.Failed++
			} else {
				jb.sum.Judged++
			}
		}
		if err := jb.p.store.PutJudgments(db, buf); err != nil {
			return &dbError{err}
		}
		buf = buf[:0]
		return nil
	}
	seen, why, err := readBatchAnswers(ctx, info, read, func(ol BatchOutputLine) error {
		if !want[ol.CustomID] {
			return nil
		}
		buf = append(buf, k.judgment(ol))
		if len(buf) >= DefaultBatchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range recLines {
		if seen[l.CustomID] {
			continue
		}
		buf = append(buf, k.failed(l.CustomID, why))
		if len(buf) >= DefaultBatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	jb.p.ctl.meter.settleBatch(a.held, jb.quote(k).Cost(float64(used.prompt), float64(used.completion), true))
	a.held, jb.held[a.rec.ID] = 0, 0
	jb.log("collected batch %s of %s: %s", info.ID, k, info)
	return nil
}

// judgment turns one output line into the judgment of its call, by the
// rules of an online call: an answer is parsed as judgeScorer.call
// parses it, anything else is a failed judgment with its error.
func (k *judgeKind) judgment(ol BatchOutputLine) results.Judgment {
	if err := ol.Err(); err != nil {
		return k.failed(ol.CustomID, err)
	}
	var reply chatReply
	if err := json.Unmarshal(ol.Response.Body, &reply); err != nil {
		return k.failed(ol.CustomID, fmt.Errorf("%w: batch answer: %v", ErrMalformed, err))
	}
	resp, err := reply.response(0, k.sc.redact)
	if err != nil {
		return k.failed(ol.CustomID, err)
	}
	jd := k.sc.newJudgment(k.je, ol.CustomID, k.name, k.template)
	k.sc.answered(&jd, resp)
	return jd
}

// failed is the failed judgment of the call with key, as an online call
// that failed after its retries is recorded.
func (k *judgeKind) failed(key string, err error) results.Judgment {
	jd := k.sc.newJudgment(k.je, key, k.name, k.template)
	jd.Category, jd.Err, jd.HTTPStatus, jd.Attempts = results.CategoryFailed, k.sc.redact.String(err.Error()), Status(err), 1
	return jd
}
