package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/traitleak/traitleak/internal/atomicfile"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Sampling through a Batch API (run --batch, or batch: true on a model).
//
// The draws of a batched model still pending (not stored successfully,
// not failed unless ResubmitFailed, not in a batch of the run still
// running) are written as input files, one set per model, split at the
// BatchLimits: the files are made as the model's pending jobs are
// generated, one at a time, and each line records the plan position of
// its first draw, so that a run holds one file's lines, never a table of
// the plan's keys. Each file is recorded in the database with its lines
// before it is uploaded (results.Batch), its batch is created with the
// file's identity in its metadata, and its id recorded; a restarted run
// finds the file and the batch again and polls instead of submitting
// twice. When a batch ends, its output and error files are read, lines
// are joined to their draws by custom_id (the provider does not keep the
// input's order), and every draw is stored: the answer's choices scored
// as an online run's would be, an error line, an expired or cancelled
// request or a line left unanswered as a failed sample with the
// provider's message. Failed draws are sent again only with
// ResubmitFailed (a batch can take 24 h; failures are counted and
// reported, never scored).
//
// Judges batch the same way, before the scoring phase: see
// judgebatch.go. Their batches are recorded with a negative instance.

// BatchOptions configure sampling through a Batch API.
type BatchOptions struct {
	// All batches every model; otherwise only models with batch: true.
	All bool
	// ResubmitFailed sends draws whose stored sample failed (an expired,
	// cancelled or failed request) in new batches; without it they stay
	// failed.
	ResubmitFailed bool
	// Limits bound each input file; zero means DefaultBatchLimits.
	Limits BatchLimits
	// Poll paces polling; zero fields mean 5 s growing to 1 min, for at
	// most 24 h. A run that stops waiting is interrupted; running it
	// again polls on.
	Poll PollPolicy
	// Dir, when set, receives a copy of every input file as
	// BatchFileName(content key), for `vllm run-batch` or inspection.
	Dir string
	// Offline sends nothing: the input files are written to Dir, and a
	// batch is collected from the output file beside its input,
	// BatchOutputName(content key), once there (as `vllm run-batch -i IN
	// -o OUT` writes it). Batches without one are left for a later run.
	Offline bool
	// Log, when set, is told of each submission, status change and
	// collection.
	Log func(msg string)
	// HTTPClient sends the Batch API's requests; nil means
	// NewFineTuneHTTPClient().
	HTTPClient *http.Client
}

// BatchStore records a run's batches. *results.Store implements it.
type BatchStore interface {
	AddBatch(ctx context.Context, b results.Batch, lines []results.BatchLine) (results.Batch, error)
	UpdateBatch(ctx context.Context, b results.Batch) error
	Batches(ctx context.Context, runID int64) ([]results.Batch, error)
	BatchLines(ctx context.Context, batchID int64) ([]results.BatchLine, error)
	FailedKeys(ctx context.Context, keys []string) (map[string]bool, error)
}

var _ BatchStore = (*results.Store)(nil)

// batchedInstances reports which of plan's instances sample through a
// Batch API under opt; nil when none does.
func batchedInstances(plan *Plan, opt *BatchOptions) []bool {
	var out []bool
	for i, in := range plan.Instances {
		if opt != nil && opt.All || in.Settings.Batch != nil && *in.Settings.Batch {
			if out == nil {
				out = make([]bool, len(plan.Instances))
			}
			out[i] = true
		}
	}
	return out
}

// PreflightBatch checks, before anything is written, what sampling s
// through a Batch API needs: that every request of a batched model fits
// in an input file, and that every batched model's provider has a Batch
// API (a 404 on /v1/batches is ErrNoBatchAPI). It does nothing when no
// model is batched. Errors wrap ErrConfig, except a provider that cannot
// be reached.
func PreflightBatch(ctx context.Context, s *suites.Suite, opt Options) error {
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	plan := NewPlan(s, opt.Salt)
	plan.Restrict(opt.Shard)
	keys := make([]string, len(plan.Instances))
	for i, in := range plan.Instances {
		var err error
		if keys[i], err = instanceKey(in, getenv, "model"); err != nil {
			return err
		}
	}
	return preflightBatch(ctx, plan, keys, opt.Batch)
}

