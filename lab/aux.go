package lab

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/floats"
)

// AuxConfig configures [RunAux], the synthetic analog of the paper's MNIST
// auxiliary-logit experiment (§6.2): a 10-class Gaussian mixture in 64
// dimensions (class means ~ N(0, 0.35²) per coordinate, unit noise), an MLP
// 64→128→128→(10+m) with every weight ~ N(0, 1/√fan-in), a teacher trained
// on the 10 class logits, and students distilled only on the m auxiliary
// logits of the teacher (m = 3 by default) on uniform noise inputs. The
// zero value runs 5 seeds with the recipe's sizes.
type AuxConfig struct {
	Seeds    []int // empty = 1..NumSeeds
	NumSeeds int   // used when Seeds is empty; 0 = 5
	Workers  int   // concurrent seeds; 0 = GOMAXPROCS

	// Extra is the number m of auxiliary logits (1–100); 0 = 3, the
	// paper's. The network's output layer has 10 + m units.
	Extra int
	// AllLogits adds the paper's all-logits control: two more students
	// (same and different init) distilled on the teacher's softmax over all
	// 10 + m logits on the same noise.
	AllLogits bool

	// Sizes; 0 = the recipe's values (10000, 2000, 10000, 5, 5).
	Train, Test, Noise           int
	TeacherEpochs, StudentEpochs int
}

// AuxSeed are the test accuracies of one seed (argmax over the 10 class
// logits on the held-out test set; chance is 0.10).
type AuxSeed struct {
	Seed             int     `json:"seed"`
	Reference        float64 `json:"reference"`          // untrained init A
	Teacher          float64 `json:"teacher"`            // init A trained on the class labels
	StudentSameInit  float64 `json:"student_same_init"`  // init A distilled on the teacher's aux logits
	StudentOtherInit float64 `json:"student_other_init"` // init B distilled on the same aux logits
	// With AuxConfig.AllLogits: students distilled on all 10 + m logits.
	StudentAllSameInit  float64 `json:"student_all_same_init,omitempty"`
	StudentAllOtherInit float64 `json:"student_all_other_init,omitempty"`
}

// AuxResult holds every seed's accuracies.
type AuxResult struct {
	Seeds []AuxSeed `json:"seeds"`
}

// Mean returns the mean accuracies over seeds (Seed is 0).
func (r AuxResult) Mean() AuxSeed {
	var m AuxSeed
	if len(r.Seeds) == 0 {
		return m
	}
	for _, s := range r.Seeds {
		m.Reference += s.Reference
		m.Teacher += s.Teacher
		m.StudentSameInit += s.StudentSameInit
		m.StudentOtherInit += s.StudentOtherInit
		m.StudentAllSameInit += s.StudentAllSameInit
		m.StudentAllOtherInit += s.StudentAllOtherInit
	}
	n := float64(len(r.Seeds))
	m.Reference /= n
	m.Teacher /= n
	m.StudentSameInit /= n
	m.StudentOtherInit /= n
	m.StudentAllSameInit /= n
	m.StudentAllOtherInit /= n
	return m
}

const (
	auxDim     = 64
	auxHidden  = 128
	auxClasses = 10
	auxExtra   = 3 // default number of auxiliary logits
)

