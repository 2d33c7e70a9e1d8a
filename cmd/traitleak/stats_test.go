package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/stats"
)

// statsRefPaths are the R references shared with package stats, generated
// by `Rscript stats/testdata/gen_reference.R` (R 4.2.2): every family of
// the machine interface, and the paired t-test.
var statsRefPaths = []string{"../../stats/testdata/r_reference.jsonl", "../../stats/testdata/r_paired.jsonl"}

// refLine is one reference case with its outputs kept in file order.
type refLine struct {
	Family  string                     `json:"family"`
	Method  string                     `json:"method"`
	Inputs  json.RawMessage            `json:"inputs"`
	Outputs map[string]json.RawMessage `json:"outputs"`
	keys    []string                   // output keys in R's (the documented) order
}

func loadStatsRef(t *testing.T) []refLine {
	t.Helper()
	var out []refLine
	for _, path := range statsRefPaths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var r refLine
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			var whole struct {
				Outputs json.RawMessage `json:"outputs"`
			}
			_ = json.Unmarshal(line, &whole)
			r.keys = objectKeys(t, whole.Outputs)
			out = append(out, r)
		}
	}
	if len(out) < 500 {
		t.Fatalf("reference has only %d lines", len(out))
	}
	return out
}

// objectKeys returns the keys of a JSON object in order.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// numbers decodes a number, "Inf"/"-Inf"/"NaN", or an array of them.
func numbers(t *testing.T, raw json.RawMessage) []float64 {
	t.Helper()
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		var out []float64
		for _, a := range arr {
			out = append(out, numbers(t, a)...)
		}
		return out
	}
	v, err := stats.ParseNumber(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return []float64{v}
}

