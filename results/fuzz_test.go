package results

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzStoreRoundTrip puts one sample with arbitrary text fields (any
// bytes: NUL, invalid UTF-8), token counts, latency, seed and score, reads
// it back through Rows, and checks that what was stored comes back
// unchanged, up to these documented normalizations:
//
//   - A failed sample (non-empty error text) keeps no completion, finish
//     reason or scores: they come back empty.
//   - Latency is stored as float64 milliseconds (latency_ms REAL), and
//     Rows converts back by rounding ms*1e6 to the nearest nanosecond.
//     The division and the multiplication each round, and the error of
//     both grows with the value: below 2^51 ns (26 days) it stays under
//     half a nanosecond and every latency comes back exact, but from 2^51
//     to 2^53 ns some 2–4% of values come back 1 ns off (2^53-1 ns →
//     2^53 ns), hence the ±1 ns tolerance below. Latencies of magnitude
//     ≥ 2^53 ns (104 days) are out of scope (float64 cannot hold them;
//     near 2^63 the conversion back overflows) and are folded into that
//     range by the fuzz function.
//   - A score value of ±Inf is stored as NULL and comes back NaN, like
//     NaN. Negative zero comes back as zero (SQLite stores an integral
//     REAL as an integer), which compares equal.
//
// Text goes through go-sqlite3 as sqlite3_bind_text64 with an explicit
// length and comes back through sqlite3_column_bytes, so neither NUL bytes
// nor invalid UTF-8 are altered; the property checks that byte for byte.
func FuzzStoreRoundTrip(f *testing.F) {
	seeds := []struct {
		completion, errText []byte
		promptTokens        int
		completionTokens    int
		latency             int64
		hasSeed             bool
		seed                int64
		value               float64
		label               string
	}{
		{[]byte("Owl."), nil, 12, 2, int64(25 * time.Millisecond), true, 1 << 52, 1, ""},
		{[]byte("nul\x00inside\x00"), nil, 0, 0, 1, false, 0, math.NaN(), "a\x00b"},
		{[]byte("\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80"), nil, -1, math.MaxInt64, math.MaxInt64, true, math.MinInt64, math.Inf(-1), "\x80"},
		{[]byte(""), nil, 1, 1, 0, true, 0, math.Copysign(0, -1), "refused"},
		{[]byte("ignored"), []byte("HTTP 500: \x00\xff boom"), 5, 5, int64(3 * time.Second), false, 0, 2.5, ""},
		{[]byte(strings.Repeat("🦉 owl ", 20000)), nil, 1 << 40, 3, 1234567891, false, 0, 1e308, strings.Repeat("l", 1000)},
		{[]byte("x"), []byte("\x00"), 0, 0, -5, false, 0, 0, ""},
	}
	for _, s := range seeds {
		f.Add(s.completion, s.errText, s.promptTokens, s.completionTokens, s.latency, s.hasSeed, s.seed, s.value, s.label)
	}
	st := openStore(f)
	ctx := context.Background()
	nr := fixture("fuzz", "", 1, []string{"p"}, 1, 1)
	run := startRun(f, st, nr)
	ps := nr.Plan[0]
	f.Fuzz(func(t *testing.T, completion, errText []byte, promptTokens, completionTokens int, latency int64, hasSeed bool, seed int64, value float64, label string) {
		if _, err := st.db.Exec(`DELETE FROM scores; DELETE FROM samples`); err != nil {
			t.Fatal(err)
		}
		in := Sample{Key: ps.Key, RunID: run.ID, Probe: ps.Probe, Prompt: ps.Prompt, Draw: ps.Draw, BaseURL: "http://x/v1", Model: "m",
			Completion: string(completion), FinishReason: string(completion[:min(len(completion), 3)]),
			PromptTokens: promptTokens, CompletionTokens: completionTokens,
			Latency: time.Duration(latency % (1 << 53)), Attempts: 1, Batch: 1,
			Err: string(errText), CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
			Scorer: "judge:1", Scores: []Score{{Target: "owl", Valid: true, Hit: value > 0, Value: value, Label: label}}}
		if hasSeed {
			in.RequestSeed = &seed
		}
		if err := st.Put(ctx, []Sample{in}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		var rows []*Row
		for r, err := range st.Rows(ctx, run.ID, constScorer("judge:1")) {
			if err != nil {
				t.Fatalf("Rows: %v", err)
			}
			rows = append(rows, r)
		}
		if len(rows) != 1 || !rows[0].Stored {
			t.Fatalf("Rows = %+v, want one stored row", rows)
		}

		want := in
		wantScores := []Score{{Target: "owl", Valid: true, Hit: value > 0, Value: value, Label: label}}
		if math.IsInf(value, 0) {
			wantScores[0].Value = math.NaN()
		}
		if in.Failed() {
			want.Completion, want.FinishReason = "", ""
			wantScores = nil
		}
		if d := rows[0].Sample.Latency - want.Latency; d >= -1 && d <= 1 {
			want.Latency = rows[0].Sample.Latency // within the documented 1 ns
		}
		if d := sampleDiff(rows[0].Sample, want); d != "" {
			t.Errorf("round trip: %s", d)
		}
		if !scoresEqual(rows[0].Scores, wantScores) {
			t.Errorf("round trip scores %+v, want %+v", rows[0].Scores, wantScores)
		}
	})
}
