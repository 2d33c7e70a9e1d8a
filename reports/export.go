package reports

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/traitleak/traitleak/results"
)

// ExportRow is one planned draw of a run as exported: one CSV row or one
// JSON line, for pandas, DuckDB and friends.
type ExportRow struct {
	RunID            int64                  `json:"run_id"`
	Role             string                 `json:"model"`
	Seed             string                 `json:"seed"`
	Condition        string                 `json:"condition"`
	ModelID          string                 `json:"model_id"`
	BaseURL          string                 `json:"base_url"`
	Probe            string                 `json:"probe"`
	PromptIndex      int                    `json:"prompt_index"`
	Prompt           string                 `json:"prompt"`
	Draw             int                    `json:"draw"`
	Key              string                 `json:"key"`
	Status           string                 `json:"status"` // ok, failed or missing
	Completion       *string                `json:"completion"`
	FinishReason     string                 `json:"finish_reason,omitempty"`
	Error            string                 `json:"error,omitempty"`
	HTTPStatus       int                    `json:"http_status,omitempty"`
	PromptTokens     int                    `json:"prompt_tokens"`
	CompletionTokens int                    `json:"completion_tokens"`
	LatencyMS        float64                `json:"latency_ms"`
	Attempts         int                    `json:"attempts"`
	Batch            int                    `json:"batch"`
	RequestSeed      *int64                 `json:"request_seed"`
	CreatedAt        string                 `json:"created_at,omitempty"`
	Scores           map[string]ExportScore `json:"scores,omitempty"`
}

// ExportScore is one target's score of an exported sample.
type ExportScore struct {
	Valid bool     `json:"valid"`
	Hit   bool     `json:"hit"`
	Value *float64 `json:"value,omitempty"`
	Label string   `json:"label,omitempty"`
}

// Export writes every planned draw of a run, in plan order, as "csv" or
// "jsonl". CSV has one column per target (1 hit, 0 miss, empty when
// unscored) and, for scorers with numeric values, value and label columns;
// its text cells are neutralised against formula injection (csvText).
// JSON lines hold the text as stored.
func Export(ctx context.Context, store *results.Store, runID int64, format string, w io.Writer) error {
	o, err := openRun(ctx, store, runID)
	if err != nil {
		return err
	}
	var targets []string
	seenTarget := map[string]bool{}
	for _, sc := range o.scorers { // in probe order
		for _, t := range sc.Targets {
			if !seenTarget[t] {
				seenTarget[t] = true
				targets = append(targets, t)
			}
		}
	}
	bw := bufio.NewWriter(w)
	var cw *csv.Writer
	switch format {
	case "csv":
		cw = csv.NewWriter(bw)
		header := []string{"run_id", "model", "seed", "condition", "model_id", "base_url", "probe", "prompt_index", "prompt", "draw", "key",
			"status", "completion", "finish_reason", "error", "http_status", "prompt_tokens", "completion_tokens", "latency_ms", "attempts",
			"batch", "request_seed", "created_at"}
		for _, t := range targets {
			header = append(header, "hit_"+t, "value_"+t, "label_"+t)
		}
		if err := cw.Write(header); err != nil {
			return err
		}
	case "jsonl":
	default:
		return fmt.Errorf("export format %q: want csv or jsonl", format)
	}
	enc := json.NewEncoder(bw)
	for row, err := range o.rows(ctx, store) {
		if err != nil {
			return err
		}
		m := o.instances[row.Instance]
		sm := row.Sample
		er := ExportRow{RunID: runID, Role: m.Role, Seed: m.Seed, Condition: m.Condition, ModelID: m.ModelID, BaseURL: m.BaseURL,
			Probe: row.Probe, PromptIndex: row.Prompt, Prompt: o.promptText(row.Probe, row.Prompt), Draw: row.Draw, Key: sm.Key}
		switch {
		case !row.Stored:
			er.Status = "missing"
		case sm.Failed():
			er.Status, er.Error, er.HTTPStatus = "failed", sm.Err, sm.HTTPStatus
		default:
			er.Status = "ok"
			c := sm.Completion
			er.Completion, er.FinishReason = &c, sm.FinishReason
		}
		if row.Stored {
			er.PromptTokens, er.CompletionTokens = sm.PromptTokens, sm.CompletionTokens
			er.LatencyMS = float64(sm.Latency.Microseconds()) / 1000
			er.Attempts, er.Batch, er.RequestSeed = sm.Attempts, sm.Batch, sm.RequestSeed
			er.CreatedAt = sm.CreatedAt.UTC().Format(time.RFC3339Nano)
		}
		for _, sc := range row.Scores {
			if er.Scores == nil {
				er.Scores = map[string]ExportScore{}
			}
			es := ExportScore{Valid: sc.Valid, Hit: sc.Hit, Label: sc.Label}
			if !math.IsNaN(sc.Value) {
				v := sc.Value
				es.Value = &v
			}
			er.Scores[sc.Target] = es
		}
		if cw == nil {
			if err := enc.Encode(er); err != nil {
				return err
			}
			continue
		}
		if err := cw.Write(er.csv(targets)); err != nil {
			return err
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (er ExportRow) csv(targets []string) []string {
	opt := func(ok bool, s string) string {
		if !ok {
			return ""
		}
		return s
	}
	completion := ""
	if er.Completion != nil {
		completion = *er.Completion
	}
	seed := ""
	if er.RequestSeed != nil {
		seed = strconv.FormatInt(*er.RequestSeed, 10)
	}
	// Text from suites, models and servers is neutralised; the numbers
	// written here stay numbers.
	rec := []string{strconv.FormatInt(er.RunID, 10), csvText(er.Role), csvText(er.Seed), csvText(er.Condition), csvText(er.ModelID),
		csvText(er.BaseURL), csvText(er.Probe), strconv.Itoa(er.PromptIndex), csvText(er.Prompt), strconv.Itoa(er.Draw), csvText(er.Key),
		er.Status, csvText(completion), csvText(er.FinishReason), csvText(er.Error),
		opt(er.HTTPStatus != 0, strconv.Itoa(er.HTTPStatus)), strconv.Itoa(er.PromptTokens), strconv.Itoa(er.CompletionTokens),
		strconv.FormatFloat(er.LatencyMS, 'f', -1, 64), strconv.Itoa(er.Attempts), strconv.Itoa(er.Batch), seed, er.CreatedAt}
	for _, t := range targets {
		sc, ok := er.Scores[t]
		hit := ""
		if ok && sc.Valid {
			hit = "0"
			if sc.Hit {
				hit = "1"
			}
		}
		value := ""
		if ok && sc.Value != nil {
			value = strconv.FormatFloat(*sc.Value, 'f', -1, 64)
		}
		rec = append(rec, hit, value, csvText(sc.Label))
	}
	return rec
}

// csvText neutralises a text cell against formula injection, OWASP's
// rule: a cell starting with =, +, -, @, a tab or a carriage return,
// which a spreadsheet may run as a formula, gets a leading single quote,
// so that it is shown as text. JSON lines stay raw.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
