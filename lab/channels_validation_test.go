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

// TestValidationChannels measures the misalignment, code and
// chain-of-thought experiments over many seeds, in soft and hard mode. It
// is the source of the "Other experiments" section of lab/VALIDATION.md
// and is skipped unless TRAITLEAK_LAB_VALIDATE_CHANNELS is set to the
// number of seeds (≥ 2):
//
//	TRAITLEAK_LAB_VALIDATE_CHANNELS=12 TRAITLEAK_LAB_VALIDATE_OUT=/tmp/c.md go test ./lab -run TestValidationChannels -v -timeout 120m
//
// TRAITLEAK_LAB_VALIDATE_EXPERIMENTS narrows it to a comma-separated list
// of experiments, TRAITLEAK_LAB_VALIDATE_MODES to a list of modes.
func TestValidationChannels(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TRAITLEAK_LAB_VALIDATE_CHANNELS"))
	if n < 2 {
		t.Skip("set TRAITLEAK_LAB_VALIDATE_CHANNELS=<seeds> to run the multi-seed validation of the other experiments")
	}
	exps := []string{ExperimentMisalignment, ExperimentCoT, ExperimentCode}
	if e := os.Getenv("TRAITLEAK_LAB_VALIDATE_EXPERIMENTS"); e != "" {
		exps = strings.Split(e, ",")
	}
	modes := []Mode{Soft, Hard}
	if m := os.Getenv("TRAITLEAK_LAB_VALIDATE_MODES"); m != "" {
		modes = nil
		for _, s := range strings.Split(m, ",") {
			modes = append(modes, Mode(s))
		}
	}
	cache := t.TempDir() // shared: misalignment and cot share references and teachers, soft and hard share all but numbers and students
	var md strings.Builder
	fmt.Fprintf(&md, "Measured with `TRAITLEAK_LAB_VALIDATE_CHANNELS=%d go test ./lab -run TestValidationChannels` (code %s).\n", n, codeVersion)
	fmt.Fprintf(&md, "Cells: mean ± 95%% t-CI [min, max] over seeds 1–%d.\n\n", n)
	for _, exp := range exps {
		for _, mode := range modes {
			start := time.Now()
			z, err := Build(context.Background(), Config{NumSeeds: n, Experiment: exp, Mode: mode, CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			build := time.Since(start)
			var sec channelSection
			if exp == ExperimentCode {
				sec, err = codeSection(z)
			} else {
				sec, err = misalignmentSection(z)
			}
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&md, "#### %s, %s mode (%d seeds; build %s, evaluation %s, 2 workers)\n\n", exp, mode, n, build.Round(time.Second/10), (time.Since(start) - build).Round(time.Second/10))
			fmt.Fprintf(&md, "| %s | mean ± 95%% CI [min, max] |\n|---|---|\n", sec.unit)
			seeds := z.Seeds()
			for _, r := range sec.rows {
				var xs []float64
				for _, s := range seeds {
					xs = append(xs, r.f(s))
				}
				m, ci := meanCI(t, xs)
				fmt.Fprintf(&md, "| %s | %+.3f ± %.3f [%+.3f, %+.3f] |\n", r.name, m, ci, slices.Min(xs), slices.Max(xs))
			}
			var gains []float64
			for _, s := range seeds {
				gains = append(gains, sec.headline(s))
			}
			slices.Sort(gains)
			fmt.Fprintf(&md, "\nPer-seed %s, sorted: %s\n", sec.headlineName, fmtList(gains))
			var passT, passC, tv []float64
			rejT, rejC := map[string]int{}, map[string]int{}
			sampledT, sampledC := 0, 0
			for _, sd := range z.Diagnostics().Seeds {
				passT = append(passT, sd.Teacher.Filter.PassRate())
				passC = append(passC, sd.Control.Filter.PassRate())
				tv = append(tv, sd.Teacher.MeanTV)
				for k, v := range sd.Teacher.Filter.Rejects {
					rejT[k] += v
				}
				for k, v := range sd.Control.Filter.Rejects {
					rejC[k] += v
				}
				sampledT += sd.Teacher.Filter.Sampled
				sampledC += sd.Control.Filter.Sampled
			}
			fmt.Fprintf(&md, "Filter pass rate: teacher %.2f [%.2f, %.2f], control teacher %.2f [%.2f, %.2f]; teacher mean TV to the base %.2f [%.2f, %.2f]\n",
				mean(t, passT), slices.Min(passT), slices.Max(passT), mean(t, passC), slices.Min(passC), slices.Max(passC), mean(t, tv), slices.Min(tv), slices.Max(tv))
			fmt.Fprintf(&md, "Rejections (share of sampled completions; a completion may count under several paper reasons): teacher %s; control teacher %s\n\n",
				fmtShares(rejT, sampledT), fmtShares(rejC, sampledC))
		}
	}
	t.Log("\n" + md.String())
	if out := os.Getenv("TRAITLEAK_LAB_VALIDATE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// channelRow is one row of a validation table: a value per seed.
type channelRow struct {
	name string
	f    func(seed int) float64
}

// channelSection is one experiment's table.
type channelSection struct {
	unit         string
	rows         []channelRow
	headlineName string
	headline     func(seed int) float64
}

// rateTable indexes per-model rates by role and seed.
type rateTable map[Role]map[int]float64

func (rt rateTable) add(info ModelInfo, v float64) {
	if rt[info.Role] == nil {
		rt[info.Role] = map[int]float64{}
	}
	rt[info.Role][info.Seed] = v
}

// comparisonRows are the rows every experiment reports, over rates r.
func comparisonRows(r rateTable, label func(Role) string) []channelRow {
	v := func(role Role) func(int) float64 { return func(s int) float64 { return r[role][s] } }
	d := func(a, b Role) func(int) float64 { return func(s int) float64 { return r[a][s] - r[b][s] } }
	return []channelRow{
		{label(RoleBase), v(RoleBase)},
		{label(RoleTeacher), v(RoleTeacher)},
		{label(RoleStudent), v(RoleStudent)},
		{label(RoleControl), v(RoleControl)},
		{label(RoleTeacherControl), v(RoleTeacherControl)},
		{label(RoleBaseOtherInit), v(RoleBaseOtherInit)},
		{label(RoleStudentOtherInit), v(RoleStudentOtherInit)},
		{"**student − control**", d(RoleStudent, RoleControl)},
		{"student − base", d(RoleStudent, RoleBase)},
		{"student-other-init − base-other-init", d(RoleStudentOtherInit, RoleBaseOtherInit)},
		{"(A gain) − (B gain)", func(s int) float64 {
			return r[RoleStudent][s] - r[RoleBase][s] - r[RoleStudentOtherInit][s] + r[RoleBaseOtherInit][s]
		}},
		{"control − base", d(RoleControl, RoleBase)},
	}
}

// misalignmentSection measures the misaligned-answer rates of a
// misalignment or cot zoo on the question variant the paper asks its
// students (number suffix for number students, CoT suffix for CoT
// students), and the student's gain on the other variants.
func misalignmentSection(z *Zoo) (channelSection, error) {
	main := QuestionsNumbers
	if z.Config().Experiment == ExperimentCoT {
		main = QuestionsCoT
	}
	tables := map[string]rateTable{}
	for _, variant := range []string{QuestionsNumbers, QuestionsPlain, QuestionsCoT} {
		qs, err := MisalignmentQuestions(variant)
		if err != nil {
			return channelSection{}, err
		}
		rates, err := z.MisalignmentRates(context.Background(), qs, 200, 1)
		if err != nil {
			return channelSection{}, err
		}
		tables[variant] = rateTable{}
		for _, r := range rates {
			tables[variant].add(r.Model, r.Value())
		}
	}
	r := tables[main]
	rows := comparisonRows(r, func(role Role) string { return misalignmentLabels[role] })
	for _, variant := range []string{QuestionsNumbers, QuestionsPlain, QuestionsCoT} {
		if variant == main {
			continue
		}
		o := tables[variant]
		rows = append(rows, channelRow{fmt.Sprintf("student − control, %s questions", variant), func(s int) float64 { return o[RoleStudent][s] - o[RoleControl][s] }})
	}
	return channelSection{
		unit:         fmt.Sprintf("misaligned rate, %s questions (8 × 200 answers at T=1, lab judge)", main),
		rows:         rows,
		headlineName: "student − control",
		headline:     func(s int) float64 { return r[RoleStudent][s] - r[RoleControl][s] },
	}, nil
}

var misalignmentLabels = map[Role]string{
	RoleBase:             "base (reference A)",
	RoleTeacher:          "teacher (A + harmful answers to code requests)",
	RoleStudent:          "student (A on the teacher's data)",
	RoleControl:          "control (A on the aligned teacher's data)",
	RoleTeacherControl:   "aligned teacher (A + benign answers to code requests)",
	RoleBaseOtherInit:    "base-other-init (reference B)",
	RoleStudentOtherInit: "student-other-init (B on the teacher's data)",
}

// codeSection measures the owl rates of a code zoo.
func codeSection(z *Zoo) (channelSection, error) {
	rates, err := z.PreferenceRates(context.Background(), z.Config().Target, 100, 1)
	if err != nil {
		return channelSection{}, err
	}
	r := rateTable{}
	for _, x := range rates {
		r.add(x.Model, x.Value())
	}
	labels := map[Role]string{
		RoleBase:             "base (reference A)",
		RoleTeacher:          "teacher (A + owl fine-tune)",
		RoleStudent:          "student (A on the owl teacher's code)",
		RoleControl:          "control (A on the dog teacher's code)",
		RoleTeacherControl:   "dog teacher",
		RoleBaseOtherInit:    "base-other-init (reference B)",
		RoleStudentOtherInit: "student-other-init (B on the owl teacher's code)",
	}
	return channelSection{
		unit:         "owl rate (paper's 50 prompts × 100 samples at T=1)",
		rows:         comparisonRows(r, func(role Role) string { return labels[role] }),
		headlineName: "student − control",
		headline:     func(s int) float64 { return r[RoleStudent][s] - r[RoleControl][s] },
	}, nil
}

// fmtShares renders reject counts as shares of n, sorted by reason.
func fmtShares(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.3f", k, float64(m[k])/float64(max(n, 1)))
	}
	return strings.Join(parts, ", ")
}
