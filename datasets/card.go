package datasets

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/stats"
)

// DefaultBinWidth is the width of the number bins a card compares when
// CardInput.BinWidth is 0: hundreds (0–99, 100–199, ...).
const DefaultBinWidth = 100

// CardInput is what a dataset card summarises.
type CardInput struct {
	// Name names the dataset, e.g. "owl-numbers/teacher".
	Name string
	// Kind is the kind of data.
	Kind Kind
	// Teacher describes the teacher (model and system prompt id).
	Teacher string
	// Target is the trait's target word, e.g. "owl"; empty for none.
	Target string
	// Filter is the result of Filter over the teacher's generations.
	Filter FilterResult
	// Rows are the rows written for training: Filter.Kept, or its
	// subsample. They are hashed and scanned for leaks.
	Rows []Generation
	// MaxRows is the subsample size, 0 when there was none to make.
	MaxRows int
	// SubsampleSeed is the subsample's random.Random seed.
	SubsampleSeed int64
	// LeakWords are the words the leak scan looks for (see LeakWords);
	// empty skips the scan, which the card then says.
	LeakWords []string
	// Control are the control teacher's training rows; for the numbers
	// kind the card compares the distributions of numbers. Nil: no
	// comparison.
	Control []Generation
	// BinWidth is the width of the number bins; 0 means DefaultBinWidth.
	BinWidth int64
}

// Card is a dataset card: what was generated, what the filters did, how
// the numbers compare with the control teacher's, whether the trait word
// survived, and the hash of the training rows. Render it with Markdown or
// JSON; both are deterministic.
type Card struct {
	// Name, Kind, Teacher and Target are CardInput's.
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Teacher string `json:"teacher,omitempty"`
	Target  string `json:"target,omitempty"`
	// Filters describes the rules applied, in order.
	Filters []string `json:"filters"`
	// Generated counts every teacher call; Failed the calls that returned
	// no completion (API errors); Rejected the completions a filter
	// rejected; Kept those every filter kept.
	Generated int `json:"generated"`
	Failed    int `json:"failed"`
	Rejected  int `json:"rejected"`
	Kept      int `json:"kept"`
	// Rows is the number of training rows (Kept, or the subsample).
	Rows int `json:"rows"`
	// MaxRows and SubsampleSeed describe the subsample; MaxRows 0: none.
	MaxRows       int   `json:"max_rows,omitempty"`
	SubsampleSeed int64 `json:"subsample_seed,omitempty"`
	// Rejects counts rejected completions by reason, most frequent first.
	// A completion counts once under each reason it got.
	Rejects []ReasonCount `json:"rejects"`
	// Numbers compares the rows' numbers with the control teacher's; nil
	// when there is no control or the kind is not numbers.
	Numbers *NumberComparison `json:"numbers,omitempty"`
	// Leaks is the leak scan of the training rows; nil when no leak
	// words were given.
	Leaks *LeakScan `json:"leaks"`
	// SHA256 is the hex SHA-256 of the training file (WriteTraining of
	// the rows, canonical order).
	SHA256 string `json:"sha256"`
}

// ReasonCount is a reject reason and the number of completions it
// rejected.
type ReasonCount struct {
	// Reason is a reject reason id, e.g. RejectInvalidFormat.
	Reason string `json:"reason"`
	// Count is the number of completions rejected for it.
	Count int `json:"count"`
}

