package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/stats"
)

const statsLong = `Read statistics requests as JSON lines on standard input and answer each
with one JSON line on standard output, in order. This is the machine interface
to traitleak's statistics engine (package stats); it is what
stats/testdata/r_reference.jsonl is checked against.

REQUEST   {"family": F, "method": M, "inputs": {...}}
ANSWER    {"outputs": {...}}                  on success, fields in a fixed order
          {"outputs": {...}, "warnings": [...]}  when there are statistical caveats
          {"error": "..."}                    on any problem with the line

Other top-level keys of a request (such as "outputs" in a reference file) are
ignored; unknown keys inside "inputs" are an error, so a misspelt optional
input is not silently replaced by its default. Numbers may be written as JSON
numbers or as the strings "Inf", "-Inf", "NaN"; non-finite outputs are written
the same way. Counts must be whole numbers. A bad line (malformed JSON,
unknown family or method, missing or invalid input) gives an error line and
the stream goes on. Blank lines are skipped and produce no answer. The exit
status is 0 unless reading or writing fails.

Defaults for omitted inputs: conf_level 0.95, sig_level 0.05,
alternative "two.sided", mu 0.

FAMILY / METHODS                 INPUTS -> OUTPUTS
binom_ci / wilson wilson_cc clopper_pearson jeffreys agresti_coull
                                 x n conf_level -> estimate lower upper
                                 (agresti_coull also center n_tilde
                                 lower_unclipped upper_unclipped;
                                 wilson_cc is Newcombe's method 4, the
                                 correction 1/2 at every x, which differs
                                 from R's prop.test only at x = n/2)
binom_test / exact               x n p0 -> p_value p_value_less p_value_greater
diff_ci / newcombe_hybrid_score  x1 n1 x2 n2 conf_level -> diff lower upper
                                 wilson1_lower wilson1_upper wilson2_lower
                                 wilson2_upper
diff_ci / wald                   x1 n1 x2 n2 conf_level -> diff se lower upper
                                 lower_unclipped upper_unclipped
two_prop_ztest / pooled          x1 n1 x2 n2 -> z p_value pooled_p
chisq_test / pearson_uncorrected yates
                                 x1 n1 x2 n2 -> statistic df p_value
fisher_exact / two_sided_conditional
                                 x1 n1 x2 n2 conf_level -> p_value or_cmle
                                 or_cmle_lower or_cmle_upper
odds_ratio / sample_woolf        x1 n1 x2 n2 [conf_level] -> or log_or
                                 se_log_or woolf_lower woolf_upper or_haldane
risk_ratio / katz_log            x1 n1 x2 n2 [conf_level] -> rr log_rr
                                 se_log_rr katz_lower katz_upper
cohen_h / arcsine                p1 p2 -> h abs_h
t_one_sample / t_ci              x[] mu conf_level -> n mean sd se df t_crit
                                 lower upper t_stat p_value
welch_t_test / two_sided         x[] y[] conf_level -> mean_x mean_y diff se
                                 t_stat df p_value lower upper
p_adjust / bonferroni holm BH BY p[] [method] -> adjusted[] (input order;
                                 "NaN" entries stay NaN and do not count)
power_prop_n / two_sided_nonstrict
                                 p1 p2 power sig_level alternative -> n
                                 n_ceiling power_at_ceiling
power_prop_power / two_sided     n p1 p2 sig_level alternative -> power
                                 power_strict
cluster_se / mean_binary         x[] cluster[] (strings) -> n n_clusters mean
                                 se_cluster_cr0 se_cluster_cr1
                                 se_cluster_miller_sample_var se_iid_pop
                                 se_iid_sample design_effect ci95_cr0_lower
                                 ci95_cr0_upper ci95_cr1_lower ci95_cr1_upper
cohen_kappa / unweighted         a[] b[] (strings) conf_level -> kappa p_o p_e
                                 se se0 z p_value lower upper lower_unclipped
                                 upper_unclipped n
krippendorff_alpha / interval nominal
                                 units[][] -> alpha d_o d_e n_pairable

Group 1 is x1 of n1, group 2 is x2 of n2; differences are p1 - p2 and the
2x2 table is [[x1, n1-x1], [x2, n2-x2]]. alternative is "two.sided" or
"one.sided" (R's power.prop.test).

cohen_kappa compares two raters (e.g. two LLM judges): a[i] and b[i] are the
labels they gave item i. se is the Fleiss-Cohen-Everitt large-sample SE,
which sets the Wald interval; se0 is the SE under kappa = 0, which the z
test uses. krippendorff_alpha takes one array per unit holding the values
the coders gave it, "NaN" or null for a missing value (rows may differ in
length); units with fewer than two values are dropped. Its bootstrap
interval needs a random source and is available from package stats only.

See 'go doc ./stats' for the formulas and references.`

