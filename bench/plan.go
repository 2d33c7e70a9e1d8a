package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"iter"
	"sort"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// keyVersion is mixed into every sample key; bump it only when the key
// layout changes, since that invalidates every cached sample.
const keyVersion = "traitleak-sample-v1"

// Plan is the complete, deterministic list of jobs of a suite, or of one
// shard of it (Restrict). Its jobs are generated when iterated (Jobs,
// Pending), never held: a plan of a million draws costs what one job
// does. A sequential run's first step is the exception: its jobs are
// chosen by the rules and held (setJobs).
type Plan struct {
	Suite     *suites.Suite
	Instances []suites.Instance
	// Salt is mixed into every key. The empty salt makes runs of the same
	// suite share samples; `run --fresh` picks a new salt to start over.
	Salt string
	// Prompts holds, per probe id, the resolved prompt texts.
	Prompts map[string][]string

	blocks   []planBlock // in plan order
	shard    Shard       // the share of the suite's jobs planned; zero: all
	list     []Job       // set by setJobs: the plan's jobs, held
	total    int
	requests int
}

// planBlock is the part of a plan that samples one probe from one
// instance: its prompts × samples draws, or the share of them its plan's
// shard owns.
type planBlock struct {
	probe    string
	texts    []string
	samples  int
	instance int
	// starts[pi] is the plan position of the first planned draw of
	// prompt pi, and starts[len(texts)] the position after the block's
	// last draw: a block is a run of consecutive plan positions.
	starts []int
}

// span returns the plan positions [from, to) of the block.
func (b *planBlock) span() (from, to int) { return b.starts[0], b.starts[len(b.texts)] }

// Job is one planned request: Draws consecutive draws of one prompt of one
// probe from one instance. Keys[i] is the key of draw First+i, and
// Index+i its position in the plan (what results.PlannedSample lists).
type Job struct {
	Instance int    // index into Plan.Instances
	Probe    string // probe id
	Prompt   int    // index into the probe's prompts
	First    int    // first draw index
	Index    int    // plan position of draw First; -1 when not in the run's plan yet
	Keys     []string
}

// Draws returns the number of draws the job covers.
func (j Job) Draws() int { return len(j.Keys) }

// NewPlan plans a suite: for every probe, every instance the probe
// samples, every prompt, and every draw in [0, samples), in that order.
// Draws are grouped into jobs of at most the instance's n. The plan
// depends only on the suite and the salt.
func NewPlan(s *suites.Suite, salt string) *Plan {
	p := &Plan{Suite: s, Instances: s.Instances(), Salt: salt, Prompts: map[string][]string{}}
	for _, probe := range s.Probes {
		p.Prompts[probe.ID] = probe.Prompts.Texts
		roles := map[string]bool{}
		for _, r := range s.ProbeRoles(probe) {
			roles[r] = true
		}
		for ii, in := range p.Instances {
			if !roles[in.Role] {
				continue
			}
			b := planBlock{probe: probe.ID, texts: probe.Prompts.Texts, samples: probe.Samples, instance: ii,
				starts: make([]int, len(probe.Prompts.Texts)+1)}
			n := *in.Settings.N
			for pi := range b.texts {
				b.starts[pi] = p.total
				p.total += b.samples
				p.requests += (b.samples + n - 1) / n
			}
			b.starts[len(b.texts)] = p.total
			p.blocks = append(p.blocks, b)
		}
	}
	return p
}

// Restrict makes p the plan of shard sh of its suite: the jobs whose
// first key sh owns (Shard.Owns), in the same order, at consecutive plan
// positions from 0. p must be a whole plan, as NewPlan returns it. It
// computes the first key of every job once, and holds no key.
func (p *Plan) Restrict(sh Shard) {
	if sh.Whole() {
		return
	}
	p.shard = sh
	p.total, p.requests = 0, 0
	for bi := range p.blocks {
		b := &p.blocks[bi]
		in := p.Instances[b.instance]
		chunk := *in.Settings.N
		for pi, text := range b.texts {
			b.starts[pi] = p.total
			k := newDrawKeyer(p.Salt, p.Suite.Seed, b.probe, pi, text, in)
			for first := 0; first < b.samples; first += chunk {
				if sh.Owns(k.key(first)) {
					p.total += min(chunk, b.samples-first)
					p.requests++
				}
			}
		}
		b.starts[len(b.texts)] = p.total
	}
}

// Shard returns the share of its suite's jobs p plans (the zero Shard for
// the whole plan).
func (p *Plan) Shard() Shard { return p.shard }

// setJobs makes jobs the plan's jobs, in their order, at consecutive plan
// positions from 0 (their Index is set): a sequential run's first step.
func (p *Plan) setJobs(jobs []Job) {
	p.list, p.total, p.requests = jobs, 0, len(jobs)
	for i := range p.list {
		p.list[i].Index = p.total
		p.total += p.list[i].Draws()
	}
}

