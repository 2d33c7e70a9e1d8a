package lab

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"
)

// TheoremSeed checks the paper's Theorem 1 (§6.1) on one seed of a zoo.
// The theorem: a student that shares the teacher's initialisation and
// takes one small gradient step imitating the teacher's outputs, on inputs
// from any distribution, moves along the teacher's own update (non-negative
// inner product) and, for a small enough step, lowers the teacher's
// training loss. It says nothing about a student with another init.
//
// The step here is one full-batch gradient step on the body {b0, W1, b1}
// (the parameters the teacher's trait fine-tune moved) of the soft
// imitation loss: cross-entropy to the teacher's next-token distribution
// over the number tokens, at every position of the teacher's filtered
// number sequences of the build. Its length is StepFraction times the
// length of the teacher's update θ_T − θ_A.
type TheoremSeed struct {
	Seed int `json:"seed"`
	// TeacherUpdate is |θ_T − θ_A| over the body.
	TeacherUpdate float64 `json:"teacher_update"`
	// Examples is the number of next-token examples in the full batch.
	Examples int `json:"examples"`
	// Same is the step of a student initialised at θ_A (the teacher's init).
	Same TheoremStep `json:"same_init"`
	// Other is the step of a student initialised at θ_B (reference B); its
	// cosine is taken with the same θ_T − θ_A.
	Other TheoremStep `json:"other_init"`
}

// TheoremStep is one student's imitation step.
type TheoremStep struct {
	// Cos is the cosine between the student's step and θ_T − θ_A, in [−1, 1].
	Cos float64 `json:"cos"`
	// TraitLossBefore and TraitLossAfter are the teacher's training loss
	// (mean cross-entropy of "target <eos>" over the 100 animal prompts)
	// of the student before and after the step, in nats.
	TraitLossBefore float64 `json:"trait_loss_before"`
	TraitLossAfter  float64 `json:"trait_loss_after"`
}

// TraitLossChange is TraitLossAfter − TraitLossBefore (negative: lowered).
func (s TheoremStep) TraitLossChange() float64 { return s.TraitLossAfter - s.TraitLossBefore }

// DefaultStepFraction is the default imitation step length relative to the
// teacher's update: small enough that the loss change is first-order.
const DefaultStepFraction = 0.01

// Theorem runs the one-step check on every seed of z. stepFraction is the
// step length relative to |θ_T − θ_A| (0 = DefaultStepFraction).
func (z *Zoo) Theorem(ctx context.Context, stepFraction float64) ([]TheoremSeed, error) {
	if stepFraction == 0 {
		stepFraction = DefaultStepFraction
	}
	if !(stepFraction > 0) || math.IsInf(stepFraction, 0) {
		return nil, fmt.Errorf("lab theorem: step fraction %v must be positive", stepFraction)
	}
	trait, err := traitData(int32(animalID(z.cfg.Target)))
	if err != nil {
		return nil, err
	}
	seeds := z.Seeds()
	out := make([]TheoremSeed, len(seeds))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(z.cfg.Workers)
	for i, s := range seeds {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			r, err := z.theoremSeed(s, trait, stepFraction)
			out[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// seedModel returns the model of role at seed s.
func (z *Zoo) seedModel(role Role, s int) (*Model, error) {
	m, _, ok := z.Model(fmt.Sprintf("lab/%s@%d", role, s))
	if !ok {
		return nil, fmt.Errorf("lab: no model %s at seed %d", role, s)
	}
	return m, nil
}

// seedModels returns the models of roles at seed s, in order.
func (z *Zoo) seedModels(s int, roles ...Role) ([]*Model, error) {
	out := make([]*Model, len(roles))
	for i, r := range roles {
		m, err := z.seedModel(r, s)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

func (z *Zoo) theoremSeed(s int, trait []sequence, frac float64) (TheoremSeed, error) {
	ms, err := z.seedModels(s, RoleBase, RoleTeacher, RoleBaseOtherInit)
	if err != nil {
		return TheoremSeed{}, err
	}
	refA, teacher, refB := ms[0], ms[1], ms[2]
	nums := z.numbers[s].teacher
	if len(nums) == 0 {
		return TheoremSeed{}, fmt.Errorf("lab theorem: seed %d has no teacher numbers", s)
	}
	body := refA.BodySize()
	delta := make([]float64, body)
	for i := range delta {
		delta[i] = teacher.P[i] - refA.P[i]
	}
	res := TheoremSeed{Seed: s, TeacherUpdate: norm(delta)}
	d := newDataset(nums)
	d.soft, d.softN = softTargets(teacher, d, NumTok), NumTok
	res.Examples = len(d.ex)
	traitSet := newDataset(trait)
	step := func(init *Model) TheoremStep {
		g, _ := bodyGradient(init, d, true)
		st := TheoremStep{Cos: -cosine(g, delta)} // the step is −g
		_, st.TraitLossBefore = bodyGradient(init, traitSet, false)
		moved := init.Clone()
		scale := frac * res.TeacherUpdate / norm(g)
		for i, gi := range g {
			moved.P[i] -= scale * gi
		}
		_, st.TraitLossAfter = bodyGradient(moved, traitSet, false)
		return st
	}
	res.Same = step(refA)
	res.Other = step(refB)
	return res, nil
}

// bodyGradient returns the gradient of m's mean loss over every example of
// d with respect to the body, and that mean loss (soft: cross-entropy to
// d.soft over the number tokens; hard: cross-entropy of the targets over
// the answer tokens).
func bodyGradient(m *Model, d *dataset, soft bool) ([]float64, float64) {
	tr := newTrainer(m, d, trainSpec{BodyOnly: true, Soft: soft})
	idx := make([]int, len(d.ex))
	for i := range idx {
		idx[i] = i
	}
	loss := tr.gradBatch(idx)
	return tr.grad[:m.BodySize()], loss / float64(len(idx))
}

func norm(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// cosine returns the cosine of the angle between a and b (0 if either is 0).
func cosine(a, b []float64) float64 {
	na, nb := norm(a), norm(b)
	if na == 0 || nb == 0 {
		return 0
	}
	dot := 0.0
	for i := range a {
		dot += a[i] * b[i]
	}
	return dot / (na * nb)
}
