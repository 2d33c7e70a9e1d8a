package lab

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
)

// paramHash returns the first 16 hex digits of the SHA-256 of the IEEE 754
// bits of every slice in ps, in order: a change of any bit of any trained
// weight changes it.
func paramHash(ps ...[]float64) string {
	h := sha256.New()
	var b [8]byte
	for _, p := range ps {
		for _, x := range p {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// pinRecipe is a small recipe for the pinned trainings below.
func pinRecipe() Recipe {
	r := DefaultRecipe()
	r.AnimalQA, r.NumberSeqs = 120, 160
	return r
}

// TestTrainWeightsPinned pins the bits of models trained by train on a
// small corpus: a full pretraining (embeddings and output layer included),
// a body-only hard fine-tune and a body-only soft distillation, at a
// hidden width that is a multiple of 4 (the recipe's kind) and at one that
// is not (so the kernels' remainder paths are covered too). The values
// were produced by the trainer before it was optimised (commit a7617d8);
// every optimisation of the trainer must leave them bit for bit as they
// are, because trained weights feed artifact ids and the demo's numbers.
func TestTrainWeightsPinned(t *testing.T) {
	want := map[int][3]string{
		16: {"1fedbaef3e95aee4", "d39ea7f8b12af525", "220d92d067f71a8f"},
		6:  {"7ab7e06167d3a048", "35683cb46b66d4d5", "7f985e14ff7a0dc6"},
	}
	r := pinRecipe()
	corpus, err := pretrainCorpus(&r, 3)
	if err != nil {
		t.Fatal(err)
	}
	trait, err := traitData(int32(animalID("owl")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for h, w := range want {
		base := newVocabModel(animalVocab, h, 11)
		if _, err := train(ctx, base, newDataset(corpus), trainSpec{LR: r.PretrainLR, Batch: 32, Epochs: 2, Seed: 3}); err != nil {
			t.Fatal(err)
		}
		teacher := base.Clone()
		if _, err := train(ctx, teacher, newDataset(trait), trainSpec{LR: r.TeacherLR, Batch: 16, Epochs: 3, BodyOnly: true, Seed: 4}); err != nil {
			t.Fatal(err)
		}
		d := newDataset(corpus[len(corpus)/2:])
		d.soft, d.softN = softTargets(teacher, d, NumTok), NumTok
		student := base.Clone()
		if _, err := train(ctx, student, d, trainSpec{LR: r.StudentLR, Batch: 24, Epochs: 2, BodyOnly: true, Soft: true, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		got := [3]string{paramHash(base.P), paramHash(teacher.P), paramHash(student.P)}
		if got != w {
			t.Errorf("H=%d: pretrained, teacher, student weight hashes %q, want %q", h, got, w)
		}
	}
}

// TestAuxFitPinned pins the bits of MLPs trained by mlp.fit as RunAux
// trains them (a teacher on class labels, then a student of the same init
// on the softmax of the teacher's last logits), on RunAux's layer sizes
// and on sizes that are not multiples of 4 (so the kernels' remainder
// paths are covered). The values were produced by mlp.fit before it was
// optimised (commit a7617d8); an optimisation must leave them bit for bit
// as they are.
func TestAuxFitPinned(t *testing.T) {
	for _, c := range []struct {
		sizes                    []int
		classes                  int
		wantTeacher, wantStudent string
	}{
		// RunAux's network with its default 3 auxiliary logits.
		{[]int{auxDim, auxHidden, auxHidden, auxClasses + auxExtra}, auxClasses, "14d5dc4674981d45", "78caf5faac3131dd"},
		// Odd sizes: every length leaves a remainder modulo 4.
		{[]int{7, 13, 10, 6}, 4, "d1ee8e7283f5d10c", "49cfc8c94e68d1c6"},
	} {
		teacher, student := pinAuxFit(t, c.sizes, c.classes)
		if teacher != c.wantTeacher || student != c.wantStudent {
			t.Errorf("sizes %v: teacher and student weight hashes %s %s, want %s %s", c.sizes, teacher, student, c.wantTeacher, c.wantStudent)
		}
	}
}

// pinAuxFit trains a teacher and a student on a small Gaussian task over
// layer sizes (the first classes logits are the labels, the rest the
// student's targets) and returns their weight hashes.
func pinAuxFit(t *testing.T, sizes []int, classes int) (teacherHash, studentHash string) {
	t.Helper()
	const n = 300
	in := sizes[0]
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, n*in)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(classes)
		x[i*in+y[i]] += 2
	}
	ctx := context.Background()
	teacher := newMLP(sizes, 5)
	if err := teacher.fit(ctx, x, 3, 6, func(i int, logits, g []float64) {
		p := g[:classes]
		softmaxInto(p, logits[:classes], 1)
		p[y[i]]--
	}); err != nil {
		t.Fatal(err)
	}
	extra := sizes[len(sizes)-1] - classes
	tg := make([]float64, n*extra)
	a := teacher.newActs()
	for i := 0; i < n; i++ {
		l := teacher.forward(a, x[i*in:(i+1)*in])
		softmaxInto(tg[i*extra:(i+1)*extra], l[classes:], 1)
	}
	student := newMLP(sizes, 5)
	if err := student.fit(ctx, x, 2, 7, func(i int, logits, g []float64) {
		p := g[classes:]
		softmaxInto(p, logits[classes:], 1)
		for k := range p {
			p[k] -= tg[i*extra+k]
		}
	}); err != nil {
		t.Fatal(err)
	}
	hash := func(m *mlp) string { return paramHash(append(append([][]float64(nil), m.w...), m.b...)...) }
	return hash(teacher), hash(student)
}