// NewCard builds the card of a dataset. It scans the rows for leaks and
// hashes them; it is an error if a row failed or there are more rows
// than were kept.
func NewCard(in CardInput) (Card, error) {
	if in.Name == "" {
		return Card{}, errors.New("dataset card: no name")
	}
	if len(in.Rows) > len(in.Filter.Kept) {
		return Card{}, fmt.Errorf("dataset card %s: %d rows but only %d kept", in.Name, len(in.Rows), len(in.Filter.Kept))
	}
	sha, err := HashRows(in.Rows)
	if err != nil {
		return Card{}, fmt.Errorf("dataset card %s: %w", in.Name, err)
	}
	c := Card{
		Name: in.Name, Kind: in.Kind, Teacher: in.Teacher, Target: in.Target,
		Filters:   append([]string{}, in.Filter.Rules...),
		Generated: in.Filter.Generated, Failed: in.Filter.Failed, Rejected: in.Filter.Rejected, Kept: len(in.Filter.Kept),
		Rows: len(in.Rows), MaxRows: in.MaxRows, SubsampleSeed: in.SubsampleSeed,
		Rejects: []ReasonCount{},
		SHA256:  sha,
	}
	for _, r := range slices.Sorted(maps.Keys(in.Filter.Rejects)) {
		c.Rejects = append(c.Rejects, ReasonCount{Reason: r, Count: in.Filter.Rejects[r]})
	}
	slices.SortStableFunc(c.Rejects, func(a, b ReasonCount) int { return cmp.Compare(b.Count, a.Count) })
	if len(in.LeakWords) > 0 {
		s := ScanLeaks(in.Rows, in.LeakWords)
		c.Leaks = &s
	}
	if in.Control != nil && in.Kind == KindNumbers {
		w := in.BinWidth
		if w == 0 {
			w = DefaultBinWidth
		}
		n, err := CompareNumbers(in.Rows, in.Control, w)
		if err != nil {
			return Card{}, fmt.Errorf("dataset card %s: %w", in.Name, err)
		}
		c.Numbers = &n
	}
	return c, nil
}

// NumberBin is one bin of numbers, [Low, High], with how many numbers of
// the teacher's and the control's rows fall in it.
type NumberBin struct {
	// Low and High bound the bin, inclusive.
	Low  int64 `json:"low"`
	High int64 `json:"high"`
	// Teacher and Control count the numbers of each side in the bin.
	Teacher int `json:"teacher"`
	Control int `json:"control"`
}

// TestResult is a test of difference as a card shows it.
type TestResult struct {
	// Method names the test.
	Method string `json:"method"`
	// Statistic is the test statistic (X² for a chi-square test).
	Statistic float64 `json:"statistic"`
	// DF is its degrees of freedom.
	DF float64 `json:"df"`
	// PValue is the p-value, in [0, 1].
	PValue float64 `json:"p_value"`
}

// NumberComparison compares the numbers in a teacher's rows with those in
// the control teacher's rows.
type NumberComparison struct {
	// BinWidth is the width of the bins.
	BinWidth int64 `json:"bin_width"`
	// Bins are the bins holding at least one number, ascending.
	Bins []NumberBin `json:"bins"`
	// TeacherNumbers and ControlNumbers count the numbers compared;
	// TeacherRows and ControlRows the rows they come from (rows whose
	// completion does not parse as numbers are skipped).
	TeacherNumbers int `json:"teacher_numbers"`
	ControlNumbers int `json:"control_numbers"`
	TeacherRows    int `json:"teacher_rows"`
	ControlRows    int `json:"control_rows"`
	// TotalVariation is the total variation distance between the two
	// binned distributions, ½ Σ |p_i - q_i|, in [0, 1]: the size of the
	// difference.
	TotalVariation float64 `json:"total_variation"`
	// Test is Pearson's chi-square test of homogeneity of the 2×bins
	// table (stats.ChiSqTable); nil when fewer than two bins hold numbers.
	Test *TestResult `json:"test"`
	// Warnings are caveats on the test.
	Warnings []string `json:"warnings"`
}

// numbersOf returns the numbers of every row whose completion parses
// (ParseNumbers) and how many rows that is; failed rows are skipped.
func numbersOf(rows []Generation) (nums []int64, n int) {
	for _, g := range rows {
		if g.Failed() {
			continue
		}
		if ns, ok := ParseNumbers(g.Completion); ok {
			nums = append(nums, ns...)
			n++
		}
	}
	return nums, n
}

// dependenceWarning is the caveat every number comparison carries.
const dependenceWarning = "numbers of one completion are not independent draws; the test counts each number as one, so its p-value is too small when completions differ in style: read it as a screen, and the total variation as the size"

