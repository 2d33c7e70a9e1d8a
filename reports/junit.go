package reports

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/traitleak/traitleak/suites"
)

// JUnit writes the gate verdicts as JUnit XML, one test case per gate, so
// that CI systems show each gate as a test: a failed gate is a <failure>,
// an undecided one an <error>.
func JUnit(w io.Writer, a *Analysis) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type property struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	type testsuite struct {
		Name       string     `xml:"name,attr"`
		Tests      int        `xml:"tests,attr"`
		Failures   int        `xml:"failures,attr"`
		Errors     int        `xml:"errors,attr"`
		Timestamp  string     `xml:"timestamp,attr,omitempty"`
		Properties []property `xml:"properties>property"`
		Cases      []testcase `xml:"testcase"`
	}
	type testsuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	ts := testsuite{Name: fmt.Sprintf("traitleak gates: %s (run %d)", a.Suite, a.RunID), Tests: len(a.Gates),
		Properties: []property{{"run_id", fmt.Sprint(a.RunID)}, {"suite_hash", a.SuiteHash}, {"run_status", string(a.Status)}, {"p_adjust", a.Adjust}}}
	if !a.Finished.IsZero() {
		ts.Timestamp = a.Finished.UTC().Format("2006-01-02T15:04:05")
	}
	for _, g := range a.Gates {
		tc := testcase{Name: g.Name, Classname: "traitleak." + a.Suite, Time: "0", SystemOut: g.Rule() + "\n" + g.Reason}
		switch g.Verdict {
		case suites.GateFail:
			ts.Failures++
			tc.Failure = &failure{Message: g.Reason, Type: "gate", Text: g.Rule()}
		case suites.GateUndecided:
			ts.Errors++
			tc.Error = &failure{Message: g.Reason, Type: "undecided", Text: g.Rule()}
		}
		ts.Cases = append(ts.Cases, tc)
	}
	doc := testsuites{Name: "traitleak", Tests: ts.Tests, Failures: ts.Failures, Errors: ts.Errors, Suites: []testsuite{ts}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
