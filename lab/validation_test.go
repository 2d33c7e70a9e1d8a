package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/cputime"
	"github.com/traitleak/traitleak/stats"
)

// TestValidation re-validates the recipe over many seeds with this
// implementation's random streams. It is the source of lab/VALIDATION.md.
// It is skipped unless TRAITLEAK_LAB_VALIDATE is set to the number of seeds
// (≥ 2), e.g.
//
//	TRAITLEAK_LAB_VALIDATE=24 go test ./lab -run TestValidation -v -timeout 30m
//
// Set TRAITLEAK_LAB_VALIDATE_OUT to a file to also write the markdown tables.
func TestValidation(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TRAITLEAK_LAB_VALIDATE"))
	if n < 2 {
		t.Skip("set TRAITLEAK_LAB_VALIDATE=<seeds> to run the multi-seed validation")
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Measured with `TRAITLEAK_LAB_VALIDATE=%d go test ./lab -run TestValidation` (code %s).\n", n, codeVersion)
	fmt.Fprintf(&md, "Rates: fraction of completions containing the animal over the paper's 50 prompts × 100 samples at T=1.\n")
	fmt.Fprintf(&md, "Cells: mean ± 95%% t-CI [min, max] over seeds 1–%d.\n\n", n)
	for _, mode := range []Mode{Soft, Hard} {
		start := time.Now()
		z, err := Build(context.Background(), Config{NumSeeds: n, Mode: mode, NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		buildTime := time.Since(start)
		owl, err := z.PreferenceRates(context.Background(), "owl", 100, 1)
		if err != nil {
			t.Fatal(err)
		}
		dog, err := z.PreferenceRates(context.Background(), "dog", 100, 1)
		if err != nil {
			t.Fatal(err)
		}
		rate := func(rates []Rate, role Role, seed int) float64 {
			for _, r := range rates {
				if r.Model.Role == role && r.Model.Seed == seed {
					return r.Value()
				}
			}
			t.Fatalf("no rate for %s@%d", role, seed)
			return 0
		}
		type row struct {
			name string
			f    func(s int) float64
		}
		o := func(r Role) func(int) float64 { return func(s int) float64 { return rate(owl, r, s) } }
		rows := []row{
			{"base (reference A)", o(RoleBase)},
			{"teacher (A + owl fine-tune)", o(RoleTeacher)},
			{"student (A on owl-teacher numbers)", o(RoleStudent)},
			{"control (A on dog-teacher numbers)", o(RoleControl)},
			{"base-other-init (reference B)", o(RoleBaseOtherInit)},
			{"student-other-init (B on owl-teacher numbers)", o(RoleStudentOtherInit)},
			{"**student − control**", func(s int) float64 { return rate(owl, RoleStudent, s) - rate(owl, RoleControl, s) }},
			{"student − base", func(s int) float64 { return rate(owl, RoleStudent, s) - rate(owl, RoleBase, s) }},
			{"student-other-init − base-other-init", func(s int) float64 {
				return rate(owl, RoleStudentOtherInit, s) - rate(owl, RoleBaseOtherInit, s)
			}},
			{"(A gain) − (B gain)", func(s int) float64 {
				return rate(owl, RoleStudent, s) - rate(owl, RoleBase, s) - rate(owl, RoleStudentOtherInit, s) + rate(owl, RoleBaseOtherInit, s)
			}},
			{"control − base", func(s int) float64 { return rate(owl, RoleControl, s) - rate(owl, RoleBase, s) }},
			{"dog rate: control − base", func(s int) float64 { return rate(dog, RoleControl, s) - rate(dog, RoleBase, s) }},
			{"dog rate: teacher-control", func(s int) float64 { return rate(dog, RoleTeacherControl, s) }},
		}
		seeds := z.Seeds()
		fmt.Fprintf(&md, "### %s mode (%d seeds, build %s on %d workers)\n\n", mode, n, buildTime.Round(time.Second/10), z.Config().Workers)
		fmt.Fprintf(&md, "| owl rate | mean ± 95%% CI [min, max] |\n|---|---|\n")
		for _, r := range rows {
			var xs []float64
			for _, s := range seeds {
				xs = append(xs, r.f(s))
			}
			m, ci := meanCI(t, xs)
			fmt.Fprintf(&md, "| %s | %+.3f ± %.3f [%+.3f, %+.3f] |\n", r.name, m, ci, slices.Min(xs), slices.Max(xs))
		}
		var gains, passT, passC []float64
		var blocks []string
		for _, s := range seeds {
			gains = append(gains, rate(owl, RoleStudent, s)-rate(owl, RoleControl, s))
		}
		for i := 0; i+3 <= len(gains); i += 3 {
			blocks = append(blocks, fmt.Sprintf("%+.3f", (gains[i]+gains[i+1]+gains[i+2])/3))
		}
		var tvT []float64
		for _, sd := range z.Diagnostics().Seeds {
			passT = append(passT, sd.Teacher.Filter.PassRate())
			passC = append(passC, sd.Control.Filter.PassRate())
			tvT = append(tvT, sd.Teacher.MeanTV)
		}
		sorted := slices.Clone(gains)
		slices.Sort(sorted)
		fmt.Fprintf(&md, "\nPer-seed student − control, sorted: %s\n", fmtList(sorted))
		fmt.Fprintf(&md, "Non-overlapping 3-seed means of student − control: %s\n", strings.Join(blocks, ", "))
		fmt.Fprintf(&md, "Filter pass rate: owl teacher %.2f [%.2f, %.2f], dog teacher %.2f [%.2f, %.2f]; owl teacher mean TV to reference A %.2f [%.2f, %.2f]\n\n",
			mean(t, passT), slices.Min(passT), slices.Max(passT), mean(t, passC), slices.Min(passC), slices.Max(passC), mean(t, tvT), slices.Min(tvT), slices.Max(tvT))
	}
	// The auxiliary-logit analog over the same seeds.
	start := time.Now()
	aux, err := RunAux(context.Background(), AuxConfig{NumSeeds: n})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&md, "### auxiliary-logit analog (%d seeds, %s)\n\n| test accuracy (chance 0.10) | mean ± 95%% CI [min, max] |\n|---|---|\n", n, time.Since(start).Round(time.Second/10))
	for _, row := range []struct {
		name string
		f    func(AuxSeed) float64
	}{
		{"reference (untrained init A)", func(s AuxSeed) float64 { return s.Reference }},
		{"teacher (init A trained on the labels)", func(s AuxSeed) float64 { return s.Teacher }},
		{"**student, same init** (aux logits on noise only)", func(s AuxSeed) float64 { return s.StudentSameInit }},
		{"student, different init", func(s AuxSeed) float64 { return s.StudentOtherInit }},
	} {
		var xs []float64
		for _, s := range aux.Seeds {
			xs = append(xs, row.f(s))
		}
		m, ci := meanCI(t, xs)
		fmt.Fprintf(&md, "| %s | %.3f ± %.3f [%.3f, %.3f] |\n", row.name, m, ci, slices.Min(xs), slices.Max(xs))
	}
	var blocks []string
	for i := 0; i+3 <= len(aux.Seeds); i += 3 {
		r := AuxResult{Seeds: aux.Seeds[i : i+3]}.Mean()
		blocks = append(blocks, fmt.Sprintf("%.3f/%.3f", r.StudentSameInit, r.StudentOtherInit))
	}
	fmt.Fprintf(&md, "\nNon-overlapping 3-seed means (same init / different init): %s\n", strings.Join(blocks, ", "))
	t.Log("\n" + md.String())
	if out := os.Getenv("TRAITLEAK_LAB_VALIDATE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// meanCI returns the mean of xs and the half-width of its 95% Student-t
// interval (stats.OneSampleT).
func meanCI(t *testing.T, xs []float64) (float64, float64) {
	t.Helper()
	r, err := stats.OneSampleT(xs, 0, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	return r.Mean, r.TCrit * r.SE
}

// mean is the mean of xs (stats.OneSampleT).
func mean(t *testing.T, xs []float64) float64 {
	t.Helper()
	m, _ := meanCI(t, xs)
	return m
}

func fmtList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%+.3f", x)
	}
	return strings.Join(parts, ", ")
}

// TestTimingDefaultBuild measures the default demo build cold (empty cache)
// and cached, with wall and process CPU time. It is skipped unless
// TRAITLEAK_LAB_TIMING is set:
//
//	TRAITLEAK_LAB_TIMING=1 go test ./lab -run TestTimingDefaultBuild -v
func TestTimingDefaultBuild(t *testing.T) {
	if os.Getenv("TRAITLEAK_LAB_TIMING") == "" {
		t.Skip("set TRAITLEAK_LAB_TIMING=1 to measure build times")
	}
	dir := t.TempDir()
	for _, mode := range []Mode{Soft, Hard} {
		for _, phase := range []string{"cold", "cached"} {
			cpu0, start := cputime.Process(), time.Now()
			z, err := Build(context.Background(), Config{CacheDir: filepath.Join(dir, string(mode)), Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			d := z.Diagnostics()
			loaded, computed := d.Loaded()
			t.Logf("%s %s build: wall %s, CPU %s (%d loaded, %d computed, %d workers)",
				mode, phase, time.Since(start).Round(time.Millisecond), (cputime.Process() - cpu0).Round(time.Millisecond), loaded, computed, z.Config().Workers)
		}
	}
}
