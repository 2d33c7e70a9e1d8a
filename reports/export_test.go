package reports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// TestExportNeutralisesFormulas checks that CSV cells of text a
// spreadsheet would run as a formula (OWASP: a leading =, +, -, @, tab or
// carriage return) get a leading single quote, that other text and the
// numbers keep their value, and that JSON lines stay raw.
func TestExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := results.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := suites.Parse("x.yaml", []byte(`name: x
models: {r: {base_url: http://127.0.0.1:1/v1, model: "@model"}}
probes:
  - {id: p, prompts: ["=cmd|' /C calc'!A0"], samples: 8, score: {mentions: owl}}
`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	completions := []string{
		"=HYPERLINK(\"http://evil.example\",\"owl\")", // formula
		"+1+owl",              // plus
		"-2+3",                // minus
		"@SUM(A1:A9)",         // at
		"\t=1+1",              // tab
		"\r=1+1",              // carriage return
		"An owl, = not first", // a formula sign later is harmless
		"",                    // empty
	}
	suiteJSON, _ := json.Marshal(s)
	nr := results.NewRun{SuiteName: s.Name, SuiteHash: s.Hash(), SuiteSource: "x.yaml", SuiteJSON: string(suiteJSON), Version: "v",
		Instances: []results.InstanceRow{{Index: 0, Role: "r", BaseURL: "http://127.0.0.1:1/v1", ModelID: "@model", Settings: "{}"}},
		Prompts:   []results.PromptRow{{Probe: "p", Index: 0, Text: s.Probes[0].Prompts.Texts[0]}}}
	if nr.Scorers, err = results.RecordScorers(s); err != nil {
		t.Fatal(err)
	}
	var samples []results.Sample
	for d, c := range completions {
		key := "k" + string(rune('a'+d))
		nr.Plan = append(nr.Plan, results.PlannedSample{Key: key, Probe: "p", Draw: d})
		samples = append(samples, results.Sample{Key: key, Probe: "p", Draw: d, BaseURL: "http://127.0.0.1:1/v1", Model: "@model",
			Completion: c, FinishReason: "stop", Latency: time.Millisecond, Attempts: 1, Batch: 8,
			Scorer: nr.Scorers[0].Scorer, Scores: []results.Score{{Target: "owl", Valid: true, Hit: d == 0, Value: math.NaN(), Label: "-x"}}})
	}
	run, err := st.StartRun(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range samples {
		samples[i].RunID = run.ID
	}
	if err := st.Put(ctx, samples); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := Export(ctx, st, run.ID, "csv", &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int {
		i := slices.Index(rows[0], name)
		if i < 0 {
			t.Fatalf("no column %s in %q", name, rows[0])
		}
		return i
	}
	want := []string{
		"'=HYPERLINK(\"http://evil.example\",\"owl\")", "'+1+owl", "'-2+3", "'@SUM(A1:A9)", "'\t=1+1", "'\r=1+1",
		"An owl, = not first", "",
	}
	for d, row := range rows[1:] {
		if got := row[col("completion")]; got != want[d] {
			t.Errorf("draw %d: completion cell %q; want %q", d, got, want[d])
		}
		for name, cell := range map[string]string{"model": "r", "model_id": "'@model", "prompt": "'=cmd|' /C calc'!A0", "label_owl": "'-x",
			"hit_owl": map[bool]string{true: "1", false: "0"}[d == 0], "draw": string(rune('0' + d)), "latency_ms": "1"} {
			if got := row[col(name)]; got != cell {
				t.Errorf("draw %d: %s cell %q; want %q", d, name, got, cell)
			}
		}
	}

	out.Reset()
	if err := Export(ctx, st, run.ID, "jsonl", &out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	for d := 0; sc.Scan(); d++ {
		var er ExportRow
		if err := json.Unmarshal(sc.Bytes(), &er); err != nil {
			t.Fatal(err)
		}
		if er.Completion == nil || *er.Completion != completions[d] || er.Role != "r" || er.ModelID != "@model" || er.Prompt != s.Probes[0].Prompts.Texts[0] {
			t.Errorf("JSON line %d: %s; want the raw text", d, sc.Bytes())
		}
	}
}