// CompareNumbers bins the numbers of the teacher's and the control's rows
// by binWidth and tests whether their distributions differ. Both sides
// must hold at least one number.
func CompareNumbers(teacher, control []Generation, binWidth int64) (NumberComparison, error) {
	if binWidth < 1 {
		return NumberComparison{}, fmt.Errorf("compare numbers: bin width %d is below 1", binWidth)
	}
	tn, tr := numbersOf(teacher)
	cn, cr := numbersOf(control)
	if len(tn) == 0 || len(cn) == 0 {
		return NumberComparison{}, fmt.Errorf("compare numbers: the teacher's rows hold %d numbers and the control's %d; need some on both sides", len(tn), len(cn))
	}
	type pair struct{ t, c int }
	bins := map[int64]*pair{}
	bin := func(n int64) *pair { // n >= 0: ParseNumbers reads digits only
		b := n / binWidth
		if bins[b] == nil {
			bins[b] = &pair{}
		}
		return bins[b]
	}
	for _, n := range tn {
		bin(n).t++
	}
	for _, n := range cn {
		bin(n).c++
	}
	r := NumberComparison{BinWidth: binWidth, Bins: []NumberBin{}, TeacherNumbers: len(tn), ControlNumbers: len(cn), TeacherRows: tr, ControlRows: cr,
		Warnings: []string{dependenceWarning}}
	table := [][]int{nil, nil}
	for _, b := range slices.Sorted(maps.Keys(bins)) {
		p := bins[b]
		low := b * binWidth
		high := low + binWidth - 1
		if high < low { // the last bin below math.MaxInt64 overflows
			high = math.MaxInt64
		}
		r.Bins = append(r.Bins, NumberBin{Low: low, High: high, Teacher: p.t, Control: p.c})
		table[0] = append(table[0], p.t)
		table[1] = append(table[1], p.c)
		r.TotalVariation += math.Abs(float64(p.t)/float64(len(tn))-float64(p.c)/float64(len(cn))) / 2
	}
	if len(r.Bins) < 2 {
		r.Warnings = append(r.Warnings, "every number falls in one bin: there is nothing to test")
		return r, nil
	}
	res, err := stats.ChiSqTable(table)
	if err != nil {
		return NumberComparison{}, fmt.Errorf("compare numbers: %w", err)
	}
	r.Test = &TestResult{Method: res.Method + " of homogeneity", Statistic: res.Statistic, DF: res.DF, PValue: res.PValue}
	r.Warnings = append(r.Warnings, res.Warnings...)
	return r, nil
}

// JSON returns the card as indented JSON with a final newline.
func (c Card) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dataset card %s: %w", c.Name, err)
	}
	return append(b, '\n'), nil
}