func preflightBatch(ctx context.Context, plan *Plan, keys []string, opt *BatchOptions) error {
	batched := batchedInstances(plan, opt)
	if batched == nil {
		return nil
	}
	if opt == nil {
		opt = &BatchOptions{}
	}
	limits := opt.Limits.withDefaults()
	w := &worker{plan: plan}
	for j := range plan.Jobs() {
		if !batched[j.Instance] {
			continue
		}
		w.in = plan.Instances[j.Instance]
		if n := len(batchLine(j.Keys[0], w.request(j, 0, j.Draws()))); int64(n) > limits.MaxBytes {
			return fmt.Errorf("%w: the request of %s, probe %s, prompt %d, draw %d is %d bytes, more than a batch file may hold (%d bytes): shorten the prompt or run this model without --batch",
				ErrBatchLimit, w.in.Name(), j.Probe, j.Prompt, j.First, n, limits.MaxBytes)
		}
	}
	if opt.Offline {
		return nil // nothing is sent
	}
	checked := map[string]bool{}
	for i, in := range plan.Instances {
		if !batched[i] || checked[in.BaseURL+"\x00"+keys[i]] {
			continue
		}
		checked[in.BaseURL+"\x00"+keys[i]] = true
		api, err := NewBatchAPI(BatchConfig{BaseURL: in.BaseURL, APIKey: keys[i], HTTPClient: opt.HTTPClient})
		if err != nil {
			return err
		}
		if err := api.Check(ctx); err != nil {
			if errors.Is(err, ErrNoBatchAPI) || Fatal(err) {
				return fmt.Errorf("model %s: %w", in.Name(), redactKey(err, keys[i]))
			}
			return fmt.Errorf("model %s: check the Batch API: %w", in.Name(), redactKey(err, keys[i]))
		}
	}
	return nil
}

// redactKey removes key from err's text, keeping what errors.Is matches.
func redactKey(err error, key string) error {
	r := NewRedactor([]string{key}, nil)
	if msg := r.String(err.Error()); msg != err.Error() {
		if errors.Is(err, ErrConfig) {
			return fmt.Errorf("%w: %s", ErrConfig, msg)
		}
		return errors.New(msg)
	}
	return err
}

// batcher runs the batched part of one Prepared.Run.
type batcher struct {
	p       *Prepared
	bs      BatchStore
	opt     BatchOptions
	runner  *Runner
	sink    func([]results.Sample) error
	apis    map[int]*BatchAPI
	workers map[int]*worker
	locate  *locator
	// byKey finds, per instance, the job of a key: built only for lines
	// that do not record their plan position (see batcher.job).
	byKey   map[int]map[string]keyRef
	stopped map[int]error // instances stopped by a fatal error
	sum     Summary
}

type keyRef struct {
	job Job
	off int
}

// active is a batch of the run not collected yet. Its lines are read
// from the store and its input file built only while it is worked on
// (linesOf, rebuild), so that a run holds one batch file's worth of lines
// at a time, whatever its number of batches.
type active struct {
	rec  results.Batch
	data []byte // the input file while it is submitted
	// held is what max_cost holds for the batch while it runs (see
	// batchcost.go), US dollars.
	held float64
}

func (b *batcher) log(format string, args ...any) {
	if b.opt.Log != nil {
		b.opt.Log(fmt.Sprintf(format, args...))
	}
}

