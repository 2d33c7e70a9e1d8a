package stats

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// TestResultJSON: outputs keep their order, ints stay integers, and
// non-finite numbers become the strings the interface documents.
func TestResultJSON(t *testing.T) {
	t.Parallel()
	r := Result{
		Outputs:  []Output{{"z", 1.5}, {"a", math.Inf(1)}, {"n", 3}, {"v", []float64{math.NaN(), math.Inf(-1), 0.25}}},
		Warnings: []string{"n=3: small"},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"outputs":{"z":1.5,"a":"Inf","n":3,"v":["NaN","-Inf",0.25]},"warnings":["n=3: small"]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if _, err := json.Marshal(Result{Outputs: []Output{{"x", "text"}}}); err == nil {
		t.Error("a string output marshalled")
	}
	if m := r.Map(); m["n"] != 3.0 || m["z"] != 1.5 {
		t.Errorf("Map = %v; want n as float64 3 and z 1.5", m)
	}
}

// TestCallErrors: each kind of bad request is an error naming the
// problem (the command's tests check the same through the JSON-lines
// stream).
func TestCallErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		req  string
		want string
	}{
		{`{"family":"nope","method":"x"}`, `unknown family "nope"`},
		{`{"family":"binom_ci","method":"wald","inputs":{"x":1,"n":2}}`, `binom_ci: unknown method "wald"`},
		{`{"family":"binom_ci","inputs":{}}`, `needs "family" and "method"`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1}}`, `binom_ci/wilson: missing input "n"`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":1,"n":2,"conf":0.9}}`, `unknown input(s) conf`},
		{`{"family":"binom_ci","method":"wilson","inputs":{"x":null,"n":2}}`, `missing input "x"`},
		{`{"family":"paired_t_test","method":"two_sided","inputs":{"a":[1,2],"b":[1]}}`, `paired_t_test/two_sided:`},
	} {
		var req Request
		if err := json.Unmarshal([]byte(tc.req), &req); err != nil {
			t.Fatal(err)
		}
		if _, err := Call(req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.req, err, tc.want)
		}
	}
	m := Methods()
	m["binom_ci"][0] = "changed"
	if Methods()["binom_ci"][0] != "wilson" {
		t.Error("Methods returned the table's own slices")
	}
}

// FuzzCall: no request makes Call panic, and every result encodes to
// valid JSON. The seeds are the reference cases. Requests with numbers
// beyond 1e6 or arrays longer than 1000 are skipped: exact tests walk
// their support, so a count of 1e15 is slow by design, not a bug.
func FuzzCall(f *testing.F) {
	for _, path := range []string{"testdata/r_reference.jsonl", "testdata/r_paired.jsonl"} {
		file, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for i := 0; sc.Scan(); i++ {
			if i%7 == 0 { // a sample keeps the seed corpus quick
				f.Add(sc.Text())
			}
		}
		file.Close()
	}
	f.Add(`{"family":"krippendorff_alpha","method":"nominal","inputs":{"units":[[1,null],[2,"NaN",2]]}}`)
	f.Add(`{"family":"t_one_sample","method":"t_ci","inputs":{"x":["Inf",1e308,-1e308]}}`)
	f.Fuzz(func(t *testing.T, line string) {
		var req Request
		if json.Unmarshal([]byte(line), &req) != nil {
			return
		}
		for _, raw := range req.Inputs {
			var v any
			if json.Unmarshal(raw, &v) == nil && !small(v) {
				return
			}
		}
		res, err := Call(req)
		if err != nil {
			return
		}
		b, err := json.Marshal(res)
		if err != nil || !json.Valid(b) {
			t.Fatalf("%s: result does not encode: %v %s", line, err, b)
		}
	})
}

// small reports whether a decoded JSON value has no number beyond 1e6 in
// magnitude and no array longer than 1000.
func small(v any) bool {
	switch v := v.(type) {
	case float64:
		return math.Abs(v) <= 1e6
	case []any:
		if len(v) > 1000 {
			return false
		}
		for _, x := range v {
			if !small(x) {
				return false
			}
		}
	}
	return true
}