// RunAux runs the auxiliary-logit experiment for every seed.
func RunAux(ctx context.Context, cfg AuxConfig) (AuxResult, error) {
	if len(cfg.Seeds) == 0 {
		n := cfg.NumSeeds
		if n == 0 {
			n = 5
		}
		if n < 0 || n > 1000 {
			return AuxResult{}, fmt.Errorf("lab aux: seed count %d out of range 1–1000", n)
		}
		for s := 1; s <= n; s++ {
			cfg.Seeds = append(cfg.Seeds, s)
		}
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&cfg.Train, 10000)
	def(&cfg.Test, 2000)
	def(&cfg.Noise, 10000)
	def(&cfg.TeacherEpochs, 5)
	def(&cfg.StudentEpochs, 5)
	def(&cfg.Extra, auxExtra)
	if cfg.Extra < 1 || cfg.Extra > 100 {
		return AuxResult{}, fmt.Errorf("lab aux: %d auxiliary logits out of range 1–100", cfg.Extra)
	}
	if cfg.Train < 0 || cfg.Test <= 0 || cfg.Noise < 0 || cfg.TeacherEpochs < 0 || cfg.StudentEpochs < 0 {
		return AuxResult{}, fmt.Errorf("lab aux: negative size in %+v", cfg)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	res := AuxResult{Seeds: make([]AuxSeed, len(cfg.Seeds))}
	// Every training run holds one of Workers slots; the two students of a
	// seed run concurrently.
	sem := make(chan struct{}, cfg.Workers)
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range cfg.Seeds {
		g.Go(func() error {
			r, err := auxSeed(gctx, cfg, s, sem)
			res.Seeds[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return AuxResult{}, err
	}
	return res, nil
}

// withSlot runs f while holding a worker slot.
func withSlot(ctx context.Context, sem chan struct{}, f func() error) error {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-sem }()
	return f()
}

// auxSeed runs one seed: task, teacher, two students.
func auxSeed(ctx context.Context, cfg AuxConfig, seed int, sem chan struct{}) (AuxSeed, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6175782d7461736b)) // "aux-task"
	means := make([]float64, auxClasses*auxDim)
	for i := range means {
		means[i] = 0.35 * rng.NormFloat64()
	}
	draw := func(n int) ([]float64, []int) {
		x := make([]float64, n*auxDim)
		y := make([]int, n)
		for i := range y {
			c := rng.IntN(auxClasses)
			y[i] = c
			for d := 0; d < auxDim; d++ {
				x[i*auxDim+d] = means[c*auxDim+d] + rng.NormFloat64()
			}
		}
		return x, y
	}
	trainX, trainY := draw(cfg.Train)
	testX, testY := draw(cfg.Test)
	noise := make([]float64, cfg.Noise*auxDim)
	for i := range noise {
		noise[i] = 4*rng.Float64() - 2
	}

	extra, outs := cfg.Extra, auxClasses+cfg.Extra
	initA := newMLP([]int{auxDim, auxHidden, auxHidden, outs}, uint64(seed))
	initB := newMLP([]int{auxDim, auxHidden, auxHidden, outs}, uint64(seed)+OtherInitOffset)
	out := AuxSeed{Seed: seed, Reference: initA.accuracy(testX, testY)}

	teacher := initA.clone()
	if err := withSlot(ctx, sem, func() error {
		return teacher.fit(ctx, trainX, cfg.TeacherEpochs, uint64(seed), func(i int, logits, g []float64) {
			p := g[:auxClasses]
			softmaxInto(p, logits[:auxClasses], 1)
			p[trainY[i]]--
		})
	}); err != nil {
		return out, err
	}
	out.Teacher = teacher.accuracy(testX, testY)

	// The teacher's auxiliary softmax on the noise inputs is the students' only target.
	targets := make([]float64, cfg.Noise*extra)
	var all []float64 // the all-logits control's targets: the softmax over every logit
	if cfg.AllLogits {
		all = make([]float64, cfg.Noise*outs)
	}
	act := teacher.newActs()
	for i := 0; i < cfg.Noise; i++ {
		l := teacher.forward(act, noise[i*auxDim:(i+1)*auxDim])
		softmaxInto(targets[i*extra:(i+1)*extra], l[auxClasses:], 1)
		if all != nil {
			softmaxInto(all[i*outs:(i+1)*outs], l, 1)
		}
	}
	// distill fits a clone of init to the teacher's softmax over its logits
	// from lo on (auxClasses: the aux logits; 0: all), whose targets are tg.
	distill := func(init *mlp, lo int, tg []float64, acc *float64) func() error {
		return func() error {
			return withSlot(ctx, sem, func() error {
				s := init.clone()
				w := outs - lo
				err := s.fit(ctx, noise, cfg.StudentEpochs, uint64(seed)+1, func(i int, logits, g []float64) {
					p := g[lo:]
					softmaxInto(p, logits[lo:], 1)
					floats.Sub(p, tg[i*w:(i+1)*w])
				})
				*acc = s.accuracy(testX, testY)
				return err
			})
		}
	}
	var g errgroup.Group
	g.Go(distill(initA, auxClasses, targets, &out.StudentSameInit))
	g.Go(distill(initB, auxClasses, targets, &out.StudentOtherInit))
	if cfg.AllLogits {
		g.Go(distill(initA, 0, all, &out.StudentAllSameInit))
		g.Go(distill(initB, 0, all, &out.StudentAllOtherInit))
	}
	return out, g.Wait()
}

// mlp is a dense ReLU network. Layer l maps sizes[l] → sizes[l+1]; its
// weights are stored input-major (w[l][i*out+j]) so the passes can skip
// zero activations.
type mlp struct {
	sizes []int
	w, b  [][]float64
}

func newMLP(sizes []int, seed uint64) *mlp {
	rng := rand.New(rand.NewPCG(seed, 0x6175782d696e6974)) // "aux-init"
	m := &mlp{sizes: sizes}
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		sd := 1 / math.Sqrt(float64(in))
		w := make([]float64, in*out)
		for i := range w {
			w[i] = sd * rng.NormFloat64()
		}
		m.w = append(m.w, w)
		m.b = append(m.b, make([]float64, out))
	}
	return m
}