// sameNumber compares to 1e-12 relative (what package stats is held to
// against the same file), with NaN == NaN and equal infinities.
func sameNumber(got, want float64) bool {
	switch {
	case math.IsNaN(got) || math.IsNaN(want):
		return math.IsNaN(got) && math.IsNaN(want)
	case math.IsInf(got, 0) || math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= 1e-12*math.Abs(want)
}

// TestServeStatsReference pipes every reference request (inputs only)
// through serveStats as one stream and checks each answer against R: the
// same numbers, the same output fields in the same order.
func TestServeStatsReference(t *testing.T) {
	ref := loadStatsRef(t)
	var in bytes.Buffer
	for _, r := range ref {
		fmt.Fprintf(&in, `{"family":%q,"method":%q,"inputs":%s}`+"\n", r.Family, r.Method, r.Inputs)
	}
	var out bytes.Buffer
	if err := serveStats(&in, &out); err != nil {
		t.Fatal(err)
	}
	answers := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(answers) != len(ref) {
		t.Fatalf("%d answers for %d requests", len(answers), len(ref))
	}
	for i, r := range ref {
		var ans struct {
			Outputs json.RawMessage `json:"outputs"`
			Error   string          `json:"error"`
		}
		if err := json.Unmarshal([]byte(answers[i]), &ans); err != nil {
			t.Fatalf("answer %d is not JSON: %v: %s", i+1, err, answers[i])
		}
		if ans.Error != "" {
			t.Errorf("line %d %s/%s: error %q", i+1, r.Family, r.Method, ans.Error)
			continue
		}
		if got := objectKeys(t, ans.Outputs); strings.Join(got, ",") != strings.Join(r.keys, ",") {
			t.Errorf("line %d %s/%s: output fields %v, want %v", i+1, r.Family, r.Method, got, r.keys)
			continue
		}
		var outs map[string]json.RawMessage
		_ = json.Unmarshal(ans.Outputs, &outs)
		for _, k := range r.keys {
			g, w := numbers(t, outs[k]), numbers(t, r.Outputs[k])
			if len(g) != len(w) {
				t.Errorf("line %d %s/%s %s: %d values, R %d", i+1, r.Family, r.Method, k, len(g), len(w))
				continue
			}
			for j := range g {
				if !sameNumber(g[j], w[j]) {
					t.Errorf("line %d %s/%s %s: %.17g, R %.17g", i+1, r.Family, r.Method, k, g[j], w[j])
				}
			}
		}
	}
}

// TestServeStatsErrors: each bad line gives an error line mentioning the
// problem, the next (valid) line is still answered, and blank lines are
// skipped without an answer.
func TestServeStatsErrors(t *testing.T) {
	const ok = `{"family":"cohen_h","method":"arcsine","inputs":{"p1":0.5,"p2":0.5}}`
	tests := []struct {
		line, wantErr string
	}{
		{`{"family":"nope","method":"x","inputs":{}}`, `unknown family "nope"`},
		{`{"family":"binom_ci","method":"wald","inputs":{"x":1,"n":2}}`, `unknown method "wald"`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1}}`, `missing input "n"`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1,"n":2,"conf":0.9}}`, `unknown input(s) conf`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":11,"n":10}}`, `x=11 > n=10`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1.5,"n":10}}`, `not a whole number`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":"Inf","n":10}}`, `not a whole number`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":"three","n":10}}`, `is not a number`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1,"n":10,"conf_level":1}}`, `confidence level 1 not in (0, 1)`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1,"n":`, `malformed JSON`},
		{`not json at all`, `malformed JSON`},
		{`{"family":"binom_ci","inputs":{}}`, `needs "family" and "method"`},
		{`{"family":"p_adjust","method":"holm","inputs":{"p":[0.1],"method":"BH"}}`, `differs from method`},
		{`{"family":"t_one_sample","method":"t_ci","inputs":{"x":[1,"Inf"]}}`, `x[1]=+Inf is not finite`},
		{`{"family":"cluster_se","method":"mean_binary","inputs":{"x":[1,0],"cluster":["a"]}}`, `2 values but 1 cluster labels`},
		{`{"family":"power_prop_n","method":"two_sided_nonstrict","inputs":{"p1":0.2,"p2":0.2,"power":0.8}}`, `no difference to detect`},
		{`{"family":"power_prop_n","method":"two_sided_nonstrict","inputs":{"p1":0.2,"p2":0.3,"power":0.8,"alternative":"less"}}`, `alternative "less"`},
		{`{"family":"cohen_kappa","method":"unweighted","inputs":{"a":["x"],"b":["x","y"]}}`, `1 labels from rater a but 2 from rater b`},
		{`{"family":"cohen_kappa","method":"unweighted","inputs":{"a":[],"b":[]}}`, `no items`},
		{`{"family":"cohen_kappa","method":"unweighted","inputs":{"a":[1,2],"b":["x","y"]}}`, `want an array of strings`},
		{`{"family":"cohen_kappa","method":"weighted","inputs":{"a":["x"],"b":["x"]}}`, `unknown method "weighted"`},
		{`{"family":"krippendorff_alpha","method":"ordinal","inputs":{"units":[[1,2]]}}`, `unknown method "ordinal"`},
		{`{"family":"krippendorff_alpha","method":"interval","inputs":{"units":[1,2]}}`, `want an array of arrays of numbers`},
		{`{"family":"krippendorff_alpha","method":"interval","inputs":{"units":[[1,"two"]]}}`, `input "units"[0][1]: string "two" is not a number`},
		{`{"family":"krippendorff_alpha","method":"interval","inputs":{"units":[[1,"Inf"]]}}`, `units[0][1]=+Inf is not finite`},
		{`{"family":"krippendorff_alpha","method":"nominal","inputs":{"units":[[1,"NaN"],[2],[]]}}`, `nothing is pairable`},
		{`{"family":"krippendorff_alpha","method":"nominal","inputs":{"units":[[1,1]],"conf_level":0.9}}`, `unknown input(s) conf_level`},
	}
	var in bytes.Buffer
	for _, tc := range tests {
		in.WriteString(tc.line + "\n   \n" + ok + "\n\n")
	}
	var out bytes.Buffer
	if err := serveStats(&in, &out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2*len(tests) {
		t.Fatalf("%d answer lines for %d requests (blank lines must not be answered):\n%s", len(lines), 2*len(tests), out.String())
	}
	for i, tc := range tests {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(lines[2*i]), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
			t.Errorf("%s\n  answer %s\n  want error containing %q", tc.line, lines[2*i], tc.wantErr)
		}
		if lines[2*i+1] != `{"outputs":{"h":0,"abs_h":0}}` {
			t.Errorf("after %s: valid line answered %s", tc.line, lines[2*i+1])
		}
	}
}