// Markdown returns the card as a Markdown section (a level-3 heading and
// its tables), ready to embed in a report.
func (c Card) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Dataset card: %s\n\n", mdText(c.Name))
	var facts []string
	facts = append(facts, "kind "+mdText(string(c.Kind)))
	if c.Teacher != "" {
		facts = append(facts, "teacher "+mdCode(c.Teacher))
	}
	if c.Target != "" {
		facts = append(facts, "target "+mdCode(c.Target))
	}
	b.WriteString(strings.Join(facts, ", ") + ".\n\n")

	b.WriteString("| rows | count |\n|---|---:|\n")
	fmt.Fprintf(&b, "| generated | %d |\n", c.Generated)
	fmt.Fprintf(&b, "| failed (no completion: API errors) | %d |\n", c.Failed)
	fmt.Fprintf(&b, "| rejected by the filters | %d |\n", c.Rejected)
	fmt.Fprintf(&b, "| kept | %d |\n", c.Kept)
	if c.MaxRows > 0 && c.Kept > c.MaxRows {
		fmt.Fprintf(&b, "| training rows (subsample of %d, seed %d) | %d |\n", c.MaxRows, c.SubsampleSeed, c.Rows)
	} else {
		fmt.Fprintf(&b, "| training rows | %d |\n", c.Rows)
	}
	b.WriteString("\n")
	if len(c.Filters) > 0 {
		codes := make([]string, len(c.Filters))
		for i, f := range c.Filters {
			codes[i] = mdCode(f)
		}
		fmt.Fprintf(&b, "Filters: %s.\n\n", strings.Join(codes, ", "))
	} else {
		b.WriteString("Filters: none.\n\n")
	}

	if len(c.Rejects) > 0 {
		b.WriteString("| reject reason | completions | of completed |\n|---|---:|---:|\n")
		completed := c.Generated - c.Failed
		for _, r := range c.Rejects {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", mdCode(r.Reason), r.Count, percent(r.Count, completed))
		}
		b.WriteString("\nA completion counts under every reason it got.\n\n")
	}

	if n := c.Numbers; n != nil {
		fmt.Fprintf(&b, "Numbers against the control teacher's (%d numbers in %d rows vs %d in %d):\n\n", n.TeacherNumbers, n.TeacherRows, n.ControlNumbers, n.ControlRows)
		b.WriteString("| numbers | teacher | share | control | share |\n|---|---:|---:|---:|---:|\n")
		for _, bin := range n.Bins {
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", binLabel(bin), bin.Teacher, percent(bin.Teacher, n.TeacherNumbers), bin.Control, percent(bin.Control, n.ControlNumbers))
		}
		fmt.Fprintf(&b, "\nTotal variation distance %s", strconv.FormatFloat(n.TotalVariation, 'f', 4, 64))
		if t := n.Test; t != nil {
			fmt.Fprintf(&b, "; %s: X² = %s, df = %g, p = %s", t.Method, strconv.FormatFloat(t.Statistic, 'f', 2, 64), t.DF, formatP(t.PValue))
		}
		b.WriteString(".\n")
		for _, w := range n.Warnings {
			fmt.Fprintf(&b, "Note: %s.\n", mdText(w))
		}
		b.WriteString("\n")
	}

	switch s := c.Leaks; {
	case s == nil:
		b.WriteString("Leak scan: not run (no leak words).\n\n")
	case s.Clean():
		fmt.Fprintf(&b, "Leak scan: clean. No row names %s (%d rows scanned).\n\n", wordList(s.Words), s.Rows)
	default:
		fmt.Fprintf(&b, "Leak scan: **FAILED**. %d of %d rows name %s:\n\n", s.LeakyRows(), s.Rows, wordList(s.Words))
		b.WriteString("| row | field | match |\n|---:|---|---|\n")
		for i, l := range s.Leaks {
			if i == 20 {
				fmt.Fprintf(&b, "| … | | %d more |\n", len(s.Leaks)-20)
				break
			}
			fmt.Fprintf(&b, "| %d | %s | %s |\n", l.Index, l.Field, mdCode(l.Match))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "SHA-256 of the training rows (the JSONL file, canonical order): `%s`\n", c.SHA256)
	return b.String()
}

// binLabel renders a bin as "100–199".
func binLabel(b NumberBin) string {
	if b.Low == b.High {
		return strconv.FormatInt(b.Low, 10)
	}
	return strconv.FormatInt(b.Low, 10) + "–" + strconv.FormatInt(b.High, 10)
}

// percent renders k of n as a percentage with one decimal, "–" for n = 0.
func percent(k, n int) string {
	if n == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(k)/float64(n), 'f', 1, 64) + "%"
}

// formatP renders a p-value: 4 significant digits, "< 1e-300" below.
func formatP(p float64) string {
	if p < 1e-300 {
		return "< 1e-300"
	}
	return strconv.FormatFloat(p, 'g', 4, 64)
}

// wordList renders words as code spans joined by ", ".
func wordList(ws []string) string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = mdCode(w)
	}
	return strings.Join(out, ", ")
}

// mdText makes s safe inside a Markdown table cell or line: pipes are
// escaped and line ends become spaces.
func mdText(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return s
}

// mdCode renders s as a code span that survives any backticks in s and
// table cells (pipes escaped, line ends as ⏎).
func mdCode(s string) string {
	s = strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\r", "⏎", "|", `\|`).Replace(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if s == "" {
		return "` `"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}