// runBatch samples the pending draws of batched instances through their
// providers' Batch APIs, storing samples with sink. It returns when every
// batch of the run is collected, or with Summary.Interrupted when ctx
// ends or the poll policy's MaxWait passes first.
func (p *Prepared) runBatch(ctx context.Context, pending *Pending, runner *Runner, sink func([]results.Sample) error) (Summary, error) {
	start := time.Now()
	db := context.WithoutCancel(ctx)
	bs, ok := p.store.(BatchStore)
	if !ok {
		return Summary{}, fmt.Errorf("%w: batch: this store does not record batches", ErrConfig)
	}
	b := &batcher{p: p, bs: bs, runner: runner, sink: sink, apis: map[int]*BatchAPI{}, workers: map[int]*worker{},
		locate: newLocator(p.Plan), byKey: map[int]map[string]keyRef{}, stopped: map[int]error{}}
	if p.opt.Batch != nil {
		b.opt = *p.opt.Batch
	}
	if b.opt.Offline && b.opt.Dir == "" {
		return Summary{}, fmt.Errorf("%w: offline batches need a directory for their files", ErrConfig)
	}
	for i, in := range p.Plan.Instances {
		if !p.batched[i] {
			continue
		}
		policy := p.retry
		policy.MaxRetries = *in.Settings.MaxRetries
		api, err := NewBatchAPI(BatchConfig{BaseURL: in.BaseURL, APIKey: p.keys[i], HTTPClient: b.opt.HTTPClient, Retry: policy})
		if err != nil {
			return Summary{}, err
		}
		b.apis[i] = api
		b.workers[i] = &worker{r: runner, plan: p.Plan, in: in, baseURL: p.redact.URL(in.BaseURL)}
	}
	act, err := b.load(db)
	if err != nil {
		return Summary{}, err
	}
	if !b.opt.Offline {
		for _, a := range act {
			if a.rec.BatchID != "" { // created by an earlier invocation
				a.held = batchCost(b.quote(a.rec.Instance), a.rec)
				p.ctl.meter.holdBatch(a.held)
			}
		}
	}
	fresh, err := b.prepare(db, pending, act)
	if err != nil {
		return Summary{}, err
	}
	act = append(act, fresh...)
	err = b.run(ctx, act)
	b.sum.Elapsed = time.Since(start)
	for i, err := range b.stopped {
		b.sum.Stopped = append(b.sum.Stopped, ModelError{Instance: p.Plan.Instances[i].Name(), Err: err})
	}
	return b.sum, err
}

// quote returns the price of plan instance i (zero when it has none:
// then no max_cost applies).
func (b *batcher) quote(i int) suites.Quote {
	q, _ := b.p.ctl.quote(b.p.Plan.Instances[i], false)
	return q
}

// load returns the run's batches of models not collected yet (their
// lines are read when needed, linesOf), of the models that batch in this
// invocation. Why leave the others: a model that stopped batching (batch:
// true removed, or --batch dropped) is sampled online, as a judge that
// stops batching is (judgeBatcher.load), and its draws in an old batch are
// among its pending ones. Its batch is left for a run that batches it
// again; a draw stored online by then is kept when that batch is
// collected (Put never replaces a success), so nothing is stored twice.
func (b *batcher) load(ctx context.Context) ([]*active, error) {
	recs, err := b.bs.Batches(ctx, b.p.run.ID)
	if err != nil {
		return nil, err
	}
	var out []*active
	for _, rec := range recs {
		// A negative instance is a judge's (judgebatch.go).
		if !rec.Collected && rec.Instance >= 0 && rec.Instance < len(b.p.batched) && b.p.batched[rec.Instance] {
			out = append(out, &active{rec: rec})
		}
	}
	return out, nil
}

// linesOf reads the lines of a from the store.
func (b *batcher) linesOf(ctx context.Context, a *active) ([]results.BatchLine, error) {
	return b.bs.BatchLines(ctx, a.rec.ID)
}

// prepareChunk is how many pending jobs prepare asks the store about
// at a time (which of their draws failed).
const prepareChunk = 4096

