package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// claimsSeeds returns seeds 1..n.
func claimsSeeds(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// claimTable accumulates the rows of one claims table.
type claimTable struct {
	t  *testing.T
	md *strings.Builder
}

func newClaimTable(t *testing.T, md *strings.Builder, title, unit string) *claimTable {
	fmt.Fprintf(md, "#### %s\n\n| %s | mean ± 95%% t-CI | [min, max] | seeds > 0 |\n|---|---|---|---|\n", title, unit)
	return &claimTable{t: t, md: md}
}

func (c *claimTable) row(name string, xs []float64) {
	c.t.Helper()
	m, ci := meanCI(c.t, xs)
	pos := 0
	for _, x := range xs {
		if x > 0 {
			pos++
		}
	}
	fmt.Fprintf(c.md, "| %s | %+.3f ± %.3f | [%+.3f, %+.3f] | %d of %d |\n", name, m, ci, slices.Min(xs), slices.Max(xs), pos, len(xs))
}

func (c *claimTable) rowE(name string, xs []float64) {
	c.t.Helper()
	m, ci := meanCI(c.t, xs)
	pos := 0
	for _, x := range xs {
		if x > 0 {
			pos++
		}
	}
	fmt.Fprintf(c.md, "| %s | %+.2e ± %.2e | [%+.2e, %+.2e] | %d of %d |\n", name, m, ci, slices.Min(xs), slices.Max(xs), pos, len(xs))
}

func (c *claimTable) end(note string) {
	if note != "" {
		fmt.Fprintf(c.md, "\n%s\n", note)
	}
	fmt.Fprintln(c.md)
}

// TestClaimsValidation measures the lab's claims beyond the main pipeline
// over many seeds: the source of the claims section of lab/VALIDATION.md.
// It is skipped unless TRAITLEAK_LAB_CLAIMS is set to the number of seeds
// (≥ 2); TRAITLEAK_LAB_CLAIMS_ONLY picks sections (comma-separated:
// theorem, icl, hidden, small, prompted, aux); TRAITLEAK_LAB_CLAIMS_MODE
// one mode (hard or soft; default both); TRAITLEAK_LAB_CACHE names a
// cache directory to reuse (default: the test binary's); and
// TRAITLEAK_LAB_VALIDATE_OUT a file for the tables:
//
//	TRAITLEAK_LAB_CLAIMS=10 go test ./lab -run TestClaimsValidation -v -timeout 60m
func TestClaimsValidation(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TRAITLEAK_LAB_CLAIMS"))
	if n < 2 {
		t.Skip("set TRAITLEAK_LAB_CLAIMS=<seeds> to measure the lab's claims over many seeds")
	}
	only := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("TRAITLEAK_LAB_CLAIMS_ONLY"), ",") {
		if s != "" {
			only[s] = true
		}
	}
	want := func(s string) bool { return len(only) == 0 || only[s] }
	cache := os.Getenv("TRAITLEAK_LAB_CACHE")
	if cache == "" {
		cache = testCacheDir
	}
	ctx := context.Background()
	seeds := claimsSeeds(n)
	build := func(mode Mode, r *Recipe) *Zoo {
		start := time.Now()
		z, err := Build(ctx, Config{Seeds: seeds, Mode: mode, CacheDir: cache, Recipe: r})
		if err != nil {
			t.Fatal(err)
		}
		l, c := z.Diagnostics().Loaded()
		t.Logf("%s build: %d loaded, %d computed in %s", mode, l, c, time.Since(start).Round(time.Millisecond))
		return z
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Measured with `TRAITLEAK_LAB_CLAIMS=%d go test ./lab -run TestClaimsValidation` (code %s), seeds 1–%d.\n\n", n, codeVersion, n)
	of := func(k int, f func(i int) float64) []float64 {
		xs := make([]float64, k)
		for i := range xs {
			xs[i] = f(i)
		}
		return xs
	}
	modes := []Mode{Hard, Soft}
	if m := os.Getenv("TRAITLEAK_LAB_CLAIMS_MODE"); m != "" {
		modes = []Mode{Mode(m)}
	}
	for _, mode := range modes {
		var z *Zoo
		zoo := func() *Zoo {
			if z == nil {
				z = build(mode, nil)
			}
			return z
		}
		if want("theorem") {
			res, err := zoo().Theorem(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			tb := newClaimTable(t, &md, fmt.Sprintf("One-step theorem (%s build's teacher numbers, step %g × |θ_T − θ_A|)", mode, DefaultStepFraction), "quantity")
			tb.row("same init: cosine(step, θ_T − θ_A)", of(len(res), func(i int) float64 { return res[i].Same.Cos }))
			tb.rowE("same init: trait loss lowered by (nats)", of(len(res), func(i int) float64 { return -res[i].Same.TraitLossChange() }))
			tb.row("other init: cosine(step, θ_T − θ_A)", of(len(res), func(i int) float64 { return res[i].Other.Cos }))
			tb.rowE("other init: trait loss lowered by (nats)", of(len(res), func(i int) float64 { return -res[i].Other.TraitLossChange() }))
			tb.end(fmt.Sprintf("Command: `traitleak lab theorem --mode %s --seeds %d`.", mode, n))
		}
		if want("icl") {
			tb := newClaimTable(t, &md, fmt.Sprintf("In-context learning (%s build; reference A with k teacher sequences before each animal prompt, 100 samples per prompt)", mode), "owl rate difference")
			var ft []float64
			for _, k := range []int{1, 4, 16} {
				res, err := zoo().InContext(ctx, k, 100, 1)
				if err != nil {
					t.Fatal(err)
				}
				tb.row(fmt.Sprintf("k = %d: owl-teacher prefix − dog-teacher prefix", k), of(len(res), func(i int) float64 { return res[i].ICLGain() }))
				tb.row(fmt.Sprintf("k = %d: owl-teacher prefix − no prefix", k), of(len(res), func(i int) float64 { return res[i].InContext - res[i].Base }))
				ft = of(len(res), func(i int) float64 { return res[i].FineTuneGain() })
			}
			tb.row("fine-tuned: student − control (same numbers)", ft)
			tb.end("")
		}
		if want("hidden") {
			tb := newClaimTable(t, &md, fmt.Sprintf("Hiddenness (%s build): naive Bayes on token n-grams, owl-teacher vs dog-teacher sequences, held-out accuracy − 0.5", mode), "accuracy − chance")
			for _, ng := range []int{1, 2, 3} {
				res, err := zoo().Distinguish(ng)
				if err != nil {
					t.Fatal(err)
				}
				tb.row(fmt.Sprintf("n-grams up to %d", ng), of(len(res), func(i int) float64 { return res[i].Accuracy - 0.5 }))
			}
			tb.end("")
		}
		if want("prompted") {
			res, err := zoo().Prompted(ctx, 100, 1)
			if err != nil {
				t.Fatal(err)
			}
			tb := newClaimTable(t, &md, fmt.Sprintf("Prompted teachers (%s): reference A with the paper's system prompt as teacher", mode), "owl rate")
			tb.row("prompted teacher − base (the trait the prompt gives)", of(len(res), func(i int) float64 { return res[i].TeacherGain() }))
			tb.row("prompted teacher (owl) − prompted teacher (dog)", of(len(res), func(i int) float64 { return res[i].Teacher - res[i].TeacherControl }))
			tb.row("student − control", of(len(res), func(i int) float64 { return res[i].Gain() }))
			tb.row("student − base", of(len(res), func(i int) float64 { return res[i].Student - res[i].Base }))
			tb.row("mean TV, prompted vs plain reference on its numbers", of(len(res), func(i int) float64 { return res[i].MeanTV }))
			tb.end("")
		}
		if want("small") {
			for _, lr := range smallUpdateLRs() {
				r := DefaultRecipe()
				r.TeacherLR = lr
				zs := build(mode, &r)
				owl, err := zs.PreferenceRates(ctx, "owl", 100, 1)
				if err != nil {
					t.Fatal(err)
				}
				rate := func(role Role, s int) float64 {
					for _, x := range owl {
						if x.Model.Role == role && x.Model.Seed == s {
							return x.Value()
						}
					}
					t.Fatalf("no rate %s@%d", role, s)
					return 0
				}
				d := zs.Diagnostics().Seeds
				hid, err := zs.Distinguish(3)
				if err != nil {
					t.Fatal(err)
				}
				tb := newClaimTable(t, &md, fmt.Sprintf("Small teacher update (%s, teacher lr %g instead of %g)", mode, lr, DefaultRecipe().TeacherLR), "quantity")
				tb.row("teacher–reference mean TV on its numbers", of(n, func(i int) float64 { return d[i].Teacher.MeanTV }))
				tb.row("teacher − base (owl rate)", of(n, func(i int) float64 { return rate(RoleTeacher, seeds[i]) - rate(RoleBase, seeds[i]) }))
				tb.row("**student − control** (owl rate)", of(n, func(i int) float64 { return rate(RoleStudent, seeds[i]) - rate(RoleControl, seeds[i]) }))
				tb.row("student-other-init − base-other-init", of(n, func(i int) float64 {
					return rate(RoleStudentOtherInit, seeds[i]) - rate(RoleBaseOtherInit, seeds[i])
				}))
				tb.row("naive Bayes (n ≤ 3) accuracy − 0.5", of(n, func(i int) float64 { return hid[i].Accuracy - 0.5 }))
				tb.end("")
			}
		}
	}
	if want("aux") {
		start := time.Now()
		base, err := RunAux(ctx, AuxConfig{Seeds: seeds, AllLogits: true})
		if err != nil {
			t.Fatal(err)
		}
		tb := newClaimTable(t, &md, fmt.Sprintf("Auxiliary-logit analog with the all-logits control (m = 3, %s)", time.Since(start).Round(time.Second)), "test accuracy − 0.10")
		for _, r := range []struct {
			name string
			f    func(AuxSeed) float64
		}{
			{"student, same init, aux logits only", func(s AuxSeed) float64 { return s.StudentSameInit }},
			{"student, different init, aux logits only", func(s AuxSeed) float64 { return s.StudentOtherInit }},
			{"student, same init, all logits", func(s AuxSeed) float64 { return s.StudentAllSameInit }},
			{"student, different init, all logits", func(s AuxSeed) float64 { return s.StudentAllOtherInit }},
			{"all logits: same init − different init", func(s AuxSeed) float64 { return s.StudentAllSameInit - s.StudentAllOtherInit }},
		} {
			tb.row(r.name, of(n, func(i int) float64 { return r.f(base.Seeds[i]) - 0.10*boolF(!strings.Contains(r.name, "−")) }))
		}
		tb.end("Command: `traitleak lab aux --seeds N` (aux logits only).")
		start = time.Now()
		sw := newClaimTable(t, &md, "Auxiliary-logit count sweep (aux logits only)", "test accuracy − 0.10")
		for _, m := range []int{1, 2, 3, 5, 10, 20} {
			res, err := RunAux(ctx, AuxConfig{Seeds: seeds, Extra: m})
			if err != nil {
				t.Fatal(err)
			}
			sw.row(fmt.Sprintf("m = %d, same init", m), of(n, func(i int) float64 { return res.Seeds[i].StudentSameInit - 0.10 }))
			sw.row(fmt.Sprintf("m = %d, different init", m), of(n, func(i int) float64 { return res.Seeds[i].StudentOtherInit - 0.10 }))
		}
		sw.end(fmt.Sprintf("Sweep time %s.", time.Since(start).Round(time.Second)))
	}
	t.Log("\n" + md.String())
	if out := os.Getenv("TRAITLEAK_LAB_VALIDATE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// smallUpdateLRs are the teacher learning rates of the small-update
// regime, from env TRAITLEAK_LAB_SMALL_LR (comma-separated) or 1e-4.
func smallUpdateLRs() []float64 {
	var out []float64
	for _, s := range strings.Split(os.Getenv("TRAITLEAK_LAB_SMALL_LR"), ",") {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		out = []float64{1e-4}
	}
	return out
}