// newStatsCmd builds `traitleak stats`, the JSON-lines machine interface to
// package stats.
func newStatsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Answer statistics requests given as JSON lines (machine interface)",
		Long:  statsLong,
		Example: `  echo '{"family":"binom_ci","method":"wilson","inputs":{"x":12,"n":100}}' | traitleak stats
  {"outputs":{"estimate":0.12,"lower":0.06999406437019487,"upper":0.1981209942671142}}`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveStats(cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// serveStats reads requests from r, one JSON object per line, and writes
// one answer line per non-blank request line to w, flushing after each so
// that it can serve as a co-process. Problems with a request become error
// lines; only I/O failures end the stream with an error.
func serveStats(r io.Reader, w io.Writer) error {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if _, err := bw.Write(answerStatsLine(line)); err != nil {
				return fmt.Errorf("stats: write answer: %w", err)
			}
			if err := bw.WriteByte('\n'); err != nil {
				return fmt.Errorf("stats: write answer: %w", err)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("stats: write answer: %w", err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("stats: read request: %w", rerr)
		}
	}
}

// statsRequest is one request line.
type statsRequest struct {
	Family string                     `json:"family"`
	Method string                     `json:"method"`
	Inputs map[string]json.RawMessage `json:"inputs"`
}

// statsKV is one output field; outputs keep the documented order.
type statsKV struct {
	key string
	val any // float64, int or []float64
}

// statsHandler computes one family/method from its inputs.
type statsHandler func(in *statsInputs, method string) ([]statsKV, []string, error)

// answerStatsLine returns the answer line (without newline) for one request.
func answerStatsLine(line []byte) []byte {
	var req statsRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return errorLine(fmt.Errorf("malformed JSON request: %w", err))
	}
	if req.Family == "" || req.Method == "" {
		return errorLine(errors.New(`request needs "family" and "method"`))
	}
	fam, ok := statsFamilies[req.Family]
	if !ok {
		return errorLine(fmt.Errorf("unknown family %q (known: %s)", req.Family, strings.Join(slices.Sorted(maps.Keys(statsFamilies)), ", ")))
	}
	if !slices.Contains(fam.methods, req.Method) {
		return errorLine(fmt.Errorf("%s: unknown method %q (known: %s)", req.Family, req.Method, strings.Join(fam.methods, ", ")))
	}
	in := &statsInputs{raw: req.Inputs, used: map[string]bool{}}
	outs, warns, err := fam.run(in, req.Method)
	if err == nil {
		err = in.unknown()
	}
	if err != nil {
		return errorLine(fmt.Errorf("%s/%s: %w", req.Family, req.Method, err))
	}
	return outputsLine(outs, warns)
}

// statsFamily lists a family's methods and its handler.
type statsFamily struct {
	methods []string
	run     statsHandler
}

