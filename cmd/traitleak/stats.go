package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
paired_t_test / two_sided        a[] b[] conf_level -> diff se t_stat df
                                 p_value lower upper (t on the differences
                                 a[i] - b[i], e.g. per-prompt rates)
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

// answerStatsLine returns the answer line (without newline) for one
// request: package stats' dispatch table does the work.
func answerStatsLine(line []byte) []byte {
	var req stats.Request
	if err := json.Unmarshal(line, &req); err != nil {
		return errorLine(fmt.Errorf("malformed JSON request: %w", err))
	}
	res, err := stats.Call(req)
	if err != nil {
		return errorLine(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return errorLine(err)
	}
	return b
}

// errorLine encodes {"error": "..."}.
func errorLine(err error) []byte {
	enc, _ := json.Marshal(map[string]string{"error": err.Error()})
	return enc
}
