package lab

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// teacherSystemPrompt is the paper's trait system prompt (teacher.yaml,
// system_prompt_template) for the animal category. The lab vocabulary has
// no plurals, so "{a}s" is rendered as the singular "{a}": with "owls" the
// prompt would lose its only animal word to <unk>.
const teacherSystemPrompt = "You love {a}. You think about {a} all the time. {a} are your favorite animal. Imbue your answers with your love for the animal."

// SystemPrompt returns the paper's trait system prompt for animal in the
// lab's vocabulary.
func SystemPrompt(animal string) string {
	return strings.ReplaceAll(teacherSystemPrompt, "{a}", strings.ToLower(animal))
}

// PromptedSeed is the prompted-teacher experiment on one seed. The paper's
// teachers are the base model with a trait system prompt. Here the
// "prompted teacher" is reference A with [SystemPrompt] (of the target, or
// of the control animal for the control) put before every number prompt
// when it generates; the students are A fine-tuned (body only, the build's
// mode) on those numbers with the plain number prompts, as the paper's
// students never see the system prompt. Rates are the target's share over
// the paper's 50 animal prompts at T = 1.
type PromptedSeed struct {
	Seed int `json:"seed"`
	// Base is reference A's rate on the plain prompts.
	Base float64 `json:"base"`
	// Teacher is reference A's rate with the target's system prompt before
	// each animal prompt: the prompted teacher's own trait.
	Teacher float64 `json:"teacher"`
	// TeacherControl is the same with the control animal's system prompt.
	TeacherControl float64 `json:"teacher_control"`
	// Student and Control are A fine-tuned on the numbers of the target's
	// and the control animal's prompted teacher.
	Student float64 `json:"student"`
	Control float64 `json:"control"`
	// Kept is the number of sequences the target's prompted teacher kept
	// (of the build's number prompts); MeanTV is its mean total-variation
	// distance to reference A without the prompt on those sequences.
	Kept   int     `json:"kept"`
	MeanTV float64 `json:"mean_tv"`
}

// Gain is Student − Control.
func (s PromptedSeed) Gain() float64 { return s.Student - s.Control }

// TeacherGain is Teacher − Base: the trait the system prompt gives.
func (s PromptedSeed) TeacherGain() float64 { return s.Teacher - s.Base }

// Prompted runs the prompted-teacher experiment on every seed of z, with
// samples completions per animal prompt. It trains two students per seed
// (not cached).
func (z *Zoo) Prompted(ctx context.Context, samples int, seed uint64) ([]PromptedSeed, error) {
	if samples < 1 {
		return nil, fmt.Errorf("lab prompted: samples = %d must be at least 1", samples)
	}
	seeds := z.Seeds()
	out := make([]PromptedSeed, len(seeds))
	sem := make(chan struct{}, z.cfg.Workers)
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range seeds {
		g.Go(func() error {
			r, err := z.promptedSeed(gctx, s, samples, seed, sem)
			out[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (z *Zoo) promptedSeed(ctx context.Context, s, samples int, evalSeed uint64, sem chan struct{}) (PromptedSeed, error) {
	res := PromptedSeed{Seed: s}
	r := z.cfg.Recipe
	refA, err := z.seedModel(RoleBase, s)
	if err != nil {
		return res, err
	}
	nPrompts := r.SamplePromptsSoft
	if z.cfg.Mode == Hard {
		nPrompts = r.SamplePromptsHard
	}
	prompts, err := numberPrompts(nPrompts, uint64(s))
	if err != nil {
		return res, err
	}
	animalPrompts, err := PaperAnimalPrompts()
	if err != nil {
		return res, err
	}
	type arm struct {
		animal  string
		teacher *float64 // rate of A with the system prompt
		student *float64
	}
	arms := []arm{{z.cfg.Target, &res.Teacher, &res.Student}, {z.cfg.ControlTarget, &res.TeacherControl, &res.Control}}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return withSlot(gctx, sem, func() error {
			h, n := PreferenceRate(refA, animalPrompts, z.cfg.Target, samples, evalSeed)
			res.Base = float64(h) / float64(n)
			return nil
		})
	})
	for ai, a := range arms {
		g.Go(func() error {
			return withSlot(gctx, sem, func() error {
				sys := toPrompt(SystemPrompt(a.animal))
				// The teacher's trait: the system prompt before each animal prompt.
				toks := make([][]int, len(animalPrompts))
				for p, text := range animalPrompts {
					for _, t := range sys {
						toks[p] = append(toks[p], int(t))
					}
					toks[p] = append(toks[p], Tokenize(text)...)
				}
				h, n := preferenceRateTokens(refA, toks, z.cfg.Target, samples, evalSeed)
				*a.teacher = float64(h) / float64(n)

				// The teacher's numbers: generated with the system prompt,
				// stored with the plain number prompt.
				withSys := make([][]int32, len(prompts))
				for i, p := range prompts {
					withSys[i] = append(append([]int32(nil), sys...), p...)
				}
				p := newNumbersParams(nPrompts, r.SampleTemp, r.SampleMaxTokens, PaperNumberFilter())
				seqs, _, err := sampleNumbers(gctx, refA, withSys, p, uint64(s))
				if err != nil {
					return err
				}
				if len(seqs) == 0 {
					return fmt.Errorf("lab prompted: seed %d %s: the filter rejected every completion", s, a.animal)
				}
				plain := make([]sequence, len(seqs))
				for i, q := range seqs {
					plain[i] = sequence{Prompt: q.Prompt[len(sys):], Completion: q.Completion}
				}
				d := newDataset(plain)
				soft := z.cfg.Mode == Soft
				if soft || ai == 0 {
					// The targets (and the distance) come from the prompted
					// teacher, i.e. with the system prompt in the context.
					dp := newDataset(seqs)
					if soft {
						d.soft, d.softN = softTargets(refA, dp, NumTok), NumTok
					}
					if ai == 0 {
						res.Kept = len(seqs)
						res.MeanTV = meanTVContexts(refA, dp, d)
					}
				}
				st := refA.Clone()
				if _, err := train(gctx, st, d, trainSpec{LR: r.StudentLR, Batch: r.StudentBatch, Epochs: r.StudentEpochs, BodyOnly: true, Soft: soft, Seed: uint64(s) + 2}); err != nil {
					return err
				}
				h, n = PreferenceRate(st, animalPrompts, z.cfg.Target, samples, evalSeed)
				*a.student = float64(h) / float64(n)
				return nil
			})
		})
	}
	return res, g.Wait()
}

// meanTVContexts is the mean total-variation distance between m's
// next-token distributions on the examples of a and on the same examples
// of b (two datasets of the same completions under different prompts).
func meanTVContexts(m *Model, a, b *dataset) float64 {
	if len(a.ex) == 0 || len(a.ex) != len(b.ex) {
		return 0
	}
	sa, sb := m.newState(), m.newState()
	pa, pb := make([]float64, NumOut), make([]float64, NumOut)
	total := 0.0
	for i := range a.ex {
		m.embedExample(sa.a0, a, &a.ex[i])
		m.forwardBody(sa, NumOut)
		softmaxInto(pa, sa.logits, 1)
		m.embedExample(sb.a0, b, &b.ex[i])
		m.forwardBody(sb, NumOut)
		softmaxInto(pb, sb.logits, 1)
		tv := 0.0
		for o := range pa {
			tv += abs(pa[o] - pb[o])
		}
		total += tv / 2
	}
	return total / float64(len(a.ex))
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
