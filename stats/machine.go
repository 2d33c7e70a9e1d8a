package stats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file is the machine interface to the package: one dispatch table
// from a family and method name to the function that computes it, with
// named JSON inputs and ordered outputs. `traitleak stats` serves it as
// JSON lines, and the reference tests check it against R: both go
// through Call, so what is checked is what is served.

// Request is one machine-interface call: a family ("binom_ci"), one of
// its methods ("wilson") and named inputs. An input is a JSON number (or
// the string "Inf", "-Inf" or "NaN"), an array of those, an array of
// strings, or an array of arrays of numbers, as the family documents.
type Request struct {
	Family string                     `json:"family"`
	Method string                     `json:"method"`
	Inputs map[string]json.RawMessage `json:"inputs"`
}

// Output is one named output of a call. Value is a float64, an int or a
// []float64.
type Output struct {
	Name  string
	Value any
}

// Result is the answer to a Request: the outputs in the family's
// documented order and the statistical caveats of the computation.
type Result struct {
	Outputs  []Output
	Warnings []string
}

// Map returns the outputs by name, every number as a float64 (an int
// converted) or a []float64.
func (r Result) Map() map[string]any {
	m := make(map[string]any, len(r.Outputs))
	for _, o := range r.Outputs {
		if i, ok := o.Value.(int); ok {
			m[o.Name] = float64(i)
			continue
		}
		m[o.Name] = o.Value
	}
	return m
}