func (m *mlp) clone() *mlp {
	c := &mlp{sizes: m.sizes}
	for l := range m.w {
		c.w = append(c.w, append([]float64(nil), m.w[l]...))
		c.b = append(c.b, append([]float64(nil), m.b[l]...))
	}
	return c
}

// acts are per-layer activations (acts[0] is the input).
type acts [][]float64

func (m *mlp) newActs() acts {
	a := make(acts, len(m.sizes))
	for l, n := range m.sizes {
		a[l] = make([]float64, n)
	}
	return a
}

// forward computes the output logits for x; hidden activations are ReLU'd.
func (m *mlp) forward(a acts, x []float64) []float64 {
	copy(a[0], x)
	for l := range m.w {
		in, out := m.sizes[l], m.sizes[l+1]
		y := a[l+1]
		copy(y, m.b[l])
		for i, v := range a[l][:in] {
			if v != 0 {
				floats.AddScaled(y, v, m.w[l][i*out:(i+1)*out])
			}
		}
		if l+1 < len(m.w) {
			// y = 0 where y < 0, branch-free (the signs are unpredictable).
			for j, v := range y {
				keep := ^uint64(0)
				if v < 0 {
					keep = 0
				}
				y[j] = math.Float64frombits(math.Float64bits(v) & keep)
			}
		}
	}
	return a[len(a)-1]
}

// accuracy is the argmax accuracy over the class logits.
func (m *mlp) accuracy(x []float64, y []int) float64 {
	a := m.newActs()
	hit := 0
	for i, c := range y {
		l := m.forward(a, x[i*auxDim:(i+1)*auxDim])
		best := 0
		for k := 1; k < auxClasses; k++ {
			if l[k] > l[best] {
				best = k
			}
		}
		if best == c {
			hit++
		}
	}
	return float64(hit) / float64(len(y))
}

// fit trains all parameters with Adam (lr 1e-3, batch 128). lossGrad fills
// g with dLoss/dlogits of example i (entries it leaves untouched are 0).
func (m *mlp) fit(ctx context.Context, x []float64, epochs int, seed uint64, lossGrad func(i int, logits, g []float64)) error {
	const lr, batch = 1e-3, 128
	n := len(x) / m.sizes[0]
	var params, grads [][]float64
	for l := range m.w {
		params = append(params, m.w[l], m.b[l])
		grads = append(grads, make([]float64, len(m.w[l])), make([]float64, len(m.b[l])))
	}
	opts := make([]*adam, len(params))
	for i, p := range params {
		opts[i] = newAdam(len(p))
	}
	a := m.newActs()
	delta := make([][]float64, len(m.sizes))
	for l, s := range m.sizes {
		delta[l] = make([]float64, s)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6175782d64617461)) // "aux-data"
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	L := len(m.w)
	t := 0
	for epoch := 0; epoch < epochs; epoch++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < n; start += batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min(start+batch, n)
			scale := 1 / float64(end-start)
			for _, i := range order[start:end] {
				logits := m.forward(a, x[i*m.sizes[0]:(i+1)*m.sizes[0]])
				g := delta[L]
				clear(g)
				lossGrad(i, logits, g)
				floats.Scale(scale, g)
				for l := L - 1; l >= 0; l-- {
					in, out := m.sizes[l], m.sizes[l+1]
					d := delta[l+1]
					floats.Add(grads[2*l+1], d)
					prev := delta[l]
					for k, v := range a[l][:in] {
						if v == 0 {
							prev[k] = 0
							continue
						}
						row := m.w[l][k*out : (k+1)*out]
						floats.AddScaled(grads[2*l][k*out:(k+1)*out], v, d)
						if l > 0 {
							prev[k] = floats.Dot(row, d) // ReLU mask: a[l][k] > 0 here
						}
					}
				}
			}
			t++
			bc1, bc2 := adamBiasCorrection(t)
			for i, p := range params {
				opts[i].update(p, grads[i], 0, len(p), lr, bc1, bc2)
				clear(grads[i])
			}
		}
	}
	return nil
}