// Total returns the number of planned draws.
func (p *Plan) Total() int { return p.total }

// Requests returns the number of jobs (requests, when servers honour n).
func (p *Plan) Requests() int { return p.requests }

// Jobs yields every job of the plan in plan order. The jobs are made as
// they are yielded: each has its own Keys.
func (p *Plan) Jobs() iter.Seq[Job] {
	return func(yield func(Job) bool) {
		p.jobsOf(-1, nil, yield)
	}
}

// Draws yields every planned draw in plan order, as a run records it.
func (p *Plan) Draws() iter.Seq[results.PlannedSample] {
	return func(yield func(results.PlannedSample) bool) {
		for j := range p.Jobs() {
			for d, k := range j.Keys {
				if !yield(results.PlannedSample{Key: k, Instance: j.Instance, Probe: j.Probe, Prompt: j.Prompt, Draw: j.First + d}) {
					return
				}
			}
		}
	}
}

// jobsOf yields the jobs of plan instance instance (every instance when
// negative) in plan order, or with keep the parts of them whose plan
// positions keep lists (see Pending), and reports whether yield asked for
// more.
func (p *Plan) jobsOf(instance int, keep *spans, yield func(Job) bool) bool {
	if p.list != nil {
		for _, j := range p.list {
			if instance >= 0 && j.Instance != instance {
				continue
			}
			if !cutJob(j, keep, yield) {
				return false
			}
		}
		return true
	}
	for bi := range p.blocks {
		b := &p.blocks[bi]
		if instance >= 0 && b.instance != instance {
			continue
		}
		if keep != nil && !keep.overlaps(b.span()) {
			continue
		}
		if !p.blockJobs(b, keep, yield) {
			return false
		}
	}
	return true
}

// cutJob yields j, or with keep the parts of it whose plan positions keep
// lists, and reports whether yield asked for more.
func cutJob(j Job, keep *spans, yield func(Job) bool) bool {
	if keep == nil {
		return yield(j)
	}
	for _, part := range keep.within(j.Index, j.Index+j.Draws()) {
		off := part[0] - j.Index
		pj := j
		pj.First, pj.Index, pj.Keys = j.First+off, part[0], j.Keys[off:part[1]-j.Index:part[1]-j.Index]
		if !yield(pj) {
			return false
		}
	}
	return true
}

// blockJobs yields the jobs of block b, or with keep the parts of them
// whose plan positions keep lists (see Pending), and reports whether
// yield asked for more.
func (p *Plan) blockJobs(b *planBlock, keep *spans, yield func(Job) bool) bool {
	in := p.Instances[b.instance]
	chunk := *in.Settings.N
	for pi, text := range b.texts {
		pos, end := b.starts[pi], b.starts[pi+1]
		if pos == end || keep != nil && !keep.overlaps(pos, end) {
			continue
		}
		k := newDrawKeyer(p.Salt, p.Suite.Seed, b.probe, pi, text, in)
		for first := 0; first < b.samples; first += chunk {
			n := min(chunk, b.samples-first)
			var key0 string
			if !p.shard.Whole() {
				if key0 = k.key(first); !p.shard.Owns(key0) {
					continue
				}
			}
			parts := [][2]int{{pos, pos + n}}
			if keep != nil {
				parts = keep.within(pos, pos+n)
			}
			for _, part := range parts {
				j := Job{Instance: b.instance, Probe: b.probe, Prompt: pi, First: first + part[0] - pos, Index: part[0],
					Keys: make([]string, part[1]-part[0])}
				for d := range j.Keys {
					if d == 0 && j.First == first && key0 != "" {
						j.Keys[d] = key0
						continue
					}
					j.Keys[d] = k.key(j.First + d)
				}
				if !yield(j) {
					return false
				}
			}
			pos += n
		}
	}
	return true
}

// SampleKey returns the deterministic key of one draw: a hash of the key
// version, salt, suite seed, probe id, prompt index and text, draw index,
// the model's role and seed label, endpoint and id, and every generation
// parameter that changes what the model returns. The role is part of the
// key so that two roles served by the same model still get independent
// draws. Throughput settings (concurrency, n, rate
// limits, timeouts) and scoring are deliberately left out, so that changing
// them reuses stored samples. Because the draw index is part of the key,
// caching is correct at temperature > 0: draw 7 is a different sample
// from draw 8.
func SampleKey(salt string, seed int64, probe string, prompt int, text string, draw int, in suites.Instance) string {
	k := newDrawKeyer(salt, seed, probe, prompt, text, in)
	return k.key(draw)
}

// drawKeyer computes the keys of the draws of one prompt from one
// instance. Every field but the draw index is fixed, so the bytes before
// and after it are built once; hashing head + draw + tail gives exactly
// the key SampleKey documents.
type drawKeyer struct {
	head, tail, buf []byte
}

