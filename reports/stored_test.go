package reports

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/results"
)

// renderAll renders an analysis in every format a report has.
func renderAll(t *testing.T, a *Analysis) map[string][]byte {
	t.Helper()
	var md, page, js, junit, sum bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, a); err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(a); err != nil {
		t.Fatal(err)
	}
	if err := JUnit(&junit, a); err != nil {
		t.Fatal(err)
	}
	if err := Summary(&sum, a); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"md": md.Bytes(), "html": page.Bytes(), "json": js.Bytes(), "junit": junit.Bytes(), "summary": sum.Bytes()}
}

// TestTreeRoundTrip: an analysis decoded from its stored tree renders
// byte for byte as the analysis itself, in every format, for the fixture
// (two seeds, failed and missing draws, a gate with max_increase 0, which
// gob would have lost, and references with intervals) and for a stored
// run with judges, agreement, invalid labels and quoted examples.
func TestTreeRoundTrip(t *testing.T) {
	t.Parallel()
	fix, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run.db")
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID := storeRun(t, st)
	d, err := Load(context.Background(), st, runID)
	if err != nil {
		t.Fatal(err)
	}
	judged, err := Analyze(d, Options{Confidence: 0.9, Adjust: "BH"})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]*Analysis{"fixture": fix, "judged": judged} {
		t.Run(name, func(t *testing.T) {
			tree, err := encodeTree(a)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeTree(tree)
			if err != nil {
				t.Fatal(err)
			}
			want, got := renderAll(t, a), renderAll(t, back)
			for f := range want {
				if !bytes.Equal(want[f], got[f]) {
					t.Errorf("%s of the decoded tree differs from the analysis's", f)
				}
			}
			again, err := encodeTree(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tree, again) {
				t.Error("encoding the decoded tree gives other bytes: the codec loses something")
			}
		})
	}
}

// TestArchive: the first request of a finished run's analysis computes
// and stores it, the next with the same settings reads it back (the same
// bytes in every format), other settings add an analysis, and a change of
// the run's data (a rescored sample) makes the stored one stale; a
// read-only store computes and stores nothing, and a running run is not
// stored.
func TestArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "run.db")
	st, err := results.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID := storeRun(t, st)
	ar := Archive{Version: "v0.test"}

	first, prov, err := ar.Analysis(ctx, st, runID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if prov.Reused || prov.AnalysisID == 0 {
		t.Fatalf("first analysis: %+v; want computed and stored", prov)
	}
	second, prov2, err := ar.Analysis(ctx, st, runID, Options{Confidence: 0.95, Adjust: "holm"})
	if err != nil {
		t.Fatal(err)
	}
	// Options{} is 0.95 and holm: the same settings.
	if !prov2.Reused || prov2.AnalysisID != prov.AnalysisID {
		t.Fatalf("second analysis: %+v; want analysis %d read back", prov2, prov.AnalysisID)
	}
	a, b := renderAll(t, first), renderAll(t, second)
	for f := range a {
		if !bytes.Equal(a[f], b[f]) {
			t.Errorf("%s of the stored analysis differs from the computed one", f)
		}
	}

	// Other settings: a new analysis beside the first.
	_, prov3, err := ar.Analysis(ctx, st, runID, Options{Adjust: "BH"})
	if err != nil {
		t.Fatal(err)
	}
	if prov3.Reused || prov3.AnalysisID == prov.AnalysisID {
		t.Errorf("BH analysis: %+v; want a new one", prov3)
	}
	// Another traitleak version does not trust this one's analyses.
	if _, p, err := (Archive{Version: "v0.other"}).Analysis(ctx, st, runID, Options{}); err != nil || p.Reused {
		t.Errorf("another version: %+v, %v; want computed", p, err)
	}

	// Rescore one sample under the run's own scorer: the fingerprint
	// changes, the stored analysis no longer serves, and the new one
	// counts the change.
	scorers, err := st.Scorers(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	before := roleRate(t, first, "animal", "owl", "base")
	key := "m0-animal-p0-d0" // storeRun's key of the base model's first animal draw
	if err := st.PutScores(ctx, scorers[1].Scorer, []results.ScoredSample{{Key: key, Scores: []results.Score{
		{Target: "owl", Valid: true, Hit: true, Value: math.NaN()}, {Target: "dog", Valid: true, Hit: false, Value: math.NaN()}}}}); err != nil {
		t.Fatal(err)
	}
	after, prov4, err := ar.Analysis(ctx, st, runID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if prov4.Reused {
		t.Fatalf("after a rescore: %+v; want computed again", prov4)
	}
	if got := roleRate(t, after, "animal", "owl", "base"); got.Hits != before.Hits+1 {
		t.Errorf("base owl hits after the rescore = %d; want %d + 1 (the sample did not hit before)", got.Hits, before.Hits)
	}

	// Read-only: reads what is stored, stores nothing new.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := results.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, p, err := ar.Analysis(ctx, ro, runID, Options{}); err != nil || !p.Reused || p.AnalysisID != prov4.AnalysisID {
		t.Errorf("read-only, stored: %+v, %v; want analysis %d read back", p, err, prov4.AnalysisID)
	}
	if _, p, err := ar.Analysis(ctx, ro, runID, Options{Confidence: 0.8}); err != nil || p.AnalysisID != 0 || p.NotStored == "" {
		t.Errorf("read-only, not stored: %+v, %v; want computed and not stored", p, err)
	}
	if _, _, err := ar.Analysis(ctx, ro, runID+1, Options{}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("unknown run: %v; want ErrNotFound", err)
	}
}

func roleRate(t *testing.T, a *Analysis, probe, target, role string) RoleResult {
	t.Helper()
	for r := range a.roles() {
		if r.Probe == probe && r.Target == target && r.Role == role {
			return r
		}
	}
	t.Fatalf("no %s/%s %s", probe, target, role)
	return RoleResult{}
}

// TestStoredFiguresEqualReport compares the JSON report of a stored run
// with the analysis tables, read with plain SQL: every count, rate,
// interval bound, p-value (raw and adjusted), effect size and verdict is
// exactly the number the report prints (JSON null is SQL NULL, or ±Inf,
// which JSON cannot hold), and every method name is the report's.
func TestStoredFiguresEqualReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "run.db")
	st, err := results.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID := storeRun(t, st)
	for _, opt := range []Options{{}, {Confidence: 0.9, Adjust: "BY"}} {
		a, prov, err := Archive{Version: "v0.test"}.Analysis(ctx, st, runID, opt)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		checkTablesEqualJSON(t, path, prov.AnalysisID, js)
	}
}

