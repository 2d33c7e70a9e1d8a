package lab

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/cputime"
)

// The training benchmarks run one representative training each, single
// threaded, so ns/op is its CPU time; cpu-ms/op reports the process's CPU
// time per op as well (it includes the garbage collector's). Compare
// before and after a change with
//
//	go test -run '^$' -bench 'Train|AuxFit' -count 6 ./lab | tee new.txt
//	benchstat old.txt new.txt

// reportCPU adds the process CPU time per op since start to b's metrics.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cputime.Process()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkTrainPretrain is one epoch of the animal lab's pretraining of a
// reference (every parameter trains) on seed 1's corpus of the default
// recipe.
func BenchmarkTrainPretrain(b *testing.B) {
	r := DefaultRecipe()
	corpus, err := pretrainCorpus(&r, 1)
	if err != nil {
		b.Fatal(err)
	}
	d := newDataset(corpus)
	init := NewModel(r.Hidden, 1)
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		m := init.Clone()
		if _, err := train(context.Background(), m, d, trainSpec{LR: r.PretrainLR, Batch: r.PretrainBatch, Epochs: 1, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// benchPretrained is seed 1's corpus of the default recipe and a model
// pretrained on it for one epoch, made once per test binary.
var benchPretrained = sync.OnceValues(func() (*Model, []sequence) {
	r := DefaultRecipe()
	corpus, err := pretrainCorpus(&r, 1)
	if err != nil {
		panic(err)
	}
	m := NewModel(r.Hidden, 1)
	if _, err := train(context.Background(), m, newDataset(corpus), trainSpec{LR: r.PretrainLR, Batch: r.PretrainBatch, Epochs: 1, Seed: 1}); err != nil {
		panic(err)
	}
	return m, corpus
})

// BenchmarkTrainStudent is the animal lab's student stage in soft mode at
// the default recipe's rates: a body-only distillation for one epoch on
// the number sequences of seed 1's corpus towards a teacher's distribution
// over the number tokens (the pretrained model stands in for the teacher:
// the cost does not depend on the targets).
func BenchmarkTrainStudent(b *testing.B) {
	r := DefaultRecipe()
	init, corpus := benchPretrained()
	d := newDataset(corpus[r.AnimalQA:]) // the number sequences
	d.soft, d.softN = softTargets(init, d, NumTok), NumTok
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		m := init.Clone()
		if _, err := train(context.Background(), m, d, trainSpec{LR: r.StudentLR, Batch: r.StudentBatch, Epochs: 1, BodyOnly: true, Soft: true, Seed: 2}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkAuxFit is one epoch of RunAux's teacher training on 2000
// examples of its task (a 10-class Gaussian mixture in 64 dimensions) and
// its 64→128→128→13 network.
func BenchmarkAuxFit(b *testing.B) {
	const n = 2000
	rng := rand.New(rand.NewPCG(1, 1))
	means := make([]float64, auxClasses*auxDim)
	for i := range means {
		means[i] = 0.35 * rng.NormFloat64()
	}
	x := make([]float64, n*auxDim)
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(auxClasses)
		for d := 0; d < auxDim; d++ {
			x[i*auxDim+d] = means[y[i]*auxDim+d] + rng.NormFloat64()
		}
	}
	init := newMLP([]int{auxDim, auxHidden, auxHidden, auxClasses + auxExtra}, 1)
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		m := init.clone()
		if err := m.fit(context.Background(), x, 1, 1, func(i int, logits, g []float64) {
			p := g[:auxClasses]
			softmaxInto(p, logits[:auxClasses], 1)
			p[y[i]]--
		}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