func newDrawKeyer(salt string, seed int64, probe string, prompt int, text string, in suites.Instance) *drawKeyer {
	st := in.Settings
	head := strings.Join([]string{
		keyVersion,
		"salt=" + salt,
		"seed=" + strconv.FormatInt(seed, 10),
		"probe=" + probe,
		"prompt=" + strconv.Itoa(prompt),
		"text=" + hashString(text),
		"draw=",
	}, "\x00")
	tail := "\x00" + strings.Join([]string{
		"role=" + in.Name(),
		"base_url=" + strings.TrimRight(in.BaseURL, "/"),
		"model=" + in.Model,
		"temperature=" + optFloat(st.Temperature),
		"top_p=" + optFloat(st.TopP),
		"max_tokens=" + optInt(st.MaxTokens),
		"system=" + optHash(st.SystemPrompt),
		"send_seed=" + strconv.FormatBool(st.SendSeed != nil && *st.SendSeed),
	}, "\x00")
	return &drawKeyer{head: []byte(head), tail: []byte(tail)}
}

func (k *drawKeyer) key(draw int) string {
	b := append(k.buf[:0], k.head...)
	b = strconv.AppendInt(b, int64(draw), 10)
	b = append(b, k.tail...)
	k.buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// RequestSeed derives the seed sent with a request whose first draw has
// the given key. It is a pure function of the key, so a resumed run sends
// the seeds an uninterrupted run would have sent.
func RequestSeed(key string) int64 {
	b, err := hex.DecodeString(key)
	if err != nil || len(b) < 8 {
		sum := sha256.Sum256([]byte(key))
		b = sum[:]
	}
	// Keep it non-negative and within 2^53 so every JSON client reads it exactly.
	return int64(binary.BigEndian.Uint64(b[:8]) >> 11)
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func optFloat(p *float64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

func optInt(p *int) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(*p)
}

func optHash(p *string) string {
	if p == nil {
		return "unset"
	}
	return hashString(*p)
}

// locator finds the job of a plan that starts at a given plan position,
// without generating the plan's other jobs: what a batch line, which
// records the position of its first draw, needs to be read back. It
// remembers the plan positions of one prompt's jobs of a shard's plan,
// so that the lines of a batch, which are in plan order, cost one pass
// over their prompt's jobs. Not safe for concurrent use.
type locator struct {
	plan *Plan
	// The remembered prompt (block index, prompt index; block -1: none)
	// and the first draw of each of its jobs the shard owns, in order.
	block, prompt int
	firsts        []int
}

func newLocator(p *Plan) *locator { return &locator{plan: p, block: -1} }

// job returns draws consecutive draws of the plan from plan position pos
// on, as a job of plan instance instance; ok is false when the plan has
// no such job (pos is not in that instance's part of the plan, or the
// draws do not fit in one of its jobs).
func (l *locator) job(instance, pos, draws int) (Job, bool) {
	p := l.plan
	if draws < 1 || pos < 0 || p.list != nil {
		return Job{}, false
	}
	bi := sort.Search(len(p.blocks), func(i int) bool { _, to := p.blocks[i].span(); return to > pos })
	if bi == len(p.blocks) {
		return Job{}, false
	}
	b := &p.blocks[bi]
	if from, _ := b.span(); b.instance != instance || pos < from {
		return Job{}, false
	}
	pi := sort.Search(len(b.texts), func(i int) bool { return b.starts[i+1] > pos })
	in := p.Instances[b.instance]
	chunk := *in.Settings.N
	k := newDrawKeyer(p.Salt, p.Suite.Seed, b.probe, pi, b.texts[pi], in)
	off := pos - b.starts[pi]
	first, size := off/chunk*chunk, 0 // the job's first draw and size
	if p.shard.Whole() {
		size = min(chunk, b.samples-first)
	} else {
		if l.block != bi || l.prompt != pi {
			l.block, l.prompt, l.firsts = bi, pi, l.firsts[:0]
			for f := 0; f < b.samples; f += chunk {
				if p.shard.Owns(k.key(f)) {
					l.firsts = append(l.firsts, f)
				}
			}
		}
		// Owned jobs are whole chunks but the last: positions count
		// chunk draws per job before it.
		ji := off / chunk
		if ji >= len(l.firsts) {
			return Job{}, false
		}
		first = l.firsts[ji]
		size = min(chunk, b.samples-first)
	}
	draw := first + off%chunk
	if draw+draws > first+size {
		return Job{}, false
	}
	j := Job{Instance: b.instance, Probe: b.probe, Prompt: pi, First: draw, Index: pos, Keys: make([]string, draws)}
	for d := range j.Keys {
		j.Keys[d] = k.key(draw + d)
	}
	return j, true
}