// checkTablesEqualJSON compares stored analysis id in the database at
// path with a JSON report, field by field.
func checkTablesEqualJSON(t *testing.T, path string, id int64, report []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(report))
	dec.UseNumber()
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// query returns the rows of a query as maps of column to value.
	query := func(q string, args ...any) []map[string]any {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []map[string]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			m := map[string]any{}
			for i, c := range cols {
				m[c] = vals[i]
			}
			out = append(out, m)
		}
		return out
	}
	checked := 0
	// same compares a JSON value with a column value.
	same := func(what string, j, d any) {
		t.Helper()
		checked++
		switch jv := j.(type) {
		case nil:
			if f, ok := d.(float64); d != nil && !(ok && math.IsInf(f, 0)) {
				t.Errorf("%s: report null, table %v", what, d)
			}
		case json.Number:
			want, err := jv.Float64()
			if err != nil {
				t.Fatal(err)
			}
			var got float64
			switch dv := d.(type) {
			case float64:
				got = dv
			case int64:
				got = float64(dv)
			default:
				t.Errorf("%s: report %v, table %v (%T)", what, jv, d, d)
				return
			}
			if got != want {
				t.Errorf("%s: report %v, table %v", what, jv, got)
			}
		case string:
			if ds, ok := d.(string); !ok || ds != jv {
				t.Errorf("%s: report %q, table %v", what, jv, d)
			}
		default:
			t.Errorf("%s: report value %v of type %T", what, j, j)
		}
	}
	list := func(key string) []map[string]any {
		var out []map[string]any
		for _, x := range rep[key].([]any) {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	ci := func(x any) map[string]any { return x.(map[string]any) }
	head := query(`SELECT confidence, p_adjust FROM analyses WHERE id = ?`, id)
	same("confidence", rep["confidence"], head[0]["confidence"])
	same("p_adjust", rep["p_adjust"], head[0]["p_adjust"])

	rates := func(level string) []map[string]any {
		return query(`SELECT * FROM analysis_rates WHERE analysis_id = ? AND level = ? ORDER BY idx`, id, level)
	}
	inst := rates(results.LevelInstance)
	if len(inst) != len(list("results")) {
		t.Fatalf("%d instance rates stored; the report has %d", len(inst), len(list("results")))
	}
	for i, r := range list("results") {
		d := inst[i]
		for j, c := range map[string]string{"model": "role", "seed": "seed", "probe": "probe", "target": "target", "n": "n", "hits": "hits",
			"failed": "failed", "missing": "missing", "rate": "rate"} {
			same("results."+j, r[j], d[c])
		}
		same("results.ci.low", ci(r["ci"])["low"], d["ci_low"])
		same("results.ci.high", ci(r["ci"])["high"], d["ci_high"])
		same("results.ci.method", ci(r["ci"])["method"], d["ci_method"])
		checkInvalid(t, r["invalid"], d["invalid"])
	}
	roles := rates(results.LevelRole)
	if len(roles) != len(list("roles")) {
		t.Fatalf("%d role rates stored; the report has %d", len(roles), len(list("roles")))
	}
	clustered, seedMeans := 0, 0
	for i, r := range list("roles") {
		d := roles[i]
		for j, c := range map[string]string{"model": "role", "probe": "probe", "target": "target", "seeds": "seeds", "n": "n", "hits": "hits",
			"failed": "failed", "missing": "missing", "rate": "rate"} {
			same("roles."+j, r[j], d[c])
		}
		same("roles.condition", ifNil(r["condition"], ""), d["condition"])
		same("roles.ci.low", ci(r["ci"])["low"], d["ci_low"])
		same("roles.ci.high", ci(r["ci"])["high"], d["ci_high"])
		same("roles.ci.method", ci(r["ci"])["method"], d["ci_method"])
		checkInvalid(t, r["invalid"], d["invalid"])
		if cl, ok := r["clustered"].(map[string]any); ok {
			clustered++
			same("clustered.clusters", cl["clusters"], d["cl_clusters"])
			same("clustered.se", cl["se"], d["cl_se"])
			same("clustered.design_effect", cl["design_effect"], d["cl_design_effect"])
			same("clustered.low", ci(cl["ci"])["low"], d["cl_low"])
			same("clustered.high", ci(cl["ci"])["high"], d["cl_high"])
			same("clustered.method", ci(cl["ci"])["method"], d["cl_method"])
		} else if d["cl_method"] != nil {
			t.Errorf("role %v: a stored cluster-robust interval the report lacks", r["model"])
		}
		if sm, ok := r["seed_mean"].(map[string]any); ok {
			seedMeans++
			same("seed_mean.mean", sm["mean"], d["sm_mean"])
			same("seed_mean.low", ci(sm["ci"])["low"], d["sm_low"])
			same("seed_mean.high", ci(sm["ci"])["high"], d["sm_high"])
			same("seed_mean.method", ci(sm["ci"])["method"], d["sm_method"])
			var vals []any
			vd := json.NewDecoder(bytes.NewReader([]byte(d["sm_values"].(string))))
			vd.UseNumber()
			if err := vd.Decode(&vals); err != nil {
				t.Fatal(err)
			}
			want := sm["values"].([]any)
			if len(vals) != len(want) {
				t.Fatalf("seed values: stored %d, report %d", len(vals), len(want))
			}
			for k := range want {
				f, _ := vals[k].(json.Number).Float64()
				same("seed_mean.values", want[k], f)
			}
		} else if d["sm_method"] != nil {
			t.Errorf("role %v: a stored seed mean the report lacks", r["model"])
		}
	}
	if clustered == 0 || seedMeans == 0 {
		t.Errorf("the run has %d cluster-robust intervals and %d seed means: the test checks none of a kind", clustered, seedMeans)
	}

	comps := query(`SELECT * FROM analysis_comparisons WHERE analysis_id = ? ORDER BY idx`, id)
	if len(comps) != len(list("comparisons")) {
		t.Fatalf("%d comparisons stored; the report has %d", len(comps), len(list("comparisons")))
	}
	tests := 0
	for i, c := range list("comparisons") {
		d := comps[i]
		for _, k := range []string{"probe", "target", "treatment", "baseline", "treatment_rate", "baseline_rate", "treatment_n", "baseline_n",
			"diff", "cohen_h", "odds_ratio"} {
			same("comparisons."+k, c[k], d[k])
		}
		same("odds_ratio_ci.low", ci(c["odds_ratio_ci"])["low"], d["or_low"])
		same("odds_ratio_ci.high", ci(c["odds_ratio_ci"])["high"], d["or_high"])
		same("odds_ratio_ci.method", ci(c["odds_ratio_ci"])["method"], d["or_method"])
		stored := map[string]map[string]any{}
		for _, x := range query(`SELECT * FROM analysis_tests WHERE analysis_id = ? AND comparison_idx = ?`, id, i) {
			stored[x["kind"].(string)] = x
		}
		pooled := map[string]any{"test": c["test"], "diff": c["diff"], "ci": c["ci"], "p_value": c["p_value"], "p_adjusted": c["p_adjusted"]}
		for kind, rt := range map[string]any{results.TestPooled: pooled, results.TestPaired: c["paired"], results.TestSeeds: c["seeds"]} {
			x, ok := stored[kind]
			if rt == nil {
				if ok {
					t.Errorf("comparison %d: a stored %s test the report lacks", i, kind)
				}
				continue
			}
			if !ok {
				t.Errorf("comparison %d: the report's %s test is not stored", i, kind)
				continue
			}
			tests++
			m := rt.(map[string]any)
			same(kind+".test", m["test"], x["method"])
			if kind != results.TestPooled {
				same(kind+".units", m["units"], x["units"])
			}
			for _, k := range []string{"diff", "p_value", "p_adjusted"} {
				same(kind+"."+k, m[k], x[k])
			}
			same(kind+".ci.low", ci(m["ci"])["low"], x["ci_low"])
			same(kind+".ci.high", ci(m["ci"])["high"], x["ci_high"])
			same(kind+".ci.method", ci(m["ci"])["method"], x["ci_method"])
		}
	}
	if tests < 2*len(comps) {
		t.Errorf("%d tests checked for %d comparisons: the run should have paired tests too", tests, len(comps))
	}

	gates := query(`SELECT * FROM analysis_gates WHERE analysis_id = ? ORDER BY idx`, id)
	if len(gates) != len(list("gates")) || len(gates) == 0 {
		t.Fatalf("%d gates stored; the report has %d", len(gates), len(list("gates")))
	}
	for i, g := range list("gates") {
		d := gates[i]
		for _, k := range []string{"name", "probe", "target", "treatment", "baseline", "max_increase", "min_increase", "alpha", "test", "diff",
			"p_value", "p_adjusted", "verdict", "reason"} {
			same("gates."+k, g[k], d[k])
		}
		same("gates.ci.low", ci(g["ci"])["low"], d["ci_low"])
		same("gates.ci.high", ci(g["ci"])["high"], d["ci_high"])
	}
	methods := query(`SELECT name, used_for FROM analysis_methods WHERE analysis_id = ? ORDER BY idx`, id)
	if len(methods) != len(list("methods")) {
		t.Fatalf("%d methods stored; the report has %d", len(methods), len(list("methods")))
	}
	for i, m := range list("methods") {
		same("methods.name", m["name"], methods[i]["name"])
		same("methods.used_for", m["used_for"], methods[i]["used_for"])
	}
	t.Logf("%d values compared", checked)
	if checked < 100 {
		t.Errorf("only %d values compared", checked)
	}
}

func ifNil(x, def any) any {
	if x == nil {
		return def
	}
	return x
}

// checkInvalid compares the report's invalid counts with the stored JSON.
func checkInvalid(t *testing.T, rep, stored any) {
	t.Helper()
	if rep == nil {
		if stored != nil {
			t.Errorf("invalid counts: report none, table %v", stored)
		}
		return
	}
	var got map[string]json.Number
	s, _ := stored.(string)
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Errorf("invalid counts: %v (table %v)", err, stored)
		return
	}
	want := rep.(map[string]any)
	if len(got) != len(want) {
		t.Errorf("invalid counts: report %v, table %v", want, got)
	}
	for k, v := range want {
		if got[k] != v.(json.Number) {
			t.Errorf("invalid count %s: report %v, table %v", k, v, got[k])
		}
	}
}