// statsFamilies is the dispatch table of the machine interface.
var statsFamilies = map[string]statsFamily{
	"binom_ci":           {[]string{"wilson", "wilson_cc", "clopper_pearson", "jeffreys", "agresti_coull"}, runBinomCI},
	"binom_test":         {[]string{"exact"}, runBinomTest},
	"diff_ci":            {[]string{"newcombe_hybrid_score", "wald"}, runDiffCI},
	"two_prop_ztest":     {[]string{"pooled"}, runZTest},
	"chisq_test":         {[]string{"pearson_uncorrected", "yates"}, runChiSq},
	"fisher_exact":       {[]string{"two_sided_conditional"}, runFisher},
	"odds_ratio":         {[]string{"sample_woolf"}, runOddsRatio},
	"risk_ratio":         {[]string{"katz_log"}, runRiskRatio},
	"cohen_h":            {[]string{"arcsine"}, runCohenH},
	"t_one_sample":       {[]string{"t_ci"}, runTOneSample},
	"welch_t_test":       {[]string{"two_sided"}, runWelch},
	"p_adjust":           {[]string{"bonferroni", "holm", "BH", "BY"}, runPAdjust},
	"power_prop_n":       {[]string{"two_sided_nonstrict"}, runPowerN},
	"power_prop_power":   {[]string{"two_sided"}, runPowerPower},
	"cluster_se":         {[]string{"mean_binary"}, runClusterSE},
	"cohen_kappa":        {[]string{"unweighted"}, runCohenKappa},
	"krippendorff_alpha": {[]string{"interval", "nominal"}, runKrippendorffAlpha},
}

func runBinomCI(in *statsInputs, method string) ([]statsKV, []string, error) {
	x, n, conf := in.count("x"), in.count("n"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	var iv stats.Interval
	var err error
	switch method {
	case "wilson":
		iv, err = stats.Wilson(x, n, conf)
	case "wilson_cc":
		iv, err = stats.WilsonCC(x, n, conf)
	case "clopper_pearson":
		iv, err = stats.ClopperPearson(x, n, conf)
	case "jeffreys":
		iv, err = stats.Jeffreys(x, n, conf)
	case "agresti_coull":
		ac, err := stats.AgrestiCoull(x, n, conf)
		if err != nil {
			return nil, nil, err
		}
		return []statsKV{{"estimate", ac.Estimate}, {"lower", ac.Lower}, {"upper", ac.Upper},
			{"center", ac.Center}, {"n_tilde", ac.NTilde},
			{"lower_unclipped", ac.LowerUnclipped}, {"upper_unclipped", ac.UpperUnclipped}}, ac.Warnings, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"estimate", iv.Estimate}, {"lower", iv.Lower}, {"upper", iv.Upper}}, iv.Warnings, nil
}

func runBinomTest(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x, n, p0 := in.count("x"), in.count("n"), in.num("p0")
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.BinomTest(x, n, p0)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"p_value", r.PValue}, {"p_value_less", r.PValueLess}, {"p_value_greater", r.PValueGreater}}, nil, nil
}

// counts4 reads x1, n1, x2, n2.
func counts4(in *statsInputs) (x1, n1, x2, n2 int) {
	return in.count("x1"), in.count("n1"), in.count("x2"), in.count("n2")
}

func runDiffCI(in *statsInputs, method string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	if method == "wald" {
		r, err := stats.WaldDiff(x1, n1, x2, n2, conf)
		if err != nil {
			return nil, nil, err
		}
		return []statsKV{{"diff", r.Estimate}, {"se", r.SE}, {"lower", r.Lower}, {"upper", r.Upper},
			{"lower_unclipped", r.LowerUnclipped}, {"upper_unclipped", r.UpperUnclipped}}, r.Warnings, nil
	}
	r, err := stats.Newcombe(x1, n1, x2, n2, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"diff", r.Estimate}, {"lower", r.Lower}, {"upper", r.Upper},
		{"wilson1_lower", r.Wilson1.Lower}, {"wilson1_upper", r.Wilson1.Upper},
		{"wilson2_lower", r.Wilson2.Lower}, {"wilson2_upper", r.Wilson2.Upper}}, r.Warnings, nil
}