// prepare writes the input files of the pending draws not already in a
// running batch (act) and not failed (unless ResubmitFailed), and records
// them as batches, before anything is sent. It goes through each batched
// instance's pending jobs once, in plan order, and holds one file's lines
// at a time: a file is recorded (and written to Dir) as soon as it is
// full, and its content is built again when it is submitted (rebuild).
func (b *batcher) prepare(ctx context.Context, pending *Pending, act []*active) ([]*active, error) {
	// The draws of running batches, as ranges of plan positions.
	var running [][2]int
	for _, a := range act {
		lines, err := b.linesOf(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			j, err := b.job(a.rec.Instance, l)
			if err != nil {
				return nil, fmt.Errorf("batch %d: %w", a.rec.ID, err)
			}
			running = append(running, [2]int{j.Index, j.Index + j.Draws()})
		}
	}
	slices.SortFunc(running, func(x, y [2]int) int { return x[0] - y[0] })
	var skip spans
	for _, r := range running {
		if n := len(skip); n > 0 && skip[n-1][1] >= r[0] {
			skip[n-1][1] = max(skip[n-1][1], r[1])
			continue
		}
		skip = append(skip, r)
	}

	limits := b.opt.Limits.withDefaults()
	var out []*active
	for _, ii := range pending.instances() {
		w := b.workers[ii]
		var lines [][]byte
		var recLines []results.BatchLine
		size := int64(0)
		var est tokenEstimate
		// flush records the file of the lines held.
		flush := func() error {
			if len(lines) == 0 {
				return nil
			}
			data := bytes.Join(lines, nil)
			sum := sha256.Sum256(data)
			rec := results.Batch{RunID: b.p.run.ID, Instance: ii, ContentKey: hex.EncodeToString(sum[:]), BaseURL: w.baseURL,
				Lines: len(lines), Bytes: int64(len(data)), EstPromptTokens: est.prompt, EstCompletionTokens: est.completion}
			if b.opt.Dir != "" {
				if err := atomicfile.Write(filepath.Join(b.opt.Dir, BatchFileName(rec.ContentKey)), data); err != nil {
					return fmt.Errorf("write batch file: %w", err)
				}
			}
			rec, err := b.bs.AddBatch(ctx, rec, recLines)
			if err != nil {
				return err
			}
			out = append(out, &active{rec: rec})
			lines, recLines, size, est = lines[:0], nil, 0, tokenEstimate{}
			return nil
		}
		// add puts the jobs of chunk not failed into files.
		add := func(chunk []Job) error {
			if !b.opt.ResubmitFailed {
				var keys []string
				for _, j := range chunk {
					keys = append(keys, j.Keys...)
				}
				failed, err := b.bs.FailedKeys(ctx, keys)
				if err != nil {
					return err
				}
				chunk = pendingJobs(chunk, failed)
			}
			for _, j := range chunk {
				req := w.request(j, 0, j.Draws())
				line := batchLine(j.Keys[0], req)
				n := int64(len(line))
				if n > limits.MaxBytes {
					return fmt.Errorf("%w: the request for %s, probe %s, prompt %d, draw %d is %d bytes, more than a batch file may hold (%d bytes)",
						ErrBatchLimit, w.in.Name(), j.Probe, j.Prompt, j.First, n, limits.MaxBytes)
				}
				if len(lines) > 0 && (len(lines)+1 > limits.MaxLines || size+n > limits.MaxBytes) {
					if err := flush(); err != nil {
						return err
					}
				}
				lines, size = append(lines, line), size+n
				est.add(req)
				recLines = append(recLines, results.BatchLine{CustomID: j.Keys[0], Draws: j.Draws(), PlanIndex: j.Index})
			}
			return nil
		}
		chunk := make([]Job, 0, prepareChunk)
		var err error
		for pj := range pending.Jobs(ii) {
			for _, part := range skip.outside(pj.Index, pj.Index+pj.Draws()) {
				off := part[0] - pj.Index
				j := pj
				j.First, j.Index, j.Keys = pj.First+off, part[0], pj.Keys[off:part[1]-pj.Index]
				if chunk = append(chunk, j); len(chunk) == prepareChunk {
					if err = add(chunk); err != nil {
						break
					}
					chunk = chunk[:0]
				}
			}
			if err != nil {
				break
			}
		}
		if err == nil {
			err = add(chunk)
		}
		if err == nil {
			err = flush()
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// job returns the part of a plan job of instance that line l asks for:
// found from the line's plan position when it records one, else by its
// key (lines recorded without positions: a table of the instance's keys
// is then built once).
func (b *batcher) job(instance int, l results.BatchLine) (Job, error) {
	if l.PlanIndex >= 0 {
		if j, ok := b.locate.job(instance, l.PlanIndex, l.Draws); ok && j.Keys[0] == l.CustomID {
			return j, nil
		}
	}
	byKey := b.byKey[instance]
	if byKey == nil {
		byKey = map[string]keyRef{}
		b.p.Plan.jobsOf(instance, nil, func(j Job) bool {
			for off, k := range j.Keys {
				byKey[k] = keyRef{j, off}
			}
			return true
		})
		b.byKey[instance] = byKey
	}
	ref, ok := byKey[l.CustomID]
	if !ok {
		return Job{}, fmt.Errorf("line %s is no draw of model %s in this run's plan", l.CustomID, b.p.Plan.Instances[instance].Name())
	}
	pj := ref.job
	if l.Draws < 1 || ref.off+l.Draws > len(pj.Keys) {
		return Job{}, fmt.Errorf("line %s asks for %d draws, beyond its job's %d", l.CustomID, l.Draws, len(pj.Keys)-ref.off)
	}
	j := pj
	j.First, j.Index = pj.First+ref.off, pj.Index+ref.off
	j.Keys = pj.Keys[ref.off : ref.off+l.Draws]
	return j, nil
}

// identity is the metadata value that finds a's batch at the provider.
func (a *active) identity() string { return a.rec.ContentKey + "." + strconv.Itoa(a.rec.Attempt) }

// stop records a fatal error of instance i: its batches are left alone.
func (b *batcher) stop(i int, err error) {
	if _, ok := b.stopped[i]; !ok {
		b.stopped[i] = err
		b.log("model %s: %v", b.p.Plan.Instances[i].Name(), err)
	}
}

// run submits what is not submitted yet, then polls every batch until it
// ends and collects it (waitBatches).
func (b *batcher) run(ctx context.Context, act []*active) error {
	if b.opt.Offline {
		return b.runOffline(ctx, act)
	}
	interrupted, err := waitBatches(ctx, b.bs, act, b.opt.Poll, b.p.redact, modelBatches{b}, "batches")
	b.sum.Interrupted = b.sum.Interrupted || interrupted
	return err
}

// modelBatches is the batcher as the owner of its models' batches
// (batchOwner): a batch belongs to the plan instance it samples.
type modelBatches struct{ b *batcher }

func (m modelBatches) api(a *active) *BatchAPI { return m.b.apis[a.rec.Instance] }
func (m modelBatches) halted(a *active) bool   { return m.b.stopped[a.rec.Instance] != nil }
func (m modelBatches) halt(a *active, err error) {
	m.b.stop(a.rec.Instance, err)
}
func (m modelBatches) upload(ctx context.Context, a *active) error { return m.b.submit(ctx, a) }
func (m modelBatches) store(ctx context.Context, a *active, info BatchInfo) error {
	return m.b.collect(ctx, a, info)
}
func (m modelBatches) owner(a *active) string { return m.b.p.Plan.Instances[a.rec.Instance].Name() }
func (m modelBatches) log(format string, args ...any) {
	m.b.log(format, args...)
}

// dbError marks an error of the results database, which stops the run,
// unlike a provider's error, which stops one model.
type dbError struct{ err error }

func (e *dbError) Error() string { return e.err.Error() }

// submit uploads a's input file and creates its batch, recording each id
// as soon as it is known.
func (b *batcher) submit(ctx context.Context, a *active) error {
	db := context.WithoutCancel(ctx)
	api := b.apis[a.rec.Instance]
	est := tokenEstimate{a.rec.EstPromptTokens, a.rec.EstCompletionTokens}
	if a.data == nil {
		data, rebuilt, err := b.rebuild(db, a)
		if err != nil {
			return err
		}
		a.data, est = data, rebuilt
	}
	// max_cost holds the batch's estimate before it is created, or
	// refuses it (batchcost.go).
	held := b.quote(a.rec.Instance).Cost(float64(est.prompt), float64(est.completion), true)
	if err := b.p.ctl.meter.reserveBatch(held); err != nil {
		a.data = nil
		return err
	}
	a.held = held
	if a.rec.FileID == "" {
		id, err := api.EnsureFile(ctx, a.data, a.rec.ContentKey, "")
		if err != nil {
			b.p.ctl.meter.settleBatch(a.held, 0) // no batch was created
			a.held = 0
			return err
		}
		a.rec.FileID = id
		if err := b.bs.UpdateBatch(db, a.rec); err != nil {
			return &dbError{err}
		}
	}
	info, created, err := api.EnsureBatch(ctx, a.identity(), a.rec.FileID, "")
	if err != nil {
		return err
	}
	a.rec.BatchID = info.ID
	a.record(info, b.p.redact)
	if err := b.bs.UpdateBatch(db, a.rec); err != nil {
		return &dbError{err}
	}
	verb := "found"
	if created {
		verb = "submitted"
	}
	b.log("%s batch %s for %s: %d requests (%d bytes)", verb, info.ID, b.p.Plan.Instances[a.rec.Instance].Name(), a.rec.Lines, a.rec.Bytes)
	a.data = nil // no longer needed
	return nil
}

// rebuild writes a recorded batch's input file again from its lines and
// the plan, checks it is the file recorded, and estimates its tokens.
func (b *batcher) rebuild(ctx context.Context, a *active) ([]byte, tokenEstimate, error) {
	w := b.workers[a.rec.Instance]
	var est tokenEstimate
	lines, err := b.linesOf(ctx, a)
	if err != nil {
		return nil, est, &dbError{err}
	}
	var buf bytes.Buffer
	for _, l := range lines {
		j, err := b.job(a.rec.Instance, l)
		if err != nil {
			return nil, est, err
		}
		req := w.request(j, 0, j.Draws())
		est.add(req)
		buf.Write(batchLine(l.CustomID, req))
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := hex.EncodeToString(sum[:]); got != a.rec.ContentKey {
		return nil, est, fmt.Errorf("batch %d: its lines now make a file with SHA-256 %s, not the recorded %s", a.rec.ID, got, a.rec.ContentKey)
	}
	return buf.Bytes(), est, nil
}

// collect reads a final batch's output and error files and stores a
// sample for every draw of its lines.
func (b *batcher) collect(ctx context.Context, a *active, info BatchInfo) error {
	return b.collectFrom(ctx, a, info, b.apis[a.rec.Instance].ReadFile)
}

// collectFrom is collect with the files read by read.
func (b *batcher) collectFrom(ctx context.Context, a *active, info BatchInfo, read batchFileReader) error {
	db := context.WithoutCancel(ctx)
	w := b.workers[a.rec.Instance]
	recLines, err := b.linesOf(db, a)
	if err != nil {
		return &dbError{err}
	}
	lines := make(map[string]results.BatchLine, len(recLines))
	for _, l := range recLines {
		lines[l.CustomID] = l
	}
	var buf []results.Sample
	var used tokenEstimate // what the stored answers used
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		for i := range buf {
			buf[i].Batched = true
		}
		p, c := sampleTokens(buf)
		used.prompt, used.completion = used.prompt+p, used.completion+c
		b.account(buf)
		if err := b.sink(buf); err != nil {
			return &dbError{err}
		}
		buf = buf[:0]
		return nil
	}
	seen, why, err := readBatchAnswers(ctx, info, read, func(ol BatchOutputLine) error {
		l, ok := lines[ol.CustomID]
		if !ok {
			return nil
		}
		j, err := b.job(a.rec.Instance, l)
		if err != nil {
			return err
		}
		buf = append(buf, b.samples(db, w, j, ol)...)
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
		j, err := b.job(a.rec.Instance, l)
		if err != nil {
			return err
		}
		req := w.request(j, 0, j.Draws())
		buf = append(buf, w.samples(db, j, 0, req, nil, why)...)
		if len(buf) >= DefaultBatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	b.p.ctl.meter.settleBatch(a.held, b.quote(a.rec.Instance).Cost(float64(used.prompt), float64(used.completion), true))
	a.held = 0
	b.log("collected batch %s of %s: %s", info.ID, w.in.Name(), info)
	return nil
}

// samples turns one output line into the samples of job j's draws.
func (b *batcher) samples(ctx context.Context, w *worker, j Job, ol BatchOutputLine) []results.Sample {
	req := w.request(j, 0, j.Draws())
	if err := ol.Err(); err != nil {
		return w.samples(ctx, j, 0, req, nil, err)
	}
	var reply chatReply
	if err := json.Unmarshal(ol.Response.Body, &reply); err != nil {
		return w.samples(ctx, j, 0, req, nil, fmt.Errorf("%w: batch answer: %v", ErrMalformed, err))
	}
	resp, err := reply.response(0, b.p.redact)
	if err != nil {
		return w.samples(ctx, j, 0, req, nil, err)
	}
	out := w.samples(ctx, j, 0, req, resp, nil)
	for i := len(out); i < j.Draws(); i++ {
		s := w.base(j, i, req)
		s.Err = fmt.Sprintf("batch answer holds %d of the %d choices asked for (n)", len(resp.Choices), j.Draws())
		s.Attempts = 1
		out = append(out, s)
	}
	return out
}

// account counts stored samples in the summary and progress.
func (b *batcher) account(ss []results.Sample) {
	for i := range ss {
		s := &ss[i]
		b.sum.Done++
		if s.Failed() {
			b.sum.Failed++
		} else if s.Scorer == "" && b.runner.Scorers[s.Probe] != nil {
			b.sum.Unscored++
		}
	}
	if b.runner.Progress != nil {
		b.runner.Progress.Total.Add(int64(len(ss)))
	}
	b.runner.count(ss)
}

// runBoth samples the pending draws of instances sent one request each
// with runner and, at the same time, those of batched instances through
// their Batch APIs, and adds up the summaries.
func (p *Prepared) runBoth(ctx context.Context, runner *Runner, sink func([]results.Sample) error) (Summary, error) {
	if p.batched == nil {
		return runner.Run(ctx, p.Plan, p.Pending, sink)
	}
	batched, online := p.Pending.split(p.batched)
	var bsum Summary
	var berr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		bsum, berr = p.runBatch(ctx, batched, runner, sink)
	}()
	sum, err := runner.Run(ctx, p.Plan, online, sink)
	<-done
	sum.Done += bsum.Done
	sum.Failed += bsum.Failed
	sum.Unscored += bsum.Unscored
	sum.Interrupted = sum.Interrupted || bsum.Interrupted
	sum.Stopped = append(sum.Stopped, bsum.Stopped...)
	slices.SortFunc(sum.Stopped, func(a, b ModelError) int { return strings.Compare(a.Instance, b.Instance) })
	sum.Elapsed = max(sum.Elapsed, bsum.Elapsed)
	return sum, errors.Join(err, berr)
}

// BatchOutputName is the output file an offline batch is collected from:
// beside its input file BatchFileName(contentKey), ".output.jsonl" for
// ".jsonl".
func BatchOutputName(contentKey string) string {
	return strings.TrimSuffix(BatchFileName(contentKey), ".jsonl") + ".output.jsonl"
}

// runOffline collects every batch whose output file is in the batch
// directory and leaves the others, naming the command that makes them.
func (b *batcher) runOffline(ctx context.Context, act []*active) error {
	db := context.WithoutCancel(ctx)
	for _, a := range act {
		if ctx.Err() != nil {
			b.sum.Interrupted = true
			return nil
		}
		in := filepath.Join(b.opt.Dir, BatchFileName(a.rec.ContentKey))
		out := filepath.Join(b.opt.Dir, BatchOutputName(a.rec.ContentKey))
		if _, err := os.Stat(out); err != nil {
			b.log("batch %d of %s waits for its output: vllm run-batch -i %s -o %s --model %s",
				a.rec.ID, b.p.Plan.Instances[a.rec.Instance].Name(), in, out, b.p.Plan.Instances[a.rec.Instance].Model)
			b.sum.Interrupted = true
			continue
		}
		info := BatchInfo{ID: "file:" + filepath.Base(out), Status: BatchCompleted, OutputFileID: out}
		if err := b.collectFrom(ctx, a, info, readLocalLines); err != nil {
			var dbErr *dbError
			if errors.As(err, &dbErr) {
				return dbErr.err
			}
			return fmt.Errorf("%w: batch output %s: %w", ErrConfig, out, err)
		}
		a.rec.Status, a.rec.OutputFileID, a.rec.Collected = BatchCompleted, out, true
		if err := b.bs.UpdateBatch(db, a.rec); err != nil {
			return err
		}
	}
	return nil
}

// readLocalLines calls line for each non-empty line of the file at path.
func readLocalLines(_ context.Context, path string, line func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if t := bytes.TrimSpace(b); len(t) > 0 {
			if lerr := line(t); lerr != nil {
				return fmt.Errorf("%s line %d: %w", path, n, lerr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}
