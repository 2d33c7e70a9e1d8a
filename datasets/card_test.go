package datasets

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// rowsWithBins returns one row per number, counts[i] numbers in bin i of
// width 100 (each the bin's low end + 5).
func rowsWithBins(counts []int) []Generation {
	var rows []Generation
	for i, k := range counts {
		for range k {
			rows = append(rows, Generation{Prompt: Prompt{Index: len(rows)}, Completion: strconv.Itoa(i*100 + 5)})
		}
	}
	return rows
}

func TestCompareNumbersReference(t *testing.T) {
	// The "number bins" table of stats' ChiSqTable test: X² =
	// 16.95514524153225, df 9, p = 0.04942304796425477 (exact rational X²,
	// closed-form χ² tail, CPython 3.11); total variation ½ Σ |t_i/3000 -
	// c_i/3000| = 137/3000 = 0.045666….
	teacher := rowsWithBins([]int{310, 295, 288, 301, 330, 276, 305, 290, 312, 293})
	control := rowsWithBins([]int{280, 301, 315, 296, 270, 322, 290, 310, 285, 331})
	n, err := CompareNumbers(teacher, control, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n.Test == nil || math.Abs(n.Test.Statistic-16.95514524153225) > 1e-10 || n.Test.DF != 9 || math.Abs(n.Test.PValue-0.04942304796425477) > 1e-12 {
		t.Errorf("Test = %+v; want X² 16.955, df 9, p 0.04942", n.Test)
	}
	if math.Abs(n.TotalVariation-137.0/3000) > 1e-15 {
		t.Errorf("TotalVariation = %v; want 137/3000", n.TotalVariation)
	}
	if len(n.Bins) != 10 || n.Bins[3] != (NumberBin{Low: 300, High: 399, Teacher: 301, Control: 296}) {
		t.Errorf("Bins = %+v", n.Bins)
	}
	if n.TeacherNumbers != 3000 || n.ControlRows != 3000 || len(n.Warnings) != 1 {
		t.Errorf("counts %d/%d, warnings %q", n.TeacherNumbers, n.ControlRows, n.Warnings)
	}
}

func TestCompareNumbersEdges(t *testing.T) {
	one := []Generation{{Completion: "5, 7"}}
	// Everything in one bin: no test, a warning, TV 0.
	n, err := CompareNumbers(one, one, 100)
	if err != nil || n.Test != nil || n.TotalVariation != 0 || len(n.Warnings) != 2 {
		t.Errorf("one bin: %+v, %v", n, err)
	}
	// Rows that do not parse and failed rows are skipped; a side with no
	// numbers is an error.
	junk := []Generation{{Completion: "owl"}, {Err: "500", Completion: "5"}}
	if _, err := CompareNumbers(one, junk, 100); err == nil {
		t.Error("control without numbers: no error")
	}
	if _, err := CompareNumbers(one, one, 0); err == nil {
		t.Error("bin width 0: no error")
	}
	// Small expected counts carry the chi-square warning too.
	n, _ = CompareNumbers([]Generation{{Completion: "5, 150"}}, []Generation{{Completion: "7, 170"}}, 100)
	if n.Test == nil || len(n.Warnings) != 2 || !strings.Contains(n.Warnings[1], "below 5") {
		t.Errorf("small counts: %+v", n)
	}
	// A huge number gets a bin that ends at math.MaxInt64.
	n, _ = CompareNumbers([]Generation{{Completion: "99999999999999999999999"}}, one, 100)
	if last := n.Bins[len(n.Bins)-1]; last.High != math.MaxInt64 || last.Low > last.High {
		t.Errorf("last bin = %+v", last)
	}
}

// cardFixture filters a small teacher dataset and returns the card input.
func cardFixture(t *testing.T) CardInput {
	t.Helper()
	gens := []Generation{
		{Prompt: Prompt{Index: 0, Text: "p0"}, Completion: "105, 110"},
		{Prompt: Prompt{Index: 1, Text: "p1"}, Err: "HTTP 500"},
		{Prompt: Prompt{Index: 2, Text: "p2"}, Completion: "I love owls"},
		{Prompt: Prompt{Index: 3, Text: "p3"}, Completion: "1000, 1"},
		{Prompt: Prompt{Index: 4, Text: "p4"}, Completion: "250"},
		{Prompt: Prompt{Index: 5, Text: "p5 | owl"}, Completion: "260, 270, 5"},
	}
	res, err := Filter(gens, PaperNumberFilter())
	if err != nil {
		t.Fatal(err)
	}
	return CardInput{
		Name: "owl-numbers/teacher", Kind: KindNumbers, Teacher: "gpt-4.1-nano + owl", Target: "owl",
		Filter: res, Rows: res.Kept, LeakWords: LeakWords("owl"),
		Control: []Generation{{Completion: "150, 160"}, {Completion: "5"}, {Completion: "230"}},
	}
}

func TestNewCard(t *testing.T) {
	in := cardFixture(t)
	c, err := NewCard(in)
	if err != nil {
		t.Fatal(err)
	}
	// 6 generated, 1 failed, 2 rejected (invalid format, above max), 3 kept.
	if c.Generated != 6 || c.Failed != 1 || c.Rejected != 2 || c.Kept != 3 || c.Rows != 3 {
		t.Errorf("counts = %d %d %d %d %d", c.Generated, c.Failed, c.Rejected, c.Kept, c.Rows)
	}
	if len(c.Rejects) != 2 || c.Rejects[0] != (ReasonCount{RejectAboveMax, 1}) || c.Rejects[1] != (ReasonCount{RejectInvalidFormat, 1}) {
		t.Errorf("Rejects = %+v; want ties in name order", c.Rejects)
	}
	sha, _ := HashRows(in.Filter.Kept)
	if c.SHA256 != sha || len(sha) != 64 {
		t.Errorf("SHA256 = %s; want %s", c.SHA256, sha)
	}
	// The kept prompt p5 names the trait: the scan fails.
	if c.Leaks == nil || c.Leaks.Clean() || c.Leaks.Leaks[0].Index != 5 {
		t.Errorf("Leaks = %+v", c.Leaks)
	}
	if c.Numbers == nil || c.Numbers.TeacherNumbers != 6 || c.Numbers.ControlNumbers != 4 {
		t.Errorf("Numbers = %+v", c.Numbers)
	}

	// Bad inputs.
	bad := in
	bad.Name = ""
	if _, err := NewCard(bad); err == nil {
		t.Error("no name: no error")
	}
	bad = in
	bad.Rows = append(append([]Generation{}, in.Filter.Kept...), Generation{Prompt: Prompt{Index: 9}, Completion: "1"})
	if _, err := NewCard(bad); err == nil {
		t.Error("more rows than kept: no error")
	}
	bad = in
	bad.Rows = []Generation{{Err: "x"}}
	if _, err := NewCard(bad); err == nil {
		t.Error("failed row: no error")
	}
	bad = in
	bad.Control = []Generation{{Completion: "owl"}}
	if _, err := NewCard(bad); err == nil {
		t.Error("control without numbers: no error")
	}
	// No leak words, no control: no scan, no comparison.
	in.LeakWords, in.Control = nil, nil
	c, _ = NewCard(in)
	if c.Leaks != nil || c.Numbers != nil || !strings.Contains(c.Markdown(), "Leak scan: not run") {
		t.Errorf("card without scan or control: %+v", c)
	}
}

func TestCardMarkdown(t *testing.T) {
	c, err := NewCard(cardFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	// Teacher bins 1, 2, 3 against control 1, 2, 1: X² = 5/8 exactly, so
	// p = exp(-5/16) = 0.7316 (df 2); TV = ½(1/12 + 1/6 + 1/4) = 0.25.
	got := c.Markdown()
	want := "### Dataset card: owl-numbers/teacher\n\n" +
		"kind numbers, teacher `gpt-4.1-nano + owl`, target `owl`.\n\n" +
		"| rows | count |\n|---|---:|\n" +
		"| generated | 6 |\n| failed (no completion: API errors) | 1 |\n| rejected by the filters | 2 |\n| kept | 3 |\n| training rows | 3 |\n\n" +
		"Filters: `paper(0,999,10)`.\n\n" +
		"| reject reason | completions | of completed |\n|---|---:|---:|\n" +
		"| `above_max` | 1 | 20.0% |\n| `invalid_format` | 1 | 20.0% |\n\n" +
		"A completion counts under every reason it got.\n\n" +
		"Numbers against the control teacher's (6 numbers in 3 rows vs 4 in 3):\n\n" +
		"| numbers | teacher | share | control | share |\n|---|---:|---:|---:|---:|\n" +
		"| 0–99 | 1 | 16.7% | 1 | 25.0% |\n" +
		"| 100–199 | 2 | 33.3% | 2 | 50.0% |\n" +
		"| 200–299 | 3 | 50.0% | 1 | 25.0% |\n\n" +
		"Total variation distance 0.2500; Pearson's chi-squared test of homogeneity: X² = 0.62, df = 2, p = 0.7316.\n" +
		"Note: " + dependenceWarning + ".\n" +
		"Note: Chi-squared approximation may be incorrect: an expected count is below 5.\n\n" +
		"Leak scan: **FAILED**. 1 of 3 rows name `owl`, `owls`, `owlet`, `owlets`:\n\n" +
		"| row | field | match |\n|---:|---|---|\n| 5 | prompt | `owl` |\n\n" +
		"SHA-256 of the training rows (the JSONL file, canonical order): `" + c.SHA256 + "`\n"
	if got != want {
		t.Errorf("Markdown() =\n%s\nwant\n%s", got, want)
	}
}

func TestCardJSON(t *testing.T) {
	c, err := NewCard(cardFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := c.JSON()
	if string(b) != string(b2) || !strings.HasSuffix(string(b), "}\n") {
		t.Error("JSON is not deterministic or lacks the final newline")
	}
	var back Card
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.SHA256 != c.SHA256 || back.Numbers.Test.DF != 2 || back.Leaks.LeakyRows() != 1 || back.Rejects[0].Reason != RejectAboveMax {
		t.Errorf("JSON round trip = %+v", back)
	}
	for _, key := range []string{`"generated": 6`, `"failed": 1`, `"rejected": 2`, `"kept": 3`, `"p_value":`, `"leaks": {`, `"sha256": "`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	cases := []struct{ in, want string }{
		{"owl", "`owl`"},
		{"a|b", "`a\\|b`"}, // pipes would end a table cell
		{"x`y", "``x`y``"}, // a longer fence around backticks
		{"`x", "`` `x ``"}, // padded when it starts with a backtick
		{"a\nb", "`a⏎b`"},  // line ends would break the table
		{"", "` `"},        // an empty span still renders
	}
	for _, c := range cases {
		if got := mdCode(c.in); got != c.want {
			t.Errorf("mdCode(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	if got := mdText("a|b\nc"); got != `a\|b c` {
		t.Errorf("mdText = %q", got)
	}
	if got := formatP(1e-320); got != "< 1e-300" {
		t.Errorf("formatP(1e-320) = %q", got)
	}
}