// TestREADMEQuery runs the README's query of the analysis tables on a
// database of three stored runs: one row per run, with the rate, the
// difference to the baseline and the gate verdict the analyses hold.
func TestREADMEQuery(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var query string
	for _, block := range strings.Split(string(readme), "```sql\n")[1:] {
		if b, _, ok := strings.Cut(block, "```"); ok && strings.Contains(b, "analysis_rates") {
			query = b
		}
	}
	if query == "" {
		t.Fatal("README.md has no SQL block on the analysis tables")
	}
	ctx := context.Background()
	st, path := openTestStore(t)
	hits := []int{10, 40, 12}
	for i, k := range hits {
		id := storeCountsRun(t, st, releaseSuite("rel", fmt.Sprintf("release-%d", i+1), gate005), map[string]int{"baseline": 10, "student": k})
		if _, _, err := (Archive{Version: "v0.test"}).Analysis(ctx, st, id, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("the README's query fails: %v\n%s", err, query)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var run int64
		var created, models, baseline, verdict string
		var rate, lo, hi, diff, dlo, dhi, p float64
		if err := rows.Scan(&run, &created, &models, &rate, &lo, &hi, &baseline, &diff, &dlo, &dhi, &p, &verdict); err != nil {
			t.Fatal(err)
		}
		// Run i's student hits hits[i] of 100 draws, the baseline 10; the
		// 0.40 student fails the 0.05 gate.
		want := map[bool]string{true: "fail", false: "pass"}[i == 1]
		if run != int64(i+1) || models != fmt.Sprintf("release-%d", i+1) || rate != float64(hits[i])/100 || baseline != "baseline" ||
			diff != float64(hits[i])/100-0.1 || verdict != want || !(lo < rate && rate < hi && dlo < diff && diff < dhi) {
			t.Errorf("row %d: run %d %s rate %v [%v, %v], %s %v [%v, %v], gate %s", i, run, models, rate, lo, hi, baseline, diff, dlo, dhi, verdict)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(hits) {
		t.Errorf("the README's query gives %d rows; want %d", i, len(hits))
	}
}

// FuzzDecodeTree: decoding any bytes as a stored tree never panics, and a
// tree that decodes encodes again to a tree that decodes to the same
// bytes.
func FuzzDecodeTree(f *testing.F) {
	a, err := Analyze(fixture(f), Options{})
	if err != nil {
		f.Fatal(err)
	}
	tree, err := encodeTree(a)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tree)
	f.Add([]byte(`{"RunID":"x"}`))
	f.Add([]byte(`{"Probes":[{"Targets":[{"Comparisons":[{}]}]}]}`))
	f.Add([]byte(`{"Confidence":"NaN","Gates":[{"MaxIncrease":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decodeTree(data)
		if err != nil {
			return
		}
		again, err := encodeTree(a)
		if err != nil {
			t.Fatalf("a decoded tree does not encode: %v", err)
		}
		b, err := decodeTree(again)
		if err != nil {
			t.Fatalf("a re-encoded tree does not decode: %v", err)
		}
		third, err := encodeTree(b)
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("encoding is not stable: %v", err)
		}
	})
}

// TestTreeCodecValues: the codec keeps what encoding/json and gob lose:
// NaN and ±Inf, a pointer to zero apart from nil, an empty slice or map
// apart from nil, integer map keys, times to the nanosecond.
func TestTreeCodecValues(t *testing.T) {
	t.Parallel()
	type inner struct{ F float64 }
	type value struct {
		NaN, PosInf, NegInf, Zero, Tiny float64
		ZeroPtr, NilPtr                 *float64
		Empty, Nil                      []int
		EmptyMap, NilMap                map[string]int
		IntKeys                         map[int]inner
		When                            time.Time
		Big                             int64
		hidden                          int
	}
	zero := 0.0
	in := value{NaN: math.NaN(), PosInf: math.Inf(1), NegInf: math.Inf(-1), Tiny: 5e-324, ZeroPtr: &zero, Empty: []int{}, EmptyMap: map[string]int{},
		IntKeys: map[int]inner{-3: {0.1}, 7: {math.NaN()}}, When: time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC), Big: math.MaxInt64, hidden: 4}
	x, err := treeValue(reflect.ValueOf(in), "v")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var out value
	if err := setTree(reflect.ValueOf(&out).Elem(), raw, "v"); err != nil {
		t.Fatal(err)
	}
	switch {
	case !math.IsNaN(out.NaN) || !math.IsInf(out.PosInf, 1) || !math.IsInf(out.NegInf, -1) || out.Tiny != 5e-324:
		t.Errorf("floats: %v %v %v %v", out.NaN, out.PosInf, out.NegInf, out.Tiny)
	case out.ZeroPtr == nil || *out.ZeroPtr != 0 || out.NilPtr != nil:
		t.Errorf("pointers: %v %v", out.ZeroPtr, out.NilPtr)
	case out.Empty == nil || out.Nil != nil || out.EmptyMap == nil || out.NilMap != nil:
		t.Errorf("empty and nil: %#v %#v %#v %#v", out.Empty, out.Nil, out.EmptyMap, out.NilMap)
	case len(out.IntKeys) != 2 || out.IntKeys[-3].F != 0.1 || !math.IsNaN(out.IntKeys[7].F):
		t.Errorf("integer keys: %v", out.IntKeys)
	case !out.When.Equal(in.When) || out.Big != math.MaxInt64 || out.hidden != 0:
		t.Errorf("time %v, int %d, unexported %d", out.When, out.Big, out.hidden)
	}
	// What the tree cannot hold is an error, not a panic.
	if _, err := treeValue(reflect.ValueOf(struct{ C chan int }{make(chan int)}), "v"); err == nil {
		t.Error("a channel was encoded")
	}
}