// TestServeStatsNonFinite: "Inf"/"NaN" are accepted as inputs and written
// as strings in outputs, and warnings ride along.
func TestServeStatsNonFinite(t *testing.T) {
	in := strings.NewReader(`{"family":"odds_ratio","method":"sample_woolf","inputs":{"x1":0,"n1":10,"x2":0,"n2":10}}
{"family":"p_adjust","method":"BH","inputs":{"p":["NaN",0.01,0.04]}}
{"family":"power_prop_power","method":"two_sided","inputs":{"n":"Inf","p1":0.1,"p2":0.2}}`) // no final newline
	var out bytes.Buffer
	if err := serveStats(in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %s", len(lines), out.String())
	}
	// 0/10 vs 0/10: OR = 0/0, SE = Inf, Woolf interval [0, Inf] (documented limit).
	if !strings.HasPrefix(lines[0], `{"outputs":{"or":"NaN","log_or":"NaN","se_log_or":"Inf","woolf_lower":0,"woolf_upper":"Inf","or_haldane":1},"warnings":[`) {
		t.Errorf("odds ratio line: %s", lines[0])
	}
	// BH over the two non-NaN p-values: 0.01·2/1 = 0.02, 0.04·2/2 = 0.04.
	if lines[1] != `{"outputs":{"adjusted":["NaN",0.02,0.04]}}` {
		t.Errorf("p_adjust line: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"error"`) || !strings.Contains(lines[2], "finite") {
		t.Errorf("n = Inf should be an error: %s", lines[2])
	}
}

// TestStatsCommand runs the cobra command end to end.
func TestStatsCommand(t *testing.T) {
	cmd := newStatsCmd()
	cmd.SetIn(strings.NewReader(`{"family":"binom_ci","method":"clopper_pearson","inputs":{"x":0,"n":20}}` + "\n"))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{}) // not nil: cobra would read os.Args, the test binary's flags
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Outputs map[string]float64 `json:"outputs"`
	}
	if err := json.Unmarshal(out.Bytes(), &ans); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	// 0 of 20: the Clopper–Pearson upper bound solves (1-p)^20 = 0.025.
	if want := 1 - math.Pow(0.025, 1.0/20); math.Abs(ans.Outputs["upper"]-want) > 1e-14 || ans.Outputs["lower"] != 0 {
		t.Errorf("got %v, upper want %v", ans.Outputs, want)
	}
	cmd = newStatsCmd()
	cmd.SetArgs([]string{"extra"})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	var ue *usageError
	if err := cmd.Execute(); err == nil || !asUsage(err, &ue) {
		t.Errorf("positional argument: got %v, want a usage error", err)
	}
}

// TestServeStatsAgreement: degenerate kappa tables give "NaN" outputs with
// a warning, and Krippendorff's units accept null as well as "NaN" for a
// missing value, with ragged rows.
func TestServeStatsAgreement(t *testing.T) {
	in := strings.NewReader(`{"family":"cohen_kappa","method":"unweighted","inputs":{"a":["aligned","aligned"],"b":["aligned","aligned"]}}
{"family":"krippendorff_alpha","method":"nominal","inputs":{"units":[[1,1,null,1],[2,2,3,2],[3,3,3,3],[3,3,3,3],[2,2,2,2],[1,2,3,4],[4,4,4,4],[1,1,2,1],[2,2,2,2],[null,5,5,5],[null,null,1,1],[null,null,3]]}}
{"family":"krippendorff_alpha","method":"interval","inputs":{"units":[[7,7,"NaN"],[7,7]]}}
`)
	var out bytes.Buffer
	if err := serveStats(in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[0], `{"outputs":{"kappa":"NaN","p_o":1,"p_e":1,"se":"NaN","se0":"NaN","z":"NaN","p_value":"NaN",`) ||
		!strings.Contains(lines[0], `"n":2},"warnings":[`) || !strings.Contains(lines[0], "p_e = 1") {
		t.Errorf("kappa with p_e = 1: %s", lines[0])
	}
	// Krippendorff (2011)'s example, nominal: alpha = 1 - 39·8/1216, n = 40,
	// the single-valued last unit dropped with a warning.
	var ans struct {
		Outputs  map[string]float64 `json:"outputs"`
		Warnings []string           `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &ans); err != nil {
		t.Fatalf("%v: %s", err, lines[1])
	}
	if got, want := ans.Outputs["alpha"], 1-39.0*8/1216; math.Abs(got-want) > 1e-15 || ans.Outputs["n_pairable"] != 40 || len(ans.Warnings) != 1 {
		t.Errorf("Krippendorff 2011 nominal: %s, want alpha %.17g", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], `{"outputs":{"alpha":"NaN","d_o":0,"d_e":0,"n_pairable":4},"warnings":[`) {
		t.Errorf("alpha without variation: %s", lines[2])
	}
}