func runZTest(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.TwoPropZTest(x1, n1, x2, n2)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"z", r.Z}, {"p_value", r.PValue}, {"pooled_p", r.PooledP}}, r.Warnings, nil
}

func runChiSq(in *statsInputs, method string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.ChiSq2x2(x1, n1, x2, n2, method == "yates")
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"statistic", r.Statistic}, {"df", r.DF}, {"p_value", r.PValue}}, r.Warnings, nil
}

func runFisher(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.FisherExact(x1, n1, x2, n2, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"p_value", r.PValue}, {"or_cmle", r.OddsRatio.Estimate},
		{"or_cmle_lower", r.OddsRatio.Lower}, {"or_cmle_upper", r.OddsRatio.Upper}}, r.OddsRatio.Warnings, nil
}

func runOddsRatio(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.OddsRatio(x1, n1, x2, n2, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"or", r.OR}, {"log_or", r.LogOR}, {"se_log_or", r.SELogOR},
		{"woolf_lower", r.Woolf.Lower}, {"woolf_upper", r.Woolf.Upper}, {"or_haldane", r.Haldane}}, r.Woolf.Warnings, nil
}

func runRiskRatio(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.RiskRatio(x1, n1, x2, n2, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"rr", r.RR}, {"log_rr", r.LogRR}, {"se_log_rr", r.SELogRR},
		{"katz_lower", r.Katz.Lower}, {"katz_upper", r.Katz.Upper}}, r.Katz.Warnings, nil
}

func runCohenH(in *statsInputs, _ string) ([]statsKV, []string, error) {
	p1, p2 := in.num("p1"), in.num("p2")
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	h, err := stats.CohenH(p1, p2)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"h", h}, {"abs_h", math.Abs(h)}}, nil, nil
}

func runTOneSample(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x, mu, conf := in.nums("x"), in.num("mu", 0), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.OneSampleT(x, mu, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"n", r.N}, {"mean", r.Mean}, {"sd", r.SD}, {"se", r.SE}, {"df", r.DF},
		{"t_crit", r.TCrit}, {"lower", r.CI.Lower}, {"upper", r.CI.Upper},
		{"t_stat", r.TStat}, {"p_value", r.PValue}}, r.Warnings, nil
}

func runWelch(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x, y, conf := in.nums("x"), in.nums("y"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.WelchT(x, y, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"mean_x", r.MeanX}, {"mean_y", r.MeanY}, {"diff", r.Diff}, {"se", r.SE},
		{"t_stat", r.TStat}, {"df", r.DF}, {"p_value", r.PValue},
		{"lower", r.CI.Lower}, {"upper", r.CI.Upper}}, r.Warnings, nil
}

func runPAdjust(in *statsInputs, method string) ([]statsKV, []string, error) {
	p := in.nums("p")
	if m := in.str("method", method); m != method {
		in.fail(fmt.Errorf("inputs.method %q differs from method %q", m, method))
	}
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	adj, err := stats.PAdjust(p, stats.AdjustMethod(method))
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"adjusted", adj}}, nil, nil
}

func runPowerN(in *statsInputs, _ string) ([]statsKV, []string, error) {
	p1, p2, pw := in.num("p1"), in.num("p2"), in.num("power")
	sig, alt := in.num("sig_level", 0.05), stats.Alternative(in.str("alternative", string(stats.TwoSided)))
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	n, err := stats.SampleSizeTwoProp(p1, p2, pw, sig, alt, false)
	if err != nil {
		return nil, nil, err
	}
	nc := math.Ceil(n)
	pc, err := stats.PowerTwoProp(nc, p1, p2, sig, alt, false)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"n", n}, {"n_ceiling", nc}, {"power_at_ceiling", pc}}, nil, nil
}