// MarshalJSON encodes r as {"outputs": {...}} (with "warnings": [...]
// when there are any), the outputs in order and non-finite numbers as the
// strings "Inf", "-Inf" and "NaN".
func (r Result) MarshalJSON() ([]byte, error) {
	b := []byte(`{"outputs":{`)
	for i, o := range r.Outputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, o.Name)
		b = append(b, ':')
		switch v := o.Value.(type) {
		case float64:
			b = appendNumber(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case []float64:
			b = append(b, '[')
			for j, x := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendNumber(b, x)
			}
			b = append(b, ']')
		default:
			return nil, fmt.Errorf("output %q: unsupported type %T", o.Name, o.Value)
		}
	}
	b = append(b, '}')
	if len(r.Warnings) > 0 {
		enc, err := json.Marshal(r.Warnings)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"warnings":`...)
		b = append(b, enc...)
	}
	return append(b, '}'), nil
}

// appendNumber writes v as a JSON number, or "Inf", "-Inf", "NaN".
func appendNumber(b []byte, v float64) []byte {
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

// ParseNumber decodes a machine-interface number: a JSON number or one of
// the strings "Inf" (or "+Inf"), "-Inf", "NaN".
func ParseNumber(raw json.RawMessage) (float64, error) {
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

// Methods returns every family of the machine interface with its methods,
// in the order the dispatch table lists them. The caller owns the map.
func Methods() map[string][]string {
	m := make(map[string][]string, len(families))
	for name, f := range families {
		m[name] = slices.Clone(f.methods)
	}
	return m
}

// Call computes one request. Unknown families, methods and inputs,
// missing or malformed inputs, and the errors of the function called are
// errors; the message names the family and method. Inputs the family
// does not read are an error too, so that a misspelt optional input is not
// silently replaced by its default.
func Call(req Request) (Result, error) {
	if req.Family == "" || req.Method == "" {
		return Result{}, errors.New(`request needs "family" and "method"`)
	}
	fam, ok := families[req.Family]
	if !ok {
		return Result{}, fmt.Errorf("unknown family %q (known: %s)", req.Family, strings.Join(slices.Sorted(maps.Keys(families)), ", "))
	}
	if !slices.Contains(fam.methods, req.Method) {
		return Result{}, fmt.Errorf("%s: unknown method %q (known: %s)", req.Family, req.Method, strings.Join(fam.methods, ", "))
	}
	in := &inputs{raw: req.Inputs, used: map[string]bool{}}
	res, err := fam.run(in, req.Method)
	if err == nil {
		err = in.unknown()
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s/%s: %w", req.Family, req.Method, err)
	}
	return res, nil
}

// family lists a family's methods and the function that reads its inputs
// and computes one of them.
type family struct {
	methods []string
	run     func(in *inputs, method string) (Result, error)
}

// families is the dispatch table. Each entry reads its inputs (defaults:
// conf_level 0.95, sig_level 0.05, alternative "two.sided", mu 0), calls
// the package function and names its outputs; `traitleak stats --help`
// documents them.
var families = map[string]family{
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
	"paired_t_test":      {[]string{"two_sided"}, runPaired},
	"p_adjust":           {[]string{"bonferroni", "holm", "BH", "BY"}, runPAdjust},
	"power_prop_n":       {[]string{"two_sided_nonstrict"}, runPowerN},
	"power_prop_power":   {[]string{"two_sided"}, runPowerPower},
	"cluster_se":         {[]string{"mean_binary"}, runClusterSE},
	"cohen_kappa":        {[]string{"unweighted"}, runCohenKappa},
	"krippendorff_alpha": {[]string{"interval", "nominal"}, runKrippendorffAlpha},
}

// out builds a Result from name, value pairs.
func out(warnings []string, kv ...any) Result {
	r := Result{Warnings: warnings, Outputs: make([]Output, 0, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Outputs = append(r.Outputs, Output{Name: kv[i].(string), Value: kv[i+1]})
	}
	return r
}

func runBinomCI(in *inputs, method string) (Result, error) {
	x, n, conf := in.count("x"), in.count("n"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	var iv Interval
	var err error
	switch method {
	case "wilson":
		iv, err = Wilson(x, n, conf)
	case "wilson_cc":
		iv, err = WilsonCC(x, n, conf)
	case "clopper_pearson":
		iv, err = ClopperPearson(x, n, conf)
	case "jeffreys":
		iv, err = Jeffreys(x, n, conf)
	case "agresti_coull":
		ac, err := AgrestiCoull(x, n, conf)
		if err != nil {
			return Result{}, err
		}
		return out(ac.Warnings, "estimate", ac.Estimate, "lower", ac.Lower, "upper", ac.Upper,
			"center", ac.Center, "n_tilde", ac.NTilde, "lower_unclipped", ac.LowerUnclipped, "upper_unclipped", ac.UpperUnclipped), nil
	}
	if err != nil {
		return Result{}, err
	}
	return out(iv.Warnings, "estimate", iv.Estimate, "lower", iv.Lower, "upper", iv.Upper), nil
}

func runBinomTest(in *inputs, _ string) (Result, error) {
	x, n, p0 := in.count("x"), in.count("n"), in.num("p0")
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := BinomTest(x, n, p0)
	if err != nil {
		return Result{}, err
	}
	return out(nil, "p_value", r.PValue, "p_value_less", r.PValueLess, "p_value_greater", r.PValueGreater), nil
}

// counts4 reads x1, n1, x2, n2.
func counts4(in *inputs) (x1, n1, x2, n2 int) {
	return in.count("x1"), in.count("n1"), in.count("x2"), in.count("n2")
}

func runDiffCI(in *inputs, method string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	if method == "wald" {
		r, err := WaldDiff(x1, n1, x2, n2, conf)
		if err != nil {
			return Result{}, err
		}
		return out(r.Warnings, "diff", r.Estimate, "se", r.SE, "lower", r.Lower, "upper", r.Upper,
			"lower_unclipped", r.LowerUnclipped, "upper_unclipped", r.UpperUnclipped), nil
	}
	r, err := Newcombe(x1, n1, x2, n2, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "diff", r.Estimate, "lower", r.Lower, "upper", r.Upper,
		"wilson1_lower", r.Wilson1.Lower, "wilson1_upper", r.Wilson1.Upper,
		"wilson2_lower", r.Wilson2.Lower, "wilson2_upper", r.Wilson2.Upper), nil
}

func runZTest(in *inputs, _ string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := TwoPropZTest(x1, n1, x2, n2)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "z", r.Z, "p_value", r.PValue, "pooled_p", r.PooledP), nil
}

func runChiSq(in *inputs, method string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := ChiSq2x2(x1, n1, x2, n2, method == "yates")
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "statistic", r.Statistic, "df", r.DF, "p_value", r.PValue), nil
}

func runFisher(in *inputs, _ string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := FisherExact(x1, n1, x2, n2, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.OddsRatio.Warnings, "p_value", r.PValue, "or_cmle", r.OddsRatio.Estimate,
		"or_cmle_lower", r.OddsRatio.Lower, "or_cmle_upper", r.OddsRatio.Upper), nil
}

func runOddsRatio(in *inputs, _ string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := OddsRatio(x1, n1, x2, n2, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Woolf.Warnings, "or", r.OR, "log_or", r.LogOR, "se_log_or", r.SELogOR,
		"woolf_lower", r.Woolf.Lower, "woolf_upper", r.Woolf.Upper, "or_haldane", r.Haldane), nil
}

func runRiskRatio(in *inputs, _ string) (Result, error) {
	x1, n1, x2, n2 := counts4(in)
	conf := in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := RiskRatio(x1, n1, x2, n2, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Katz.Warnings, "rr", r.RR, "log_rr", r.LogRR, "se_log_rr", r.SELogRR,
		"katz_lower", r.Katz.Lower, "katz_upper", r.Katz.Upper), nil
}

func runCohenH(in *inputs, _ string) (Result, error) {
	p1, p2 := in.num("p1"), in.num("p2")
	if err := in.err(); err != nil {
		return Result{}, err
	}
	h, err := CohenH(p1, p2)
	if err != nil {
		return Result{}, err
	}
	return out(nil, "h", h, "abs_h", math.Abs(h)), nil
}

func runTOneSample(in *inputs, _ string) (Result, error) {
	x, mu, conf := in.nums("x"), in.num("mu", 0), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := OneSampleT(x, mu, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "n", r.N, "mean", r.Mean, "sd", r.SD, "se", r.SE, "df", r.DF,
		"t_crit", r.TCrit, "lower", r.CI.Lower, "upper", r.CI.Upper, "t_stat", r.TStat, "p_value", r.PValue), nil
}

func runWelch(in *inputs, _ string) (Result, error) {
	x, y, conf := in.nums("x"), in.nums("y"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := WelchT(x, y, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "mean_x", r.MeanX, "mean_y", r.MeanY, "diff", r.Diff, "se", r.SE,
		"t_stat", r.TStat, "df", r.DF, "p_value", r.PValue, "lower", r.CI.Lower, "upper", r.CI.Upper), nil
}

func runPaired(in *inputs, _ string) (Result, error) {
	a, b, conf := in.nums("a"), in.nums("b"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := PairedDiff(a, b, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "diff", r.Diff, "se", r.SE, "t_stat", r.TStat, "df", r.DF,
		"p_value", r.PValueT, "lower", r.CIT.Lower, "upper", r.CIT.Upper), nil
}

func runPAdjust(in *inputs, method string) (Result, error) {
	p := in.nums("p")
	if m := in.str("method", method); m != method {
		in.fail(fmt.Errorf("inputs.method %q differs from method %q", m, method))
	}
	if err := in.err(); err != nil {
		return Result{}, err
	}
	adj, err := PAdjust(p, AdjustMethod(method))
	if err != nil {
		return Result{}, err
	}
	return out(nil, "adjusted", adj), nil
}

// powerInputs reads the inputs shared by the power families.
func powerInputs(in *inputs) (p1, p2, sig float64, alt Alternative) {
	return in.num("p1"), in.num("p2"), in.num("sig_level", 0.05), Alternative(in.str("alternative", string(TwoSided)))
}

func runPowerN(in *inputs, _ string) (Result, error) {
	p1, p2, sig, alt := powerInputs(in)
	pw := in.num("power")
	if err := in.err(); err != nil {
		return Result{}, err
	}
	n, err := SampleSizeTwoProp(p1, p2, pw, sig, alt, false)
	if err != nil {
		return Result{}, err
	}
	nc := math.Ceil(n)
	pc, err := PowerTwoProp(nc, p1, p2, sig, alt, false)
	if err != nil {
		return Result{}, err
	}
	return out(nil, "n", n, "n_ceiling", nc, "power_at_ceiling", pc), nil
}

func runPowerPower(in *inputs, _ string) (Result, error) {
	n := in.num("n")
	p1, p2, sig, alt := powerInputs(in)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	pw, err := PowerTwoProp(n, p1, p2, sig, alt, false)
	if err != nil {
		return Result{}, err
	}
	ps, err := PowerTwoProp(n, p1, p2, sig, alt, true)
	if err != nil {
		return Result{}, err
	}
	return out(nil, "power", pw, "power_strict", ps), nil
}

func runClusterSE(in *inputs, _ string) (Result, error) {
	x, cl := in.nums("x"), in.strs("cluster")
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := ClusteredMean(x, cl, 0.95)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "n", r.N, "n_clusters", r.Clusters, "mean", r.Mean,
		"se_cluster_cr0", r.SECR0, "se_cluster_cr1", r.SECR1,
		"se_cluster_miller_sample_var", r.SEMiller, "se_iid_pop", r.SEIIDPop,
		"se_iid_sample", r.SEIIDSample, "design_effect", r.DesignEffect,
		"ci95_cr0_lower", r.CR0.Lower, "ci95_cr0_upper", r.CR0.Upper,
		"ci95_cr1_lower", r.CR1.Lower, "ci95_cr1_upper", r.CR1.Upper), nil
}

func runCohenKappa(in *inputs, _ string) (Result, error) {
	a, b, conf := in.strs("a"), in.strs("b"), in.num("conf_level", 0.95)
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := CohenKappa(a, b, conf)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "kappa", r.Kappa, "p_o", r.PO, "p_e", r.PE, "se", r.SE, "se0", r.SE0,
		"z", r.Z, "p_value", r.PValue, "lower", r.CI.Lower, "upper", r.CI.Upper,
		"lower_unclipped", r.LowerUnclipped, "upper_unclipped", r.UpperUnclipped, "n", r.N), nil
}

func runKrippendorffAlpha(in *inputs, method string) (Result, error) {
	units := in.numRows("units")
	if err := in.err(); err != nil {
		return Result{}, err
	}
	r, err := KrippendorffAlpha(units, method, 0.95, 0, nil)
	if err != nil {
		return Result{}, err
	}
	return out(r.Warnings, "alpha", r.Alpha, "d_o", r.DO, "d_e", r.DE, "n_pairable", r.NPairable), nil
}

// inputs reads request inputs, remembering the first problem and which
// fields were read so that unknown fields can be reported.
type inputs struct {
	raw   map[string]json.RawMessage
	used  map[string]bool
	first error
}

func (in *inputs) fail(err error) {
	if in.first == nil {
		in.first = err
	}
}

func (in *inputs) err() error { return in.first }

// get returns the raw field, or nil if absent or null (and records a
// missing required field).
func (in *inputs) get(name string, required bool) json.RawMessage {
	in.used[name] = true
	raw, ok := in.raw[name]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		if required {
			in.fail(fmt.Errorf("missing input %q", name))
		}
		return nil
	}
	return raw
}

// num reads a number; with a default the field is optional.
func (in *inputs) num(name string, def ...float64) float64 {
	raw := in.get(name, len(def) == 0)
	if raw == nil {
		if len(def) > 0 {
			return def[0]
		}
		return math.NaN()
	}
	v, err := ParseNumber(raw)
	if err != nil {
		in.fail(fmt.Errorf("input %q: %w", name, err))
	}
	return v
}

// count reads a required whole number.
func (in *inputs) count(name string) int {
	raw := in.get(name, true)
	if raw == nil {
		return 0
	}
	v, err := ParseNumber(raw)
	switch {
	case err != nil:
		in.fail(fmt.Errorf("input %q: %w", name, err))
	case v != math.Trunc(v) || math.Abs(v) > 1<<53:
		in.fail(fmt.Errorf("input %q: %v is not a whole number", name, v))
	}
	return int(v)
}

// nums reads a required array of numbers.
func (in *inputs) nums(name string) []float64 {
	raw := in.get(name, true)
	if raw == nil {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		in.fail(fmt.Errorf("input %q: want an array of numbers: %w", name, err))
		return nil
	}
	vals := make([]float64, len(items))
	for i, it := range items {
		v, err := ParseNumber(it)
		if err != nil {
			in.fail(fmt.Errorf("input %q[%d]: %w", name, i, err))
		}
		vals[i] = v
	}
	return vals
}

// numRows reads a required array of arrays of numbers, where null is read
// as NaN (a missing value).
func (in *inputs) numRows(name string) [][]float64 {
	raw := in.get(name, true)
	if raw == nil {
		return nil
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		in.fail(fmt.Errorf("input %q: want an array of arrays of numbers: %w", name, err))
		return nil
	}
	vals := make([][]float64, len(rows))
	for i, row := range rows {
		vals[i] = make([]float64, len(row))
		for j, it := range row {
			if string(bytes.TrimSpace(it)) == "null" {
				vals[i][j] = math.NaN()
				continue
			}
			v, err := ParseNumber(it)
			if err != nil {
				in.fail(fmt.Errorf("input %q[%d][%d]: %w", name, i, j, err))
			}
			vals[i][j] = v
		}
	}
	return vals
}

// strs reads a required array of strings.
func (in *inputs) strs(name string) []string {
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
func (in *inputs) str(name, def string) string {
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

// unknown reports input fields that the family did not read.
func (in *inputs) unknown() error {
	var extra []string
	for k := range in.raw {
		if !in.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("unknown input(s) %s", strings.Join(extra, ", "))
}