func runPowerPower(in *statsInputs, _ string) ([]statsKV, []string, error) {
	n, p1, p2 := in.num("n"), in.num("p1"), in.num("p2")
	sig, alt := in.num("sig_level", 0.05), stats.Alternative(in.str("alternative", string(stats.TwoSided)))
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	pw, err := stats.PowerTwoProp(n, p1, p2, sig, alt, false)
	if err != nil {
		return nil, nil, err
	}
	ps, err := stats.PowerTwoProp(n, p1, p2, sig, alt, true)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"power", pw}, {"power_strict", ps}}, nil, nil
}

func runClusterSE(in *statsInputs, _ string) ([]statsKV, []string, error) {
	x, cl := in.nums("x"), in.strs("cluster")
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.ClusteredMean(x, cl, 0.95)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"n", r.N}, {"n_clusters", r.Clusters}, {"mean", r.Mean},
		{"se_cluster_cr0", r.SECR0}, {"se_cluster_cr1", r.SECR1},
		{"se_cluster_miller_sample_var", r.SEMiller}, {"se_iid_pop", r.SEIIDPop},
		{"se_iid_sample", r.SEIIDSample}, {"design_effect", r.DesignEffect},
		{"ci95_cr0_lower", r.CR0.Lower}, {"ci95_cr0_upper", r.CR0.Upper},
		{"ci95_cr1_lower", r.CR1.Lower}, {"ci95_cr1_upper", r.CR1.Upper}}, r.Warnings, nil
}

func runCohenKappa(in *statsInputs, _ string) ([]statsKV, []string, error) {
	a, b, conf := in.strs("a"), in.strs("b"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.CohenKappa(a, b, conf)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"kappa", r.Kappa}, {"p_o", r.PO}, {"p_e", r.PE}, {"se", r.SE}, {"se0", r.SE0},
		{"z", r.Z}, {"p_value", r.PValue}, {"lower", r.CI.Lower}, {"upper", r.CI.Upper},
		{"lower_unclipped", r.LowerUnclipped}, {"upper_unclipped", r.UpperUnclipped}, {"n", r.N}}, r.Warnings, nil
}

func runKrippendorffAlpha(in *statsInputs, method string) ([]statsKV, []string, error) {
	units := in.numRows("units")
	if err := in.err(); err != nil {
		return nil, nil, err
	}
	r, err := stats.KrippendorffAlpha(units, method, 0.95, 0, nil)
	if err != nil {
		return nil, nil, err
	}
	return []statsKV{{"alpha", r.Alpha}, {"d_o", r.DO}, {"d_e", r.DE}, {"n_pairable", r.NPairable}}, r.Warnings, nil
}

// statsInputs reads request inputs, remembering the first problem and
// which fields were read so that unknown fields can be reported.
type statsInputs struct {
	raw   map[string]json.RawMessage
	used  map[string]bool
	first error
}

func (in *statsInputs) fail(err error) {
	if in.first == nil {
		in.first = err
	}
}

func (in *statsInputs) err() error { return in.first }

// get returns the raw field, or nil if absent (and records a missing
// required field).
func (in *statsInputs) get(name string, required bool) json.RawMessage {
	in.used[name] = true
	raw, ok := in.raw[name]
	if !ok || string(raw) == "null" {
		if required {
			in.fail(fmt.Errorf("missing input %q", name))
		}
		return nil
	}
	return raw
}

// num reads a number; with a default the field is optional.
func (in *statsInputs) num(name string, def ...float64) float64 {
	raw := in.get(name, len(def) == 0)
	if raw == nil {
		if len(def) > 0 {
			return def[0]
		}
		return math.NaN()
	}
	v, err := parseJSONNumber(raw)
	if err != nil {
		in.fail(fmt.Errorf("input %q: %w", name, err))
	}
	return v
}

// count reads a required whole number.
func (in *statsInputs) count(name string) int {
	raw := in.get(name, true)
	if raw == nil {
		return 0
	}
	v, err := parseJSONNumber(raw)
	switch {
	case err != nil:
		in.fail(fmt.Errorf("input %q: %w", name, err))
	case v != math.Trunc(v) || math.Abs(v) > 1<<53:
		in.fail(fmt.Errorf("input %q: %v is not a whole number", name, v))
	}
	return int(v)
}

// nums reads a required array of numbers.
func (in *statsInputs) nums(name string) []float64 {
	raw := in.get(name, true)
	if raw == nil {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		in.fail(fmt.Errorf("input %q: want an array of numbers: %w", name, err))
		return nil
	}
	out := make([]float64, len(items))
	for i, it := range items {
		v, err := parseJSONNumber(it)
		if err != nil {
			in.fail(fmt.Errorf("input %q[%d]: %w", name, i, err))
		}
		out[i] = v
	}
	return out
}

// numRows reads a required array of arrays of numbers, where null is
// read as NaN (a missing value).
func (in *statsInputs) numRows(name string) [][]float64 {
	raw := in.get(name, true)
	if raw == nil {
		return nil
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		in.fail(fmt.Errorf("input %q: want an array of arrays of numbers: %w", name, err))
		return nil
	}
	out := make([][]float64, len(rows))
	for i, row := range rows {
		out[i] = make([]float64, len(row))
		for j, it := range row {
			if string(bytes.TrimSpace(it)) == "null" {
				out[i][j] = math.NaN()
				continue
			}
			v, err := parseJSONNumber(it)
			if err != nil {
				in.fail(fmt.Errorf("input %q[%d][%d]: %w", name, i, j, err))
			}
			out[i][j] = v
		}
	}
	return out
}

// strs reads a required array of strings.
func (in *statsInputs) strs(name string) []string {
	raw := in.get(name, true)
	if raw == nil {
		return nil
	}
	var s []string
	if err := json.Unmarshal(raw, &s); err != nil {
		in.fail(fmt.Errorf("input %q: want an array of strings: %w", name, err))
	}
	return s
}

// str reads an optional string.
func (in *statsInputs) str(name, def string) string {
	raw := in.get(name, false)
	if raw == nil {
		return def
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		in.fail(fmt.Errorf("input %q: want a string: %w", name, err))
	}
	return s
}

// unknown reports input fields that the handler did not read.
func (in *statsInputs) unknown() error {
	var extra []string
	for k := range in.raw {
		if !in.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fmt.Errorf("unknown input(s) %s", strings.Join(extra, ", "))
}

// parseJSONNumber accepts a JSON number or "Inf", "-Inf", "NaN".
func parseJSONNumber(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		switch s {
		case "Inf", "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		return 0, fmt.Errorf("string %q is not a number (only \"Inf\", \"-Inf\", \"NaN\" are)", s)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("not a number: %s", raw)
	}
	return v, nil
}

// appendJSONNumber writes v as a JSON number, or "Inf"/"-Inf"/"NaN".
func appendJSONNumber(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	enc, _ := json.Marshal(v) // finite: cannot fail
	return append(b, enc...)
}

// outputsLine encodes {"outputs": {...}[, "warnings": [...]]}.
func outputsLine(outs []statsKV, warns []string) []byte {
	b := []byte(`{"outputs":{`)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, o.key)
		b = append(b, ':')
		switch v := o.val.(type) {
		case float64:
			b = appendJSONNumber(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case []float64:
			b = append(b, '[')
			for j, x := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONNumber(b, x)
			}
			b = append(b, ']')
		default:
			enc, err := json.Marshal(v)
			if err != nil {
				enc = []byte(`"unencodable"`)
			}
			b = append(b, enc...)
		}
	}
	b = append(b, '}')
	if len(warns) > 0 {
		enc, _ := json.Marshal(warns)
		b = append(b, `,"warnings":`...)
		b = append(b, enc...)
	}
	return append(b, '}')
}

// errorLine encodes {"error": "..."}.
func errorLine(err error) []byte {
	enc, _ := json.Marshal(map[string]string{"error": err.Error()})
	return enc
}
